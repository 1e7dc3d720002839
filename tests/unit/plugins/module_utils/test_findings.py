"""Table-driven tests for _findings (pure): every finding code, compliance, recommendations, suitability.

Policy evaluation is ``_policy``'s job and tested there; here ``_policy``'s finding functions are replaced
by fakes driven by markers in the policy dicts, so each case states exactly which policy finding it wants.
"""

import copy

import pytest

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _findings
from cmk_facts_helpers import fake_policy

ACCOUNT = "111111111111"
TRAIL = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/main"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1111"
KEY2 = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/2222"
KEY_EU = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/3333"


@pytest.fixture(autouse=True)
def _fake_policy(monkeypatch):
    fake_policy(monkeypatch, force=True)


def key(arn=KEY, **over):
    base = {
        "arn": arn,
        "key_id": arn.rsplit("/", 1)[1],
        "account_id": ACCOUNT,
        "region": arn.split(":")[3],
        "aliases": [],
        "exists": True,
        "readable": True,
        "state": "Enabled",
        "enabled": True,
        "manager": "CUSTOMER",
        "spec": "SYMMETRIC_DEFAULT",
        "usage": "ENCRYPT_DECRYPT",
        "rotation_enabled": True,
        "tags": {},
        "policy": {"Statement": []},
        "candidate": True,
        "referenced": False,
        "read_errors": [],
    }
    base.update(over)
    return base


def inventory():
    return {
        "account_id": ACCOUNT,
        "organization_id": None,
        "regions": ["us-east-1"],
        "trails": [
            {
                "name": "main",
                "arn": TRAIL,
                "account_id": ACCOUNT,
                "home_region": "us-east-1",
                "classification": "owned",
                "actionable": True,
                "is_organization_trail": False,
                "s3_bucket_name": "logs",
                "s3_key_prefix": "",
                "kms_key_id": KEY,
                "kms_key_arn": KEY,
                "log_file_validation_enabled": True,
                "is_logging": True,
                "latest_delivery_error": None,
                "read_errors": [],
            }
        ],
        "buckets": {
            "logs": {
                "name": "logs",
                "exists": True,
                "region": "us-east-1",
                "cross_account": False,
                "owner_account": ACCOUNT,
                "policy": {"Statement": []},
                "encryption": {
                    "sse_algorithm": "AES256",
                    "kms_key_id": None,
                    "kms_key_arn": None,
                    "bucket_key_enabled": False,
                },
                "requester_pays": False,
                "read_errors": [],
            }
        },
        "keys": {KEY: key(referenced=True)},
    }


DENIED = {"operation": "get_key_policy", "code": "AccessDeniedException", "access_denied": True, "message": "x"}


def _set(path, value):
    def apply(inv):
        target = inv
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return apply


def _key(**over):
    return _set(("keys", KEY), key(referenced=True, **over))


def _trail(**over):
    def apply(inv):
        inv["trails"][0].update(over)

    return apply


def _bucket(**over):
    def apply(inv):
        inv["buckets"]["logs"].update(over)

    return apply


