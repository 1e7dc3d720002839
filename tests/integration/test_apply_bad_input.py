"""The apply playbook refuses malformed or dishonest approval files before any AWS write.

One assessed demo lab is shared; every case is one real ansible-playbook run that must exit non-zero, name
the offending field, and leave the lab's mutating-call counters at zero. Cases are data files under
fixtures/approvals/ (cases.yml says what each must report)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from integration.playbooks import run_playbook, two_account_inventory
from paths import ROOT

FIXTURES = Path(__file__).parent / "fixtures" / "approvals"
CASES = yaml.safe_load((FIXTURES / "cases.yml").read_text())["cases"]
pytestmark = pytest.mark.playbook


def _stamp(delta):
    return (dt.datetime.now(dt.UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def assessed(demo_lab, tmp_path_factory):
    """Assess account 111111111111 (implicit localhost) once; the placeholders for the fixture files."""
    out = tmp_path_factory.mktemp("bad-input")
    run = run_playbook("assess", demo_lab, out, extra_vars={"trailguard_regions": ["us-east-1", "eu-west-1"]})
    assert run.rc == 0, run.output[-3000:]
    raw = (out / "assess" / "assessment.json").read_bytes()
    doc = json.loads(raw)
    keys = doc["accounts"]["111111111111"]["keys"]

    def key(alias, region):
        return next(k["arn"] for k in keys if alias in k["aliases"] and k["region"] == region)

    signer = out / "signer"
    signer.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "qa", "-f", str(signer / "key")], check=True)
    pub = (signer / "key.pub").read_text().split()
    allowed = out / "allowed_signers"
    allowed.write_text(f"qa.approver@example.com {pub[0]} {pub[1]}\n")
    values = {
        "@DIGEST@": __import__("hashlib").sha256(raw).hexdigest(),
        "@APPROVED_AT@": _stamp(dt.timedelta(hours=-1)),
        "@EXPIRES_AT@": _stamp(dt.timedelta(days=7)),
        "@TEN_DAYS_AGO@": _stamp(dt.timedelta(days=-10)),
        "@THREE_DAYS_AGO@": _stamp(dt.timedelta(days=-3)),
        "@IN_TWO_DAYS@": _stamp(dt.timedelta(days=2)),
        "@IN_NINE_DAYS@": _stamp(dt.timedelta(days=9)),
        "@SPARE_US_EAST_1@": key("alias/tg-demo-spare", "us-east-1"),
        "@SPARE_EU_WEST_1@": key("alias/tg-demo-spare", "eu-west-1"),
        "@ORG_KEY@": key("alias/tg-demo-org", "us-east-1"),
        "@ALLOWED_SIGNERS@": str(allowed),
    }
    return out, values, signer / "key"


def _render(text, values):
    for name, value in values.items():
        text = text.replace(name, value)
    return text


def _approvals_file(assessed_, name, case):
    out, values, key = assessed_
    path = out / f"approvals-{name}"
    path.write_text(_render((FIXTURES / name).read_text(), values))
    if case.get("sign"):
        subprocess.run(
            [
                str(Path(__import__("sys").executable)),
                str(ROOT / "scripts" / "consent_sign.py"),
                "sign",
                "-k",
                str(key),
                str(path),
            ],
            check=True,
            capture_output=True,
        )
        if case["sign"] == "tampered":
            data = yaml.safe_load(path.read_text())
            data["trailguard_consent"]["change_ticket"] = "CHG-EDITED-AFTER-SIGNING"
            path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _run(demo_lab, assessed_, name, case, check=False):
    out, values, _key = assessed_
    extra = {k: (_render(v, values) if isinstance(v, str) else v) for k, v in (case.get("vars") or {}).items()}
    approvals = _approvals_file(assessed_, name, case)
    demo_lab.control.reset_counters()
    run = run_playbook(
        "apply", demo_lab, out, extra_vars=extra, check=check, extra_args=["-e", f"@{approvals}"], timeout=600
    )
    return run, demo_lab.control.writes()


def test_good_record_is_accepted_in_check_mode(demo_lab, assessed):
    """The control case: the base of every bad file passes and plans its trail, still writing nothing."""
    run, writes = _run(demo_lab, assessed, "good.yml", {}, check=True)
    assert run.rc == 0, run.output[-4000:]
    assert writes == {}
    plan = json.loads((assessed[0] / "apply" / "plan-summary.json").read_text())
    assert plan["counts"]["approved"] == 1 and plan["counts"]["failed"] == 0


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_approvals_are_refused_before_any_write(demo_lab, assessed, name):
    case = CASES[name]
    run, writes = _run(demo_lab, assessed, name, case)
    assert run.rc != 0, run.output[-3000:]
    assert writes == {}, writes
    for text in case["expect"]:
        assert text in run.output, f"{name}: {text!r} not in output:\n{run.output[-3000:]}"
    # Refused in the validation tasks: no account was touched, so no apply journal exists.
    assert not list((assessed[0] / "apply").glob("*/audit.jsonl"))


def test_at_least_fifteen_cases():
    assert len(CASES) >= 15


def test_refusal_stops_every_account(demo_lab, assessed):
    """With two accounts the run_once validation failure fails both hosts before any AWS call."""
    out = assessed[0]
    approvals = _approvals_file(assessed, "wrong_digest.yml", {})
    demo_lab.control.reset_counters()
    run = run_playbook(
        "apply", demo_lab, out, inventory=two_account_inventory(out), extra_args=["-e", f"@{approvals}"], timeout=600
    )
    assert run.rc != 0
    assert "assessment_digest" in run.output
    assert demo_lab.control.calls() == {}, demo_lab.control.calls()
    assert "Resolve the account session" not in run.stdout
