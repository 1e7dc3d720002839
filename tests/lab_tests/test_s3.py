"""S3 fidelity: SSE-KMS key checks, bucket-policy evaluation, SSE-S3 default."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from .conftest import ACCOUNT, OTHER_ACCOUNT, client_error, deny_unencrypted, make_bucket, make_key

BUCKET = "sse-test-bucket"


def test_put_object_with_missing_kms_key_fails(aws):
    make_bucket(aws, BUCKET, policy=None)
    missing = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"
    with pytest.raises(ClientError) as exc:
        aws("s3").put_object(Bucket=BUCKET, Key="k", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=missing)
    assert client_error(exc) == ("KMS.NotFoundException", f"Key '{missing}' does not exist", 400)
    assert aws("s3").list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0


def test_put_object_with_disabled_key_fails(aws):
    make_bucket(aws, BUCKET, policy=None)
    key = make_key(aws)
    aws("kms").disable_key(KeyId=key["KeyId"])
    with pytest.raises(ClientError) as exc:
        aws("s3").put_object(Bucket=BUCKET, Key="k", Body=b"x", ServerSideEncryption="aws:kms",
                             SSEKMSKeyId=key["KeyId"])
    assert client_error(exc) == ("KMS.DisabledException", f"{key['Arn']} is disabled.", 400)


def test_put_object_with_pending_deletion_key_fails(aws):
    make_bucket(aws, BUCKET, policy=None)
    key = make_key(aws)
    aws("kms").schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    with pytest.raises(ClientError) as exc:
        aws("s3").put_object(Bucket=BUCKET, Key="k", Body=b"x", ServerSideEncryption="aws:kms",
                             SSEKMSKeyId=key["Arn"])
    assert client_error(exc)[0] == "KMS.KMSInvalidStateException"


def test_put_object_with_key_in_other_region_fails(aws):
    make_bucket(aws, BUCKET, policy=None)
    key = make_key(aws, region="us-west-2")
    with pytest.raises(ClientError) as exc:
        aws("s3").put_object(Bucket=BUCKET, Key="k", Body=b"x", ServerSideEncryption="aws:kms",
                             SSEKMSKeyId=key["Arn"])
    assert client_error(exc)[0] == "KMS.NotFoundException"


def test_bucket_default_with_disabled_key_fails_plain_put(aws):
    make_bucket(aws, BUCKET, policy=None)
    key = make_key(aws)
    aws("s3").put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key["Arn"]}}]})
    aws("kms").disable_key(KeyId=key["KeyId"])
    with pytest.raises(ClientError) as exc:
        aws("s3").put_object(Bucket=BUCKET, Key="k", Body=b"x")
    assert client_error(exc)[0] == "KMS.DisabledException"


def test_sse_kms_by_alias_records_key_arn(aws):
    make_bucket(aws, BUCKET, policy=None)
    key = make_key(aws, alias="alias/objects")
    s3 = aws("s3")
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId="alias/objects")
    head = s3.head_object(Bucket=BUCKET, Key="k")
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", key["Arn"])


def test_default_encryption_is_sse_s3(aws):
    make_bucket(aws, BUCKET, policy=None)
    s3 = aws("s3")
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"x")
    assert s3.head_object(Bucket=BUCKET, Key="k")["ServerSideEncryption"] == "AES256"
    rules = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules == [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}]


def test_deny_unless_encrypted_lets_encrypted_writes_through(aws):
    policy = json.dumps({"Version": "2012-10-17", "Statement": [deny_unencrypted(BUCKET)]})
    make_bucket(aws, BUCKET, policy=policy)
    key = make_key(aws)
    s3 = aws("s3")
    s3.put_object(Bucket=BUCKET, Key="ok", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=key["Arn"])
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=BUCKET, Key="plain", Body=b"x")
    assert client_error(exc) == ("AccessDenied", "Access Denied", 403)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["ok"]
    assert s3.get_object(Bucket=BUCKET, Key="ok")["Body"].read() == b"x"


def test_deny_for_another_principal_does_not_block(aws):
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/Intruder"},
        "Action": "s3:*", "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]}]})
    make_bucket(aws, BUCKET, policy=policy)
    aws("s3").put_object(Bucket=BUCKET, Key="k", Body=b"x")
    assert aws("s3").get_object(Bucket=BUCKET, Key="k")["Body"].read() == b"x"


def test_deny_get_for_everyone_blocks_reads_only(aws):
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/secret/*"}]})
    make_bucket(aws, BUCKET, policy=policy)
    s3 = aws("s3")
    s3.put_object(Bucket=BUCKET, Key="secret/k", Body=b"x")
    s3.put_object(Bucket=BUCKET, Key="open/k", Body=b"y")
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=BUCKET, Key="secret/k")
    assert client_error(exc)[0] == "AccessDenied"
    assert s3.get_object(Bucket=BUCKET, Key="open/k")["Body"].read() == b"y"


def test_key_policy_must_let_the_writer_use_the_key(aws, other_account_creds):
    make_bucket(aws, BUCKET, policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"}, "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/*"}]}))
    key = make_key(aws)  # key policy: only account 111111111111
    with pytest.raises(ClientError) as exc:
        aws("s3", creds=other_account_creds).put_object(
            Bucket=BUCKET, Key="k", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=key["Arn"]
        )
    assert client_error(exc)[::2] == ("AccessDenied", 403)


def test_request_payment_round_trip(lab, aws):
    make_bucket(aws, BUCKET, policy=None)
    s3 = aws("s3")
    assert s3.get_bucket_request_payment(Bucket=BUCKET)["Payer"] == "BucketOwner"
    s3.put_bucket_request_payment(Bucket=BUCKET, RequestPaymentConfiguration={"Payer": "Requester"})
    assert s3.get_bucket_request_payment(Bucket=BUCKET)["Payer"] == "Requester"
    assert lab.control.writes() == {"s3:CreateBucket": 1, "s3:PutBucketRequestPayment": 1}


def test_list_buckets_says_each_region_when_the_request_has_a_parameter(aws):
    """AWS: BucketRegion is in the response when the request carries at least one valid parameter."""
    aws("s3").create_bucket(Bucket="tg-region-east")
    aws("s3", "eu-west-1").create_bucket(Bucket="tg-region-eu",
                                         CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    with_param = {b["Name"]: b.get("BucketRegion") for b in aws("s3").list_buckets(MaxBuckets=100)["Buckets"]}
    assert with_param["tg-region-east"] == "us-east-1" and with_param["tg-region-eu"] == "eu-west-1"
    plain = aws("s3").list_buckets()["Buckets"]
    assert {b["Name"] for b in plain} >= {"tg-region-east", "tg-region-eu"}
    assert all("BucketRegion" not in b for b in plain)
