"""Tests for statement synthesis, merge-by-Sid, admin access and diff in _policy.py."""

import copy
import json
from pathlib import Path

import pytest

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _policy
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils._policy import (
    PolicyError,
    admin_access_preserved,
    bucket_policy_findings,
    cloudtrail_bucket_statements,
    cloudtrail_key_statements,
    key_policy_findings,
    merge_statements,
    new_key_policy,
    policy_diff,
)

FIXTURES = Path(__file__).parent / "fixtures" / "policies"
ACCOUNT = "111111111111"
TRAIL = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/main-trail"
OTHER = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/other-trail"
FOREIGN = "arn:aws:cloudtrail:eu-west-1:222222222222:trail/foreign"
ORG_TRAIL = "arn:aws:cloudtrail:us-east-1:333333333333:trail/org-trail"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
BUCKET = "trailguard-logs"


def fixture(name):
    return json.loads((FIXTURES / f"{name}.json").read_text())


def sids(policy):
    return [s.get("Sid") for s in policy["Statement"]]


# ------------------------------------------------------------------------------------ synthesis


def test_key_statements_shape():
    encrypt, describe = cloudtrail_key_statements([OTHER, TRAIL, TRAIL], ACCOUNT)
    assert encrypt == {
        "Sid": "TrailGuardCloudTrailEncrypt",
        "Effect": "Allow",
        "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": "kms:GenerateDataKey*",
        "Resource": "*",
        "Condition": {
            "StringEquals": {"aws:SourceArn": [TRAIL, OTHER]},
            "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": [TRAIL, OTHER]},
        },
    }
    assert describe["Sid"] == "TrailGuardCloudTrailDescribeKey"
    assert describe["Action"] == "kms:DescribeKey"
    assert describe["Condition"] == {"StringEquals": {"aws:SourceArn": [TRAIL, OTHER]}}
    assert cloudtrail_key_statements(TRAIL, ACCOUNT) == cloudtrail_key_statements([TRAIL], ACCOUNT)


def test_key_statements_bucket_key_and_readers():
    statements = cloudtrail_key_statements(
        [TRAIL], ACCOUNT, bucket_key_enabled=True,
        readers=["arn:aws:iam::222222222222:role/Siem", "444444444444", "*", "logs.amazonaws.com"],
    )  # fmt: skip
    assert [s["Sid"] for s in statements] == [
        "TrailGuardCloudTrailEncrypt", "TrailGuardCloudTrailDescribeKey",
        "TrailGuardCloudTrailDecryptBucketKey", "TrailGuardLogReadersDecrypt",
    ]  # fmt: skip
    assert statements[2]["Action"] == "kms:Decrypt"
    readers = statements[3]
    assert readers["Principal"] == {"AWS": ["arn:aws:iam::222222222222:role/Siem", "arn:aws:iam::444444444444:root"]}
    assert readers["Condition"] == {
        "StringEquals": {"kms:CallerAccount": ["222222222222", "444444444444"]},
        "Null": {"kms:EncryptionContext:aws:cloudtrail:arn": "false"},
    }
    only_public = cloudtrail_key_statements([TRAIL], ACCOUNT, readers=["*"])
    assert [s["Sid"] for s in only_public] == ["TrailGuardCloudTrailEncrypt", "TrailGuardCloudTrailDescribeKey"]


@pytest.mark.parametrize("trails", [[], ["not-an-arn"], [KEY]], ids=["empty", "not-arn", "not-trail"])
def test_synthesis_rejects_bad_trails(trails):
    with pytest.raises(PolicyError):
        cloudtrail_key_statements(trails, ACCOUNT)
    with pytest.raises(PolicyError):
        cloudtrail_bucket_statements(BUCKET, trails, "", ACCOUNT)


def test_bucket_statements_shape():
    acl, write = cloudtrail_bucket_statements(BUCKET, [TRAIL], "/logs/", ACCOUNT)
    assert acl == {
        "Sid": "TrailGuardCloudTrailAclCheck",
        "Effect": "Allow",
        "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": "s3:GetBucketAcl",
        "Resource": f"arn:aws:s3:::{BUCKET}",
        "Condition": {"StringEquals": {"aws:SourceArn": [TRAIL]}},
    }
    assert write["Sid"] == "TrailGuardCloudTrailWrite"
    assert write["Action"] == "s3:PutObject"
    assert write["Resource"] == [f"arn:aws:s3:::{BUCKET}/logs/AWSLogs/{ACCOUNT}/*"]
    assert write["Condition"] == {
        "StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": [TRAIL]}
    }


