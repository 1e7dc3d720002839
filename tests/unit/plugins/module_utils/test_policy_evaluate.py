"""Tests for the evaluation core of _policy.py: loading, canonical form, evaluate, conditions, requests."""

import hashlib
import json
from pathlib import Path

import pytest

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _policy
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils._policy import (
    Decision,
    PolicyError,
    Request,
    cloudtrail_bucket_requests,
    cloudtrail_key_requests,
    evaluate,
)

FIXTURES = Path(__file__).parent / "fixtures" / "policies"
ACCOUNT = "111111111111"
TRAIL = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/main-trail"
ORG_TRAIL = "arn:aws:cloudtrail:us-east-1:333333333333:trail/org-trail"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/99999999-12ab-34cd-56ef-1234567890ab"
BUCKET = "trailguard-logs"


def fixture(name):
    return json.loads((FIXTURES / f"{name}.json").read_text())


# ----------------------------------------------------------------------------------------- load


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        pytest.param("{not json", "not valid JSON", id="bad-json"),
        pytest.param("[]", "JSON object", id="array"),
        pytest.param(42, "JSON object", id="int"),
        pytest.param({"Statement": "x"}, "Statement must be", id="statement-string"),
        pytest.param({"Statement": ["x"]}, "not an object", id="statement-item-string"),
        pytest.param(
            {"Statement": [{"Effect": "allow", "Principal": "*", "Action": "*", "Resource": "*"}]},
            "Effect",
            id="effect-lowercase",
        ),
        pytest.param(
            {"Statement": [{"Effect": "Allow", "Principal": "*", "Resource": "*"}]},
            "Action / NotAction",
            id="no-action",
        ),
        pytest.param(
            {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "NotAction": "x", "Resource": "*"}]},
            "Action / NotAction",
            id="action-and-notaction",
        ),
        pytest.param(
            {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*"}]},
            "Resource / NotResource",
            id="no-resource",
        ),
        pytest.param(
            {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
            "Principal / NotPrincipal",
            id="no-principal",
        ),
        pytest.param(
            {"Statement": [{"Effect": "Allow", "Principal": "all", "Action": "*", "Resource": "*"}]},
            "Principal",
            id="principal-string",
        ),
        pytest.param(
            {"Statement": [{"Effect": "Allow", "Principal": {"AWS": []}, "Action": "*", "Resource": "*"}]},
            "non-empty",
            id="principal-empty-list",
        ),
        pytest.param(
            {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": [1], "Resource": "*"}]},
            "Action",
            id="action-int",
        ),
        pytest.param(
            {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", "Sid": 5}]},
            "Sid",
            id="sid-int",
        ),
        pytest.param(
            {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", "Extra": 1}]},
            "unknown element",
            id="unknown-element",
        ),
        pytest.param(
            {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", "Condition": []}]},
            "Condition must be",
            id="condition-list",
        ),
        pytest.param(
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "*",
                        "Resource": "*",
                        "Condition": {"StringEquals": "x"},
                    }
                ]
            },
            "map keys",
            id="condition-block-string",
        ),
        pytest.param(
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "*",
                        "Resource": "*",
                        "Condition": {"StringEqualz": {"a": "b"}},
                    }
                ]
            },
            "unknown condition operator",
            id="unknown-operator",
        ),
        pytest.param(
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "*",
                        "Resource": "*",
                        "Condition": {"ForSomeValues:StringEquals": {"a": "b"}},
                    }
                ]
            },
            "set operator",
            id="unknown-set-operator",
        ),
        pytest.param(
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "*",
                        "Resource": "*",
                        "Condition": {"NullIfExists": {"a": "true"}},
                    }
                ]
            },
            "Null takes no",
            id="null-ifexists",
        ),
        pytest.param(
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "*",
                        "Resource": "*",
                        "Condition": {"StringEquals": {"a": {"b": 1}}},
                    }
                ]
            },
            "value of type",
            id="condition-value-object",
        ),
        pytest.param(
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "*",
                        "Resource": "*",
                        "Condition": {"StringEquals": {"a": None}},
                    }
                ]
            },
            "value of type",
            id="condition-value-null",
        ),
        pytest.param(
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "*",
                        "Resource": "*",
                        "Condition": {"IfExists": {"a": "b"}},
                    }
                ]
            },
            "unknown condition operator",
            id="bare-ifexists",
        ),
    ],
)
def test_load_policy_rejects(policy, message):
    with pytest.raises(PolicyError, match=message):
        _policy.load_policy(policy)
    assert issubclass(PolicyError, ValueError)


@pytest.mark.parametrize("policy", [None, "", "   ", b""], ids=["none", "empty", "blank", "bytes-empty"])
def test_load_policy_absent(policy):
    assert _policy.load_policy(policy) == {"Version": "2012-10-17", "Statement": []}


