"""Tests for the findings and log-reader functions of _policy.py."""

import json
from pathlib import Path

import pytest

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _policy
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils._policy import (
    PolicyError,
    bucket_policy_findings,
    key_policy_findings,
)

FIXTURES = Path(__file__).parent / "fixtures" / "policies"
ACCOUNT = "111111111111"
TRAIL = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/main-trail"
ORG_TRAIL = "arn:aws:cloudtrail:us-east-1:333333333333:trail/org-trail"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
MRK = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/mrk-1234abcd12ab34cd56ef1234567890ab"
OTHER_KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/99999999-12ab-34cd-56ef-1234567890ab"
BUCKET = "trailguard-logs"
FINDING_KEYS = {"code", "severity", "resource", "message", "remediation", "statement"}


def fixture(name):
    return json.loads((FIXTURES / f"{name}.json").read_text())


def codes(findings):
    return [(f["code"], f["statement"]) for f in findings]


DENIES = "KEY_POLICY_DENIES_CLOUDTRAIL"
NO_DESCRIBE = "KEY_POLICY_NO_DESCRIBE"
NO_DECRYPT = "KEY_POLICY_NO_DECRYPT_FOR_BUCKET_KEY"

KEY_CASES = [
    # fixture, trail, bucket_key_enabled, expected [(code, statement)]
    ("key_aws_documented", TRAIL, False, []),
    ("key_aws_documented", TRAIL, True, []),
    ("key_root_only", TRAIL, False, [(DENIES, None), (NO_DESCRIBE, None)]),
    ("key_root_only", TRAIL, True, [(DENIES, None), (NO_DESCRIBE, None), (NO_DECRYPT, None)]),
    ("key_describe_only", TRAIL, False, [(DENIES, None)]),
    ("key_generatedatakey_exact", TRAIL, False, []),
    ("key_action_case", TRAIL, False, []),
    ("key_action_question_mark", TRAIL, False, []),
    ("key_action_question_mark_too_short", TRAIL, False, [(DENIES, None), (NO_DESCRIBE, None)]),
    ("key_wrong_trail", TRAIL, False, [(DENIES, None), (NO_DESCRIBE, None)]),
    ("key_wrong_account_context", TRAIL, False, [(DENIES, None)]),
    ("key_notaction_deny", TRAIL, False, [(DENIES, "DenyCloudTrailExceptDescribeDecrypt")]),
    ("key_notprincipal_deny", TRAIL, False, [(DENIES, "#3"), (NO_DESCRIBE, "#3")]),
    ("key_notprincipal_deny_excludes_cloudtrail", TRAIL, False, []),
    ("key_notresource", TRAIL, False, []),
    ("key_notresource_excludes", TRAIL, False, [(DENIES, None)]),
    ("key_resource_key_arn", TRAIL, False, []),
    ("key_resource_other_key", TRAIL, False, [(DENIES, None)]),
    ("key_principal_star_source_account", TRAIL, False, []),
    ("key_principal_aws_star", TRAIL, True, []),
    ("key_principal_org_id", TRAIL, False, [(DENIES, None), (NO_DESCRIBE, None)]),
    ("key_principal_plain_account", TRAIL, False, []),
    ("key_deny_secure_transport_false", TRAIL, False, []),
    ("key_deny_null_encryption_context", TRAIL, False, []),
    ("key_deny_null_all_actions", TRAIL, False, [(NO_DESCRIBE, "DenyAnyWithoutContext")]),
    ("key_data_perimeter", TRAIL, False, []),
    ("key_data_perimeter_naive", TRAIL, False, [(DENIES, "NaivePerimeter"), (NO_DESCRIBE, "NaivePerimeter")]),
    ("key_deny_source_ip", TRAIL, False, [(DENIES, "DenyOutsideCorpNetwork"), (NO_DESCRIBE, "DenyOutsideCorpNetwork")]),
    ("key_ifexists", TRAIL, False, []),
    ("key_for_any_value", TRAIL, False, [(NO_DESCRIBE, None)]),
    ("key_for_all_values", TRAIL, False, []),
    ("key_deny_other_source_account", TRAIL, False, []),
    (
        "key_deny_other_source_account",
        ORG_TRAIL,
        False,
        [(DENIES, "DenyForeignTrails"), (NO_DESCRIBE, "DenyForeignTrails")],
    ),
    ("key_org_trail", ORG_TRAIL, False, []),
    ("key_org_trail", TRAIL, False, [(DENIES, None), (NO_DESCRIBE, None)]),
    ("key_bucket_key", TRAIL, True, []),
    ("key_generatedatakey_exact", TRAIL, True, [(NO_DECRYPT, None)]),
    ("key_statement_object", TRAIL, False, [(NO_DESCRIBE, None)]),
    ("key_trailguard_existing", TRAIL, False, [(DENIES, None), (NO_DESCRIBE, None)]),
]