def test_bucket_statements_cross_account_and_org():
    _acl, write = cloudtrail_bucket_statements(BUCKET, [FOREIGN, TRAIL], "", ACCOUNT)
    assert write["Resource"] == [
        f"arn:aws:s3:::{BUCKET}/AWSLogs/{ACCOUNT}/*",
        f"arn:aws:s3:::{BUCKET}/AWSLogs/222222222222/*",
    ]
    _acl, org = cloudtrail_bucket_statements(BUCKET, [ORG_TRAIL], "logs", "333333333333", True, "o-trailguard1")
    assert org["Resource"] == [
        f"arn:aws:s3:::{BUCKET}/logs/AWSLogs/333333333333/*", f"arn:aws:s3:::{BUCKET}/logs/AWSLogs/o-trailguard1/*",
    ]  # fmt: skip
    gov = "arn:aws-us-gov:cloudtrail:us-gov-west-1:111111111111:trail/t"
    acl, _write = cloudtrail_bucket_statements(BUCKET, [gov], "", ACCOUNT)
    assert acl["Resource"] == f"arn:aws-us-gov:s3:::{BUCKET}"


@pytest.mark.parametrize("bucket_key", [False, True], ids=["plain", "bucket-key"])
def test_new_key_policy_is_sufficient_and_keeps_admin(bucket_key):
    policy = new_key_policy(ACCOUNT, [TRAIL, OTHER], bucket_key_enabled=bucket_key)
    assert policy["Version"] == "2012-10-17"
    assert policy["Statement"][0] == {
        "Sid": "Enable IAM User Permissions",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    for trail in (TRAIL, OTHER):
        assert key_policy_findings(policy, trail, KEY, bucket_key_enabled=bucket_key) == []
    assert [f["code"] for f in key_policy_findings(policy, FOREIGN, KEY)] == [
        "KEY_POLICY_DENIES_CLOUDTRAIL", "KEY_POLICY_NO_DESCRIBE",
    ]  # fmt: skip
    assert admin_access_preserved(policy, ACCOUNT)
    assert _policy.policy_size(policy) < _policy.MAX_KEY_POLICY_BYTES


def test_bucket_statements_make_empty_bucket_policy_sufficient():
    policy = {"Version": "2012-10-17", "Statement": cloudtrail_bucket_statements(
        BUCKET, [ORG_TRAIL], "logs", "333333333333", True, "o-trailguard1")}  # fmt: skip
    assert bucket_policy_findings(policy, BUCKET, ORG_TRAIL, "logs", KEY, True, "o-trailguard1") == []
    assert bucket_policy_findings(policy, BUCKET, TRAIL, "logs", KEY) != []


# ---------------------------------------------------------------------------------------- merge


MERGE_FIXTURES = ["key_aws_documented", "key_root_only", "key_trailguard_existing", "key_notprincipal_deny"]


@pytest.mark.parametrize("name", MERGE_FIXTURES)
def test_merge_keeps_others_and_is_idempotent(name):
    original = fixture(name)
    snapshot = copy.deepcopy(original)
    statements = cloudtrail_key_statements([TRAIL], ACCOUNT)
    merged = merge_statements(original, statements)
    assert original == snapshot, "input mutated"
    others = [s for s in snapshot["Statement"] if not s.get("Sid", "").startswith("TrailGuard")]
    assert [s for s in merged["Statement"] if not s.get("Sid", "").startswith("TrailGuard")] == others
    assert merge_statements(merged, statements) == merged
    assert merge_statements(json.dumps(original), statements) == merged
    assert {k: v for k, v in merged.items() if k != "Statement"} == {
        k: v for k, v in snapshot.items() if k != "Statement"
    }


def test_merge_appends_new_sids_in_order():
    merged = merge_statements(fixture("key_root_only"), cloudtrail_key_statements([TRAIL], ACCOUNT, True))
    assert sids(merged) == [
        "Enable IAM User Permissions", "TrailGuardCloudTrailEncrypt", "TrailGuardCloudTrailDescribeKey",
        "TrailGuardCloudTrailDecryptBucketKey",
    ]  # fmt: skip
    assert key_policy_findings(merged, TRAIL, KEY, bucket_key_enabled=True) == []


def test_merge_into_existing_sid_unions_and_never_narrows():
    existing = fixture("key_trailguard_existing")
    merged = merge_statements(existing, cloudtrail_key_statements([TRAIL], ACCOUNT))
    assert sids(merged) == [
        "Enable IAM User Permissions", "TrailGuardCloudTrailEncrypt", "CustomerStatement",
        "TrailGuardCloudTrailDescribeKey",
    ]  # fmt: skip
    encrypt = merged["Statement"][1]
    assert encrypt["Condition"] == {
        "StringEquals": {"aws:SourceArn": [OTHER, TRAIL]},
        "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": [OTHER, TRAIL]},
    }
    assert key_policy_findings(merged, TRAIL, KEY) == []
    # the other trail keeps its encrypt grant (merging never narrows); it never had DescribeKey
    assert [f["code"] for f in key_policy_findings(merged, OTHER, KEY)] == ["KEY_POLICY_NO_DESCRIBE"]


