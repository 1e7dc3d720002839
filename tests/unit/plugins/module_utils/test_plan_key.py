"""Unit tests of the pure KMS planner (_plan_key): refusals, merge safety, idempotency, create, grants."""

import copy
import json
from pathlib import Path

import pytest

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _plan_key as pk
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _policy

FIXTURES = Path(__file__).parent / "fixtures" / "policies"
ACCOUNT = "111111111111"
REGION = "us-east-1"
TRAIL = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/main-trail"
TRAIL2 = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/second"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
READER = "arn:aws:iam::222222222222:role/SecurityAudit"  # readers of other accounts
LOCAL_READER = f"arn:aws:iam::{ACCOUNT}:role/LogPipeline"  # a reader of the key's own account
READER2 = "arn:aws:iam::333333333333:role/Forensics"

ROOT = {
    "Sid": "Enable IAM User Permissions",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
    "Action": "kms:*",
    "Resource": "*",
}
USER = {
    "Sid": "AppUse",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/App"},
    "Action": ["kms:Encrypt", "kms:Decrypt"],
    "Resource": "*",
    "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}},
}
CT_ALL = {
    "Sid": "TheirCloudTrail",
    "Effect": "Allow",
    "Principal": {"Service": "cloudtrail.amazonaws.com"},
    "Action": ["kms:GenerateDataKey*", "kms:DescribeKey", "kms:Decrypt"],
    "Resource": "*",
}


def pol(*statements):
    return {"Version": "2012-10-17", "Statement": [copy.deepcopy(s) for s in statements]}


def meta(**overrides):
    base = {
        "Arn": KEY,
        "KeyId": KEY.rsplit("/", 1)[-1],
        "KeyState": "Enabled",
        "Enabled": True,
        "KeyManager": "CUSTOMER",
        "KeySpec": "SYMMETRIC_DEFAULT",
        "KeyUsage": "ENCRYPT_DECRYPT",
    }
    base.update(overrides)
    return base


def plan(policy=None, metadata=None, **kwargs):
    kwargs.setdefault("trail_arns", [TRAIL])
    return pk.plan_key_policy(metadata or meta(), pol(ROOT) if policy is None else policy, ACCOUNT, **kwargs)


def assert_foreign_verbatim(before, after):
    after_statements = [json.dumps(s, sort_keys=True) for s in after["Statement"]]
    for statement in before["Statement"]:
        if not str(statement.get("Sid", "")).startswith("TrailGuard"):
            assert json.dumps(statement, sort_keys=True) in after_statements, statement


def allowed(policy, name, trail=TRAIL):
    return _policy.evaluate(policy, _policy.cloudtrail_key_requests(trail, KEY)[name]).allowed


# ---------------------------------------------------------------------------------------------- refusals
BIG = {
    "Sid": "Big",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/Big"},
    "Action": "kms:Decrypt",
    "Resource": "*",
    "Condition": {"StringEquals": {"kms:EncryptionContext:x": [f"v{i:05d}" for i in range(3600)]}},
}