# (id, mutation, expected code, expected compliance)
CASES = [
    ("no_key", _trail(kms_key_id=None, kms_key_arn=None), "TRAIL_NO_KMS_KEY", "non_compliant"),
    ("key_not_found", _key(exists=False, state=None), "KEY_NOT_FOUND", "non_compliant"),
    ("key_unresolvable_alias", _trail(kms_key_id="alias/gone", kms_key_arn=None), "KEY_NOT_FOUND", "non_compliant"),
    ("key_disabled", _key(state="Disabled", enabled=False), "KEY_DISABLED", "non_compliant"),
    ("key_pending_deletion", _key(state="PendingDeletion"), "KEY_PENDING_DELETION", "non_compliant"),
    ("key_aws_managed", _key(manager="AWS"), "KEY_AWS_MANAGED", "non_compliant"),
    ("key_not_symmetric", _key(spec="RSA_2048", usage="ENCRYPT_DECRYPT"), "KEY_NOT_SYMMETRIC", "non_compliant"),
    ("key_sign_verify", _key(usage="GENERATE_VERIFY_MAC"), "KEY_NOT_SYMMETRIC", "non_compliant"),
    ("key_region_mismatch", _bucket(region="eu-west-1"), "KEY_REGION_MISMATCH", "non_compliant"),
    (
        "key_policy_denies",
        _key(policy={"_key_findings": ["KEY_POLICY_DENIES_CLOUDTRAIL"]}),
        "KEY_POLICY_DENIES_CLOUDTRAIL",
        "non_compliant",
    ),
    (
        "key_policy_no_describe",
        _key(policy={"_key_findings": ["KEY_POLICY_NO_DESCRIBE"]}),
        "KEY_POLICY_NO_DESCRIBE",
        "non_compliant",
    ),
    (
        "key_policy_no_decrypt_bucket_key",
        _key(policy={"_key_findings": ["KEY_POLICY_NO_DECRYPT_FOR_BUCKET_KEY"]}),
        "KEY_POLICY_NO_DECRYPT_FOR_BUCKET_KEY",
        "non_compliant",
    ),
    ("key_rotation_disabled", _key(rotation_enabled=False), "KEY_ROTATION_DISABLED", "compliant"),
    (
        "key_unreadable_policy",
        _key(policy=None, read_errors=[DENIED], readable=False),
        "KEY_UNREADABLE",
        "non_compliant",
    ),
    (
        "key_unreadable_describe",
        _key(state=None, manager=None, spec=None, usage=None, policy=None, read_errors=[DENIED]),
        "KEY_UNREADABLE",
        "non_compliant",
    ),
    (
        "key_unreadable_tags_only",
        _key(read_errors=[dict(DENIED, operation="list_resource_tags")]),
        "KEY_UNREADABLE",
        "compliant",
    ),
    ("bucket_not_found", _bucket(exists=False, region=None), "BUCKET_NOT_FOUND", "non_compliant"),
    (
        "bucket_policy_denies",
        _bucket(policy={"_bucket_findings": ["BUCKET_POLICY_DENIES_CLOUDTRAIL"]}),
        "BUCKET_POLICY_DENIES_CLOUDTRAIL",
        "non_compliant",
    ),
    (
        "bucket_policy_blocks_kms",
        _bucket(policy={"_bucket_findings": ["BUCKET_POLICY_BLOCKS_KMS"]}),
        "BUCKET_POLICY_BLOCKS_KMS",
        "non_compliant",
    ),
    (
        "bucket_default_other_key",
        _bucket(
            encryption={"sse_algorithm": "aws:kms", "kms_key_id": KEY2, "kms_key_arn": KEY2, "bucket_key_enabled": True}
        ),
        "BUCKET_DEFAULT_ENCRYPTION_OTHER_KEY",
        "compliant",
    ),
    (
        "bucket_unreadable_region_known",
        _bucket(policy=None, read_errors=[dict(DENIED, operation="get_bucket_policy")]),
        "BUCKET_UNREADABLE",
        "compliant",
    ),
    (
        "bucket_unreadable_region_unknown",
        _bucket(region=None, policy=None, read_errors=[dict(DENIED, operation="head_bucket")]),
        "BUCKET_UNREADABLE",
        "non_compliant",
    ),
    ("bucket_cross_account", _bucket(cross_account=True, owner_account=None), "BUCKET_CROSS_ACCOUNT", "compliant"),
    ("bucket_requester_pays", _bucket(requester_pays=True), "BUCKET_REQUESTER_PAYS", "non_compliant"),
    ("trail_not_logging", _trail(is_logging=False), "TRAIL_NOT_LOGGING", "compliant"),
    ("trail_delivery_error", _trail(latest_delivery_error="AccessDenied"), "TRAIL_DELIVERY_ERROR", "compliant"),
    ("trail_no_validation", _trail(log_file_validation_enabled=False), "TRAIL_LOG_VALIDATION_DISABLED", "compliant"),
    (
        "org_member_view",
        _trail(
            classification="organization_member_view",
            actionable=False,
            account_id="999999999999",
            arn="arn:aws:cloudtrail:us-east-1:999999999999:trail/org",
            is_organization_trail=True,
        ),
        "ORG_TRAIL_NOT_MANAGEABLE_HERE",
        "non_compliant",
    ),
    (
        "readers_need_decrypt",
        _bucket(policy={"_readers": [f"arn:aws:iam::{ACCOUNT}:role/siem", "arn:aws:iam::222222222222:root"]}),
        "READERS_NEED_DECRYPT",
        "compliant",
    ),
]


