"""Unit tests of the pure trail-attach planner and UpdateTrail error diagnosis (_plan_attach)."""

import pytest

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _plan_attach as pa

ACCOUNT = "111111111111"
REGION = "us-east-1"
TRAIL = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/main"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"
OLD_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/99999999-2222-3333-4444-555555555555"
BUCKET = "trail-logs"

ROOT = {
    "Sid": "Root",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
    "Action": "kms:*",
    "Resource": "*",
}
CT_KMS = {
    "Sid": "CT",
    "Effect": "Allow",
    "Principal": {"Service": "cloudtrail.amazonaws.com"},
    "Action": ["kms:GenerateDataKey*", "kms:DescribeKey", "kms:Decrypt"],
    "Resource": "*",
}
CT_KMS_NO_DESCRIBE = {
    "Sid": "CT",
    "Effect": "Allow",
    "Principal": {"Service": "cloudtrail.amazonaws.com"},
    "Action": ["kms:GenerateDataKey*"],
    "Resource": "*",
}
ACL = {
    "Sid": "Acl",
    "Effect": "Allow",
    "Principal": {"Service": "cloudtrail.amazonaws.com"},
    "Action": "s3:GetBucketAcl",
    "Resource": f"arn:aws:s3:::{BUCKET}",
}
WRITE = {
    "Sid": "Write",
    "Effect": "Allow",
    "Principal": {"Service": "cloudtrail.amazonaws.com"},
    "Action": "s3:PutObject",
    "Resource": f"arn:aws:s3:::{BUCKET}/*",
}
DENY_KMS = {
    "Sid": "DenyNotAES",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:PutObject",
    "Resource": f"arn:aws:s3:::{BUCKET}/*",
    "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}},
}


