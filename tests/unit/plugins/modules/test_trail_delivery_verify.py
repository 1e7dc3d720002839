"""trail_delivery_verify main() under moto's in-process mock_aws, driven with patch_module_args.

moto delivers nothing, so the log objects CloudTrail would write are put by hand (SSE-KMS with a key, or not).
"""

from __future__ import annotations

import datetime as dt
import json
import time

import boto3
import pytest
from ansible.module_utils.testing import patch_module_args
from moto import mock_aws

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _common, _policy
from ansible_collections.trailguard.cloudtrail_cmk.plugins.modules import trail_delivery_verify

ACCOUNT = "123456789012"
REGION = "us-east-1"


@pytest.fixture(autouse=True)
def _setup(monkeypatch):
    monkeypatch.setitem(_common.RETRY_SETTINGS, "delay", 0.01)
    monkeypatch.setitem(_common.RETRY_SETTINGS, "max_delay", 0.02)
    monkeypatch.setattr(_common, "BOTOCORE_MAX_ATTEMPTS", 2)
    for var, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(var, value)


def run(capsys, **args):
    with patch_module_args(args), pytest.raises(SystemExit) as info:
        trail_delivery_verify.main()
    return info.value.code, json.loads(capsys.readouterr().out)


def now_iso(offset=0.0):
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def log_key(prefix="", name="x"):
    day = dt.datetime.now(dt.UTC)
    return (f"{prefix}AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/{day:%Y/%m/%d}/"
            f"{ACCOUNT}_CloudTrail_{REGION}_{day:%Y%m%dT%H%MZ}_{name}.json.gz")


@pytest.fixture
def aws():
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        kms = boto3.client("kms", region_name=REGION)
        ct = boto3.client("cloudtrail", region_name=REGION)
        arn = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/main"
        s3.create_bucket(Bucket="trail-logs")
        policy = {"Version": "2012-10-17",
                  "Statement": _policy.cloudtrail_bucket_statements("trail-logs", [arn], "", ACCOUNT)}
        s3.put_bucket_policy(Bucket="trail-logs", Policy=json.dumps(policy))
        key = kms.create_key(Policy=json.dumps(_policy.new_key_policy(ACCOUNT, [arn])))["KeyMetadata"]["Arn"]
        other = kms.create_key()["KeyMetadata"]["Arn"]
        ct.create_trail(Name="main", S3BucketName="trail-logs", KmsKeyId=key)
        ct.start_logging(Name=arn)
        yield {"s3": s3, "kms": kms, "ct": ct, "arn": arn, "key": key, "other": other}


def trails_arg(aws, attached_at, was_logging=True):
    return [{"trail_arn": aws["arn"], "expected_key_arn": aws["key"], "attached_at": attached_at,
             "was_logging": was_logging, "previous_kms_key_id": None}]


def test_verified_from_a_log_object_with_the_key_in_check_mode(aws, capsys):
    attached = now_iso(-5)
    body = aws["s3"].put_object(Bucket="trail-logs", Key=log_key(name="new"), Body=b"{}",
                                ServerSideEncryption="aws:kms", SSEKMSKeyId=aws["key"])
    assert body["SSEKMSKeyId"] == aws["key"]
    rc, out = run(capsys, trails=trails_arg(aws, attached), wait_timeout=0, _ansible_check_mode=True)
    assert rc == 0 and out["changed"] is False
    trail = out["trails"][0]
    assert trail["verdict"] == "verified", trail["message"]
    assert trail["evidence"]["objects"][0]["sse_kms_key_id"] == aws["key"]
    assert trail["evidence"]["objects"][0]["request_id"]
    assert out["summary"]["verified"] == 1 and out["summary"]["all_verified"] is True
    ops = out["summary"]["api_calls"]["by_operation"]
    assert ops["s3:HeadObject"] == 1 and ops["cloudtrail:DescribeTrails"] >= 1
    assert not any(op.split(":")[1].startswith(("Put", "Update", "Create", "Delete")) for op in ops)


def test_object_with_another_key_fails(aws, capsys):
    attached = now_iso(-5)
    aws["s3"].put_object(Bucket="trail-logs", Key=log_key(name="bad"), Body=b"{}", ServerSideEncryption="aws:kms",
                         SSEKMSKeyId=aws["other"])
    rc, out = run(capsys, trails=trails_arg(aws, attached), wait_timeout=0)
    trail = out["trails"][0]
    assert rc == 0
    assert trail["verdict"] == "failed"
    assert [e["code"] for e in trail["errors"]] == ["OBJECT_NOT_ENCRYPTED_WITH_KEY"]


def test_no_object_within_the_timeout_is_pending(aws, capsys):
    attached = now_iso(-5)
    started = time.monotonic()
    rc, out = run(capsys, trails=trails_arg(aws, attached), wait_timeout=2, poll_interval=1)
    trail = out["trails"][0]
    assert rc == 0 and trail["verdict"] == "pending"
    assert trail["polling"]["timed_out"] is True and trail["polling"]["polls"] >= 1
    assert time.monotonic() - started >= 2
    assert [e["code"] for e in trail["errors"]] == ["NO_NEW_LOG_OBJECT"]


def test_disabled_key_fails_without_waiting(aws, capsys):
    aws["kms"].disable_key(KeyId=aws["key"].split("/")[-1])  # moto wants the key id here
    _rc, out = run(capsys, trails=trails_arg(aws, now_iso(-5)), wait_timeout=30, poll_interval=10)
    trail = out["trails"][0]
    assert trail["verdict"] == "failed" and trail["polling"]["polls"] == 0
    assert "KEY_DISABLED" in [e["code"] for e in trail["errors"]]


def test_missing_trail_fails(aws, capsys):
    spec = trails_arg(aws, now_iso(-5))
    spec[0]["trail_arn"] = aws["arn"].replace("main", "gone")
    _rc, out = run(capsys, trails=spec, wait_timeout=0)
    assert out["trails"][0]["verdict"] == "failed"
    assert [e["code"] for e in out["trails"][0]["errors"]] == ["TRAIL_NOT_FOUND"]


def test_alias_instead_of_key_arn_is_refused(aws, capsys):
    spec = trails_arg(aws, now_iso())
    spec[0]["expected_key_arn"] = f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/cloudtrail"
    rc, out = run(capsys, trails=spec)
    assert rc == 1 and out["failed"] is True
    assert "alias/cloudtrail' is not a kms key ARN (arn:<partition>:kms:<region>:<account>:key/<id>)" in out["msg"]
