"""_findings.readers_findings with the real policy engine: bucket-policy and IAM readers, per target key."""

import pytest

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _findings, _policy

A = "111111111111"
TRAIL = {"name": "main", "arn": f"arn:aws:cloudtrail:us-east-1:{A}:trail/main", "s3_key_prefix": "",
         "home_region": "us-east-1"}
SIEM = "arn:aws:iam::222222222222:role/Siem"
PIPE = f"arn:aws:iam::{A}:role/Pipeline"
ARCHIVER = f"arn:aws:iam::{A}:role/Archiver"
BUCKET = {"name": "logs", "region": "us-east-1", "owned_by_account": True, "exists": True, "policy": {
    "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": SIEM}, "Action": "s3:GetObject",
                                            "Resource": "arn:aws:s3:::logs/*"}]}}
READ = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::logs/AWSLogs/*"}
DECRYPT = {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}
IAM = {"read": True, "principals": [_policy.prepare_identity(p) for p in (
    {"arn": PIPE, "policies": [{"Statement": [READ]}]},
    {"arn": ARCHIVER, "policies": [{"Statement": [READ, DECRYPT]}]},
    {"arn": f"arn:aws:iam::{A}:role/App", "policies": [{"Statement": [dict(DECRYPT, Action="sqs:*")]}]},
)]}  # fmt: skip
KEY = {"arn": f"arn:aws:kms:us-east-1:{A}:key/k1", "policy": _policy.new_key_policy(A, [TRAIL["arn"]])}


@pytest.mark.parametrize(
    ("target", "action", "missing"),
    [
        pytest.param(KEY, "use_existing_key", [PIPE, SIEM], id="existing-key-root-only"),
        pytest.param(None, "create_key", [PIPE, SIEM], id="new-key"),
        pytest.param(None, "defer", [], id="defer-judges-nothing"),
    ],
)
def test_readers_of_both_kinds_checked_against_the_target(target, action, missing):
    sources, need, findings = _findings.readers_findings(TRAIL, BUCKET, target, A, action, IAM)
    assert sources == {ARCHIVER: ["iam"], PIPE: ["iam"], SIEM: ["bucket_policy"]}
    assert need == missing
    if missing:
        [finding] = findings
        assert f"{PIPE} (via IAM policy)" in finding["message"] and f"{SIEM} (via bucket policy)" in finding["message"]
        assert ARCHIVER not in finding["message"]
    else:
        assert findings == []


def test_iam_readers_only_for_a_bucket_of_the_account():
    other = dict(BUCKET, owned_by_account=False)
    sources, _need, _findings_out = _findings.readers_findings(TRAIL, other, KEY, A, "use_existing_key", IAM)
    assert sources == {SIEM: ["bucket_policy"]}


def test_without_iam_only_bucket_policy_readers():
    sources, need, _out = _findings.readers_findings(TRAIL, BUCKET, KEY, A, "use_existing_key", None)
    assert sources == {SIEM: ["bucket_policy"]} and need == [SIEM]
