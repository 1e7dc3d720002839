"""The combined assessment document and the per-account files."""

import json
import os
import stat

import pytest

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _assessment

A, B = "111111111111", "222222222222"


def trail(arn, compliance="non_compliant", classification="owned", action="create_key", codes=(), **extra):
    return {
        "arn": arn,
        "name": arn.rsplit("/", 1)[-1],
        "compliance": compliance,
        "classification": classification,
        "actionable": classification == "owned",
        "recommended_action": {"action": action, "key_arn": extra.pop("key_arn", None), "region": "us-east-1",
                               "reason": "because"},
        "findings": [{"code": c, "severity": "high"} for c in codes],
        "is_organization_trail": extra.pop("org", False),
        **extra,
    }


def facts(account, trails, findings=None):
    return {"account_id": account, "partition": "aws", "trails": trails, "buckets": [], "keys": [],
            "findings": findings or [], "summary": {}, "api_calls": [{"operation": "DescribeTrails"}]}


def test_document_combines_accounts_and_counts():
    a = facts(A, [trail(f"arn:aws:cloudtrail:us-east-1:{A}:trail/x", codes=["TRAIL_NO_KMS_KEY"]),
                  trail(f"arn:aws:cloudtrail:us-east-1:{A}:trail/ok", compliance="compliant", action="none")],
              findings=[{"code": "TRAIL_NO_KMS_KEY", "severity": "high"}])
    b = facts(B, [trail(f"arn:aws:cloudtrail:us-east-1:{B}:trail/y", action="use_existing_key")])
    doc = _assessment.build_document([b, a], "2026-01-01T00:00:00Z", ["acct-c"], {"acct-a": A, "acct-b": B})
    assert list(doc["accounts"]) == [A, B]
    assert doc["failed_hosts"] == ["acct-c"]
    assert doc["hosts"] == {"acct-a": A, "acct-b": B}
    assert "api_calls" not in doc["accounts"][A]
    assert doc["summary"] == {
        "accounts": 2, "trails": 3, "actionable_trails": 3, "compliant": 1, "non_compliant": 2,
        "recommended_actions": {"create_key": 1, "use_existing_key": 1},
        "findings_by_code": {"TRAIL_NO_KMS_KEY": 1}, "findings_by_severity": {"high": 1},
    }


@pytest.mark.parametrize("bad", [None, {}, {"account_id": ""}, "not a dict"])
def test_document_refuses_facts_without_account(bad):
    with pytest.raises(_assessment.AssessmentError, match="account_id"):
        _assessment.build_document([bad], "t")


def test_document_refuses_an_account_assessed_twice():
    with pytest.raises(_assessment.AssessmentError, match=f"account {A} was assessed by more than one"):
        _assessment.build_document([facts(A, []), facts(A, [])], "t")


def test_approval_candidates_lists_owned_non_compliant_trails_only():
    doc = _assessment.build_document([facts(A, [
        trail(f"arn:aws:cloudtrail:us-east-1:{A}:trail/fix", action="use_existing_key", key_arn="arn:aws:kms:k",
              codes=["KEY_DISABLED", "KEY_DISABLED", "TRAIL_LOG_VALIDATION_DISABLED"], log_readers=["r", "s"],
              log_readers_need_decrypt=["s"]),
        trail(f"arn:aws:cloudtrail:us-east-1:{A}:trail/old", log_readers=["r"]),  # assessment without the field
        trail(f"arn:aws:cloudtrail:us-east-1:{A}:trail/ok", compliance="compliant", action="none"),
        trail(f"arn:aws:cloudtrail:us-east-1:{B}:trail/org", classification="organization_member_view",
              action="defer", org=True),
    ])], "t")
    assert _assessment.approval_candidates(doc) == [{
        "account_id": A, "trail_arn": f"arn:aws:cloudtrail:us-east-1:{A}:trail/fix", "trail_name": "fix",
        "is_organization_trail": False, "recommended_action": "use_existing_key",
        "recommended_key_arn": "arn:aws:kms:k", "recommended_region": "us-east-1", "reason": "because",
        "finding_codes": ["KEY_DISABLED", "TRAIL_LOG_VALIDATION_DISABLED"], "log_readers": ["r", "s"],
        "readers_need_decrypt": ["s"],
    }, {
        "account_id": A, "trail_arn": f"arn:aws:cloudtrail:us-east-1:{A}:trail/old", "trail_name": "old",
        "is_organization_trail": False, "recommended_action": "create_key", "recommended_key_arn": None,
        "recommended_region": "us-east-1", "reason": "because", "finding_codes": [], "log_readers": ["r"],
        "readers_need_decrypt": ["r"],
    }]


def test_write_account_files(tmp_path):
    data = facts(A, [trail(f"arn:aws:cloudtrail:us-east-1:{A}:trail/ü")])
    data["trail_bucket_map"] = {"b": 1}
    paths = _assessment.write_account_files(data, str(tmp_path / "assess"))
    assert [os.path.basename(p) for p in paths] == [f"{n}.json" for n in _assessment.ACCOUNT_FILES]
    for name in _assessment.ACCOUNT_FILES:
        path = tmp_path / "assess" / A / f"{name}.json"
        text = path.read_text(encoding="utf-8")
        assert text.endswith("}\n") or text.endswith("]\n") or text == "null\n"
        assert json.loads(text) == data.get(name)
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert "ü" in (tmp_path / "assess" / A / "trails.json").read_text(encoding="utf-8")
    assert not list((tmp_path / "assess" / A).glob("*.tmp"))
