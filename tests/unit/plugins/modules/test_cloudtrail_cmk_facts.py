"""cloudtrail_cmk_facts main() under moto's in-process mock_aws, driven with patch_module_args."""

import json
import sys
from pathlib import Path

import boto3
import pytest
from ansible.module_utils.testing import patch_module_args
from moto import mock_aws
from moto.ec2.models.availability_zones_and_regions import Region, RegionsAndZonesBackend

from ansible_collections.trailguard.cloudtrail_cmk.plugins.modules import cloudtrail_cmk_facts

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "module_utils"))
from cmk_facts_helpers import Faults, fake_policy, fast_retries, faults_on_every_client

ACCOUNT = "123456789012"


@pytest.fixture(autouse=True)
def _setup(monkeypatch):
    fast_retries(monkeypatch)
    fake_policy(monkeypatch)
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(var, value)


def run(capsys, **args):
    with patch_module_args(args), pytest.raises(SystemExit) as info:
        cloudtrail_cmk_facts.main()
    out = json.loads(capsys.readouterr().out)
    return info.value.code, out


@pytest.fixture
def aws():
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="logs-bucket")
        kms = boto3.client("kms", region_name="us-east-1")
        key = kms.create_key()["KeyMetadata"]
        kms.disable_key(KeyId=key["KeyId"])
        ct = boto3.client("cloudtrail", region_name="us-east-1")
        ct.create_trail(Name="disabled-key", S3BucketName="logs-bucket", KmsKeyId=key["Arn"], IsMultiRegionTrail=True)
        ct.create_trail(Name="no-key", S3BucketName="logs-bucket")
        yield key


def test_main_returns_facts_in_check_mode(aws, capsys):
    rc, out = run(capsys, regions=["us-east-1", "eu-west-1"], _ansible_check_mode=True)
    assert rc == 0
    assert out["changed"] is False
    facts = out["ansible_facts"]["cloudtrail_cmk"]
    assert facts["account_id"] == ACCOUNT
    assert facts["regions"] == ["eu-west-1", "us-east-1"]
    trails = {t["name"]: t for t in facts["trails"]}
    assert sorted(trails) == ["disabled-key", "no-key"]
    assert trails["disabled-key"]["seen_in_regions"] == ["eu-west-1", "us-east-1"]
    assert "KEY_DISABLED" in trails["disabled-key"]["blocking"]
    # logs-bucket has no bucket policy, so CloudTrail could not deliver there either (a delivery-blocking code).
    assert trails["no-key"]["blocking"] == ["BUCKET_POLICY_DENIES_CLOUDTRAIL", "TRAIL_NO_KMS_KEY"]
    assert trails["no-key"]["recommended_action"]["action"] == "create_key"
    assert facts["summary"]["non_compliant"] == 2
    assert facts["summary"]["findings_by_code"]["KEY_DISABLED"] == 1
    assert facts["summary"]["api_calls"]["total"] == len(facts["api_calls"])
    assert [b["name"] for b in facts["buckets"]] == ["logs-bucket"]
    assert [k["arn"] for k in facts["keys"]] == [aws["Arn"]]


def test_main_trail_filter_and_default_regions(aws, capsys, monkeypatch):
    # Without ``regions`` the module scans what DescribeRegions returns. moto returns all of its ~38
    # regions (it ignores the opt-in filter) and scanning them all takes minutes: serve three instead.
    enabled = ["us-west-2", "us-east-1", "eu-west-1"]
    monkeypatch.setattr(
        RegionsAndZonesBackend,
        "regions",
        [Region(name, f"ec2.{name}.amazonaws.com", "opt-in-not-required") for name in enabled],
    )
    rc, out = run(capsys, trails=["no-key"], max_workers=4)
    assert rc == 0
    facts = out["ansible_facts"]["cloudtrail_cmk"]
    assert [t["name"] for t in facts["trails"]] == ["no-key"]
    assert facts["regions"] == sorted(enabled)
    assert [c["operation"] for c in facts["api_calls"]].count("DescribeRegions") == 1
    scanned = {c["region"] for c in facts["api_calls"] if c["operation"] == "DescribeTrails"}
    assert scanned == set(enabled)


def test_main_fails_cleanly_without_identity(capsys, monkeypatch):
    with mock_aws():
        faults = Faults()
        faults.add("sts", "GetCallerIdentity", 403, "AccessDenied")
        faults_on_every_client(monkeypatch, faults)
        rc, out = run(capsys, regions=["us-east-1"])
    assert rc == 1
    assert out["failed"] is True
    assert "GetCallerIdentity" in out["msg"] or "get_caller_identity" in out["msg"]
    assert out["api_calls"][0]["error_code"] == "AccessDenied"
