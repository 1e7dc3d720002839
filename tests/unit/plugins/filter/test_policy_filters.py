"""Tests for plugins/filter/policy.py."""

import json
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.trailguard.cloudtrail_cmk.plugins.filter import policy as policy_filters
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _policy

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "policies"
TRAIL = "arn:aws:cloudtrail:us-east-1:111111111111:trail/main-trail"
ORG_TRAIL = "arn:aws:cloudtrail:us-east-1:333333333333:trail/org-trail"
KEY = "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
BUCKET = "trailguard-logs"
FILTERS = policy_filters.FilterModule().filters()
KEY_FILTER = FILTERS["cloudtrail_key_policy_findings"]
BUCKET_FILTER = FILTERS["cloudtrail_bucket_policy_findings"]


def fixture(name):
    return json.loads((FIXTURES / f"{name}.json").read_text())


class Omit:
    """Stands in for Ansible's omit sentinel (matched by type name)."""


def test_filter_names():
    assert set(FILTERS) == {"cloudtrail_key_policy_findings", "cloudtrail_bucket_policy_findings"}


@pytest.mark.parametrize(
    ("name", "kwargs", "expected"),
    [
        pytest.param("key_aws_documented", {}, [], id="documented"),
        pytest.param("key_root_only", {}, ["KEY_POLICY_DENIES_CLOUDTRAIL", "KEY_POLICY_NO_DESCRIBE"], id="root-only"),
        pytest.param("key_aws_documented", {"bucket_key_enabled": "yes"}, [], id="bucket-key-string-bool"),
        pytest.param(
            "key_generatedatakey_exact",
            {"bucket_key_enabled": True},
            ["KEY_POLICY_NO_DECRYPT_FOR_BUCKET_KEY"],
            id="bucket-key",
        ),
        pytest.param(
            "key_aws_documented", {"organization_id": Omit(), "is_organization_trail": None}, [], id="omitted-optionals"
        ),
        pytest.param("key_aws_documented", {"organization_id": "__omit_place_holder__abc"}, [], id="omit-placeholder"),
    ],
)
def test_key_filter(name, kwargs, expected):
    policy = fixture(name)
    for given in (policy, json.dumps(policy)):
        findings = KEY_FILTER(given, trail_arn=TRAIL, key_arn=KEY, **kwargs)
        assert [f["code"] for f in findings] == expected
    assert findings == _policy.key_policy_findings(policy, TRAIL, KEY, bucket_key_enabled=bool(kwargs.get(
        "bucket_key_enabled")))  # fmt: skip


def test_key_filter_org_trail():
    findings = KEY_FILTER(fixture("key_org_trail"), trail_arn=ORG_TRAIL, key_arn=KEY, is_organization_trail="true",
                          organization_id="o-trailguard1")  # fmt: skip
    assert findings == []


@pytest.mark.parametrize(
    ("name", "kwargs", "expected"),
    [
        pytest.param("bucket_aws_documented", {"s3_key_prefix": "logs", "key_arn": KEY}, [], id="documented"),
        pytest.param(
            "bucket_aes256_only",
            {"s3_key_prefix": "logs", "key_arn": KEY},
            ["BUCKET_POLICY_BLOCKS_KMS"],
            id="aes256-only",
        ),
        pytest.param("bucket_aes256_only", {"s3_key_prefix": "logs", "key_arn": Omit()}, [], id="no-key"),
        pytest.param("bucket_aws_documented", {"key_arn": KEY}, ["BUCKET_POLICY_DENIES_CLOUDTRAIL"], id="no-prefix"),
        pytest.param(
            "bucket_aws_documented",
            {"s3_key_prefix": None, "key_arn": KEY},
            ["BUCKET_POLICY_DENIES_CLOUDTRAIL"],
            id="null-prefix",
        ),
    ],
)
def test_bucket_filter(name, kwargs, expected):
    policy = fixture(name)
    for given in (policy, json.dumps(policy)):
        findings = BUCKET_FILTER(given, bucket=BUCKET, trail_arn=TRAIL, **kwargs)
        assert [f["code"] for f in findings] == expected


def test_bucket_filter_org_trail():
    kwargs = {"bucket": BUCKET, "trail_arn": ORG_TRAIL, "s3_key_prefix": "logs", "key_arn": KEY,
              "is_organization_trail": True}  # fmt: skip
    policy = fixture("bucket_org_trail_missing_org_path")
    assert (
        BUCKET_FILTER(policy, organization_id="o-trailguard1", **kwargs)[0]["code"] == "BUCKET_POLICY_DENIES_CLOUDTRAIL"
    )
    assert BUCKET_FILTER(fixture("bucket_org_trail"), organization_id="o-trailguard1", **kwargs) == []


def test_absent_policies():
    assert len(KEY_FILTER(None, trail_arn=TRAIL, key_arn=KEY)) == 2
    assert len(BUCKET_FILTER("", bucket=BUCKET, trail_arn=TRAIL)) == 2


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(lambda: KEY_FILTER("{bad", trail_arn=TRAIL, key_arn=KEY), "not valid JSON", id="key-bad-json"),
        pytest.param(
            lambda: KEY_FILTER({"Statement": [{"Effect": "Allow"}]}, trail_arn=TRAIL, key_arn=KEY),
            "statement #0",
            id="key-bad-shape",
        ),
        pytest.param(lambda: KEY_FILTER([], trail_arn=TRAIL, key_arn=KEY), "JSON string or a dict", id="key-list"),
        pytest.param(lambda: KEY_FILTER({}, key_arn=KEY), "trail_arn is required", id="key-no-trail"),
        pytest.param(lambda: KEY_FILTER({}, trail_arn=TRAIL, key_arn=Omit()), "key_arn is required", id="key-no-key"),
        pytest.param(lambda: KEY_FILTER({}, trail_arn="trail", key_arn=KEY), "not an ARN", id="key-bad-trail"),
        pytest.param(
            lambda: KEY_FILTER({}, trail_arn=TRAIL, key_arn=KEY, bucket_key_enabled="maybe"),
            "must be a boolean",
            id="key-bad-bool",
        ),
        pytest.param(lambda: BUCKET_FILTER("[]", bucket=BUCKET, trail_arn=TRAIL), "JSON object", id="bucket-array"),
        pytest.param(lambda: BUCKET_FILTER({}, trail_arn=TRAIL), "bucket is required", id="bucket-no-bucket"),
        pytest.param(lambda: BUCKET_FILTER({}, bucket=BUCKET, trail_arn=5), "trail_arn is required", id="bucket-int"),
        pytest.param(
            lambda: BUCKET_FILTER({}, bucket=BUCKET, trail_arn=TRAIL, s3_key_prefix=["x"]),
            "s3_key_prefix must be a string",
            id="bucket-bad-prefix",
        ),
        pytest.param(
            lambda: BUCKET_FILTER(7, bucket=BUCKET, trail_arn=TRAIL), "JSON string or a dict", id="bucket-int-policy"
        ),
    ],
)
def test_malformed_input_raises_filter_error(call, message):
    with pytest.raises(AnsibleFilterError, match=message):
        call()