@pytest.mark.parametrize(
    ("name", "trail", "bucket_key", "expected"),
    [
        pytest.param(*c, id=f"{c[0]}-{'org' if c[1] == ORG_TRAIL else 'trail'}{'-bk' if c[2] else ''}")
        for c in KEY_CASES
    ],
)
def test_key_policy_findings(name, trail, bucket_key, expected):
    org = trail == ORG_TRAIL
    findings = key_policy_findings(
        fixture(name), trail, KEY, is_organization_trail=org, organization_id="o-trailguard1" if org else None,
        bucket_key_enabled=bucket_key,
    )  # fmt: skip
    assert codes(findings) == expected
    for finding in findings:
        assert set(finding) == FINDING_KEYS
        assert finding["resource"] == KEY
        assert finding["severity"] == ("critical" if finding["code"] == DENIES else "high")
        assert finding["message"] and finding["remediation"]


def test_key_findings_multi_region_replica_key():
    assert key_policy_findings(fixture("key_aws_documented"), TRAIL, MRK) == []
    assert codes(key_policy_findings(fixture("key_resource_key_arn"), TRAIL, MRK)) == [
        (DENIES, None),
        (NO_DESCRIBE, None),
    ]


@pytest.mark.parametrize("policy", [None, ""], ids=["none", "empty"])
def test_key_findings_absent_policy_denies_everything(policy):
    findings = key_policy_findings(policy, TRAIL, KEY, bucket_key_enabled=True)
    assert codes(findings) == [(DENIES, None), (NO_DESCRIBE, None), (NO_DECRYPT, None)]
    assert "there is no policy" in findings[0]["message"]


def test_key_implicit_deny_remediation_is_the_exact_statement():
    finding = key_policy_findings(fixture("key_root_only"), TRAIL, KEY)[0]
    assert "no statement" in finding["message"].lower() and "implicitly denied" in finding["message"]
    prefix = "Add this statement to the key policy: "
    assert finding["remediation"].startswith(prefix)
    statement = json.loads(finding["remediation"][len(prefix) :])
    assert statement == _policy.cloudtrail_key_statements([TRAIL], ACCOUNT)[0]
    fixed = fixture("key_root_only")
    fixed["Statement"].append(statement)
    assert [f["code"] for f in key_policy_findings(fixed, TRAIL, KEY)] == [NO_DESCRIBE]


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        pytest.param("key_notaction_deny", 'add {"StringNotEquals": {"aws:SourceArn": "' + TRAIL, id="no-condition"),
        pytest.param(
            "key_notprincipal_deny",
            'Add {"Service": "cloudtrail.amazonaws.com"} to the NotPrincipal',
            id="notprincipal",
        ),
        pytest.param(
            "key_data_perimeter_naive", "holds because the request carries no aws:PrincipalOrgID", id="absent-key"
        ),
        pytest.param("key_deny_source_ip", "carries no aws:SourceIp", id="absent-source-ip"),
    ],
)
def test_key_explicit_deny_remediation(name, needle):
    finding = key_policy_findings(fixture(name), TRAIL, KEY)[0]
    assert finding["message"].startswith(f"Statement {finding['statement']} of the key policy denies")
    assert needle in finding["remediation"]
    assert "Then add" not in finding["remediation"]


