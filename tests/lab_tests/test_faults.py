"""Fault injection (every protocol), latency, and the call counters."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from .conftest import ACCOUNT, OTHER_ACCOUNT, client_error, make_bucket


def test_json_protocol_fault_fails_next_n_calls(lab, aws):
    lab.control.inject("cloudtrail", "DescribeTrails", "ThrottlingException", 400, count=2)
    ct = aws("cloudtrail")
    for _attempt in range(2):
        with pytest.raises(ClientError) as exc:
            ct.describe_trails()
        assert client_error(exc) == ("ThrottlingException", "Injected fault: ThrottlingException", 400)
    assert ct.describe_trails()["trailList"] == []
    counters = lab.control.counters()
    assert counters["faulted"] == {"cloudtrail:DescribeTrails": 2}
    assert counters["calls"] == {"cloudtrail:DescribeTrails": 1}
    assert lab.control.faults()[0]["fired"] == 2


def test_kms_fault_with_custom_message_and_500(lab, aws):
    lab.control.inject("kms", "ListKeys", "KMSInternalException", 500, message="try again")
    with pytest.raises(ClientError) as exc:
        aws("kms").list_keys()
    assert client_error(exc) == ("KMSInternalException", "try again", 500)


def test_query_protocol_fault_sts(lab, aws):
    lab.control.inject("sts", "GetCallerIdentity", "ServiceUnavailable", 503)
    with pytest.raises(ClientError) as exc:
        aws("sts").get_caller_identity()
    assert client_error(exc)[::2] == ("ServiceUnavailable", 503)
    assert aws("sts").get_caller_identity()["Account"] == ACCOUNT


def test_s3_xml_fault_and_operation_naming(lab, aws):
    make_bucket(aws, "fault-bucket", policy=None)
    lab.control.inject("s3", "PutBucketPolicy", "AccessDenied", 403)
    with pytest.raises(ClientError) as exc:
        aws("s3").put_bucket_policy(Bucket="fault-bucket", Policy="{}")
    assert client_error(exc) == ("AccessDenied", "Injected fault: AccessDenied", 403)


def test_s3_head_fault_has_no_body(lab, aws):
    make_bucket(aws, "head-fault-bucket", policy=None)
    aws("s3").put_object(Bucket="head-fault-bucket", Key="k", Body=b"x")
    lab.control.inject("s3", "HeadObject", "InternalError", 500)
    with pytest.raises(ClientError) as exc:
        aws("s3").head_object(Bucket="head-fault-bucket", Key="k")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


def test_wildcard_fault_and_per_account(lab, aws, other_account_creds):
    lab.control.inject("*", "*", "AccessDenied", 403, count=-1, account=OTHER_ACCOUNT)
    with pytest.raises(ClientError):
        aws("kms", creds=other_account_creds).list_keys()
    assert aws("kms").list_keys()["Keys"] == []
    lab.control.clear_faults()
    assert aws("kms", creds=other_account_creds).list_keys()["Keys"] == []


def test_latency_only(lab, aws):
    lab.control.inject("kms", "ListKeys", latency=0.4)
    start = time.monotonic()
    aws("kms").list_keys()
    assert time.monotonic() - start >= 0.4
    start = time.monotonic()
    aws("kms").list_keys()
    assert time.monotonic() - start < 0.4


def test_counters_name_s3_operations_like_boto3(lab, aws):
    s3 = aws("s3")
    make_bucket(aws, "count-bucket")
    s3.get_bucket_policy(Bucket="count-bucket")
    s3.put_object(Bucket="count-bucket", Key="a/b.txt", Body=b"x")
    s3.head_object(Bucket="count-bucket", Key="a/b.txt")
    s3.get_object(Bucket="count-bucket", Key="a/b.txt")
    s3.list_objects_v2(Bucket="count-bucket")
    s3.get_bucket_encryption(Bucket="count-bucket")
    s3.get_bucket_location(Bucket="count-bucket")
    s3.delete_object(Bucket="count-bucket", Key="a/b.txt")
    assert lab.control.calls() == {
        "s3:CreateBucket": 1, "s3:PutBucketPolicy": 1, "s3:GetBucketPolicy": 1, "s3:PutObject": 1,
        "s3:HeadObject": 1, "s3:GetObject": 1, "s3:ListObjectsV2": 1, "s3:GetBucketEncryption": 1,
        "s3:GetBucketLocation": 1, "s3:DeleteObject": 1,
    }
    assert lab.control.writes() == {"s3:CreateBucket": 1, "s3:PutBucketPolicy": 1, "s3:PutObject": 1,
                                    "s3:DeleteObject": 1}


def test_counters_per_account_and_reset(lab, aws, other_account_creds):
    aws("kms").list_keys()
    aws("kms", creds=other_account_creds).create_key()
    snap = lab.control.counters()
    assert snap["by_account"][ACCOUNT] == {"sts:AssumeRole": 1, "kms:ListKeys": 1}
    assert snap["by_account"][OTHER_ACCOUNT] == {"kms:CreateKey": 1}
    assert lab.control.writes(OTHER_ACCOUNT) == {"kms:CreateKey": 1}
    lab.control.reset_counters()
    assert lab.control.calls() == {}
    aws("cloudtrail").describe_trails()
    assert lab.control.writes() == {}


def test_rejected_calls_count_as_served_with_errors(lab, aws):
    with pytest.raises(ClientError):
        aws("cloudtrail").update_trail(Name="no-such-trail", S3BucketName="x-y-z")
    snap = lab.control.counters()
    assert snap["calls"] == {"cloudtrail:UpdateTrail": 1}
    assert snap["errors"] == {"cloudtrail:UpdateTrail": 1}