def test_every_code_has_a_case():
    assert {c[2] for c in CASES} == set(_findings.ALL_CODES)
    assert len(_findings.ALL_CODES) == 24


@pytest.mark.parametrize("mutate, code, compliance", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_finding_codes(mutate, code, compliance):
    inv = inventory()
    mutate(inv)
    result = _findings.assess(inv)
    [trail] = result["trails"]
    codes = [f["code"] for f in trail["findings"]]
    assert code in codes
    assert trail["compliance"] == compliance
    if compliance == "compliant":
        assert trail["blocking"] == []
    else:
        assert code in trail["blocking"]
    for f in trail["findings"]:
        assert set(f) >= {"code", "severity", "resource", "message", "remediation", "statement"}
        assert f["severity"] in ("critical", "high", "medium", "low", "info")
        assert f["remediation"]
    assert [f["code"] for f in result["findings"]] == codes
    assert all(f["trail"] == trail["arn"] and f["account_id"] == ACCOUNT for f in result["findings"])


def test_clean_trail_is_compliant_without_findings():
    result = _findings.assess(inventory())
    [trail] = result["trails"]
    assert trail["compliance"] == "compliant"
    assert trail["findings"] == []
    assert trail["recommended_action"] == {
        "action": "none",
        "key_arn": KEY,
        "region": "us-east-1",
        "reason": "compliant",
    }
    summary = _findings.summarize(result)
    assert summary["compliant"] == 1 and summary["non_compliant"] == 0 and summary["findings"] == 0


def test_policy_findings_keep_statement_reference():
    inv = inventory()
    _key(policy={"_key_findings": ["KEY_POLICY_DENIES_CLOUDTRAIL"]})(inv)
    [f] = [f for f in _findings.assess(inv)["trails"][0]["findings"] if f["code"] == "KEY_POLICY_DENIES_CLOUDTRAIL"]
    assert f["statement"] == "#0"


def test_recommend_existing_ready_key_over_one_needing_statements():
    inv = inventory()
    _trail(kms_key_id=None, kms_key_arn=None)(inv)
    inv["keys"] = {
        KEY: key(KEY, policy={"_key_findings": ["KEY_POLICY_DENIES_CLOUDTRAIL"]}),
        KEY2: key(KEY2),
        KEY_EU: key(KEY_EU),
    }
    result = _findings.assess(inv)
    action = result["trails"][0]["recommended_action"]
    assert action["action"] == "use_existing_key"
    assert action["key_arn"] == KEY2
    keys = {k["arn"]: k for k in result["keys"]}
    assert keys[KEY2]["suitability"][TRAIL] == {"suitable": True, "ready": True, "reasons": []}
    assert keys[KEY]["suitability"][TRAIL] == {
        "suitable": True, "ready": False, "reasons": ["KEY_POLICY_DENIES_CLOUDTRAIL"]}
    assert keys[KEY_EU]["suitability"][TRAIL]["reasons"] == ["KEY_REGION_MISMATCH"]
    assert keys[KEY_EU]["suitable_for"] == []
    assert keys[KEY]["suitable_for"] == []
    assert keys[KEY2]["suitable_for"] == [TRAIL]


@pytest.mark.parametrize("code", ["KEY_POLICY_NO_DESCRIBE", "KEY_POLICY_NO_DECRYPT_FOR_BUCKET_KEY"])
def test_a_key_missing_any_cloudtrail_permission_is_not_ready(code):
    """Its own trail's broken key must not be recommended as 'already allows CloudTrail'."""
    inv = inventory()
    _key(policy={"_key_findings": [code]})(inv)
    result = _findings.assess(inv)
    [trail] = result["trails"]
    [key_out] = [k for k in result["keys"] if k["arn"] == KEY]
    assert key_out["suitability"][TRAIL] == {"suitable": True, "ready": False, "reasons": [code]}
    assert key_out["suitable_for"] == []
    assert trail["compliance"] == "non_compliant"
    assert trail["recommended_action"]["action"] == "use_existing_key"
    assert trail["recommended_action"]["key_arn"] == KEY
    assert trail["recommended_action"]["reason"].endswith("its policy needs the TrailGuard statements")


@pytest.mark.parametrize(
    "over, reason",
    [
        ({"state": "Disabled"}, "KEY_DISABLED"),
        ({"manager": "AWS"}, "KEY_AWS_MANAGED"),
        ({"spec": "RSA_2048"}, "KEY_NOT_SYMMETRIC"),
        ({"policy": None}, "KEY_UNREADABLE"),
        ({"account_id": "222222222222"}, "KEY_CROSS_ACCOUNT"),
    ],
)
def test_unsuitable_keys_lead_to_create_key(over, reason):
    inv = inventory()
    _trail(kms_key_id=None, kms_key_arn=None)(inv)
    inv["keys"] = {KEY2: key(KEY2, **over)}
    result = _findings.assess(inv)
    assert result["trails"][0]["recommended_action"]["action"] == "create_key"
    assert result["trails"][0]["recommended_action"]["region"] == "us-east-1"
    assert reason in result["keys"][0]["suitability"][TRAIL]["reasons"]


@pytest.mark.parametrize(
    "mutate, reason_part",
    [
        (_trail(classification="organization_member_view", account_id="999999999999"), "member account"),
        (_trail(classification="shadow", actionable=False), "home region"),
        (_bucket(exists=False, region=None), "does not exist"),
        (_bucket(region=None, read_errors=[DENIED]), "region is unknown"),
    ],
)
def test_defer(mutate, reason_part):
    inv = inventory()
    _key(state="Disabled")(inv)
    mutate(inv)
    action = _findings.assess(inv)["trails"][0]["recommended_action"]
    assert action["action"] == "defer"
    assert reason_part in action["reason"]


def test_readers_checked_against_the_recommended_key():
    inv = inventory()
    siem = f"arn:aws:iam::{ACCOUNT}:role/siem"
    _trail(kms_key_id=None, kms_key_arn=None)(inv)
    _bucket(policy={"_readers": [siem]})(inv)
    inv["keys"] = {KEY2: key(KEY2, policy={"_decrypt": [siem]})}
    [trail] = _findings.assess(inv)["trails"]
    assert trail["log_readers"] == [siem]
    assert "READERS_NEED_DECRYPT" not in [f["code"] for f in trail["findings"]]
    inv["keys"] = {}
    [trail] = _findings.assess(inv)["trails"]
    assert trail["recommended_action"]["action"] == "create_key"
    [f] = [f for f in trail["findings"] if f["code"] == "READERS_NEED_DECRYPT"]
    assert siem in f["message"]


def test_assess_does_not_mutate_its_input():
    inv = inventory()
    before = copy.deepcopy(inv)
    _findings.assess(inv)
    assert inv == before


def test_blocking_codes_are_documented_subset():
    assert set(_findings.ALL_CODES) >= _findings.BLOCKING_CODES
    assert set(_findings.ALL_CODES) >= _findings.CONDITIONALLY_BLOCKING_CODES


def test_recommend_patching_the_trails_own_usable_key_over_moving_it():
    """Minimal change: the trail's own key lacks only DescribeKey; a ready key elsewhere is not preferred."""
    inv = inventory()
    inv["keys"] = {KEY: key(KEY, policy={"_key_findings": ["KEY_POLICY_NO_DESCRIBE"]}), KEY2: key(KEY2)}
    result = _findings.assess(inv)
    action = result["trails"][0]["recommended_action"]
    assert action["action"] == "use_existing_key"
    assert action["key_arn"] == KEY
    assert action["reason"].endswith("its policy needs the TrailGuard statements")