def test_key_explicit_deny_without_allow_also_names_statement_to_add():
    policy = {
        "Statement": [
            {
                "Sid": "D",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "kms:Describe*",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
            }
        ]
    }
    finding = key_policy_findings(policy, TRAIL, KEY)[1]
    assert finding["statement"] == "D"
    assert f'"aws:SourceAccount": "{ACCOUNT}"' in finding["remediation"]
    assert "remove the value that matches" in finding["remediation"]
    assert "Then add this statement to the key policy" in finding["remediation"]
    assert "TrailGuardCloudTrailDescribeKey" in finding["remediation"]


def test_key_null_deny_remediation():
    finding = key_policy_findings(fixture("key_deny_null_all_actions"), TRAIL, KEY)[0]
    assert "holds because the request lacks kms:EncryptionContext:aws:cloudtrail:arn" in finding["remediation"]


@pytest.mark.parametrize(
    "policy", ["{bad", "[1]", {"Statement": [{"Effect": "Maybe"}]}], ids=["json", "array", "shape"]
)
def test_findings_reject_malformed(policy):
    with pytest.raises(PolicyError):
        key_policy_findings(policy, TRAIL, KEY)
    with pytest.raises(PolicyError):
        bucket_policy_findings(policy, BUCKET, TRAIL)


def test_findings_reject_bad_trail():
    with pytest.raises(PolicyError):
        key_policy_findings(fixture("key_root_only"), "trail-name", KEY)


BDENY = "BUCKET_POLICY_DENIES_CLOUDTRAIL"
BKMS = "BUCKET_POLICY_BLOCKS_KMS"

BUCKET_CASES = [
    # fixture, prefix, key, expected
    ("bucket_aws_documented", "logs", KEY, []),
    ("bucket_aws_documented", "logs", None, []),
    ("bucket_aws_documented", "logs", MRK, []),
    ("bucket_aws_documented", "", KEY, [(BDENY, None)]),
    ("bucket_aws_documented_no_prefix", "", KEY, []),
    ("bucket_aws_documented_no_prefix", "logs", KEY, [(BDENY, None)]),
    ("bucket_aes256_only", "logs", KEY, [(BKMS, "DenyNonAES256")]),
    ("bucket_aes256_only", "logs", None, []),
    ("bucket_require_specific_kms_key", "logs", KEY, [(BKMS, "DenyOtherKmsKeys")]),
    ("bucket_require_specific_kms_key", "logs", OTHER_KEY, []),
    ("bucket_deny_wrong_kms_key_naive", "logs", KEY, [(BDENY, "DenyOtherKmsKeysNaive")]),
    ("bucket_deny_wrong_kms_key_naive", "logs", OTHER_KEY, []),
    ("bucket_require_kms", "logs", KEY, []),
    ("bucket_require_kms", "logs", None, [(BDENY, "DenyNonKms")]),
    ("bucket_deny_null_encryption", "logs", KEY, []),
    ("bucket_deny_insecure_transport", "logs", KEY, []),
    ("bucket_wrong_trail", "logs", KEY, [(BDENY, None), (BDENY, None)]),
    ("bucket_principal_star_source_account", "logs", KEY, []),
    ("bucket_notprincipal_deny", "logs", KEY, [(BDENY, "OnlyAdminsWrite")]),
    ("bucket_notresource_deny", "logs", KEY, []),
    ("bucket_notresource_deny", "", KEY, [(BDENY, "DenyOutsideLogs")]),
    ("bucket_notaction", "logs", KEY, []),
    ("bucket_deny_acl_not_owner", "logs", KEY, []),
    ("bucket_deny_principal_org_id", "logs", KEY, [(BDENY, "DenyOutsideOrg"), (BDENY, "DenyOutsideOrg")]),
    ("bucket_action_case_wildcards", "logs", KEY, []),
    ("bucket_for_any_value_deny", "logs", KEY, [(BKMS, "DenyAesOrNone")]),
    ("bucket_readers", "logs", KEY, []),
]


