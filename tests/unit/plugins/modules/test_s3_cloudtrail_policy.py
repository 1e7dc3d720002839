"""s3_cloudtrail_policy main() under moto: add, keep others, no-op, check mode, diff, drift, deny, encryption."""

import json

import pytest
from change_module_helpers import REGION, account, client, make_key, make_trail, run, writes

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _policy
from ansible_collections.trailguard.cloudtrail_cmk.plugins.modules.s3_cloudtrail_policy import main

BUCKET = "trail-logs"


def reader(acct):
    return {
        "Sid": "AuditRead",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{acct}:role/Audit"},
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


def live_policy():
    try:
        return json.loads(client("s3").get_bucket_policy(Bucket=BUCKET)["Policy"])
    except client("s3").exceptions.ClientError:
        return None


@pytest.fixture
def build(aws):
    def _build(statements=None, prefix="logs"):
        acct = account()
        policy = {"Version": "2012-10-17", "Statement": statements} if statements else None
        trail = make_trail(bucket=BUCKET, bucket_policy=policy, S3KeyPrefix=prefix)
        key = make_key()
        aws.clear()
        return {"account": acct, "trail": trail, "key": key, "original": policy}

    return _build


def args(estate, **extra):
    base = {"trail_arn": estate["trail"], "kms_key_arn": estate["key"]}
    base.update(extra)
    return base


def delivers(policy, estate, prefix="logs"):
    requests = _policy.cloudtrail_bucket_requests(BUCKET, estate["trail"], prefix, estate["key"])
    return all(_policy.evaluate(policy, requests[n]).allowed for n in ("acl", "write"))


def test_adds_statements_to_a_bucket_without_policy(build, aws):
    estate = build()
    result, failed = run(main, args(estate, expected_policy_sha256=_policy.policy_sha256("")))
    assert not failed, result
    assert result["changed"] is True and result["bucket"] == BUCKET
    live = live_policy()
    assert live == result["policy_after"] and delivers(live, estate)
    assert {s["Sid"] for s in live["Statement"]} == {"TrailGuardCloudTrailAclCheck", "TrailGuardCloudTrailWrite"}
    assert [op for s, op, p in writes(aws)] == ["PutBucketPolicy"]
    assert result["audit"][0]["status"] == "done" and result["audit"][0]["request_ids"]


def test_keeps_every_other_statement_and_is_idempotent(build, aws):
    estate = build([reader("111111111111")])
    result, failed = run(main, args(estate, expected_policy_sha256=_policy.policy_sha256(estate["original"])))
    assert result["changed"] is True
    assert not failed
    live = live_policy()
    for statement in estate["original"]["Statement"]:
        assert statement in live["Statement"]
    n = len(writes(aws))
    again, failed = run(main, args(estate))
    assert not failed and again["changed"] is False and again["audit"] == []
    assert len(writes(aws)) == n


def test_check_mode_predicts_the_real_run(build, aws):
    estate = build([reader("111111111111")])
    predicted, failed = run(main, args(estate), check_mode=True, diff=True)
    assert not failed and predicted["changed"] is True
    assert writes(aws) == [] and live_policy() == estate["original"]
    real, failed = run(main, args(estate), diff=True)
    assert not failed
    for key in ("changed", "bucket", "policy_before", "policy_after", "planned_calls", "diff", "amendments"):
        assert predicted[key] == real[key], key
    assert "TrailGuardCloudTrailWrite" in real["diff"]["after"]
    assert "TrailGuardCloudTrailWrite" not in real["diff"]["before"]


def test_drift(build, aws):
    estate = build([reader("111111111111")])
    result, failed = run(main, args(estate, expected_policy_sha256=_policy.policy_sha256("")))
    assert failed and result["findings"][0]["code"] == "DRIFT_DETECTED"
    assert writes(aws) == [] and live_policy() == estate["original"]


def test_blocking_deny_refused_then_amended_when_approved(build, aws):
    estate = build([DENY_AES])
    refused, failed = run(main, args(estate))
    assert failed and refused["findings"][0]["code"] == "BUCKET_POLICY_BLOCKS_KMS"
    assert refused["findings"][0]["statement"] == "DenyNonAES256"
    assert writes(aws) == []
    result, failed = run(main, args(estate, amend_blocking_deny=True), diff=True)
    assert not failed, result
    assert result["amendments"] == [
        {
            "operator": "StringNotEquals",
            "key": "s3:x-amz-server-side-encryption",
            "before": "AES256",
            "after": ["AES256", "aws:kms"],
            "added": "aws:kms",
            "statement": "DenyNonAES256",
        }
    ]
    live = live_policy()
    deny = next(s for s in live["Statement"] if s.get("Sid") == "DenyNonAES256")
    assert deny["Condition"] == {"StringNotEquals": {"s3:x-amz-server-side-encryption": ["AES256", "aws:kms"]}}
    assert {k: v for k, v in deny.items() if k != "Condition"} == {
        k: v for k, v in DENY_AES.items() if k != "Condition"
    }
    assert delivers(live, estate)


def test_default_encryption_conflict_reported_then_resolved(build, aws):
    estate = build()
    other = make_key()
    s3 = client("s3")
    s3.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": other},
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )
    aws.clear()
    reported, failed = run(main, args(estate))
    assert not failed
    assert [f["code"] for f in reported["findings"]] == ["BUCKET_DEFAULT_ENCRYPTION_CONFLICT"]
    assert [op for s, op, p in writes(aws)] == ["PutBucketPolicy"]
    resolved, failed = run(main, args(estate, resolve_default_encryption=True))
    assert not failed and resolved["changed"] is True
    assert (
        resolved["default_encryption_change"]["after"]["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"]
        == (estate["key"])
    )
    rule = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == estate["key"]
    assert rule["BucketKeyEnabled"] is True
    final, failed = run(main, args(estate, resolve_default_encryption=True))
    assert not failed and final["changed"] is False and final["findings"] == []


def test_trail_not_found(aws):
    key = make_key()
    result, failed = run(
        main, {"trail_arn": f"arn:aws:cloudtrail:{REGION}:123456789012:trail/nope", "kms_key_arn": key}
    )
    assert failed and result["findings"][0]["code"] == "TRAIL_NOT_FOUND"
