"""Tests for the identity-policy (IAM) reader functions of _policy.py."""

import json

import pytest

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _policy

ACCOUNT = "111111111111"
BUCKET = "trailguard-logs"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
LOG_OBJECT = f"arn:aws:s3:::{BUCKET}/logs/AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/01/01/x.json.gz"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Siem"


def allow(action, resource, condition=None, effect="Allow"):
    statement = {"Effect": effect, "Action": action, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def ident(*policies, arn=ROLE, boundary=None):
    return {"arn": arn, "policies": list(policies), "permissions_boundary": boundary}


READ_LOGS = allow("s3:GetObject", f"arn:aws:s3:::{BUCKET}/*")
DECRYPT_ANY = allow("kms:Decrypt", "*")


def test_identity_policy_rejects_resource_policies_and_garbage():
    assert _policy.identity_policy(json.dumps(READ_LOGS))["Statement"][0]["Principal"] == "*"
    assert _policy.identity_policy({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*",
                                                   "Resource": "*"}]}) is None
    assert _policy.identity_policy("{not json") is None
    assert _policy.identity_policy({"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}) is None
    assert _policy.identity_policy(["a list"]) is None
    # a single statement object (not a list) is valid IAM
    assert _policy.identity_policy({"Statement": READ_LOGS["Statement"][0]}) is not None


@pytest.mark.parametrize(
    ("policies", "boundary", "expected"),
    [
        pytest.param([READ_LOGS], None, True, id="bucket-wildcard"),
        pytest.param([allow("s3:*", "*")], None, True, id="s3-star"),
        pytest.param([allow("*", "*")], None, True, id="admin"),
        pytest.param([allow("S3:Get*", f"arn:aws:s3:::{BUCKET}/logs/AWSLogs/*")], None, True, id="case-and-prefix"),
        pytest.param([allow("s3:GetObject", f"arn:aws:s3:::{BUCKET}/other/*")], None, False, id="other-prefix"),
        pytest.param([allow("s3:GetObject", "arn:aws:s3:::other-bucket/*")], None, False, id="other-bucket"),
        pytest.param([allow("s3:ListBucket", f"arn:aws:s3:::{BUCKET}")], None, False, id="list-only"),
        pytest.param([allow("s3:GetObject", f"arn:aws:s3:::{BUCKET}/*",
                            {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})], None, True,
                     id="allow-condition-may-be-met"),
        pytest.param([READ_LOGS, allow("s3:*", "*", effect="Deny")], None, False, id="explicit-deny"),
        pytest.param([READ_LOGS, allow("s3:GetObject", "*", {"Bool": {"aws:SecureTransport": "false"}}, "Deny")],
                     None, True, id="deny-condition-not-met"),
        pytest.param([READ_LOGS], allow("kms:*", "*"), False, id="boundary-without-s3"),
        pytest.param([READ_LOGS], allow("s3:Get*", "*"), True, id="boundary-with-s3"),
        pytest.param([{"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}], None, True,
                     id="notaction"),
        pytest.param([{"Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                      "NotResource": f"arn:aws:s3:::{BUCKET}/*"}]}], None, False, id="notresource"),
        pytest.param(["{broken"], None, False, id="unparsable-ignored"),
        pytest.param([], None, False, id="no-policies"),
    ],
)
def test_identity_log_readers(policies, boundary, expected):
    identity = ident(*policies, boundary=boundary)
    readers = _policy.identity_log_readers([identity], BUCKET, "logs", ACCOUNT)
    assert readers == ([ROLE] if expected else [])


def test_identity_log_readers_respect_bucket_policy_deny_and_sort():
    other = f"arn:aws:iam::{ACCOUNT}:role/Analytics"
    identities = [ident(READ_LOGS), ident(READ_LOGS, arn=other), ident(allow("ec2:*", "*"), arn="x-no")]
    assert _policy.identity_log_readers(identities, BUCKET, "logs", ACCOUNT) == [other, ROLE]
    bucket_policy = {"Statement": [{"Effect": "Deny", "Principal": {"AWS": other}, "Action": "s3:GetObject",
                                    "Resource": f"arn:aws:s3:::{BUCKET}/*"}]}
    assert _policy.identity_log_readers(identities, BUCKET, "logs", ACCOUNT, bucket_policy) == [ROLE]


ROOT_ONLY = {"Statement": [{"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                            "Action": "kms:*", "Resource": "*"}]}


@pytest.mark.parametrize(
    ("key_policy", "policies", "missing"),
    [
        pytest.param(ROOT_ONLY, [READ_LOGS], True, id="root-delegation-without-iam-decrypt"),
        pytest.param(ROOT_ONLY, [READ_LOGS, DECRYPT_ANY], False, id="root-delegation-with-iam-decrypt"),
        pytest.param(ROOT_ONLY, [READ_LOGS, allow("kms:Decrypt", KEY)], False, id="iam-decrypt-this-key"),
        pytest.param(ROOT_ONLY, [READ_LOGS, allow("kms:Decrypt", KEY.replace("1234abcd", "ffffffff"))], True,
                     id="iam-decrypt-other-key"),
        pytest.param(ROOT_ONLY, [READ_LOGS, allow("kms:Decrypt", "*",
                                                  {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}})],
                     False, id="via-s3-condition-met"),
        pytest.param(ROOT_ONLY, [READ_LOGS, allow("kms:Decrypt", "*",
                                                  {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}})],
                     True, id="via-other-region"),
        pytest.param(ROOT_ONLY, [READ_LOGS, allow("kms:Decrypt", "*",
                                                  {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})],
                     True, id="decrypt-condition-unknown-is-not-assumed"),
        pytest.param(ROOT_ONLY, [READ_LOGS, DECRYPT_ANY, allow("kms:*", "*", effect="Deny")], True, id="iam-deny"),
        pytest.param({"Statement": [*ROOT_ONLY["Statement"], {
            "Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "kms:Decrypt", "Resource": "*"}]},
            [READ_LOGS], False, id="named-in-key-policy"),
        pytest.param({"Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/Other"},
                                     "Action": "kms:*", "Resource": "*"}]},
                     [READ_LOGS, DECRYPT_ANY], True, id="no-delegation"),
    ],
)
def test_readers_without_decrypt_with_identities(key_policy, policies, missing):
    identities = {ROLE: ident(*policies)}
    found = _policy.readers_without_decrypt(key_policy, KEY, [ROLE], identities=identities)
    assert found == ([ROLE] if missing else [])
    # without identities the account root statement is taken as enough
    expected_without = [] if _policy.evaluate(key_policy, _policy.Request(
        {"AWS": ROLE}, "kms:Decrypt", KEY, {"kms:CallerAccount": ACCOUNT})).allowed else [ROLE]
    assert _policy.readers_without_decrypt(key_policy, KEY, [ROLE]) == expected_without


def test_identities_of_other_accounts_are_not_consulted():
    """A reader of another account covered through its account's root: its own IAM is that account's business
    (we cannot have read it), so an identity record for it, here without kms:Decrypt, must not count."""
    other = "arn:aws:iam::222222222222:role/Siem"
    key_policy = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:root"},
                                 "Action": "kms:Decrypt", "Resource": "*"}]}
    identities = {other: ident(READ_LOGS, arn=other)}
    assert _policy.readers_without_decrypt(key_policy, KEY, [other], identities=identities) == []
    # the same shape in the key's own account is judged on the identity: no kms:Decrypt -> missing
    local = {ROLE: ident(READ_LOGS)}
    assert _policy.readers_without_decrypt(ROOT_ONLY, KEY, [ROLE], identities=local) == [ROLE]


def test_prepared_identities_give_the_same_answers_and_are_parsed_once():
    identity = ident(READ_LOGS, DECRYPT_ANY, "{broken", boundary=allow("s3:*", "*"))
    prepared = _policy.prepare_identity(identity)
    assert _policy.prepare_identity(prepared) is prepared
    assert len(prepared["_policies"]) == 2  # the unparsable document is left out
    for action, resource in (("s3:GetObject", LOG_OBJECT), ("kms:Decrypt", KEY)):
        same = _policy.identity_allows(identity, action, resource)
        assert _policy.identity_allows(prepared, action, resource) == same
    assert _policy.identity_allows(prepared, "s3:GetObject", LOG_OBJECT) is True
    assert _policy.identity_allows(prepared, "kms:Decrypt", KEY) is False  # the boundary has no kms
    assert _policy.identity_log_readers([prepared], BUCKET, "logs", ACCOUNT) == [ROLE]
    broken_boundary = _policy.prepare_identity(ident(READ_LOGS, boundary="{broken"))
    assert _policy.identity_allows(broken_boundary, "s3:GetObject", LOG_OBJECT) is False


def test_may_read_objects_is_a_cheap_precheck():
    assert _policy.may_read_objects(ident(READ_LOGS)) is True
    assert _policy.may_read_objects(ident(allow("s3:GetObject", "*", effect="Deny"))) is False
    assert _policy.may_read_objects(ident(allow("ec2:*", "*"), DECRYPT_ANY)) is False