@pytest.mark.parametrize(
    ("name", "prefix", "key", "expected"),
    [
        pytest.param(*c, id=f"{c[0]}-{c[1] or 'noprefix'}-{'nokey' if c[2] is None else c[2][-6:]}")
        for c in BUCKET_CASES
    ],
)
def test_bucket_policy_findings(name, prefix, key, expected):
    findings = bucket_policy_findings(fixture(name), BUCKET, TRAIL, prefix, key)
    assert codes(findings) == expected
    for finding in findings:
        assert set(finding) == FINDING_KEYS
        assert (finding["resource"], finding["severity"]) == (BUCKET, "critical")


@pytest.mark.parametrize(
    ("name", "org_id", "expected"),
    [
        pytest.param("bucket_org_trail", "o-trailguard1", [], id="org-path-granted"),
        pytest.param("bucket_org_trail_missing_org_path", "o-trailguard1", [(BDENY, None)], id="org-path-missing"),
        pytest.param("bucket_org_trail_missing_org_path", None, [], id="no-org-id-no-org-check"),
        pytest.param("bucket_aws_documented", "o-trailguard1", [(BDENY, None)] * 3, id="wrong-trail"),
    ],
)
def test_bucket_findings_org_trail(name, org_id, expected):
    findings = bucket_policy_findings(fixture(name), BUCKET, ORG_TRAIL, "logs", KEY, True, org_id)
    assert codes(findings) == expected
    if expected and name == "bucket_org_trail_missing_org_path":
        assert "organization log path" in findings[0]["message"]
        assert "AWSLogs/o-trailguard1/*" in findings[0]["remediation"]


@pytest.mark.parametrize("policy", [None, ""], ids=["none", "empty"])
def test_bucket_without_policy_denies(policy):
    findings = bucket_policy_findings(policy, BUCKET, TRAIL, "logs", KEY)
    assert codes(findings) == [(BDENY, None), (BDENY, None)]
    assert "s3:GetBucketAcl" in findings[0]["message"] and "there is no policy" in findings[0]["message"]
    assert "TrailGuardCloudTrailAclCheck" in findings[0]["remediation"]
    assert "TrailGuardCloudTrailWrite" in findings[1]["remediation"]
    assert "logs/AWSLogs/111111111111/*" in findings[1]["remediation"]


def test_bucket_implicit_deny_remediation_statement_fixes_it():
    policy = fixture("bucket_wrong_trail")
    prefix = "Add this statement to the bucket policy: "
    for finding in bucket_policy_findings(policy, BUCKET, TRAIL, "logs", KEY):
        assert finding["remediation"].startswith(prefix)
        policy["Statement"].append(json.loads(finding["remediation"][len(prefix) :]))
    assert bucket_policy_findings(policy, BUCKET, TRAIL, "logs", KEY) == []


def test_blocks_kms_remediation_names_condition_to_change():
    finding = bucket_policy_findings(fixture("bucket_aes256_only"), BUCKET, TRAIL, "logs", KEY)[0]
    assert finding["statement"] == "DenyNonAES256"
    assert KEY in finding["message"] and "SSE-S3 would pass" in finding["message"]
    assert '{"StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}}' in finding["remediation"]
    assert 'add "aws:kms" to its values' in finding["remediation"]
    policy = fixture("bucket_aes256_only")
    policy["Statement"][2]["Condition"]["StringNotEquals"]["s3:x-amz-server-side-encryption"] = ["AES256", "aws:kms"]
    assert bucket_policy_findings(policy, BUCKET, TRAIL, "logs", KEY) == []


