"""docs/findings.md documents every finding code with the severity and verdict the code gives it."""

import re

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _findings
from paths import ROOT

ROW = re.compile(r"^\| `([A-Z_]+)` \| (\w+) \| ([\w—]+) \|", re.M)


def _rows():
    text = (ROOT / "docs/findings.md").read_text()
    return {code: (severity, verdict) for code, severity, verdict in ROW.findall(text)}


def test_every_code_is_documented_once():
    assert set(_rows()) == set(_findings.ALL_CODES)


def test_documented_severity_and_verdict_match_the_code():
    for code, (severity, verdict) in _rows().items():
        assert severity == _findings.SEVERITY[code], code
        expected = (
            "blocking" if code in _findings.BLOCKING_CODES
            else "delivery" if code in _findings.DELIVERY_BLOCKING_CODES
            else "conditional" if code in _findings.CONDITIONALLY_BLOCKING_CODES
            else "—"
        )
        assert verdict == expected, code