def pol(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def trail(**extra):
    base = {
        "Name": "main",
        "TrailARN": TRAIL,
        "HomeRegion": REGION,
        "S3BucketName": BUCKET,
        "IsMultiRegionTrail": True,
        "IncludeGlobalServiceEvents": True,
    }
    base.update(extra)
    return base


@pytest.mark.parametrize(
    "the_trail, region, expected, caller, code",
    [
        (None, REGION, None, None, "TRAIL_NOT_FOUND"),
        (trail(), "eu-west-1", None, None, "INVALID_HOME_REGION"),
        (trail(HomeRegion=None), "eu-west-1", None, None, "INVALID_HOME_REGION"),
        (trail(IsOrganizationTrail=True), REGION, None, "222222222222", "ORGANIZATION_TRAIL_NOT_MANAGEABLE"),
        (trail(KmsKeyId=OLD_KEY), REGION, "", None, "DRIFT_DETECTED"),
        (trail(), REGION, OLD_KEY, None, "DRIFT_DETECTED"),
    ],
)
def test_refusals(the_trail, region, expected, caller, code):
    plan = pa.plan_attach(the_trail, region, KEY, expected, caller_account=caller)
    assert [e["code"] for e in plan.errors] == [code]
    assert plan.calls == [] and not plan.changed
    assert plan.errors[0]["remediation"]


@pytest.mark.parametrize("current, expected", [(None, ""), ("", None), (OLD_KEY, OLD_KEY), (None, None)])
def test_update_trail_is_exactly_name_and_key(current, expected):
    plan = pa.plan_attach(trail(KmsKeyId=current), REGION, KEY, expected)
    assert plan.ok and plan.changed and plan.action == "update_trail"
    assert plan.calls == [
        {"service": "cloudtrail", "operation": "UpdateTrail", "params": {"Name": TRAIL, "KmsKeyId": KEY}}
    ]
    assert plan.before == {"KmsKeyId": current or ""} and plan.after == {"KmsKeyId": KEY}
    assert plan.details["previous_kms_key_id"] == (current or None)
    assert plan.details["kms_key_id"] == KEY
    assert KEY in plan.diff


def test_already_on_key_is_a_noop_even_with_stale_token():
    plan = pa.plan_attach(trail(KmsKeyId=KEY), REGION, KEY, expected_kms_key_id="")
    assert plan.ok and not plan.changed and plan.calls == []
    # idempotency: planning on the planned result gives no change
    again = pa.plan_attach(trail(KmsKeyId=plan.after["KmsKeyId"]), REGION, KEY, "")
    assert not again.changed


def test_org_trail_of_own_account_is_allowed():
    plan = pa.plan_attach(trail(IsOrganizationTrail=True), REGION, KEY, None, caller_account=ACCOUNT)
    assert plan.ok and plan.changed


@pytest.mark.parametrize(
    "key_policy, bucket_policy, bucket_key, culprit, sids",
    [
        (pol(ROOT), pol(ACL, WRITE), False, "key", ["TrailGuardCloudTrailEncrypt", "TrailGuardCloudTrailDescribeKey"]),
        (pol(ROOT, CT_KMS_NO_DESCRIBE), pol(ACL, WRITE), False, "key", ["TrailGuardCloudTrailDescribeKey"]),
        (
            pol(ROOT, CT_KMS_NO_DESCRIBE),
            pol(ACL, WRITE),
            True,
            "key",
            ["TrailGuardCloudTrailDescribeKey", "TrailGuardCloudTrailDecryptBucketKey"],
        ),
        (pol(ROOT, CT_KMS), pol(ACL), False, "bucket", ["TrailGuardCloudTrailWrite"]),
        (pol(ROOT, CT_KMS), "", False, "bucket", ["TrailGuardCloudTrailAclCheck", "TrailGuardCloudTrailWrite"]),
        (pol(ROOT, CT_KMS), pol(ACL, WRITE, DENY_KMS), False, "bucket", ["TrailGuardCloudTrailWrite"]),
        (
            pol(ROOT),
            pol(WRITE),
            False,
            "both",
            ["TrailGuardCloudTrailEncrypt", "TrailGuardCloudTrailDescribeKey", "TrailGuardCloudTrailAclCheck"],
        ),
        (pol(ROOT, CT_KMS), pol(ACL, WRITE), True, "unknown", []),
    ],
)
def test_diagnose_insufficient_policy(key_policy, bucket_policy, bucket_key, culprit, sids):
    diagnosis = pa.diagnose_insufficient_policy(trail(), KEY, key_policy, bucket_policy, bucket_key_enabled=bucket_key)
    assert diagnosis["culprit"] == culprit
    assert [m["sid"] for m in diagnosis["missing"]] == sids
    finding = pa.explain_update_trail_error(
        "InsufficientEncryptionPolicyException",
        "Insufficient permissions to access S3 bucket trail-logs or KMS key " + KEY,
        trail(),
        KEY,
        diagnosis,
    )
    assert finding["code"] == "INSUFFICIENT_ENCRYPTION_POLICY"
    assert finding["culprit"] == culprit
    assert finding["statement"] == (sids[0] if sids else None)
    if culprit in ("key", "both"):
        assert "kms_cloudtrail_policy" in finding["remediation"]
    if culprit in ("bucket", "both"):
        assert "s3_cloudtrail_policy" in finding["remediation"]


def test_diagnose_names_the_explicit_deny():
    diagnosis = pa.diagnose_insufficient_policy(trail(), KEY, pol(ROOT, CT_KMS), pol(ACL, WRITE, DENY_KMS))
    assert diagnosis["missing"][0]["explicit_deny_by"] == ["DenyNotAES"]
    assert "explicitly denies" in diagnosis["message"] and "DenyNotAES" in diagnosis["message"]


def test_diagnose_without_readable_key_policy_only_judges_the_bucket():
    diagnosis = pa.diagnose_insufficient_policy(trail(), KEY, None, pol(ACL))
    assert diagnosis["culprit"] == "bucket"


@pytest.mark.parametrize(
    "aws_code, code",
    [
        ("KmsKeyNotFoundException", "KMS_KEY_NOT_FOUND"),
        ("KmsException", "KMS_EXCEPTION"),
        ("InvalidHomeRegionException", "INVALID_HOME_REGION"),
        ("TrailNotFoundException", "TRAIL_NOT_FOUND"),
        ("SomethingElse", "UPDATE_TRAIL_FAILED"),
    ],
)
def test_error_mapping(aws_code, code):
    finding = pa.explain_update_trail_error(aws_code, "boom", trail(), KEY)
    assert finding["code"] == code
    assert finding["remediation"]
    assert aws_code in finding["message"] and finding["resource"] == TRAIL


def test_insufficient_without_diagnosis_is_unknown():
    finding = pa.explain_update_trail_error("InsufficientEncryptionPolicyException", "x", trail(), KEY)
    assert finding["culprit"] == "unknown" and finding["remediation"]