def test_blocks_kms_when_allow_admits_only_sse_s3():
    policy = fixture("bucket_aws_documented")
    policy["Statement"][1]["Condition"]["StringEquals"]["s3:x-amz-server-side-encryption"] = "AES256"
    findings = bucket_policy_findings(policy, BUCKET, TRAIL, "logs", KEY)
    assert codes(findings) == [(BKMS, None)]
    assert "AWSCloudTrailWrite20150319" in findings[0]["message"]
    assert "TrailGuardCloudTrailWrite" in findings[0]["remediation"]
    assert bucket_policy_findings(policy, BUCKET, TRAIL, "logs", None) == []


def test_denies_and_blocks_kms_together():
    policy = fixture("bucket_aes256_only")
    policy["Statement"] = policy["Statement"][2:]
    assert codes(bucket_policy_findings(policy, BUCKET, TRAIL, "logs", KEY)) == [
        (BDENY, None), (BDENY, None), (BKMS, "DenyNonAES256"),
    ]  # fmt: skip


# ---------------------------------------------------------------------------------- log readers


def test_log_readers():
    readers = _policy.log_readers(fixture("bucket_readers"), BUCKET, "logs", ACCOUNT)
    assert readers == [
        "arn:aws:iam::222222222222:role/SiemReader",
        "444444444444",
        f"arn:aws:iam::{ACCOUNT}:role/RegionalReader",
        "*",
        "logs.amazonaws.com",
    ]


@pytest.mark.parametrize(
    ("name", "prefix", "expected"),
    [
        pytest.param("bucket_aws_documented", "logs", [], id="cloudtrail-only"),
        pytest.param("bucket_readers", "other", ["*", "arn:aws:iam::555555555555:role/Other"], id="other-prefix"),
        pytest.param("bucket_notaction", "logs", [], id="cloudtrail-notaction"),
    ],
)
def test_log_readers_variants(name, prefix, expected):
    assert _policy.log_readers(fixture(name), BUCKET, prefix, ACCOUNT) == expected


def test_log_readers_skip_notprincipal_and_notresource_allows():
    policy = {"Statement": [
        {"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::1:root"}, "Action": "s3:GetObject", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": "x"}, "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::o/*"},
        {"Effect": "Allow", "Principal": {"AWS": "y"}, "Action": "s3:PutObject", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": "z"}, "NotAction": "s3:PutObject", "Resource": "*"},
    ]}  # fmt: skip
    assert _policy.log_readers(policy, BUCKET, "", ACCOUNT) == ["z"]
    assert _policy.log_readers(None, BUCKET, "", ACCOUNT) == []


def test_readers_without_decrypt():
    readers = [
        "arn:aws:iam::222222222222:role/SiemReader",
        "444444444444",
        f"arn:aws:iam::{ACCOUNT}:role/RegionalReader",
        "*",
        "logs.amazonaws.com",
    ]
    assert _policy.readers_without_decrypt(fixture("key_readers"), KEY, readers) == readers[1:2] + readers[3:]
    # the documented policy lets every principal of the key's account decrypt, nobody else
    assert _policy.readers_without_decrypt(fixture("key_aws_documented"), KEY, readers) == [
        readers[0], readers[1], "*", "logs.amazonaws.com",
    ]  # fmt: skip
    assert _policy.readers_without_decrypt(fixture("key_root_only"), KEY, readers, TRAIL) == [
        readers[0], readers[1], "*", "logs.amazonaws.com",
    ]  # fmt: skip
    assert _policy.readers_without_decrypt(None, KEY, readers[:1]) == readers[:1]
    assert _policy.readers_without_decrypt(fixture("key_root_only"), KEY, []) == []
    with pytest.raises(PolicyError):
        _policy.readers_without_decrypt(None, "not-a-key", readers)


def test_synthesised_reader_statement_grants_decrypt():
    readers = ["arn:aws:iam::222222222222:role/SiemReader", "444444444444", "*", "logs.amazonaws.com"]
    statements = _policy.cloudtrail_key_statements([TRAIL], ACCOUNT, readers=readers)
    policy = {"Statement": statements}
    assert _policy.readers_without_decrypt(policy, KEY, readers) == ["*", "logs.amazonaws.com"]
