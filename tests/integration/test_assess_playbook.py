"""The assess playbook against the lab's demo estate, two accounts through AssumeRole."""

from __future__ import annotations

import hashlib
import json

import jsonschema
import pytest
import yaml

from integration.playbooks import run_playbook, two_account_inventory
from lab.estates import IAM_READER_NO_DECRYPT, IAM_READER_WITH_DECRYPT
from paths import ROOT

SCHEMAS = ROOT / "docs" / "schemas" / "assess"
ACCOUNT_FILES = ["trails", "buckets", "keys", "trail_bucket_map", "findings", "summary", "api_calls"]


@pytest.fixture(scope="module")
def assessed(demo_lab, tmp_path_factory):
    out = tmp_path_factory.mktemp("assess")
    demo_lab.control.reset_counters()
    run = run_playbook("assess", demo_lab, out, inventory=two_account_inventory(out))
    assert run.rc == 0, run.output[-4000:]
    return run, demo_lab.control.writes()


def _trails(run):
    """Trails by ARN, as their owner sees them (an organization trail is also listed by its members)."""
    doc = run.json("assess/assessment.json")
    return {t["arn"]: t for acct in doc["accounts"].values() for t in acct["trails"] if t["classification"] == "owned"}


def test_assess_writes_nothing_to_aws(assessed):
    _run, writes = assessed
    assert writes == {}


def test_every_demo_trail_gets_its_findings_and_verdict(assessed, manifest):
    run, _writes = assessed
    trails = _trails(run)
    problems = {}
    for spec in manifest["trails"]:
        trail = trails[spec["arn"]]
        codes = {f["code"] for f in trail["findings"]}
        missing = set(spec["problems"]) - codes
        if missing:
            problems[spec["name"]] = f"missing {sorted(missing)}; found {sorted(codes)}"
        expected = "compliant" if spec["compliant"] else "non_compliant"
        if trail["compliance"] != expected:
            problems[spec["name"] + " verdict"] = f"{trail['compliance']} != {expected} ({sorted(codes)})"
    assert problems == {}


def test_good_trails_have_no_findings(assessed, manifest):
    run, _writes = assessed
    trails = _trails(run)
    for spec in manifest["trails"]:
        if spec["compliant"] and not spec["problems"]:
            assert trails[spec["arn"]]["findings"] == [], spec["name"]


def test_readers_through_iam_are_listed_and_checked_against_the_key(assessed, manifest):
    """Roles that read the logs through their own IAM policies (one GetAccountAuthorizationDetails call)."""
    run, _writes = assessed
    trails = {t["name"]: t for t in _trails(run).values()}
    account = trails["tg-readers"]["account_id"]
    no_decrypt = f"arn:aws:iam::{account}:role/{IAM_READER_NO_DECRYPT}"
    with_decrypt = f"arn:aws:iam::{account}:role/{IAM_READER_WITH_DECRYPT}"
    siem = next(r for r in trails["tg-readers"]["log_readers"] if r.endswith(":role/SiemLogReader"))

    readers = trails["tg-readers"]["log_reader_sources"]
    assert readers == {no_decrypt: ["iam"], with_decrypt: ["iam"], siem: ["bucket_policy"]}
    [finding] = [f for f in trails["tg-readers"]["findings"] if f["code"] == "READERS_NEED_DECRYPT"]
    assert siem in finding["message"]  # the recommended key's account-wide Decrypt covers only its own account
    assert no_decrypt not in finding["message"] and with_decrypt not in finding["message"]
    assert trails["tg-readers"]["log_readers_need_decrypt"] == [siem]

    # the bucket-key trail's key has no account-wide Decrypt: only the role whose IAM policy allows it keeps access
    bkey = trails["tg-bucket-key-no-decrypt"]
    assert bkey["log_reader_sources"] == {no_decrypt: ["iam"], with_decrypt: ["iam"]}
    [finding] = [f for f in bkey["findings"] if f["code"] == "READERS_NEED_DECRYPT"]
    assert f"{no_decrypt} (via IAM policy)" in finding["message"]
    assert with_decrypt not in finding["message"]
    assert bkey["log_readers_need_decrypt"] == [no_decrypt]
    # the approvals template (non-compliant trails only) suggests exactly the readers that would lose access
    template = run.text("assess/approvals.template.yml")
    assert f"(approve them as readers): {no_decrypt}\n" in template

    doc = run.json("assess/assessment.json")
    iam = run.json(f"assess/{account}/summary.json")
    assert doc["accounts"][account]["iam"]["read"] is True
    assert doc["accounts"][account]["iam"]["log_readers"] == sorted([no_decrypt, with_decrypt])
    assert iam["iam_principals"] >= 2 and iam["iam_read"] is True