def test_load_policy_normalises_and_copies():
    original = fixture("key_statement_object")
    loaded = _policy.load_policy(original)
    assert isinstance(loaded["Statement"], list) and len(loaded["Statement"]) == 1
    loaded["Statement"][0]["Sid"] = "changed"
    assert original["Statement"]["Sid"] != "changed"
    assert _policy.load_policy(json.dumps(original).encode()) == _policy.load_policy(original)
    assert _policy.load_policy({"Version": "2012-10-17"}) == {"Version": "2012-10-17", "Statement": []}


def test_canonical_json_and_sha():
    policy = {"b": 1, "a": {"d": [2, 1], "c": "é"}}
    assert _policy.canonical_json(policy) == '{"a":{"c":"é","d":[2,1]},"b":1}'
    assert _policy.canonical_json(json.dumps(policy, indent=4)) == _policy.canonical_json(policy)
    assert _policy.canonical_json(None) == "" and _policy.canonical_json("") == ""
    assert _policy.policy_sha256("") == hashlib.sha256(b"").hexdigest()
    assert _policy.policy_sha256(None) == hashlib.sha256(b"").hexdigest()
    assert _policy.policy_sha256(policy) == hashlib.sha256(_policy.canonical_json(policy).encode()).hexdigest()
    assert _policy.policy_sha256(policy) != _policy.policy_sha256({"b": 2, "a": {}})
    with pytest.raises(PolicyError):
        _policy.canonical_json("{x")


# ------------------------------------------------------------------------------------- evaluate

KEY_REQS = cloudtrail_key_requests(TRAIL, KEY)

EVALUATE_CASES = [
    # (fixture, request, expected decision, allowing, denying)
    ("key_aws_documented", "encrypt", "allow", ["Allow CloudTrail to encrypt logs"], []),
    (
        "key_aws_documented",
        "describe",
        "allow",
        ["Enable IAM User Permissions", "Allow CloudTrail to describe key"][1:],
        [],
    ),
    # {"AWS": "*"} also names service principals, and CloudTrail's kms:CallerAccount is the trail's account
    (
        "key_aws_documented",
        "decrypt",
        "allow",
        ["Allow principals in the account to decrypt log files", "Enable cross account log decryption"],
        [],
    ),
    ("key_root_only", "encrypt", "implicit_deny", [], []),
    ("key_describe_only", "encrypt", "implicit_deny", [], []),
    ("key_describe_only", "describe", "allow", ["Allow CloudTrail to describe key"], []),
    ("key_generatedatakey_exact", "encrypt", "allow", ["Allow CloudTrail to encrypt logs"], []),
    ("key_action_case", "encrypt", "allow", ["Allow CloudTrail to encrypt logs"], []),
    ("key_action_case", "describe", "allow", ["Allow CloudTrail to describe key"], []),
    ("key_action_question_mark", "encrypt", "allow", ["Allow CloudTrail to encrypt logs"], []),
    ("key_action_question_mark", "describe", "allow", ["Allow CloudTrail to describe key"], []),
    ("key_action_question_mark_too_short", "encrypt", "implicit_deny", [], []),
    ("key_action_question_mark_too_short", "describe", "implicit_deny", [], []),
    ("key_wrong_trail", "encrypt", "implicit_deny", [], []),
    ("key_wrong_trail", "describe", "implicit_deny", [], []),
    ("key_wrong_account_context", "encrypt", "implicit_deny", [], []),
    (
        "key_notaction_deny",
        "encrypt",
        "explicit_deny",
        ["Allow CloudTrail to encrypt logs"],
        ["DenyCloudTrailExceptDescribeDecrypt"],
    ),
    ("key_notaction_deny", "describe", "allow", ["Allow CloudTrail to describe key"], []),
    ("key_notprincipal_deny", "encrypt", "explicit_deny", ["Allow CloudTrail to encrypt logs"], ["#3"]),
    ("key_notprincipal_deny_excludes_cloudtrail", "encrypt", "allow", ["Allow CloudTrail to encrypt logs"], []),
    ("key_notresource", "encrypt", "allow", ["Allow CloudTrail to encrypt logs"], []),
    ("key_notresource_excludes", "encrypt", "implicit_deny", [], []),
    ("key_resource_key_arn", "encrypt", "allow", ["Allow CloudTrail to encrypt logs"], []),
    ("key_resource_key_arn", "describe", "allow", ["Allow CloudTrail to describe key"], []),
    ("key_resource_other_key", "encrypt", "implicit_deny", [], []),
    ("key_principal_star_source_account", "encrypt", "allow", ["AnyPrincipalFromMyAccount"], []),
    ("key_principal_aws_star", "describe", "allow", ["AwsStar"], []),
    ("key_principal_org_id", "encrypt", "implicit_deny", [], []),
    ("key_principal_plain_account", "encrypt", "allow", ["Allow CloudTrail to encrypt logs"], []),
    ("key_deny_secure_transport_false", "encrypt", "allow", ["Allow CloudTrail to encrypt logs"], []),
    ("key_deny_null_encryption_context", "encrypt", "allow", ["Allow CloudTrail to encrypt logs"], []),
    ("key_deny_null_encryption_context", "describe", "allow", ["Allow CloudTrail to describe key"], []),
    (
        "key_deny_null_all_actions",
        "describe",
        "explicit_deny",
        ["Allow CloudTrail to describe key"],
        ["DenyAnyWithoutContext"],
    ),
    ("key_data_perimeter", "encrypt", "allow", ["Allow CloudTrail to encrypt logs"], []),
    ("key_data_perimeter_naive", "encrypt", "explicit_deny", ["Allow CloudTrail to encrypt logs"], ["NaivePerimeter"]),
    (
        "key_deny_source_ip",
        "encrypt",
        "explicit_deny",
        ["Allow CloudTrail to encrypt logs"],
        ["DenyOutsideCorpNetwork"],
    ),
    ("key_ifexists", "encrypt", "allow", ["Allow CloudTrail to encrypt logs"], []),
    ("key_for_any_value", "encrypt", "allow", ["EncryptWithContextKey"], []),
    ("key_for_any_value", "describe", "implicit_deny", [], []),
    ("key_for_all_values", "encrypt", "allow", ["OnlyCloudTrailContextKeys"], []),
    ("key_for_all_values", "describe", "allow", ["OnlyCloudTrailContextKeys"], []),
    ("key_deny_other_source_account", "encrypt", "allow", ["Allow CloudTrail to encrypt logs"], []),
    ("key_bucket_key", "decrypt", "allow", ["AllowCloudTrailDecryptForBucketKey"], []),
    ("key_statement_object", "encrypt", "allow", ["Allow CloudTrail to encrypt logs"], []),
    ("key_statement_object", "describe", "implicit_deny", [], []),
]


