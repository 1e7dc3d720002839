"""The three change modules against the lab over HTTP: check mode writes nothing (lab write counters),
InsufficientEncryptionPolicyException mapped to the right culprit, injected faults mid-way leave no partial
write reported as done, and the full key -> bucket -> attach flow (idempotent, multi-region kept)."""

import json
import sys
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

import lab as labpkg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "plugins" / "modules"))
from change_module_helpers import run

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _common
from ansible_collections.trailguard.cloudtrail_cmk.plugins.modules import (
    kms_cloudtrail_policy,
    s3_cloudtrail_policy,
    trail_kms_attach,
)

pytestmark = pytest.mark.lab

ACCOUNT = labpkg.DEFAULT_ACCOUNT_ID
REGION = "us-east-1"
BUCKET = "change-modules-logs"
NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})
ROOT = {
    "Sid": "Enable IAM User Permissions",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
    "Action": "kms:*",
    "Resource": "*",
}


def bucket_policy(write=True):
    statements = [
        {
            "Sid": "AWSCloudTrailAclCheck",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:GetBucketAcl",
            "Resource": f"arn:aws:s3:::{BUCKET}",
        }
    ]
    if write:
        statements.append(
            {
                "Sid": "AWSCloudTrailWrite",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{BUCKET}/AWSLogs/{ACCOUNT}/*",
                "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}},
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


@pytest.fixture(scope="module")
def lab_server():
    with labpkg.LabServer() as server:
        yield server


@pytest.fixture
def lab(lab_server, monkeypatch):
    lab_server.control.reset()
    for name, value in labpkg.environment(lab_server.endpoint_url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setitem(_common.RETRY_SETTINGS, "delay", 0.01)
    monkeypatch.setitem(_common.RETRY_SETTINGS, "retries", 2)
    monkeypatch.setattr(_common, "BOTOCORE_MAX_ATTEMPTS", 1)
    return lab_server


@pytest.fixture
def aws(lab):
    def make(service, region=REGION):
        return boto3.client(
            service,
            endpoint_url=lab.endpoint_url,
            region_name=region,
            config=NO_RETRY,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return make


@pytest.fixture
def estate(aws, lab):
    s3 = aws("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(bucket_policy()))
    trail = aws("cloudtrail").create_trail(Name="main", S3BucketName=BUCKET, IsMultiRegionTrail=True)["TrailARN"]
    aws("cloudtrail").start_logging(Name=trail)
    key = aws("kms").create_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": [ROOT]}))["KeyMetadata"]
    lab.control.reset_counters()
    return {"trail": trail, "key": key["Arn"]}


def conn(lab, **args):
    args.update(endpoint_url=lab.endpoint_url, access_key="testing", secret_key="testing", region=REGION)
    return args


def test_check_mode_writes_nothing(lab, estate):
    key_args = conn(lab, key_id=estate["key"], trail_arns=[estate["trail"]])
    bucket_args = conn(lab, trail_arn=estate["trail"], kms_key_arn=estate["key"])
    attach_args = conn(lab, trail_arn=estate["trail"], kms_key_arn=estate["key"])
    create_args = conn(lab, mode="create_key", alias="trailguard/check", trail_arns=[estate["trail"]])
    # the estate's bucket policy already lets CloudTrail write: s3_cloudtrail_policy has nothing to do
    for module, args, changed in (
        (kms_cloudtrail_policy, key_args, True),
        (kms_cloudtrail_policy, create_args, True),
        (s3_cloudtrail_policy, bucket_args, False),
        (trail_kms_attach, attach_args, True),
    ):
        result, failed = run(module.main, args, check_mode=True, diff=True)
        assert not failed, result
        assert result["changed"] is changed, module.__name__
    assert lab.control.writes() == {}
    assert lab.control.calls()  # the reads did happen


def test_full_flow_then_noop(lab, estate, aws):
    key_args = conn(lab, key_id=estate["key"], trail_arns=[estate["trail"]])
    bucket_args = conn(lab, trail_arn=estate["trail"], kms_key_arn=estate["key"])
    attach_args = conn(lab, trail_arn=estate["trail"], kms_key_arn=estate["key"], expected_kms_key_id="")
    for module, args in (
        (kms_cloudtrail_policy, key_args),
        (s3_cloudtrail_policy, bucket_args),
        (trail_kms_attach, attach_args),
    ):
        result, failed = run(module.main, args)
        assert not failed, result
        assert result["audit"] == [] or result["audit"][0]["status"] == "done"
    trail = aws("cloudtrail").get_trail(Name=estate["trail"])["Trail"]
    assert trail["KmsKeyId"] == estate["key"] and trail["IsMultiRegionTrail"] is True
    assert aws("cloudtrail").get_trail_status(Name=estate["trail"])["IsLogging"] is True
    lab.control.reset_counters()
    for module, args in (
        (kms_cloudtrail_policy, key_args),
        (s3_cloudtrail_policy, bucket_args),
        (trail_kms_attach, attach_args),
    ):
        result, failed = run(module.main, args)
        assert not failed and result["changed"] is False, (module.__name__, result)
    assert lab.control.writes() == {}


def test_insufficient_key_policy_is_blamed_on_the_key(lab, estate):
    result, failed = run(trail_kms_attach.main, conn(lab, trail_arn=estate["trail"], kms_key_arn=estate["key"]))
    assert failed
    finding = result["findings"][0]
    assert finding["code"] == "INSUFFICIENT_ENCRYPTION_POLICY"
    assert finding["culprit"] == "key"
    assert {m["sid"] for m in finding["missing"]} == {"TrailGuardCloudTrailEncrypt", "TrailGuardCloudTrailDescribeKey"}
    assert "kms_cloudtrail_policy" in finding["remediation"]
    assert result["audit"][0]["status"] == "failed" and result["changed"] is False


def test_insufficient_bucket_policy_is_blamed_on_the_bucket(lab, estate, aws):
    result, failed = run(kms_cloudtrail_policy.main, conn(lab, key_id=estate["key"], trail_arns=[estate["trail"]]))
    assert not failed, result
    aws("s3").put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(bucket_policy(write=False)))
    result, failed = run(trail_kms_attach.main, conn(lab, trail_arn=estate["trail"], kms_key_arn=estate["key"]))
    assert failed
    finding = result["findings"][0]
    assert finding["code"] == "INSUFFICIENT_ENCRYPTION_POLICY", finding
    assert finding["culprit"] == "bucket"
    assert [m["sid"] for m in finding["missing"]] == ["TrailGuardCloudTrailWrite"]


def test_fault_mid_create_reports_exactly_what_was_done(lab, estate):
    lab.control.inject("kms", "CreateAlias", error_code="AccessDeniedException", http_status=400, count=1)
    args = conn(lab, mode="create_key", alias="trailguard/mid", trail_arns=[estate["trail"]])
    result, failed = run(kms_cloudtrail_policy.main, args)
    assert failed
    (entry,) = result["audit"]
    assert entry["status"] == "failed"
    assert entry["calls_done"] == ["CreateKey"]
    assert entry["calls_not_done"] == ["CreateAlias", "EnableKeyRotation"]
    assert entry["error"]["operation"] == "CreateAlias" and entry["error"]["code"] == "AccessDeniedException"
    assert result["key_arn"] == entry["created_key_arn"]
    writes = lab.control.writes()
    assert writes.get("kms:CreateKey") == 1
    assert "kms:CreateAlias" not in writes and "kms:EnableKeyRotation" not in writes


def test_persistent_5xx_on_put_key_policy_changes_nothing(lab, estate, aws):
    lab.control.inject("kms", "PutKeyPolicy", error_code="InternalError", http_status=500, count=-1)
    result, failed = run(kms_cloudtrail_policy.main, conn(lab, key_id=estate["key"], trail_arns=[estate["trail"]]))
    lab.control.clear_faults()
    assert failed and result["changed"] is False
    assert result["audit"][0]["status"] == "failed" and result["audit"][0]["calls_done"] == []
    policy = json.loads(aws("kms").get_key_policy(KeyId=estate["key"], PolicyName="default")["Policy"])
    assert policy == {"Version": "2012-10-17", "Statement": [ROOT]}