@pytest.mark.parametrize(
    "case, kwargs, code",
    [
        ("aws managed", dict(metadata=meta(KeyManager="AWS")), "KEY_AWS_MANAGED"),
        ("disabled", dict(metadata=meta(KeyState="Disabled", Enabled=False)), "KEY_DISABLED"),
        (
            "pending deletion",
            dict(metadata=meta(KeyState="PendingDeletion", DeletionDate="2026-12-01")),
            "KEY_PENDING_DELETION",
        ),
        ("replica pending deletion", dict(metadata=meta(KeyState="PendingReplicaDeletion")), "KEY_PENDING_DELETION"),
        ("pending import", dict(metadata=meta(KeyState="PendingImport")), "KEY_UNAVAILABLE"),
        ("asymmetric", dict(metadata=meta(KeySpec="RSA_2048")), "KEY_NOT_SYMMETRIC"),
        ("hmac", dict(metadata=meta(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")), "KEY_NOT_SYMMETRIC"),
        ("signing", dict(metadata=meta(KeyUsage="SIGN_VERIFY")), "KEY_NOT_SYMMETRIC"),
        ("wrong region", dict(bucket_region="eu-west-1"), "KEY_REGION_MISMATCH"),
        ("drift", dict(expected_policy_sha256="0" * 64), "DRIFT_DETECTED"),
        ("malformed", dict(policy="{not json"), "POLICY_MALFORMED"),
        ("too large", dict(policy=pol(ROOT, BIG)), "POLICY_TOO_LARGE"),
        ("no admin", dict(policy=pol(USER)), "ADMIN_ACCESS_WOULD_BE_LOST"),
        ("grant for cloudtrail", dict(use_grant=True, readers=[READER]), "GRANT_CANNOT_SERVE_CLOUDTRAIL"),
    ],
)
def test_refusals(case, kwargs, code):
    result = plan(**kwargs)
    assert code in [e["code"] for e in result.errors], (case, result.errors)
    assert result.calls == [] and result.changed is False and not result.ok
    for error in result.errors:
        assert error["remediation"] and error["severity"] == "critical" and error["message"]


def test_disabled_key_is_never_enabled_nor_deletion_cancelled():
    for state in ("Disabled", "PendingDeletion"):
        result = plan(metadata=meta(KeyState=state))
        assert not any(c["operation"] in ("EnableKey", "CancelKeyDeletion") for c in result.calls)


def test_every_refusal_code_has_remediation():
    for code, text in pk.REFUSAL_CODES.items():
        assert code.isupper() and text


def test_merge_invariant_is_checked(monkeypatch):
    def bad_merge(policy, statements):
        merged = _policy.load_policy(policy)
        merged["Statement"] = [s for s in merged["Statement"] if s.get("Sid") != "AppUse"] + statements
        return merged

    monkeypatch.setattr(_policy, "merge_statements", bad_merge)
    result = plan(policy=pol(ROOT, USER))
    assert [e["code"] for e in result.errors] == ["MERGE_INVARIANT_VIOLATED"]
    assert result.errors[0]["statement"] == "AppUse"


# ---------------------------------------------------------------------------------------------- patch
@pytest.mark.parametrize(
    "case, policy, kwargs, expect_change, expect_readers",
    [
        ("root only", pol(ROOT), {}, True, []),
        ("root + app", pol(ROOT, USER), {}, True, []),
        ("already allowed by their statement", pol(ROOT, CT_ALL), {}, False, []),
        ("already allowed, reader missing", pol(ROOT, CT_ALL), dict(readers=[READER]), True, [READER]),
        # the root statement delegates to IAM, which this module cannot see: an approved reader of the key's
        # account is named in the key policy (the assessment found its IAM policies lacking kms:Decrypt)
        ("same-account reader behind root", pol(ROOT, CT_ALL), dict(readers=[LOCAL_READER]), True, [LOCAL_READER]),
        ("same-account reader already named", pol(ROOT, CT_ALL, {
            "Sid": "TheirReaders", "Effect": "Allow", "Principal": {"AWS": LOCAL_READER}, "Action": "kms:Decrypt",
            "Resource": "*"}), dict(readers=[LOCAL_READER]), False, []),
        ("bucket key", pol(ROOT), dict(bucket_key_enabled=True), True, []),
        (
            "two trails and readers",
            pol(ROOT, USER),
            dict(trail_arns=[TRAIL, TRAIL2], readers=[READER, READER2]),
            True,
            [READER, READER2],
        ),
    ],
)
def test_patch_adds_only_trailguard_statements_and_is_idempotent(case, policy, kwargs, expect_change, expect_readers):
    before = copy.deepcopy(policy)
    sha = _policy.policy_sha256(policy)
    result = plan(policy=policy, expected_policy_sha256=sha, **kwargs)
    assert result.ok, result.errors
    assert result.changed is expect_change, case
    assert policy == before  # input never mutated
    assert_foreign_verbatim(before, result.after)
    added = [s for s in result.after["Statement"] if s not in before["Statement"]]
    assert all(s["Sid"].startswith("TrailGuard") for s in added)
    for trail in kwargs.get("trail_arns", [TRAIL]):
        assert allowed(result.after, "encrypt", trail) and allowed(result.after, "describe", trail)
    if kwargs.get("bucket_key_enabled"):
        assert allowed(result.after, "decrypt")
    assert not _policy.readers_without_decrypt(result.after, KEY, kwargs.get("readers", []))
    assert sorted(result.details["readers_added"]) == sorted(expect_readers)
    if expect_change:
        (call,) = result.calls
        assert call["operation"] == "PutKeyPolicy" and call["service"] == "kms"
        assert set(call["params"]) == {"KeyId", "PolicyName", "Policy"}  # never BypassPolicyLockoutSafetyCheck
        assert json.loads(call["params"]["Policy"]) == result.after
        assert call["params"]["KeyId"] == KEY
        assert result.diff and result.action == "put_key_policy"
    else:
        assert result.calls == [] and result.action == "none"
    # idempotency: planning again on the planned result changes nothing
    again = plan(policy=result.after, expected_policy_sha256=_policy.policy_sha256(result.after), **kwargs)
    assert again.ok and again.changed is False and again.calls == []


def test_compact_rendering_when_pretty_would_exceed_limit():
    filler = {
        "Sid": "Filler",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/F"},
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {"StringEquals": {"kms:EncryptionContext:x": [f"v{i:05d}" for i in range(2900)]}},
    }
    result = plan(policy=pol(ROOT, filler))
    assert result.ok, result.errors
    document = result.calls[0]["params"]["Policy"]
    assert len(document.encode()) <= _policy.MAX_KEY_POLICY_BYTES
    assert "\n" not in document  # compact: the indented form would not fit


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("key_*.json")))
def test_fixture_corpus_merge_never_removes_or_narrows(fixture):
    policy = json.loads((FIXTURES / fixture).read_text())
    result = plan(policy=policy, readers=[READER])
    allowed_refusals = {"ADMIN_ACCESS_WOULD_BE_LOST", "POLICY_MALFORMED"}
    if not result.ok:
        assert {e["code"] for e in result.errors} <= allowed_refusals, result.errors
        return
    before = _policy.load_policy(policy)
    assert_foreign_verbatim(before, result.after)
    assert len(result.after["Statement"]) >= len(before["Statement"])
    again = plan(policy=result.after, readers=[READER])
    assert again.ok and not again.changed, fixture


# ---------------------------------------------------------------------------------------------- grants
def test_grants_for_readers_only():
    result = plan(policy=pol(ROOT, CT_ALL), use_grant=True, readers=[READER2, READER])
    assert result.ok
    assert [c["operation"] for c in result.calls] == ["CreateGrant", "CreateGrant"]
    assert [c["params"]["GranteePrincipal"] for c in result.calls] == [READER2, READER][::-1]
    for call in result.calls:
        assert call["params"]["Operations"] == pk.READER_GRANT_OPERATIONS
        assert call["params"]["KeyId"] == KEY and call["params"]["Name"] == pk.READER_GRANT_NAME
    assert result.action == "create_grant"
    assert result.after == result.before  # the policy is not touched


def test_existing_grants_are_reused():
    grants = [
        {"GrantId": "g-1", "GranteePrincipal": READER, "Operations": ["Decrypt", "DescribeKey", "Encrypt"]},
        {"GrantId": "g-2", "GranteePrincipal": READER2, "Operations": ["Encrypt"]},
    ]
    result = plan(policy=pol(ROOT, CT_ALL), use_grant=True, readers=[READER, READER2], grants=grants)
    assert result.details["grant_ids"] == ["g-1"]
    assert [c["params"]["GranteePrincipal"] for c in result.calls] == [READER2]
    again = plan(
        policy=pol(ROOT, CT_ALL),
        use_grant=True,
        readers=[READER, READER2],
        grants=[*grants, {"GrantId": "g-3", "GranteePrincipal": READER2, "Operations": ["Decrypt", "DescribeKey"]}],
    )
    assert not again.changed and again.details["grant_ids"] == ["g-1", "g-3"]


# ---------------------------------------------------------------------------------------------- create
def test_create_key_plan():
    result = pk.plan_create_key(
        ACCOUNT,
        REGION,
        [TRAIL],
        alias="trailguard/main",
        description="d",
        tags={"owner": "sec"},
        enable_rotation=True,
        rotation_period_days=180,
        multi_region=True,
        readers=[READER],
        bucket_region=REGION,
    )
    assert result.ok and result.changed and result.action == "create_key+create_alias+enable_key_rotation"
    create, alias, rotation = result.calls
    params = create["params"]
    assert "BypassPolicyLockoutSafetyCheck" not in params
    assert params["KeySpec"] == "SYMMETRIC_DEFAULT" and params["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert params["MultiRegion"] is True and params["Description"] == "d"
    assert {"TagKey": "owner", "TagValue": "sec"} in params["Tags"]
    assert {"TagKey": pk.CREATED_BY_TAG_KEY, "TagValue": pk.CREATED_BY_TAG_VALUE} in params["Tags"]
    policy = json.loads(params["Policy"])
    assert policy == result.after
    assert _policy.admin_access_preserved(policy, ACCOUNT)
    assert allowed(policy, "encrypt") and allowed(policy, "describe")
    assert not _policy.readers_without_decrypt(policy, KEY, [READER])
    assert alias["params"] == {"AliasName": "alias/trailguard/main", "TargetKeyId": pk.NEW_KEY}
    assert rotation["params"] == {"KeyId": pk.NEW_KEY, "RotationPeriodInDays": 180}
    # the created key's policy needs no patch: re-planning on it is a no-op
    again = pk.plan_key_policy(meta(), policy, ACCOUNT, [TRAIL], readers=[READER])
    assert again.ok and not again.changed


def test_create_key_without_rotation():
    result = pk.plan_create_key(ACCOUNT, REGION, [TRAIL], alias="alias/x", enable_rotation=False)
    assert [c["operation"] for c in result.calls] == ["CreateKey", "CreateAlias"]


@pytest.mark.parametrize(
    "kwargs, code",
    [(dict(alias="alias/aws/s3"), "ALIAS_IN_USE"), (dict(alias="x", bucket_region="eu-west-1"), "KEY_REGION_MISMATCH")],
)
def test_create_key_refusals(kwargs, code):
    result = pk.plan_create_key(ACCOUNT, REGION, [TRAIL], **kwargs)
    assert [e["code"] for e in result.errors] == [code] and result.calls == []


def test_alias_in_use():
    result = pk.alias_in_use("alias/x", KEY)
    assert result.errors[0]["code"] == "ALIAS_IN_USE" and KEY in result.errors[0]["message"]


def test_created_by_trailguard():
    assert pk.created_by_trailguard([{"TagKey": pk.CREATED_BY_TAG_KEY, "TagValue": pk.CREATED_BY_TAG_VALUE}])
    assert not pk.created_by_trailguard([{"TagKey": "owner", "TagValue": "x"}])
    assert not pk.created_by_trailguard(None)


@pytest.mark.parametrize(
    "status, enable, period, ops, warning",
    [
        ({"KeyRotationEnabled": False}, True, None, ["EnableKeyRotation"], None),
        ({"KeyRotationEnabled": True, "RotationPeriodInDays": 365}, True, None, [], None),
        ({"KeyRotationEnabled": True, "RotationPeriodInDays": 365}, True, 180, ["EnableKeyRotation"], None),
        ({"KeyRotationEnabled": True}, False, None, [], "ROTATION_LEFT_ENABLED"),
        ({"KeyRotationEnabled": False}, False, None, [], None),
    ],
)
def test_rotation(status, enable, period, ops, warning):
    result = pk.plan_rotation(pk.Plan(resource=KEY), KEY, status, enable, period)
    assert [c["operation"] for c in result.calls] == ops
    assert result.changed is bool(ops)
    assert [w["code"] for w in result.warnings] == ([warning] if warning else [])
    assert not any(c["operation"] == "DisableKeyRotation" for c in result.calls)


def test_plan_as_dict_round_trips():
    result = plan()
    as_dict = result.as_dict()
    assert as_dict["resource"] == KEY and as_dict["changed"] is True
    json.dumps(as_dict)
