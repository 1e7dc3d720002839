"""Log delivery: layout, encryption, failures, digests, the loop."""

from __future__ import annotations

import gzip
import json
import re
import time

import pytest

import lab as labpkg

from .conftest import ACCOUNT, bucket_policy, deny_unencrypted, key_policy, make_bucket, make_key

BUCKET = "delivery-bucket"
KEY_RE = (r"AWSLogs/{acct}/CloudTrail/{region}/\d{{4}}/\d{{2}}/\d{{2}}/"
          r"{acct}_CloudTrail_{region}_\d{{8}}T\d{{4}}Z_[A-Za-z0-9]{{16}}\.json\.gz")


def trail(aws, name="delivery-trail", start=True, **kwargs):
    ct = aws("cloudtrail", kwargs.pop("region", "us-east-1"))
    created = ct.create_trail(Name=name, S3BucketName=kwargs.pop("bucket", BUCKET), **kwargs)
    if start:
        ct.start_logging(Name=name)
    return created


def objects(aws, bucket=BUCKET):
    return [o["Key"] for o in aws("s3").list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_delivery_with_cmk_is_sse_kms_with_key_arn(lab, aws):
    make_bucket(aws, BUCKET)
    key = make_key(aws)
    t = trail(aws, KmsKeyId=key["KeyId"])
    result = lab.control.deliver()
    assert result["errors"] == {}
    [key_name] = result["keys"]
    assert re.fullmatch(KEY_RE.format(acct=ACCOUNT, region="us-east-1"), key_name)
    assert objects(aws) == [key_name]
    s3 = aws("s3")
    head = s3.head_object(Bucket=BUCKET, Key=key_name)
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", key["Arn"])
    body = json.loads(gzip.decompress(s3.get_object(Bucket=BUCKET, Key=key_name)["Body"].read()))
    assert body["Records"] and all(r["awsRegion"] == "us-east-1" for r in body["Records"])
    assert {"eventVersion", "eventSource", "eventName", "eventTime", "recipientAccountId"} <= set(body["Records"][0])
    status = aws("cloudtrail").get_trail_status(Name=t["TrailARN"])
    assert "LatestDeliveryTime" in status and "LatestDeliveryError" not in status
    assert status["LatestDeliveryAttemptTime"] and status["LatestDeliveryAttemptSucceeded"]


def test_delivery_without_key_uses_sse_s3(lab, aws):
    make_bucket(aws, BUCKET)
    trail(aws)
    [key_name] = lab.control.deliver()["keys"]
    head = aws("s3").head_object(Bucket=BUCKET, Key=key_name)
    assert head["ServerSideEncryption"] == "AES256" and "SSEKMSKeyId" not in head


def test_prefix_and_multi_region(lab, aws):
    make_bucket(aws, BUCKET, prefix="ct/logs")
    trail(aws, S3KeyPrefix="ct/logs", IsMultiRegionTrail=True)
    regions = lab.control.health()["regions"]
    keys = lab.control.deliver()["keys"]
    assert sorted(k.split("/")[5] for k in keys) == sorted(regions)
    assert all(k.startswith(f"ct/logs/AWSLogs/{ACCOUNT}/CloudTrail/") for k in keys)


def test_organization_trail_path(lab, aws):
    make_bucket(aws, BUCKET)
    trail(aws, IsOrganizationTrail=True)
    [key_name] = lab.control.deliver()["keys"]
    assert key_name.startswith(f"AWSLogs/{labpkg.ORGANIZATION_ID}/{ACCOUNT}/CloudTrail/us-east-1/")


def test_not_logging_trails_do_not_deliver(lab, aws):
    make_bucket(aws, BUCKET)
    t = trail(aws, start=False)
    assert lab.control.deliver()["keys"] == []
    assert lab.control.deliver(t["TrailARN"])["errors"] == {t["TrailARN"]: "TrailNotLogging"}
    assert objects(aws) == []


def test_deliver_one_trail(lab, aws):
    make_bucket(aws, BUCKET)
    first = trail(aws, name="first-trail")
    trail(aws, name="second-trail")
    result = lab.control.deliver(first["TrailARN"])
    assert [t["trail"] for t in result["trails"]] == [first["TrailARN"]]
    assert len(objects(aws)) == 1


@pytest.mark.parametrize("breakage,error", [
    ("disable", "KMS.DisabledException"),
    ("schedule_deletion", "KMS.KMSInvalidStateException"),
    ("key_policy", "KMS.AccessDeniedException"),
    ("bucket_policy", "AccessDenied"),
])
def test_failed_delivery_writes_nothing_and_reports(lab, aws, breakage, error):
    make_bucket(aws, BUCKET)
    key = make_key(aws)
    t = trail(aws, KmsKeyId=key["KeyId"])
    kms = aws("kms")
    if breakage == "disable":
        kms.disable_key(KeyId=key["KeyId"])
    elif breakage == "schedule_deletion":
        kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    elif breakage == "key_policy":
        kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=key_policy(cloudtrail=False))
    else:
        aws("s3").put_bucket_policy(Bucket=BUCKET, Policy=bucket_policy(BUCKET, write=False))
    result = lab.control.deliver()
    assert result["errors"] == {t["TrailARN"]: error}
    assert result["keys"] == [] and objects(aws) == []
    status = aws("cloudtrail").get_trail_status(Name="delivery-trail")
    assert status["LatestDeliveryError"] == error
    assert "LatestDeliveryTime" not in status
    assert status["LatestDeliveryAttemptTime"] and status["LatestDeliveryAttemptSucceeded"] == ""


