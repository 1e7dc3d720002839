"""CloudTrail fidelity: KmsKeyId validation and normalisation, home region, describe filters, status."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from .conftest import ACCOUNT, bucket_policy, client_error, key_policy, make_bucket, make_key

BUCKET = "trail-logs-bucket"


@pytest.fixture
def bucket(aws):
    return make_bucket(aws, BUCKET)


def arn(name: str, region: str = "us-east-1") -> str:
    return f"arn:aws:cloudtrail:{region}:{ACCOUNT}:trail/{name}"


@pytest.mark.parametrize("form", ["id", "arn", "alias", "alias_arn"])
def test_kms_key_forms_are_stored_as_key_arn(aws, bucket, form):
    key = make_key(aws, alias="alias/trail-key")
    ref = {"id": key["KeyId"], "arn": key["Arn"], "alias": "alias/trail-key",
           "alias_arn": f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/trail-key"}[form]
    ct = aws("cloudtrail")
    assert ct.create_trail(Name="enc-trail", S3BucketName=bucket, KmsKeyId=ref)["KmsKeyId"] == key["Arn"]
    assert ct.describe_trails()["trailList"][0]["KmsKeyId"] == key["Arn"]
    assert ct.get_trail(Name="enc-trail")["Trail"]["KmsKeyId"] == key["Arn"]
    ct.update_trail(Name="enc-trail", KmsKeyId=ref)
    assert ct.get_trail(Name="enc-trail")["Trail"]["KmsKeyId"] == key["Arn"]


@pytest.mark.parametrize("ref", ["not-a-key", "alias/missing", "11111111-2222-3333-4444-555555555555",
                                 f"arn:aws:kms:us-east-1:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"])
def test_missing_key_is_kms_key_not_found(aws, bucket, ref):
    ct = aws("cloudtrail")
    with pytest.raises(ClientError) as exc:
        ct.create_trail(Name="enc-trail", S3BucketName=bucket, KmsKeyId=ref)
    assert client_error(exc)[0] == "KmsKeyNotFoundException"
    assert ct.describe_trails()["trailList"] == []


def test_key_in_other_region_than_bucket_is_not_found(aws, bucket):
    key = make_key(aws, region="us-west-2")
    with pytest.raises(ClientError) as exc:
        aws("cloudtrail").create_trail(Name="enc-trail", S3BucketName=bucket, KmsKeyId=key["Arn"])
    assert client_error(exc)[0] == "KmsKeyNotFoundException"


def test_disabled_key_is_kms_exception(aws, bucket):
    key = make_key(aws)
    aws("kms").disable_key(KeyId=key["KeyId"])
    with pytest.raises(ClientError) as exc:
        aws("cloudtrail").create_trail(Name="enc-trail", S3BucketName=bucket, KmsKeyId=key["KeyId"])
    assert client_error(exc) == ("KmsException", f"KMS key {key['Arn']} is disabled.", 400)


def test_pending_deletion_key_is_kms_exception(aws, bucket):
    key = make_key(aws)
    aws("kms").schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    with pytest.raises(ClientError) as exc:
        aws("cloudtrail").create_trail(Name="enc-trail", S3BucketName=bucket, KmsKeyId=key["KeyId"])
    assert client_error(exc) == ("KmsException", f"KMS key {key['Arn']} is pending deletion.", 400)


@pytest.mark.parametrize("policy_kwargs", [
    {"cloudtrail": False},                                           # no GenerateDataKey* for CloudTrail
    {"describe": False},                                             # no DescribeKey
    {"trail_pattern": f"arn:aws:cloudtrail:*:{ACCOUNT}:trail/other"},  # another trail only
])
def test_key_policy_without_cloudtrail_is_insufficient(aws, bucket, policy_kwargs):
    key = make_key(aws, policy=key_policy(**policy_kwargs))
    with pytest.raises(ClientError) as exc:
        aws("cloudtrail").create_trail(Name="enc-trail", S3BucketName=bucket, KmsKeyId=key["KeyId"])
    assert client_error(exc) == (
        "InsufficientEncryptionPolicyException",
        f"Insufficient permissions to access S3 bucket {bucket} or KMS key {key['Arn']}.", 400)


def test_bucket_policy_without_cloudtrail_write_gives_the_same_ambiguous_error(aws):
    make_bucket(aws, BUCKET, policy=bucket_policy(BUCKET, write=False))
    key = make_key(aws)
    with pytest.raises(ClientError) as exc:
        aws("cloudtrail").create_trail(Name="enc-trail", S3BucketName=BUCKET, KmsKeyId=key["KeyId"])
    assert client_error(exc) == (
        "InsufficientEncryptionPolicyException",
        f"Insufficient permissions to access S3 bucket {BUCKET} or KMS key {key['Arn']}.", 400)


def test_bucket_policy_for_another_prefix_is_insufficient(aws):
    make_bucket(aws, BUCKET, prefix="elsewhere")
    key = make_key(aws)
    with pytest.raises(ClientError) as exc:
        aws("cloudtrail").create_trail(Name="enc-trail", S3BucketName=BUCKET, S3KeyPrefix="logs",
                                       KmsKeyId=key["KeyId"])
    assert client_error(exc)[0] == "InsufficientEncryptionPolicyException"


def test_bucket_key_needs_decrypt_for_cloudtrail(aws, bucket):
    aws("s3").put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}, "BucketKeyEnabled": True}]})
    without = make_key(aws)
    with pytest.raises(ClientError) as exc:
        aws("cloudtrail").create_trail(Name="enc-trail", S3BucketName=bucket, KmsKeyId=without["KeyId"])
    assert client_error(exc)[0] == "InsufficientEncryptionPolicyException"
    with_decrypt = make_key(aws, policy=key_policy(decrypt=True))
    trail = aws("cloudtrail").create_trail(Name="enc-trail", S3BucketName=bucket, KmsKeyId=with_decrypt["KeyId"])
    assert trail["KmsKeyId"] == with_decrypt["Arn"]


def test_aws_managed_key_is_insufficient_for_cloudtrail(aws, bucket):
    with pytest.raises(ClientError) as exc:
        aws("cloudtrail").create_trail(Name="enc-trail", S3BucketName=bucket, KmsKeyId="alias/aws/s3")
    assert client_error(exc)[0] == "InsufficientEncryptionPolicyException"


def test_update_trail_validates_key_and_keeps_old_one_on_failure(aws, bucket):
    good = make_key(aws)
    bad = make_key(aws, policy=key_policy(cloudtrail=False))
    ct = aws("cloudtrail")
    ct.create_trail(Name="enc-trail", S3BucketName=bucket, KmsKeyId=good["KeyId"])
    with pytest.raises(ClientError) as exc:
        ct.update_trail(Name="enc-trail", KmsKeyId=bad["Arn"])
    assert client_error(exc)[0] == "InsufficientEncryptionPolicyException"
    assert ct.get_trail(Name="enc-trail")["Trail"]["KmsKeyId"] == good["Arn"]


def test_empty_kms_key_id_removes_encryption(aws, bucket):
    key = make_key(aws)
    ct = aws("cloudtrail")
    ct.create_trail(Name="enc-trail", S3BucketName=bucket, KmsKeyId=key["KeyId"])
    updated = ct.update_trail(Name="enc-trail", KmsKeyId="")
    assert "KmsKeyId" not in updated
    assert "KmsKeyId" not in ct.describe_trails()["trailList"][0]
    assert "KmsKeyId" not in ct.create_trail(Name="plain-trail", S3BucketName=bucket, KmsKeyId="")


def test_update_changes_only_given_fields(aws):
    bucket = make_bucket(aws, "first-trail-bucket", prefix="logs")
    make_bucket(aws, "second-trail-bucket", prefix="logs")
    key = make_key(aws)
    ct = aws("cloudtrail")
    ct.create_trail(Name="enc-trail", S3BucketName=bucket, S3KeyPrefix="logs", IsMultiRegionTrail=True,
                    EnableLogFileValidation=True, KmsKeyId=key["KeyId"])
    ct.update_trail(Name="enc-trail", S3BucketName="second-trail-bucket")
    trail = ct.get_trail(Name="enc-trail")["Trail"]
    assert (trail["S3BucketName"], trail["S3KeyPrefix"], trail["IsMultiRegionTrail"],
            trail["LogFileValidationEnabled"], trail["KmsKeyId"]) == (
        "second-trail-bucket", "logs", True, True, key["Arn"])
    ct.update_trail(Name="enc-trail", IsMultiRegionTrail=False)
    assert ct.get_trail(Name="enc-trail")["Trail"]["IsMultiRegionTrail"] is False


def test_update_to_missing_bucket_fails(aws, bucket):
    ct = aws("cloudtrail")
    ct.create_trail(Name="plain-trail", S3BucketName=bucket)
    with pytest.raises(ClientError) as exc:
        ct.update_trail(Name="plain-trail", S3BucketName="no-such-bucket-anywhere")
    assert client_error(exc)[0] == "S3BucketDoesNotExistException"


def test_duplicate_create_is_trail_already_exists(aws, bucket):
    ct = aws("cloudtrail")
    ct.create_trail(Name="plain-trail", S3BucketName=bucket, S3KeyPrefix="first")
    with pytest.raises(ClientError) as exc:
        ct.create_trail(Name="plain-trail", S3BucketName=bucket)
    assert client_error(exc) == ("TrailAlreadyExistsException",
                                 f"Trail plain-trail already exists for customer: {ACCOUNT}", 400)
    assert ct.get_trail(Name="plain-trail")["Trail"]["S3KeyPrefix"] == "first"


def test_update_outside_home_region_is_invalid_home_region(aws, bucket):
    ct_east = aws("cloudtrail", "us-east-1")
    ct_west = aws("cloudtrail", "us-west-2")
    ct_east.create_trail(Name="multi-trail", S3BucketName=bucket, IsMultiRegionTrail=True)
    ct_east.create_trail(Name="single-trail", S3BucketName=bucket)
    for ref in ("multi-trail", arn("multi-trail"), arn("single-trail")):
        with pytest.raises(ClientError) as exc:
            ct_west.update_trail(Name=ref, EnableLogFileValidation=True)
        assert client_error(exc)[0] == "InvalidHomeRegionException", ref
    with pytest.raises(ClientError) as exc:
        ct_west.start_logging(Name=arn("single-trail"))
    assert client_error(exc)[0] == "InvalidHomeRegionException"
    with pytest.raises(ClientError) as exc:
        ct_west.update_trail(Name="single-trail", EnableLogFileValidation=True)
    assert client_error(exc)[0] == "TrailNotFoundException"
    assert ct_east.update_trail(Name=arn("multi-trail"), EnableLogFileValidation=True)["LogFileValidationEnabled"]


def test_delete_trail_by_arn(aws, bucket):
    ct = aws("cloudtrail")
    ct.create_trail(Name="plain-trail", S3BucketName=bucket)
    ct.delete_trail(Name=arn("plain-trail"))
    assert ct.describe_trails()["trailList"] == []


def test_describe_trails_honours_name_list_and_shadow_trails(aws, bucket):
    make_bucket(aws, "west-trail-bucket", region="us-west-2")
    east, west = aws("cloudtrail", "us-east-1"), aws("cloudtrail", "us-west-2")
    east.create_trail(Name="east-one", S3BucketName=bucket)
    east.create_trail(Name="east-two", S3BucketName=bucket)
    east.create_trail(Name="east-multi", S3BucketName=bucket, IsMultiRegionTrail=True)
    west.create_trail(Name="west-one", S3BucketName="west-trail-bucket")

    def names(client, **kwargs):
        return sorted(t["Name"] for t in client.describe_trails(**kwargs)["trailList"])

    assert names(east, trailNameList=["east-one"]) == ["east-one"]
    assert names(east, trailNameList=["east-one", "nope", "west-one"]) == ["east-one"]
    assert names(east, trailNameList=[arn("west-one", "us-west-2")]) == ["west-one"]
    assert names(east) == ["east-multi", "east-one", "east-two"]
    assert names(west) == ["east-multi", "west-one"]
    assert names(west, includeShadowTrails=False) == ["west-one"]
    assert names(west, trailNameList=["east-multi"]) == ["east-multi"]
    assert names(west, trailNameList=["east-multi"], includeShadowTrails=False) == []
    shadow = west.describe_trails(trailNameList=["east-multi"])["trailList"][0]
    assert shadow["HomeRegion"] == "us-east-1"
    assert shadow["TrailARN"] == arn("east-multi")


def test_trail_status_has_no_invented_delivery(aws, bucket):
    ct = aws("cloudtrail")
    ct.create_trail(Name="plain-trail", S3BucketName=bucket)
    ct.start_logging(Name="plain-trail")
    status = ct.get_trail_status(Name="plain-trail")
    assert status["IsLogging"] is True
    assert "StartLoggingTime" in status
    assert "LatestDeliveryTime" not in status
    assert "LatestDeliveryError" not in status
    assert status["LatestDeliveryAttemptTime"] == ""


def test_trail_status_of_shadow_trail_by_name_and_arn(aws, bucket):
    aws("cloudtrail").create_trail(Name="east-multi", S3BucketName=bucket, IsMultiRegionTrail=True)
    west = aws("cloudtrail", "us-west-2")
    assert west.get_trail_status(Name="east-multi")["IsLogging"] is False
    assert west.get_trail_status(Name=arn("east-multi"))["IsLogging"] is False


def test_lookup_events_returns_recorded_events_not_500(aws, bucket):
    ct = aws("cloudtrail")
    assert ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "Nothing"}])[
        "Events"] == []
    ct.create_trail(Name="plain-trail", S3BucketName=bucket)
    events = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateTrail"}])
    assert [e["EventName"] for e in events["Events"]] == ["CreateTrail"]
    assert events["Events"][0]["EventSource"] == "cloudtrail.amazonaws.com"
    assert events["Events"][0]["Resources"] == [{"ResourceType": "AWS::CloudTrail::Trail",
                                                 "ResourceName": "plain-trail"}]
    assert aws("cloudtrail", "us-west-2").lookup_events()["Events"] == []
    page = ct.lookup_events(MaxResults=1)
    assert len(page["Events"]) == 1 and page["NextToken"]


def test_selector_flags_and_default_event_selectors(aws, bucket):
    """AWS: DescribeTrails/GetTrail say whether selectors were put; a trail without any has the default one."""
    ct = aws("cloudtrail")
    ct.create_trail(Name="plain-sel", S3BucketName=bucket)
    ct.create_trail(Name="custom-sel", S3BucketName=bucket)
    ct.create_trail(Name="advanced-sel", S3BucketName=bucket)
    ct.put_event_selectors(TrailName="custom-sel", EventSelectors=[
        {"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True, "DataResources": []}])
    fields = [{"Field": "eventCategory", "Equals": ["Data"]},
              {"Field": "resources.type", "Equals": ["AWS::S3::Object"]}]
    advanced = [{"Name": "s3 data", "FieldSelectors": fields}]
    ct.put_event_selectors(TrailName="advanced-sel", AdvancedEventSelectors=advanced)
    ct.put_insight_selectors(TrailName="advanced-sel", InsightSelectors=[{"InsightType": "ApiCallRateInsight"}])
    flags = {t["Name"]: (t["HasCustomEventSelectors"], t["HasInsightSelectors"])
             for t in ct.describe_trails()["trailList"]}
    assert flags == {"plain-sel": (False, False), "custom-sel": (True, False), "advanced-sel": (True, True)}
    assert ct.get_trail(Name="advanced-sel")["Trail"]["HasInsightSelectors"] is True

    plain = ct.get_event_selectors(TrailName="plain-sel")
    assert plain["EventSelectors"] == [{"ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": [],
                                        "ExcludeManagementEventSources": []}]
    assert "AdvancedEventSelectors" not in plain
    assert ct.get_event_selectors(TrailName="custom-sel")["EventSelectors"][0]["ReadWriteType"] == "WriteOnly"
    adv = ct.get_event_selectors(TrailName="advanced-sel")
    assert adv["AdvancedEventSelectors"][0]["Name"] == "s3 data" and "EventSelectors" not in adv
    # basic selectors replace advanced ones
    ct.put_event_selectors(TrailName="advanced-sel", EventSelectors=[{"ReadWriteType": "All"}])
    assert "AdvancedEventSelectors" not in ct.get_event_selectors(TrailName="advanced-sel")