@pytest.mark.parametrize(
    ("name", "request_name", "decision", "allowing", "denying"),
    [pytest.param(*case, id=f"{case[0]}-{case[1]}") for case in EVALUATE_CASES],
)
def test_evaluate_key_policies(name, request_name, decision, allowing, denying):
    result = evaluate(fixture(name), KEY_REQS[request_name])
    assert result == Decision(decision == "allow", decision, allowing, denying)


@pytest.mark.parametrize("as_string", [True, False], ids=["json-string", "dict"])
def test_evaluate_accepts_string_or_dict(as_string):
    policy = fixture("key_aws_documented")
    assert evaluate(json.dumps(policy) if as_string else policy, KEY_REQS["encrypt"]).allowed


def test_evaluate_absent_policy_is_implicit_deny():
    assert evaluate(None, KEY_REQS["encrypt"]) == Decision(False, "implicit_deny", [], [])


def test_evaluate_org_trail_and_foreign_account():
    org = cloudtrail_key_requests(ORG_TRAIL, KEY, is_organization_trail=True, organization_id="o-trailguard1")
    assert evaluate(fixture("key_org_trail"), org["encrypt"]).allowed
    assert not evaluate(fixture("key_org_trail"), KEY_REQS["encrypt"]).allowed
    denied = evaluate(fixture("key_deny_other_source_account"), org["describe"])
    assert denied.decision == "explicit_deny" and denied.denying == ["DenyForeignTrails"]