def test_selectors_read_only_where_the_trail_has_custom_ones(assessed):
    run, _writes = assessed
    trails = {t["name"]: t for t in _trails(run).values()}
    eu = trails["tg-good-eu"]
    assert eu["event_selectors_source"] == "api"
    assert eu["event_selectors"][0]["ReadWriteType"] == "WriteOnly"
    assert eu["event_selectors"][0]["DataResources"][0]["Type"] == "AWS::S3::Object"
    assert eu["insight_selectors"] == [{"InsightType": "ApiCallRateInsight"}]
    defaults = [t for n, t in trails.items() if n != "tg-good-eu"]
    assert {t["event_selectors_source"] for t in defaults} == {"default"}
    calls = run.json(f"assess/{eu['account_id']}/api_calls.json")
    assert [c["region"] for c in calls if c["operation"] == "GetEventSelectors"] == ["eu-west-1"]
    assert [c["region"] for c in calls if c["operation"] == "GetInsightSelectors"] == ["eu-west-1"]


def test_member_view_of_org_trail_is_not_actionable(assessed, manifest):
    run, _writes = assessed
    doc = run.json("assess/assessment.json")
    member = doc["accounts"]["222222222222"]
    views = [t for t in member["trails"] if t["is_organization_trail"]]
    assert views, "the member account must see the organization trail"
    for view in views:
        assert view["actionable"] is False
        assert "ORG_TRAIL_NOT_MANAGEABLE_HERE" in {f["code"] for f in view["findings"]}


def test_outputs_match_their_schemas(assessed):
    run, _writes = assessed
    doc = run.json("assess/assessment.json")
    jsonschema.validate(doc, json.loads((SCHEMAS / "assessment.schema.json").read_text()))
    for account_id in doc["accounts"]:
        for name in ACCOUNT_FILES:
            schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
            jsonschema.validate(run.json(f"assess/{account_id}/{name}.json"), schema)


def test_digest_and_approvals_template(assessed):
    run, _writes = assessed
    raw = (run.out_dir / "assess" / "assessment.json").read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    assert run.text("assess/assessment.json.sha256").split()[0] == digest
    template = yaml.safe_load(run.text("assess/approvals.template.yml"))
    consent = template["trailguard_consent"]
    assert consent["assessment_digest"] == digest
    assert consent["approved_by"] == "" and consent["approved_at"] == ""
    listed = {t["trail_arn"]: t for t in consent["trails"]}
    doc = json.loads(raw)
    expected = {
        t["arn"]
        for acct in doc["accounts"].values()
        for t in acct["trails"]
        if t["compliance"] == "non_compliant" and t["classification"] == "owned"
    }
    assert set(listed) == expected
    assert {t["action"] for t in listed.values()} == {"defer"}


def test_reports_name_every_trail_and_finding(assessed):
    run, _writes = assessed
    md = run.text("assess/report.md")
    html = run.text("assess/report.html")
    for trail in _trails(run).values():
        assert trail["name"] in md and trail["name"] in html
        for finding in trail["findings"]:
            assert finding["code"] in md


def _assess_with_one_fault(demo_lab, tmp_path, service, action, code, status):
    """Assess us-east-1 with the next ``service:action`` call failing with ``code``; the run must succeed."""
    demo_lab.control.inject(service, action, code, status, count=1)
    try:
        run = run_playbook("assess", demo_lab, tmp_path, extra_vars={"trailguard_regions": ["us-east-1"]})
    finally:
        demo_lab.control.clear_faults()
    assert run.rc == 0, run.output[-3000:]
    return run


def test_access_denied_on_a_key_becomes_a_finding(demo_lab, tmp_path):
    run = _assess_with_one_fault(demo_lab, tmp_path, "kms", "GetKeyPolicy", "AccessDeniedException", 400)
    keys = run.json("assess/111111111111/keys.json")
    unreadable = [k for k in keys if any("AccessDenied" in (e.get("code") or "") for e in k["read_errors"])]
    assert len(unreadable) == 1
    trails = run.json("assess/111111111111/trails.json")
    users = [t for t in trails if t["kms_key_arn"] == unreadable[0]["arn"]]
    for trail in users:
        assert "KEY_UNREADABLE" in {f["code"] for f in trail["findings"]}


def test_access_denied_on_iam_is_reported_not_fatal(demo_lab, tmp_path):
    run = _assess_with_one_fault(demo_lab, tmp_path, "iam", "GetAccountAuthorizationDetails", "AccessDenied", 403)
    account = run.json("assess/assessment.json")["accounts"]["111111111111"]
    assert account["iam"]["read"] is False
    assert account["iam"]["read_errors"][0]["code"] == "AccessDenied"
    trails = {t["name"]: t for t in account["trails"]}
    assert all(src == ["bucket_policy"] for src in trails["tg-readers"]["log_reader_sources"].values())
    assert "IAM not read** (AccessDenied)" in run.text("assess/report.md")
    assert "IAM not read" in run.text("assess/report.html")


def test_wrong_account_credentials_fail_clearly(demo_lab, tmp_path):
    from integration.playbooks import write_inventory

    inventory = write_inventory(tmp_path / "inv.yml", {"acct": {"trailguard_expected_account_id": "333333333333"}})
    run = run_playbook("assess", demo_lab, tmp_path, inventory=inventory)
    assert run.rc != 0
    assert "expected account 333333333333 but the credentials belong to 111111111111" in run.output
    assert not (tmp_path / "assess" / "assessment.json").exists()
