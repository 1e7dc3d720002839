"""Unit tests of the pure S3 planner (_plan_bucket): statements, deny amendment, default encryption."""

import copy
import json
from pathlib import Path

import pytest

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _plan_bucket as pb
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _policy

FIXTURES = Path(__file__).parent / "fixtures" / "policies"
ACCOUNT = "111111111111"
REGION = "us-east-1"
BUCKET = "trailguard-logs"
PREFIX = "logs"
TRAIL = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/main-trail"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/99999999-12ab-34cd-56ef-1234567890ab"
ORG = "o-trailguard1"

READ = {
    "Sid": "AuditRead",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/Audit"},
    "Action": "s3:GetObject",
    "Resource": f"arn:aws:s3:::{BUCKET}/*",
}
DENY_AES = {
    "Sid": "DenyNonAES256",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:PutObject",
    "Resource": f"arn:aws:s3:::{BUCKET}/*",
    "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}},
}
DENY_KEY = {
    "Sid": "DenyOtherKeys",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:PutObject",
    "Resource": f"arn:aws:s3:::{BUCKET}/*",
    "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": [OTHER_KEY]}},
}
DENY_KEY_LIKE = {
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:PutObject",
    "Resource": f"arn:aws:s3:::{BUCKET}/*",
    "Condition": {"ArnNotLikeIfExists": {"s3:x-amz-server-side-encryption-aws-kms-key-id": OTHER_KEY}},
}
DENY_ALL = {
    "Sid": "Freeze",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:PutObject",
    "Resource": f"arn:aws:s3:::{BUCKET}/*",
}


def pol(*statements):
    return {"Version": "2012-10-17", "Statement": [copy.deepcopy(s) for s in statements]}


def plan(policy, **kwargs):
    kwargs.setdefault("s3_key_prefix", PREFIX)
    return pb.plan_bucket_policy(BUCKET, policy, ACCOUNT, TRAIL, KEY, **kwargs)


def requests(org=False):
    return pb._trail_requests(BUCKET, TRAIL, PREFIX, KEY, org, ORG if org else None)


def delivers(policy, org=False):
    return not pb.not_allowed(policy, requests(org))


def assert_foreign_verbatim(before, after, except_refs=()):
    after_statements = [json.dumps(s, sort_keys=True) for s in after["Statement"]]
    for index, statement in enumerate(before["Statement"]):
        ref = statement.get("Sid") or f"#{index}"
        if ref in except_refs or str(statement.get("Sid", "")).startswith("TrailGuard"):
            continue
        assert json.dumps(statement, sort_keys=True) in after_statements, statement


@pytest.mark.parametrize("policy", [None, "", pol(READ)])
def test_adds_acl_and_write_statements(policy):
    result = plan(policy, expected_policy_sha256=_policy.policy_sha256(policy or ""))
    assert result.ok and result.changed and result.action == "put_bucket_policy"
    sids = [s.get("Sid") for s in result.after["Statement"]]
    assert "TrailGuardCloudTrailAclCheck" in sids and "TrailGuardCloudTrailWrite" in sids
    assert delivers(result.after)
    (call,) = result.calls
    assert call["operation"] == "PutBucketPolicy" and call["params"]["Bucket"] == BUCKET
    assert json.loads(call["params"]["Policy"]) == result.after
    write = next(s for s in result.after["Statement"] if s.get("Sid") == "TrailGuardCloudTrailWrite")
    assert write["Resource"] == [f"arn:aws:s3:::{BUCKET}/{PREFIX}/AWSLogs/{ACCOUNT}/*"]  # the trail's exact path
    assert write["Condition"]["StringEquals"]["s3:x-amz-acl"] == "bucket-owner-full-control"
    if policy:
        assert_foreign_verbatim(policy, result.after)
    again = plan(result.after, expected_policy_sha256=_policy.policy_sha256(result.after))
    assert again.ok and not again.changed and again.calls == []


def test_org_trail_gets_org_path():
    result = plan(None, is_organization_trail=True, organization_id=ORG)
    write = next(s for s in result.after["Statement"] if s.get("Sid") == "TrailGuardCloudTrailWrite")
    assert f"arn:aws:s3:::{BUCKET}/{PREFIX}/AWSLogs/{ORG}/*" in write["Resource"]
    assert delivers(result.after, org=True)
    assert not plan(result.after, is_organization_trail=True, organization_id=ORG).changed


def test_already_allowed_is_noop():
    documented = json.loads((FIXTURES / "bucket_aws_documented.json").read_text())
    result = plan(documented)
    assert result.ok and not result.changed and result.calls == [] and result.diff == ""


@pytest.mark.parametrize(
    "case, kwargs, code",
    [
        ("drift", dict(policy=pol(READ), expected_policy_sha256="0" * 64), "DRIFT_DETECTED"),
        (
            "drift from no policy",
            dict(policy=pol(READ), expected_policy_sha256=_policy.policy_sha256("")),
            "DRIFT_DETECTED",
        ),
        ("malformed", dict(policy="{nope"), "POLICY_MALFORMED"),
        ("aes only deny, not approved", dict(policy=pol(DENY_AES)), "BUCKET_POLICY_BLOCKS_KMS"),
        ("key allow-list deny, not approved", dict(policy=pol(DENY_KEY)), "BUCKET_POLICY_BLOCKS_KMS"),
        ("unconditional deny", dict(policy=pol(DENY_ALL), amend_blocking_deny=True), "BUCKET_POLICY_BLOCKS_CLOUDTRAIL"),
        (
            "too large",
            dict(policy=pol(READ, *[dict(READ, Sid=f"R{i}") for i in range(200)])),
            "BUCKET_POLICY_TOO_LARGE",
        ),
    ],
)
def test_refusals(case, kwargs, code):
    policy = kwargs.pop("policy")
    result = plan(policy, **kwargs)
    assert [e["code"] for e in result.errors] == [code], case
    assert result.calls == [] and not result.changed
    assert result.errors[0]["remediation"]