BUCKET_CASES = [
    # (fixture, prefix, key, request, decision, denying)
    ("bucket_aws_documented", "logs", KEY, "acl", "allow", []),
    ("bucket_aws_documented", "logs", KEY, "write", "allow", []),
    ("bucket_aws_documented", "/logs/", KEY, "write", "allow", []),
    ("bucket_aws_documented", "", KEY, "write", "implicit_deny", []),
    ("bucket_aws_documented", "other", KEY, "write", "implicit_deny", []),
    ("bucket_aes256_only", "logs", KEY, "write_sse_s3", "allow", []),
    ("bucket_aes256_only", "logs", KEY, "write", "explicit_deny", ["DenyNonAES256"]),
    ("bucket_require_specific_kms_key", "logs", KEY, "write_sse_s3", "allow", []),
    ("bucket_require_specific_kms_key", "logs", KEY, "write", "explicit_deny", ["DenyOtherKmsKeys"]),
    ("bucket_require_specific_kms_key", "logs", OTHER_KEY, "write", "allow", []),
    ("bucket_require_specific_kms_key", "logs", None, "write", "allow", []),
    ("bucket_deny_wrong_kms_key_naive", "logs", OTHER_KEY, "write_sse_s3", "explicit_deny", ["DenyOtherKmsKeysNaive"]),
    ("bucket_require_kms", "logs", KEY, "write", "allow", []),
    ("bucket_require_kms", "logs", KEY, "write_sse_s3", "explicit_deny", ["DenyNonKms"]),
    ("bucket_deny_null_encryption", "logs", KEY, "write", "allow", []),
    ("bucket_deny_insecure_transport", "logs", KEY, "write", "allow", []),
    ("bucket_deny_insecure_transport", "logs", KEY, "acl", "allow", []),
    ("bucket_wrong_trail", "logs", KEY, "acl", "implicit_deny", []),
    ("bucket_principal_star_source_account", "logs", KEY, "acl", "allow", []),
    ("bucket_principal_star_source_account", "logs", KEY, "write", "allow", []),
    ("bucket_notprincipal_deny", "logs", KEY, "write_sse_s3", "explicit_deny", ["OnlyAdminsWrite"]),
    ("bucket_notresource_deny", "logs", KEY, "write", "allow", []),
    ("bucket_notresource_deny", "", KEY, "write", "explicit_deny", ["DenyOutsideLogs"]),
    ("bucket_notaction", "logs", KEY, "write", "allow", []),
    ("bucket_notaction", "logs", KEY, "acl", "allow", []),
    ("bucket_deny_acl_not_owner", "logs", KEY, "write", "allow", []),
    ("bucket_deny_principal_org_id", "logs", KEY, "acl", "explicit_deny", ["DenyOutsideOrg"]),
    ("bucket_action_case_wildcards", "logs", KEY, "acl", "allow", []),
    ("bucket_action_case_wildcards", "logs", KEY, "write", "allow", []),
    ("bucket_for_any_value_deny", "logs", KEY, "write", "explicit_deny", ["DenyAesOrNone"]),
    ("bucket_for_any_value_deny", "logs", KEY, "write_sse_s3", "allow", []),
]


@pytest.mark.parametrize(
    ("name", "prefix", "key", "request_name", "decision", "denying"),
    [pytest.param(*case, id=f"{case[0]}-{case[3]}-{case[1] or 'noprefix'}") for case in BUCKET_CASES],
)
def test_evaluate_bucket_policies(name, prefix, key, request_name, decision, denying):
    request = cloudtrail_bucket_requests(BUCKET, TRAIL, prefix, key)[request_name]
    result = evaluate(fixture(name), request)
    assert (result.decision, result.denying) == (decision, denying)
    assert result.allowed is (decision == "allow")


@pytest.mark.parametrize(
    ("name", "decision"),
    [("bucket_org_trail", "allow"), ("bucket_org_trail_missing_org_path", "implicit_deny")],
)
def test_evaluate_org_path(name, decision):
    requests = cloudtrail_bucket_requests(BUCKET, ORG_TRAIL, "logs", KEY, True, "o-trailguard1")
    assert evaluate(fixture(name), requests["write"]).allowed
    assert evaluate(fixture(name), requests["write_org"]).decision == decision


# ----------------------------------------------------------------------------------- principals


