"""`make demo` end to end: assess -> signed demo approvals -> apply -> verify, asserting the final counts."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml

from paths import ROOT


def test_demo_flow_end_to_end(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--out", str(out), "--delivery-interval", "2"],
        capture_output=True, text=True, timeout=1500, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]

    assessment = json.loads((out / "assess" / "assessment.json").read_text())
    consent = yaml.safe_load((out / "approvals.yml").read_text())["trailguard_consent"]
    applied = json.loads((out / "apply" / "summary.json").read_text())
    verified = json.loads((out / "verify" / "verification.json").read_text())

    approved = {t["trail_arn"] for t in consent["trails"] if t["action"] != "defer"}
    deferred = {t["trail_arn"] for t in consent["trails"] if t["action"] == "defer"}
    assert approved, "the demo approver approves the fixable trails"
    assert consent["signature"].startswith("-----BEGIN SSH SIGNATURE-----")

    # every approved trail changed, none failed; every deferred one was left alone
    by_status = {}
    for trail in applied["trails"]:
        by_status.setdefault(trail["status"], set()).add(trail["trail_arn"])
    assert by_status.get("changed", set()) == approved
    assert not by_status.get("failed")
    assert applied["counts"]["changed"] == len(approved)
    assert applied["counts"]["failed"] == 0

    # every changed trail is verified from delivered objects encrypted with its key
    verdicts = {t["trail_arn"]: t["verdict"] for acct in verified["accounts"].values() for t in acct["trails"]}
    assert {arn for arn, v in verdicts.items() if v == "verified"} == approved
    assert verified["summary"]["verified"] == len(approved)
    assert not (set(verdicts) & deferred)

    # the summary printed for a newcomer carries the same numbers and the three report paths
    assert f"non-compliant:         {assessment['summary']['non_compliant']}" in proc.stdout
    assert f"verified:              {len(approved)}" in proc.stdout
    for phase in ("assess", "apply", "verify"):
        report = out / phase / "report.html"
        assert report.is_file() and str(report) in proc.stdout
