"""Tests for plugins/module_utils/_arn.py."""

import re

import pytest

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _arn


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        pytest.param(
            "arn:aws:cloudtrail:us-east-1:111111111111:trail/main-trail",
            ("aws", "cloudtrail", "us-east-1", "111111111111", "trail", "main-trail"),
            id="trail",
        ),
        pytest.param(
            "arn:aws:kms:eu-west-1:111111111111:key/mrk-1234abcd12ab34cd56ef1234567890ab",
            ("aws", "kms", "eu-west-1", "111111111111", "key", "mrk-1234abcd12ab34cd56ef1234567890ab"),
            id="multi-region-key",
        ),
        pytest.param(
            "arn:aws:kms:eu-west-1:111111111111:alias/trailguard",
            ("aws", "kms", "eu-west-1", "111111111111", "alias", "trailguard"),
            id="alias",
        ),
        pytest.param(
            "arn:aws:s3:::bucket/logs/AWSLogs/x", ("aws", "s3", "", "", "", "bucket/logs/AWSLogs/x"), id="s3-object"
        ),
        pytest.param("arn:aws:iam::111111111111:root", ("aws", "iam", "", "111111111111", "", "root"), id="iam-root"),
        pytest.param(
            "arn:aws:iam::111111111111:role/path/Reader",
            ("aws", "iam", "", "111111111111", "role", "path/Reader"),
            id="iam-role-path",
        ),
        pytest.param(
            "arn:aws-cn:logs:cn-north-1:111111111111:log-group:name:*",
            ("aws-cn", "logs", "cn-north-1", "111111111111", "log-group", "name:*"),
            id="colon-resource",
        ),
    ],
)
def test_parse_arn(arn, expected):
    keys = ("partition", "service", "region", "account", "resource_type", "resource")
    assert _arn.parse_arn(arn) == dict(zip(keys, expected, strict=True))


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("not-an-arn", id="plain"),
        pytest.param("arn:aws:kms", id="short"),
        pytest.param("", id="empty"),
        pytest.param(None, id="none"),
        pytest.param(123, id="int"),
    ],
)
def test_parse_arn_rejects(value):
    assert not _arn.is_arn(value)
    with pytest.raises(_arn.ArnError):
        _arn.parse_arn(value)
    assert issubclass(_arn.ArnError, ValueError)


@pytest.mark.parametrize(
    ("region", "name", "expected"),
    [
        pytest.param("us-east-1", "t", "arn:aws:cloudtrail:us-east-1:111111111111:trail/t", id="aws"),
        pytest.param("cn-north-1", "t", "arn:aws-cn:cloudtrail:cn-north-1:111111111111:trail/t", id="china"),
        pytest.param("us-gov-west-1", "t", "arn:aws-us-gov:cloudtrail:us-gov-west-1:111111111111:trail/t", id="gov"),
        pytest.param(
            "us-east-1",
            "arn:aws:cloudtrail:eu-west-1:222222222222:trail/x",
            "arn:aws:cloudtrail:eu-west-1:222222222222:trail/x",
            id="arn-passthrough",
        ),
    ],
)
def test_trail_arn(region, name, expected):
    assert _arn.trail_arn(region, "111111111111", name) == expected


@pytest.mark.parametrize(
    ("key_id", "expected"),
    [
        pytest.param("1234abcd", "arn:aws:kms:us-east-1:111111111111:key/1234abcd", id="key-id"),
        pytest.param("mrk-abc", "arn:aws:kms:us-east-1:111111111111:key/mrk-abc", id="mrk"),
        pytest.param("alias/x", "arn:aws:kms:us-east-1:111111111111:alias/x", id="alias"),
        pytest.param(
            "arn:aws:kms:eu-west-1:111111111111:key/k", "arn:aws:kms:eu-west-1:111111111111:key/k", id="passthrough"
        ),
    ],
)
def test_key_arn(key_id, expected):
    assert _arn.key_arn("us-east-1", "111111111111", key_id) == expected


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("eu-west-1", "aws"),
        ("cn-northwest-1", "aws-cn"),
        ("us-gov-east-1", "aws-us-gov"),
        ("us-iso-east-1", "aws-iso"),
        ("us-isob-east-1", "aws-iso-b"),
    ],
)
def test_partition_for_region(region, partition):
    assert _arn.partition_for_region(region) == partition


def test_account_of_and_bucket_arn():
    assert _arn.account_of("arn:aws:iam::111111111111:role/x") == "111111111111"
    assert _arn.account_of("arn:aws:s3:::b") == ""
    assert _arn.bucket_arn("b") == "arn:aws:s3:::b"
    assert _arn.bucket_arn("b", "aws-cn") == "arn:aws-cn:s3:::b"


@pytest.mark.parametrize(
    ("value", "service", "rtype", "ok"),
    [
        ("arn:aws:cloudtrail:us-east-1:111111111111:trail/main", "cloudtrail", "trail", True),
        ("arn:aws-us-gov:kms:us-gov-west-1:111111111111:key/abc", "kms", "key", True),
        ("arn:aws:kms:us-east-1:111111111111:alias/abc", "kms", "key", False),
        ("arn:aws:cloudtrail:us-east-1::trail/main", "cloudtrail", "trail", False),
        ("arn:aws:cloudtrail::111111111111:trail/main", "cloudtrail", "trail", False),
        ("arn:aws:cloudtrail:us-east-1:111111111111:trail/", "cloudtrail", "trail", False),
        ("main", "cloudtrail", "trail", False),
        (None, "cloudtrail", "trail", False),
    ],
)
def test_require(value, service, rtype, ok):
    if ok:
        assert _arn.require(value, service, rtype, "arg") == _arn.parse_arn(value)
    else:
        with pytest.raises(_arn.ArnError, match=rf"^arg {re.escape(repr(value))} is not a {service} {rtype} ARN"):
            _arn.require(value, service, rtype, "arg")