def test_error_clears_after_a_good_delivery_but_time_only_from_real_ones(lab, aws):
    make_bucket(aws, BUCKET)
    key = make_key(aws)
    trail(aws, KmsKeyId=key["KeyId"])
    lab.control.deliver()
    first = aws("cloudtrail").get_trail_status(Name="delivery-trail")["LatestDeliveryTime"]
    aws("kms").disable_key(KeyId=key["KeyId"])
    lab.control.deliver()
    failed = aws("cloudtrail").get_trail_status(Name="delivery-trail")
    assert failed["LatestDeliveryTime"] == first and failed["LatestDeliveryError"] == "KMS.DisabledException"
    aws("kms").enable_key(KeyId=key["KeyId"])
    lab.control.deliver()
    assert "LatestDeliveryError" not in aws("cloudtrail").get_trail_status(Name="delivery-trail")


def test_deny_unencrypted_bucket_allows_kms_delivery_and_blocks_sse_s3(lab, aws):
    make_bucket(aws, BUCKET, policy=bucket_policy(BUCKET, extra=[deny_unencrypted(BUCKET)]))
    key = make_key(aws)
    encrypted = trail(aws, name="kms-trail", KmsKeyId=key["KeyId"])
    plain = trail(aws, name="plain-trail")
    result = lab.control.deliver()
    assert result["errors"] == {plain["TrailARN"]: "AccessDenied"}
    assert len(result["keys"]) == 1 and encrypted["TrailARN"] in {t["trail"] for t in result["trails"]}


def test_log_file_validation_writes_sse_s3_digests(lab, aws):
    make_bucket(aws, BUCKET)
    key = make_key(aws)
    trail(aws, KmsKeyId=key["KeyId"], EnableLogFileValidation=True)
    result = lab.control.deliver()
    [digest] = result["digest_keys"]
    assert digest.startswith(f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/")
    head = aws("s3").head_object(Bucket=BUCKET, Key=digest)
    assert head["ServerSideEncryption"] == "AES256"
    assert "LatestDigestDeliveryTime" in aws("cloudtrail").get_trail_status(Name="delivery-trail")


def test_delivery_loop_delivers_in_background(aws):
    with labpkg.LabServer(delivery_interval=0.3) as server:
        make = aws  # same moto state; the second server's loop delivers every logging trail
        make_bucket(make, BUCKET)
        trail(make)
        deadline = time.time() + 10
        while not server.state.delivery and time.time() < deadline:
            time.sleep(0.1)
        arn = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/delivery-trail"
        assert server.state.delivery[arn].latest_delivery_time is not None
    assert objects(aws)


def test_requester_pays_bucket_blocks_delivery(lab, aws):
    make_bucket(aws, BUCKET)
    aws("s3").put_bucket_request_payment(Bucket=BUCKET, RequestPaymentConfiguration={"Payer": "Requester"})
    t = trail(aws)
    assert lab.control.deliver()["errors"] == {t["TrailARN"]: "AccessDenied"}
    assert objects(aws) == []


def test_asymmetric_key_is_refused_by_create_trail(aws):
    make_bucket(aws, BUCKET)
    key = aws("kms").create_key(Policy=key_policy(), KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as exc:
        trail(aws, KmsKeyId=key["KeyId"], start=False)
    assert exc.value.response["Error"]["Code"] == "InvalidKmsKeyIdException"