def test_refusal_names_the_statement_and_proposes_the_amendment():
    result = plan(pol(DENY_AES))
    error = result.errors[0]
    assert error["statement"] == "DenyNonAES256"
    assert "aws:kms" in error["message"] and "amend_blocking_deny" in error["message"]


@pytest.mark.parametrize(
    "deny, ref, cond_key, added, after_values",
    [
        (DENY_AES, "DenyNonAES256", "s3:x-amz-server-side-encryption", "aws:kms", ["AES256", "aws:kms"]),
        (DENY_KEY, "DenyOtherKeys", "s3:x-amz-server-side-encryption-aws-kms-key-id", KEY, [OTHER_KEY, KEY]),
        (DENY_KEY_LIKE, "#1", "s3:x-amz-server-side-encryption-aws-kms-key-id", KEY, [OTHER_KEY, KEY]),
    ],
)
def test_amend_only_the_blocking_condition(deny, ref, cond_key, added, after_values):
    before = pol(READ, deny)
    result = plan(before, amend_blocking_deny=True)
    assert result.ok, result.errors
    (amendment,) = result.details["amendments"]
    assert amendment["statement"] == ref and amendment["key"] == cond_key and amendment["added"] == added
    assert amendment["after"] == after_values
    assert delivers(result.after)
    amended = result.after["Statement"][1]
    # only the condition's value list changed; everything else in the statement is identical
    expected = copy.deepcopy(deny)
    operator = next(iter(deny["Condition"]))
    expected["Condition"][operator][cond_key] = after_values
    assert amended == expected
    assert_foreign_verbatim(before, result.after, except_refs=[ref])
    again = plan(result.after, amend_blocking_deny=True)
    assert again.ok and not again.changed and again.details["amendments"] == []


def test_merge_invariant_is_checked(monkeypatch):
    def bad_merge(policy, statements):
        return {"Version": "2012-10-17", "Statement": list(statements)}

    monkeypatch.setattr(_policy, "merge_statements", bad_merge)
    result = plan(pol(READ))
    assert [e["code"] for e in result.errors] == ["MERGE_INVARIANT_VIOLATED"]


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("bucket_*.json")))
def test_fixture_corpus(fixture):
    policy = json.loads((FIXTURES / fixture).read_text())
    org = "org" in fixture
    kwargs = dict(amend_blocking_deny=True, is_organization_trail=org, organization_id=ORG if org else None)
    result = plan(policy, **kwargs)
    if not result.ok:
        assert {e["code"] for e in result.errors} <= {"BUCKET_POLICY_BLOCKS_CLOUDTRAIL"}, result.errors
        return
    amended = {a["statement"] for a in result.details["amendments"]}
    assert_foreign_verbatim(_policy.load_policy(policy), result.after, except_refs=amended)
    assert delivers(result.after, org=org and ORG is not None), fixture
    again = plan(result.after, **kwargs)
    assert again.ok and not again.changed, fixture


# ---------------------------------------------------------------------------------------------- encryption
def rule(key=OTHER_KEY, algorithm="aws:kms", bucket_key=None):
    default = {"SSEAlgorithm": algorithm}
    if key:
        default["KMSMasterKeyID"] = key
    result = {"ApplyServerSideEncryptionByDefault": default}
    if bucket_key is not None:
        result["BucketKeyEnabled"] = bucket_key
    return result


@pytest.mark.parametrize(
    "current, resolve, warning, call",
    [
        (None, False, False, False),
        (rule(key=None, algorithm="AES256"), True, False, False),
        (rule(key=KEY), True, False, False),
        (rule(), False, True, False),
        (rule(key=None), False, True, False),
        (rule(), True, False, True),
        (rule(bucket_key=True), True, False, True),
    ],
)
def test_default_encryption(current, resolve, warning, call):
    documented = json.loads((FIXTURES / "bucket_aws_documented.json").read_text())
    result = plan(documented, default_encryption=current, resolve_default_encryption=resolve)
    assert result.ok
    assert [w["code"] for w in result.warnings] == (["BUCKET_DEFAULT_ENCRYPTION_CONFLICT"] if warning else [])
    if call:
        (put,) = result.calls
        assert put["operation"] == "PutBucketEncryption" and result.action == "put_bucket_encryption"
        (new_rule,) = put["params"]["ServerSideEncryptionConfiguration"]["Rules"]
        assert new_rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY}
        assert new_rule.get("BucketKeyEnabled") == current.get("BucketKeyEnabled")
        assert result.details["default_encryption_change"]["before"] == current
        again = plan(documented, default_encryption=new_rule, resolve_default_encryption=True)
        assert not again.changed
    else:
        assert result.calls == []