def test_merge_unions_principals_actions_resources_and_drops_one_sided_conditions():
    existing = {"Statement": [{
        "Sid": "TrailGuardLogReadersDecrypt", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::2:role/a"},
        "Action": "kms:Decrypt", "Resource": KEY,
        "Condition": {"StringEquals": {"kms:CallerAccount": "2"}, "Bool": {"aws:SecureTransport": "true"}},
    }]}  # fmt: skip
    new = {
        "Sid": "TrailGuardLogReadersDecrypt", "Effect": "Allow",
        "Principal": {"AWS": ["arn:aws:iam::3:role/b"], "Service": "logs.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:DescribeKey"], "Resource": "*",
        "Condition": {"StringEquals": {"kms:CallerAccount": ["3"]}},
    }  # fmt: skip
    statement = merge_statements(existing, [new])["Statement"][0]
    assert statement["Principal"] == {
        "AWS": ["arn:aws:iam::2:role/a", "arn:aws:iam::3:role/b"], "Service": "logs.amazonaws.com",
    }  # fmt: skip
    assert statement["Action"] == ["kms:Decrypt", "kms:DescribeKey"]
    assert statement["Resource"] == [KEY, "*"]
    assert statement["Condition"] == {"StringEquals": {"kms:CallerAccount": ["2", "3"]}}
    no_condition = copy.deepcopy(new)
    del no_condition["Condition"]
    assert "Condition" not in merge_statements(existing, [no_condition])["Statement"][0]
    star = merge_statements({"Statement": [{**new, "Principal": "*"}]}, [new])["Statement"][0]
    assert star["Principal"] == "*"


@pytest.mark.parametrize(
    ("existing", "new", "message"),
    [
        pytest.param(
            {"Sid": "TrailGuardX", "Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"},
            {"Sid": "TrailGuardX", "Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
            "Effect Deny",
            id="effect",
        ),
        pytest.param(
            {"Sid": "TrailGuardX", "Effect": "Allow", "Principal": "*", "NotAction": "a", "Resource": "*"},
            {"Sid": "TrailGuardX", "Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
            "NotAction",
            id="not-action",
        ),
        pytest.param(
            None,
            {"Sid": "Custom", "Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
            "TrailGuard",
            id="foreign-sid",
        ),
        pytest.param(
            None,
            {"Sid": "TrailGuardX", "Effect": "Allow", "Action": "*", "Resource": "*"},
            "Principal",
            id="malformed-new",
        ),
    ],
)
def test_merge_refuses(existing, new, message):
    policy = {"Statement": [existing] if existing else []}
    with pytest.raises(PolicyError, match=message):
        merge_statements(policy, [new])


def test_merge_into_absent_policy_and_deterministic():
    statements = cloudtrail_bucket_statements(BUCKET, [TRAIL], "logs", ACCOUNT)
    first = merge_statements(None, statements)
    assert first == {"Version": "2012-10-17", "Statement": statements}
    assert first["Statement"][0] is not statements[0]
    assert _policy.canonical_json(merge_statements(None, statements)) == _policy.canonical_json(first)
    merged = merge_statements(fixture("bucket_aes256_only"), statements)
    assert sids(merged)[:3] == ["AWSCloudTrailAclCheck20150319", "AWSCloudTrailWrite20150319", "DenyNonAES256"]


# ---------------------------------------------------------------------------------------- admin


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("key_aws_documented", True, id="documented"),
        pytest.param("key_principal_plain_account", True, id="plain-account-id"),
        pytest.param("key_describe_only", True, id="root-plus-describe"),
        pytest.param("key_deny_admin", False, id="deny-put-key-policy"),
        pytest.param("key_admin_role_only", False, id="role-only-admin"),
        pytest.param("key_notprincipal_deny", True, id="notprincipal-excludes-root"),
        pytest.param("key_data_perimeter_naive", False, id="naive-perimeter-denies-root"),
        pytest.param("key_principal_org_id", True, id="root-statement-present"),
    ],
)
def test_admin_access_preserved(name, expected):
    assert admin_access_preserved(fixture(name), ACCOUNT) is expected
    assert admin_access_preserved(fixture(name), ACCOUNT, KEY) is expected


def test_admin_access_needs_every_admin_action():
    policy = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": ["kms:Describe*", "kms:Get*"],
                             "Resource": "*"}]}  # fmt: skip
    assert not admin_access_preserved(policy, ACCOUNT)
    policy["Statement"][0]["Action"] = list(_policy.ADMIN_ACTIONS)
    assert admin_access_preserved(policy, ACCOUNT)
    assert not admin_access_preserved(policy, "222222222222")
    assert not admin_access_preserved(None, ACCOUNT)


# ----------------------------------------------------------------------------------------- diff


def test_policy_diff():
    before = fixture("key_root_only")
    after = merge_statements(before, cloudtrail_key_statements([TRAIL], ACCOUNT))
    diff = policy_diff(before, after)
    assert diff.startswith("--- before\n+++ after\n")
    assert '+      "Sid": "TrailGuardCloudTrailEncrypt"' in diff
    assert not any(line.startswith("-  ") for line in diff.splitlines())
    assert policy_diff(before, json.dumps(before)) == ""
    assert policy_diff(None, None) == ""
    created = policy_diff(None, before)
    added = [line for line in created.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert len(added) == len(_policy.pretty_json(before).splitlines())
    assert _policy.pretty_json(None) == ""
