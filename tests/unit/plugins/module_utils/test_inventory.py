"""_inventory under moto's in-process mock_aws: de-dup, read-once, AccessDenied -> finding, retries, budget."""

import json

import boto3
import pytest
from moto import mock_aws

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _inventory
from cmk_facts_helpers import Faults, fake_policy, fast_retries, make_factory

ACCOUNT = "123456789012"  # moto's default account in-process


@pytest.fixture(autouse=True)
def _setup(monkeypatch):
    fast_retries(monkeypatch)
    fake_policy(monkeypatch)


@pytest.fixture
def estate():
    """Two buckets, two keys, five trails: one multi-region (shadow copies), three sharing a bucket and key."""
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="shared-logs")
        s3.create_bucket(Bucket="eu-logs", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        kms = boto3.client("kms", region_name="us-east-1")
        shared = kms.create_key(Description="shared")["KeyMetadata"]
        kms.create_alias(AliasName="alias/cloudtrail-shared", TargetKeyId=shared["KeyId"])
        spare = kms.create_key(Description="spare", Tags=[{"TagKey": "purpose", "TagValue": "cloudtrail"}])
        spare = spare["KeyMetadata"]
        kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")  # never a candidate
        kms_eu = boto3.client("kms", region_name="eu-west-1")
        eu_key = kms_eu.create_key(Description="eu")["KeyMetadata"]
        ct = boto3.client("cloudtrail", region_name="us-east-1")
        ct.create_trail(Name="multi", S3BucketName="shared-logs", IsMultiRegionTrail=True, KmsKeyId=shared["Arn"])
        ct.create_trail(Name="alias-ref", S3BucketName="shared-logs", KmsKeyId="alias/cloudtrail-shared")
        ct.create_trail(Name="id-ref", S3BucketName="shared-logs", KmsKeyId=shared["KeyId"])
        ct.create_trail(Name="plain", S3BucketName="shared-logs")
        ct.add_tags(
            ResourceId=f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/plain", TagsList=[{"Key": "team", "Value": "sec"}]
        )
        ct_eu = boto3.client("cloudtrail", region_name="eu-west-1")
        ct_eu.create_trail(Name="eu-trail", S3BucketName="eu-logs", KmsKeyId=eu_key["Arn"])
        yield {"shared": shared, "spare": spare, "eu_key": eu_key}


def gather(factory=None, **kw):
    factory = factory or make_factory()
    kw.setdefault("regions", ["us-east-1", "eu-west-1"])
    return factory, _inventory.gather(factory, **kw)


def by_name(facts):
    return {t["name"]: t for t in facts["trails"]}


def test_trails_deduplicated_and_classified(estate):
    _factory, facts = gather()
    trails = by_name(facts)
    assert sorted(trails) == ["alias-ref", "eu-trail", "id-ref", "multi", "plain"]
    assert trails["multi"]["classification"] == "owned"
    assert trails["multi"]["seen_in_regions"] == ["eu-west-1", "us-east-1"]
    assert trails["multi"]["home_region"] == "us-east-1"
    assert trails["plain"]["tags"] == {"team": "sec"}
    assert all(t["actionable"] for t in facts["trails"])
    # only the home region scanned -> the multi-region trail still appears once; from eu only -> shadow
    _factory, facts_eu = gather(regions=["eu-west-1"])
    trails_eu = by_name(facts_eu)
    assert trails_eu["multi"]["classification"] == "shadow"
    assert trails_eu["multi"]["actionable"] is False
    assert trails_eu["multi"]["recommended_action"]["action"] in ("defer", "none")


def test_key_references_resolved_to_arns(estate):
    _factory, facts = gather()
    trails = by_name(facts)
    arn = estate["shared"]["Arn"]
    assert {trails[n]["kms_key_arn"] for n in ("multi", "alias-ref", "id-ref")} == {arn}
    assert trails["plain"]["kms_key_arn"] is None
    keys = {k["arn"]: k for k in facts["keys"]}
    assert keys[arn]["aliases"] == ["alias/cloudtrail-shared"]
    assert sorted(keys[arn]["referenced_by"]) == sorted(trails[n]["arn"] for n in ("multi", "alias-ref", "id-ref"))


def test_shared_bucket_and_key_read_once(estate):
    factory, facts = gather()
    rec = factory.recorder
    assert rec.count("s3", "GetBucketPolicy") == 2  # two buckets, five trails
    assert rec.count("s3", "GetBucketEncryption") == 2
    assert rec.count("kms", "DescribeKey") == len(facts["keys"]) + 1  # + the RSA key, described then dropped
    assert rec.count("kms", "GetKeyPolicy") == len(facts["keys"])
    assert rec.count("kms", "ListAliases") == 2  # once per region, not per key
    assert rec.count("cloudtrail", "ListTags") == 2  # batched per home region
    assert rec.count("cloudtrail", "GetTrailStatus") == 5
    buckets = {b["name"]: b for b in facts["buckets"]}
    assert buckets["eu-logs"]["region"] == "eu-west-1"
    assert buckets["shared-logs"]["region"] == "us-east-1"
    assert buckets["shared-logs"]["owner_account"] == ACCOUNT
    assert len(buckets["shared-logs"]["trails"]) == 4


def test_api_call_budget(estate):
    """Per-resource costs of the design (the benchmark checks the account-level sum at scale)."""
    _factory, facts = gather()
    ops = facts["summary"]["api_calls"]["by_operation"]
    regions, trails, buckets, keys = (len(facts[k]) for k in ("regions", "trails", "buckets", "keys"))
    assert len(facts["api_calls"]) == facts["summary"]["api_calls"]["total"] == sum(ops.values())

    def total(prefix, names):
        return sum(ops.get(f"{prefix}:{n}", 0) for n in names)

    per_trail = total("cloudtrail", ["GetTrailStatus", "GetEventSelectors", "GetInsightSelectors"])
    assert per_trail <= 2 * trails  # GetInsightSelectors only when HasInsightSelectors
    s3_reads = [k.split(":")[1] for k in ops if k.startswith("s3:Get")]
    assert len(s3_reads) == 8 and total("s3", s3_reads) == 8 * buckets
    assert ops.get("s3:HeadBucket", 0) <= buckets  # region lookup only when ListBuckets has no BucketRegion (moto)
    key_ops = ["DescribeKey", "GetKeyPolicy", "GetKeyRotationStatus", "ListResourceTags"]
    assert total("kms", key_ops) <= 4 * keys + 1  # + the RSA key described and dropped
    per_region = total("cloudtrail", ["DescribeTrails", "ListTags"]) + total("kms", ["ListAliases", "ListKeys"])
    assert per_region == 4 * regions
    assert total("sts", ["GetCallerIdentity"]) + total("s3", ["ListBuckets"]) == 2
    assert ops["iam:GetAccountAuthorizationDetails"] == 1  # every role, user and policy of the account at once
    # the formula, with the fixed per-account calls (identity, bucket list, IAM, 3 list calls per region)
    budget = regions + 3 * trails + 8 * buckets + 5 * keys
    fixed = 3 + 3 * regions + ops.get("s3:HeadBucket", 0)
    assert len(facts["api_calls"]) <= budget + fixed


def test_candidate_keys_and_filters(estate):
    _factory, facts = gather()
    keys = {k["arn"]: k for k in facts["keys"]}
    assert keys[estate["spare"]["Arn"]]["candidate"] is True
    assert all(k["spec"] == "SYMMETRIC_DEFAULT" for k in facts["keys"])
    _factory, facts = gather(candidate_key_tags={"purpose": "cloudtrail"})
    candidates = [k["arn"] for k in facts["keys"] if k["candidate"]]
    assert candidates == [estate["spare"]["Arn"]]
    _factory, facts = gather(candidate_key_aliases=["cloudtrail-*"])
    assert [k["arn"] for k in facts["keys"] if k["candidate"]] == [estate["shared"]["Arn"]]
    plain = by_name(facts)["plain"]
    assert plain["recommended_action"]["action"] == "use_existing_key"
    assert plain["recommended_action"]["key_arn"] == estate["shared"]["Arn"]


def test_trail_filter(estate):
    _factory, facts = gather(trails=["plain", f"arn:aws:cloudtrail:eu-west-1:{ACCOUNT}:trail/eu-trail"])
    assert sorted(by_name(facts)) == ["eu-trail", "plain"]
    assert [b["name"] for b in facts["buckets"]] == ["eu-logs", "shared-logs"]


def test_access_denied_on_one_key_is_a_finding(estate):
    faults = Faults()
    faults.add("kms", "GetKeyPolicy", 400, "AccessDeniedException", match=estate["eu_key"]["KeyId"])
    _factory, facts = gather(make_factory(faults))
    eu = by_name(facts)["eu-trail"]
    assert "KEY_UNREADABLE" in [f["code"] for f in eu["findings"]]
    assert eu["compliance"] == "non_compliant"
    # eu-logs has no bucket policy: CloudTrail could not deliver there either (delivery-blocking).
    assert eu["blocking"] == ["BUCKET_POLICY_DENIES_CLOUDTRAIL", "KEY_UNREADABLE"]
    keys = {k["arn"]: k for k in facts["keys"]}
    assert keys[estate["eu_key"]["Arn"]]["read_errors"][0]["code"] == "AccessDeniedException"
    assert keys[estate["shared"]["Arn"]]["read_errors"] == []
    assert "KEY_UNREADABLE" not in [f["code"] for f in by_name(facts)["multi"]["findings"]]


def test_access_denied_on_one_bucket_and_missing_bucket(estate):
    boto3.client("cloudtrail", region_name="us-east-1").create_trail(Name="orphan", S3BucketName="shared-logs")
    boto3.client("cloudtrail", region_name="us-east-1").update_trail(Name="orphan", S3BucketName="gone-bucket-x")
    faults = Faults()
    faults.add("s3", "GetBucketPolicy", 403, "AccessDenied", match="eu-logs")
    _factory, facts = gather(make_factory(faults))
    trails = by_name(facts)
    assert "BUCKET_UNREADABLE" in [f["code"] for f in trails["eu-trail"]["findings"]]
    assert "BUCKET_NOT_FOUND" in [f["code"] for f in trails["orphan"]["findings"]]
    buckets = {b["name"]: b for b in facts["buckets"]}
    assert buckets["gone-bucket-x"]["exists"] is False


def test_throttling_retried_during_inventory(estate):
    faults = Faults()
    faults.add("cloudtrail", "DescribeTrails", 400, "ThrottlingException", times=3)
    _factory, facts = gather(make_factory(faults))
    assert len(facts["trails"]) == 5
    throttled = [c for c in facts["api_calls"] if c["error_code"] == "ThrottlingException"]
    assert len(throttled) == 3
    assert facts["summary"]["region_errors"] == []


def test_facts_are_json_and_account_is_recorded(estate):
    _factory, facts = gather()
    json.dumps(facts)
    assert facts["account_id"] == ACCOUNT
    assert {c["account"] for c in facts["api_calls"]} == {ACCOUNT}
    assert set(facts) == {
        "account_id",
        "partition",
        "organization_id",
        "regions",
        "trails",
        "buckets",
        "keys",
        "trail_bucket_map",
        "findings",
        "iam",
        "summary",
        "api_calls",
        "generated_at",
    }
    assert set(facts["trail_bucket_map"]) == {t["arn"] for t in facts["trails"]}


def _role(iam, name, *statements, managed=None):
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                     "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    if statements:
        iam.put_role_policy(RoleName=name, PolicyName="inline",
                            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": list(statements)}))
    if managed:
        iam.attach_role_policy(RoleName=name, PolicyArn=managed)
    return arn


def test_iam_readers_found_through_one_call(estate):
    """Roles and users whose own IAM policies read the logs are listed; those without kms:Decrypt flagged."""
    iam = boto3.client("iam", region_name="us-east-1")
    read = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared-logs/AWSLogs/*"}
    managed = iam.create_policy(PolicyName="read-eu-logs", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [dict(read, Resource="arn:aws:s3:::eu-logs/*")]}))["Policy"]["Arn"]
    siem = _role(iam, "Siem", read)
    with_decrypt = _role(iam, "SiemWithDecrypt", read, {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"})
    eu_reader = _role(iam, "EuReader", managed=managed)
    _role(iam, "Unrelated", {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"})
    iam.create_group(GroupName="auditors")
    iam.put_group_policy(GroupName="auditors", PolicyName="read", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [read]}))
    iam.create_user(UserName="auditor")
    iam.add_user_to_group(GroupName="auditors", UserName="auditor")
    user = f"arn:aws:iam::{ACCOUNT}:user/auditor"

    factory, facts = gather()
    assert factory.recorder.count("iam", "GetAccountAuthorizationDetails") == 1
    trails = by_name(facts)
    assert trails["plain"]["log_readers"] == sorted([siem, with_decrypt, user])
    assert trails["plain"]["log_reader_sources"][siem] == ["iam"]
    assert trails["eu-trail"]["log_readers"] == [eu_reader]  # attached managed policy resolved
    assert facts["iam"]["read"] is True
    assert facts["iam"]["log_readers"] == sorted([siem, with_decrypt, user, eu_reader])
    assert facts["iam"]["principals"] >= 5
    # the shared key's moto default policy delegates to IAM (account root): only principals whose own
    # policies allow kms:Decrypt keep access
    finding = next(f for f in trails["alias-ref"]["findings"] if f["code"] == "READERS_NEED_DECRYPT")
    assert siem in finding["message"] and user in finding["message"] and "via IAM policy" in finding["message"]
    assert with_decrypt not in finding["message"]


def test_iam_access_denied_is_recorded_not_fatal(estate):
    faults = Faults()
    faults.add("iam", "GetAccountAuthorizationDetails", 403, "AccessDenied")
    _factory, facts = gather(make_factory(faults))
    assert facts["iam"]["read"] is False
    assert facts["iam"]["read_errors"][0]["access_denied"] is True
    assert len(facts["trails"]) == 5


def test_default_event_selectors_need_no_call(estate):
    """moto's DescribeTrails says HasCustomEventSelectors false (as AWS does for a trail never given any)."""
    factory, facts = gather()
    assert factory.recorder.count("cloudtrail", "GetEventSelectors") == 0
    for trail in facts["trails"]:
        assert trail["event_selectors_source"] == "default"
        assert trail["event_selectors"] == [{"ReadWriteType": "All", "IncludeManagementEvents": True,
                                             "DataResources": [], "ExcludeManagementEventSources": []}]
        assert trail["advanced_event_selectors"] == []