@pytest.mark.parametrize(
    ("principal_element", "request_principal", "expected"),
    [
        pytest.param("*", {"Service": "cloudtrail.amazonaws.com"}, True, id="star-service"),
        pytest.param({"AWS": "*"}, {"Service": "cloudtrail.amazonaws.com"}, True, id="aws-star-service"),
        pytest.param(
            {"Service": "CloudTrail.amazonaws.com"}, {"Service": "cloudtrail.amazonaws.com"}, True, id="service-case"
        ),
        pytest.param(
            {"Service": ["s3.amazonaws.com"]}, {"Service": "cloudtrail.amazonaws.com"}, False, id="other-service"
        ),
        pytest.param({"AWS": ACCOUNT}, {"AWS": f"arn:aws:iam::{ACCOUNT}:role/x"}, True, id="account-id-covers-role"),
        pytest.param({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, {"AWS": ACCOUNT}, True, id="root-covers-account"),
        pytest.param(
            {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            {"AWS": "arn:aws:iam::222222222222:role/x"},
            False,
            id="root-other-account",
        ),
        pytest.param(
            {"AWS": f"arn:aws:iam::{ACCOUNT}:role/x"}, {"AWS": f"arn:aws:iam::{ACCOUNT}:role/x"}, True, id="role-exact"
        ),
        pytest.param(
            {"AWS": f"arn:aws:iam::{ACCOUNT}:role/x"}, {"AWS": f"arn:aws:iam::{ACCOUNT}:role/y"}, False, id="role-other"
        ),
        pytest.param(
            {"AWS": f"arn:aws:iam::{ACCOUNT}:role/x"},
            {"AWS": f"arn:aws:sts::{ACCOUNT}:assumed-role/x/session"},
            True,
            id="assumed-role-session",
        ),
        pytest.param({"AWS": f"arn:aws:iam::{ACCOUNT}:role/x"}, {"AWS": ACCOUNT}, False, id="role-not-root"),
        pytest.param({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, {"AWS": "*"}, False, id="anonymous-not-account"),
        pytest.param(
            {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            {"Service": "cloudtrail.amazonaws.com"},
            False,
            id="account-not-service",
        ),
        pytest.param({"Service": "cloudtrail.amazonaws.com"}, {"AWS": ACCOUNT}, False, id="service-not-account"),
        pytest.param(
            {"Federated": "cognito-identity.amazonaws.com"},
            {"Federated": "cognito-identity.amazonaws.com"},
            True,
            id="federated",
        ),
    ],
)
def test_principal_matching(principal_element, request_principal, expected):
    policy = {"Statement": [{"Effect": "Allow", "Principal": principal_element, "Action": "*", "Resource": "*"}]}
    assert evaluate(policy, Request(request_principal, "kms:Decrypt", KEY, {})).allowed is expected


@pytest.mark.parametrize(
    ("not_principal", "request_principal", "denied"),
    [
        pytest.param({"AWS": ACCOUNT}, {"AWS": ACCOUNT}, False, id="root-excluded"),
        pytest.param(
            {"AWS": ACCOUNT}, {"AWS": f"arn:aws:iam::{ACCOUNT}:role/x"}, True, id="account-does-not-exclude-role"
        ),
        pytest.param(
            {"AWS": f"arn:aws:iam::{ACCOUNT}:role/x"},
            {"AWS": f"arn:aws:iam::{ACCOUNT}:role/x"},
            False,
            id="role-excluded",
        ),
        pytest.param(
            {"Service": "cloudtrail.amazonaws.com"},
            {"Service": "cloudtrail.amazonaws.com"},
            False,
            id="service-excluded",
        ),
        pytest.param(
            {"Service": "s3.amazonaws.com"}, {"Service": "cloudtrail.amazonaws.com"}, True, id="other-service"
        ),
    ],
)
def test_not_principal(not_principal, request_principal, denied):
    policy = {
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
            {"Sid": "D", "Effect": "Deny", "NotPrincipal": not_principal, "Action": "*", "Resource": "*"},
        ]
    }
    result = evaluate(policy, Request(request_principal, "kms:Decrypt", KEY, {}))
    assert (result.decision == "explicit_deny") is denied


@pytest.mark.parametrize("principal", [{}, {"AWS": "a", "Service": "b"}, "cloudtrail"], ids=["empty", "two", "string"])
def test_bad_request_principal(principal):
    with pytest.raises(PolicyError):
        evaluate(fixture("key_root_only"), Request(principal, "kms:Decrypt", KEY, {}))


# ----------------------------------------------------------------------------------- conditions

CTX = {
    "aws:sourcearn": TRAIL,
    "aws:sourceaccount": ACCOUNT,
    "aws:principalisawsservice": True,
    "aws:securetransport": True,
    "kms:encryptioncontextkeys": ["aws:cloudtrail:arn", "aws:s3:arn"],
    "num": 5,
    "when": "2026-01-01T00:00:00Z",
    "ip": "10.1.2.3",
    "bin": "aGVsbG8=",
    "raw": b"hello",
    "empty": [],
    "nothing": None,
}

CONDITION_CASES = [
    # operator, key, values, expected
    ("StringEquals", "aws:SourceArn", TRAIL, True),
    ("StringEquals", "AWS:SOURCEARN", [TRAIL.upper(), TRAIL], True),
    ("StringEquals", "aws:SourceArn", TRAIL.upper(), False),
    ("StringEquals", "aws:Missing", "x", False),
    ("StringNotEquals", "aws:SourceArn", TRAIL, False),
    ("StringNotEquals", "aws:SourceArn", ["a", "b"], True),
    ("StringNotEquals", "aws:Missing", "x", True),
    ("StringEqualsIgnoreCase", "aws:SourceArn", TRAIL.upper(), True),
    ("StringNotEqualsIgnoreCase", "aws:SourceArn", TRAIL.upper(), False),
    ("StringNotEqualsIgnoreCase", "aws:SourceArn", "x", True),
    ("StringLike", "aws:SourceArn", "arn:aws:cloudtrail:*:111111111111:trail/*", True),
    ("StringLike", "aws:SourceArn", "arn:aws:cloudtrail:us-east-?:111111111111:trail/main-trail", True),
    ("StringLike", "aws:SourceArn", "arn:aws:cloudtrail:*:222222222222:trail/*", False),
    ("StringNotLike", "aws:SourceArn", "arn:aws:cloudtrail:*:222222222222:trail/*", True),
    ("StringNotLike", "aws:SourceArn", ["x", "arn:aws:cloudtrail:*"], False),
    ("StringEqualsIfExists", "aws:Missing", "x", True),
    ("StringEqualsIfExists", "aws:SourceAccount", "222222222222", False),
    ("StringNotEqualsIfExists", "aws:Missing", "x", True),
    ("StringLikeIfExists", "aws:SourceArn", "*main*", True),
    ("ArnEquals", "aws:SourceArn", "arn:aws:cloudtrail:*:111111111111:trail/main-trail", True),
    ("ArnLike", "aws:SourceArn", "arn:aws:cloudtrail:us-east-1:111111111111:trail/*", True),
    ("ArnLike", "aws:SourceArn", "arn:aws:cloudtrail:us-east-1:111111111111:*", True),
    ("ArnLike", "aws:SourceArn", "arn:aws:cloudtrail:us-east-1:222222222222:trail/*", False),
    ("ArnLike", "aws:SourceArn", "*", True),
    ("ArnLike", "aws:SourceAccount", "arn:aws:*", False),
    ("ArnNotEquals", "aws:SourceArn", "arn:aws:cloudtrail:us-east-1:111111111111:trail/other", True),
    ("ArnNotLike", "aws:SourceArn", "arn:aws:cloudtrail:*:*:trail/*", False),
    ("ArnNotLike", "aws:Missing", "arn:*", True),
    ("ArnLikeIfExists", "aws:Missing", "arn:*", True),
    ("Bool", "aws:SecureTransport", "true", True),
    ("Bool", "aws:SecureTransport", "false", False),
    ("Bool", "aws:PrincipalIsAWSService", True, True),
    ("Bool", "aws:Missing", "false", False),
    ("BoolIfExists", "aws:Missing", "false", True),
    ("Null", "aws:Missing", "true", True),
    ("Null", "aws:Missing", "false", False),
    ("Null", "aws:SourceArn", "false", True),
    ("Null", "aws:SourceArn", "true", False),
    ("Null", "nothing", "true", True),
    ("NumericEquals", "num", "5", True),
    ("NumericEquals", "num", 6, False),
    ("NumericNotEquals", "num", "6", True),
    ("NumericLessThan", "num", "6", True),
    ("NumericLessThan", "num", "5", False),
    ("NumericLessThanEquals", "num", "5", True),
    ("NumericGreaterThan", "num", "4.5", True),
    ("NumericGreaterThanEquals", "num", "6", False),
    ("NumericEquals", "num", "five", False),
    ("NumericEquals", "aws:SourceArn", "5", False),
    ("NumericEquals", "aws:SecureTransport", "1", False),
    ("NumericLessThanIfExists", "aws:Missing", "1", True),
    ("DateEquals", "when", "2026-01-01T00:00:00+00:00", True),
    ("DateEquals", "when", "1767225600", True),
    ("DateNotEquals", "when", "2025-01-01T00:00:00Z", True),
    ("DateLessThan", "when", "2026-06-01", True),
    ("DateLessThanEquals", "when", "2026-01-01T00:00:00Z", True),
    ("DateGreaterThan", "when", "2026-06-01T00:00:00Z", False),
    ("DateGreaterThanEquals", "when", "2025-12-31T23:59:59Z", True),
    ("DateGreaterThan", "when", "not a date", False),
    ("DateGreaterThan", "aws:Missing", "2020-01-01", False),
    ("IpAddress", "ip", "10.0.0.0/8", True),
    ("IpAddress", "ip", ["192.0.2.0/24", "10.1.2.3"], True),
    ("IpAddress", "ip", "192.0.2.0/24", False),
    ("IpAddress", "ip", "not-a-cidr", False),
    ("NotIpAddress", "ip", "192.0.2.0/24", True),
    ("NotIpAddress", "aws:SourceIp", "10.0.0.0/8", True),
    ("IpAddress", "aws:SourceIp", "0.0.0.0/0", False),
    ("BinaryEquals", "bin", "aGVsbG8=", True),
    ("BinaryEquals", "raw", "aGVsbG8=", True),
    ("BinaryEquals", "raw", "d29ybGQ=", False),
    ("BinaryEquals", "bin", "!!notbase64", False),
    ("ForAnyValue:StringEquals", "kms:EncryptionContextKeys", "aws:s3:arn", True),
    ("ForAnyValue:StringEquals", "kms:EncryptionContextKeys", "other", False),
    ("ForAnyValue:StringEquals", "aws:Missing", "x", False),
    ("ForAnyValue:StringEqualsIfExists", "aws:Missing", "x", True),
    ("ForAnyValue:StringNotEquals", "kms:EncryptionContextKeys", "aws:cloudtrail:arn", True),
    ("ForAnyValue:StringNotEquals", "aws:Missing", "x", False),
    ("ForAnyValue:StringLike", "empty", "*", False),
    ("ForAllValues:StringLike", "kms:EncryptionContextKeys", "aws:*", True),
    ("ForAllValues:StringEquals", "kms:EncryptionContextKeys", "aws:cloudtrail:arn", False),
    ("ForAllValues:StringEquals", "aws:Missing", "x", True),
    ("ForAllValues:StringEquals", "empty", "x", True),
    ("ForAllValues:StringNotEquals", "kms:EncryptionContextKeys", "other", True),
    ("foranyvalue:stringequals", "kms:EncryptionContextKeys", "aws:s3:arn", True),
    ("StringEquals", "kms:EncryptionContextKeys", "aws:s3:arn", True),
    ("StringNotEquals", "kms:EncryptionContextKeys", "aws:s3:arn", False),
    ("StringEquals", "empty", "x", False),
    ("StringNotEquals", "empty", "x", True),
]


@pytest.mark.parametrize(
    ("operator", "key", "values", "expected"),
    [pytest.param(*case, id=f"{i}-{case[0]}-{case[1]}") for i, case in enumerate(CONDITION_CASES)],
)
def test_condition_operators(operator, key, values, expected):
    assert _policy.condition_entry_matches(operator, key, values, CTX) is expected


def test_condition_blocks_are_anded():
    context = {"aws:sourcearn": TRAIL, "aws:sourceaccount": ACCOUNT}
    both = {"StringEquals": {"aws:SourceArn": TRAIL, "aws:SourceAccount": ACCOUNT}, "Bool": {"aws:Missing": "true"}}
    assert not _policy.conditions_match(both, context)
    del both["Bool"]
    assert _policy.conditions_match(both, context)
    both["StringEquals"]["aws:SourceAccount"] = "222222222222"
    assert not _policy.conditions_match(both, context)
    assert _policy.conditions_match({}, context)


def test_matching_condition_entries_names_the_entries_that_hold():
    statement = fixture("bucket_aes256_only")["Statement"][2]
    request = cloudtrail_bucket_requests(BUCKET, TRAIL, "logs", KEY)["write"]
    assert _policy.matching_condition_entries(statement, request) == [
        ("StringNotEquals", "s3:x-amz-server-side-encryption", "AES256")
    ]
    assert _policy.matching_condition_entries({"Effect": "Deny"}, request) == []


@pytest.mark.parametrize(
    ("pattern", "value", "ignore_case", "expected"),
    [
        ("kms:GenerateDataKey*", "kms:GenerateDataKey", True, True),
        ("kms:GenerateDataKey*", "kms:GenerateDataKeyWithoutPlaintext", True, True),
        ("kms:Generate*Key", "kms:GenerateDataKey", True, True),
        ("kms:GenerateDataKey", "kms:GenerateDataKeyPair", True, False),
        ("kms:generatedatakey", "kms:GenerateDataKey", False, False),
        ("a.b", "axb", False, False),
        ("a?b", "axb", False, True),
        ("a?b", "ab", False, False),
        ("arn:aws:s3:::b/*", "arn:aws:s3:::b/x/y\nz", False, True),
        ("[ab]", "a", False, False),
    ],
)
def test_glob_match(pattern, value, ignore_case, expected):
    assert _policy.glob_match(pattern, value, ignore_case) is expected


# ------------------------------------------------------------------------------------- requests


def test_key_requests():
    requests = cloudtrail_key_requests(TRAIL, KEY)
    assert set(requests) == {"encrypt", "describe", "decrypt"}
    encrypt = requests["encrypt"]
    assert encrypt.principal == {"Service": "cloudtrail.amazonaws.com"}
    assert (encrypt.action, encrypt.resource) == ("kms:GenerateDataKey", KEY)
    assert encrypt.context == {
        "aws:SourceArn": TRAIL,
        "aws:SourceAccount": ACCOUNT,
        "aws:PrincipalIsAWSService": True,
        "aws:PrincipalServiceName": "cloudtrail.amazonaws.com",
        "aws:SecureTransport": True,
        "kms:CallerAccount": ACCOUNT,
        "kms:EncryptionContext:aws:cloudtrail:arn": TRAIL,
        "kms:EncryptionContextKeys": ["aws:cloudtrail:arn"],
    }
    describe = requests["describe"]
    assert describe.action == "kms:DescribeKey"
    assert "kms:EncryptionContext:aws:cloudtrail:arn" not in describe.context
    assert requests["decrypt"].action == "kms:Decrypt"
    for request in requests.values():
        for absent in ("aws:PrincipalOrgID", "aws:PrincipalArn", "aws:PrincipalAccount", "kms:ViaService"):
            assert absent not in request.context
    encrypt.context["x"] = 1
    assert "x" not in requests["decrypt"].context


def test_key_requests_org_trail_uses_management_account():
    requests = cloudtrail_key_requests(ORG_TRAIL, KEY, True, "o-trailguard1")
    assert requests["encrypt"].context["aws:SourceAccount"] == "333333333333"
    assert requests["encrypt"].context["kms:EncryptionContext:aws:cloudtrail:arn"] == ORG_TRAIL


@pytest.mark.parametrize(
    "trail",
    ["nope", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/x", "arn:aws:cloudtrail:::trail/x"],
    ids=["not-arn", "not-trail", "no-account"],
)
def test_requests_reject_bad_trail(trail):
    with pytest.raises(PolicyError):
        cloudtrail_key_requests(trail, KEY)
    with pytest.raises(PolicyError):
        cloudtrail_bucket_requests(BUCKET, trail)


def test_bucket_requests_with_key():
    requests = cloudtrail_bucket_requests(BUCKET, TRAIL, "logs", KEY)
    assert set(requests) == {"acl", "write", "write_sse_s3"}
    assert (requests["acl"].action, requests["acl"].resource) == ("s3:GetBucketAcl", f"arn:aws:s3:::{BUCKET}")
    write = requests["write"]
    assert write.action == "s3:PutObject"
    assert write.resource == (
        f"arn:aws:s3:::{BUCKET}/logs/AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/01/01/"
        f"{ACCOUNT}_CloudTrail_us-east-1_20260101T0000Z_abcdefghijklmnop.json.gz"
    )
    assert write.context["s3:x-amz-acl"] == "bucket-owner-full-control"
    assert write.context["s3:x-amz-server-side-encryption"] == "aws:kms"
    assert write.context["s3:x-amz-server-side-encryption-aws-kms-key-id"] == KEY
    plain = requests["write_sse_s3"]
    assert plain.resource == write.resource
    assert plain.context["s3:x-amz-server-side-encryption"] == "AES256"
    assert "s3:x-amz-server-side-encryption-aws-kms-key-id" not in plain.context
    assert requests["acl"].context["aws:SourceArn"] == TRAIL


def test_bucket_requests_without_key_and_prefix():
    requests = cloudtrail_bucket_requests(BUCKET, TRAIL)
    assert requests["write"] == requests["write_sse_s3"]
    assert requests["write"].resource.startswith(f"arn:aws:s3:::{BUCKET}/AWSLogs/{ACCOUNT}/CloudTrail/")


def test_bucket_requests_org_trail():
    requests = cloudtrail_bucket_requests(BUCKET, ORG_TRAIL, "", KEY, True, "o-trailguard1")
    org = requests["write_org"]
    member = org.resource.split("/")[3]
    assert org.resource.startswith(f"arn:aws:s3:::{BUCKET}/AWSLogs/o-trailguard1/{member}/CloudTrail/us-east-1/")
    assert member not in ("333333333333", "o-trailguard1")
    assert org.context["aws:SourceArn"] == ORG_TRAIL
    assert org.context["s3:x-amz-server-side-encryption-aws-kms-key-id"] == KEY
    assert requests["write_org_sse_s3"].context["s3:x-amz-server-side-encryption"] == "AES256"
    assert "write_org" not in cloudtrail_bucket_requests(BUCKET, ORG_TRAIL, "", KEY, True, None)
    assert "write_org" not in cloudtrail_bucket_requests(BUCKET, ORG_TRAIL, "", KEY, False, "o-trailguard1")


def test_member_account_differs_from_management():
    assert _policy._member_account("999999999999") == "888888888888"
    assert _policy._member_account("111111111111") == "999999999999"


def test_statement_applies_without_precomputed_context():
    statement = fixture("key_aws_documented")["Statement"][1]
    assert _policy.statement_applies(statement, KEY_REQS["encrypt"])
    assert not _policy.statement_applies(statement, KEY_REQS["describe"])


def test_dates_accept_datetime_context_values():
    import datetime as dt

    naive = dt.datetime(2026, 1, 1)
    aware = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for value in (naive, aware):
        assert _policy.condition_entry_matches("DateEquals", "t", "2026-01-01T00:00:00Z", {"t": value})
        assert not _policy.condition_entry_matches("DateLessThan", "t", "2025-01-01", {"t": value})


def test_operator_name_must_be_string():
    with pytest.raises(PolicyError, match="must be a string"):
        _policy.condition_entry_matches(5, "k", "v", {})
