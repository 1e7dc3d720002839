"""_verify: the pure verdict for one trail, table-driven over dicts (no AWS)."""

from __future__ import annotations

import copy
import json

import pytest

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _policy
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _verify as V

ACCOUNT = "111111111111"
TRAIL = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/main"
OTHER_TRAIL = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/other"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"
OLD_KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/99999999-2222-3333-4444-555555555555"
BUCKET = "logs"
ATTACHED = "2026-01-01T10:00:00.500Z"
PATH = f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/01/01/"

SPEC = V.validate_spec({"trail_arn": TRAIL, "expected_key_arn": KEY, "attached_at": ATTACHED, "was_logging": True})


def kms_object(when="2026-01-01T10:05:00Z", key=KEY, sse="aws:kms", name="a.json.gz"):
    head = {"ServerSideEncryption": sse}
    if sse == "aws:kms":
        head["SSEKMSKeyId"] = key
    return V.object_evidence(BUCKET, PATH + name, "us-east-1", when, head, KEY, ATTACHED, "req-1", when)


def good_observed():
    return {
        "trail": {"TrailARN": TRAIL, "KmsKeyId": KEY, "S3BucketName": BUCKET, "S3KeyPrefix": "",
                  "IsOrganizationTrail": False, "IsMultiRegionTrail": False},
        "status": {"IsLogging": True, "LatestDeliveryTime": "2026-01-01T10:05:00Z",
                   "LatestDeliveryAttemptTime": "2026-01-01T10:05:00Z",
                   "LatestDeliveryAttemptSucceeded": "2026-01-01T10:05:00Z"},
        "key": {"metadata": {"KeyState": "Enabled", "KeyManager": "CUSTOMER"},
                "policy": json.dumps(_policy.new_key_policy(ACCOUNT, [TRAIL]))},
        "bucket": {"exists": True, "policy": json.dumps({
            "Version": "2012-10-17", "Statement": _policy.cloudtrail_bucket_statements(BUCKET, [TRAIL], "", ACCOUNT)})},
        "evidence": {"bucket": BUCKET, "roots": [f"AWSLogs/{ACCOUNT}/"], "objects": [kms_object()],
                     "shared_path_with": [], "shared_same_key": []},
        "polling": {"polls": 1, "waited_seconds": 0.0},
        "read_errors": [],
    }


def deny_bucket(obs):
    policy = json.loads(obs["bucket"]["policy"])
    policy["Statement"].append({"Sid": "NoKms", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
                                "Resource": f"arn:aws:s3:::{BUCKET}/*",
                                "Condition": {"StringEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}})
    obs["bucket"]["policy"] = json.dumps(policy)


def set_path(obs, path, value):
    *parents, last = path.split(".")
    node = obs
    for p in parents:
        node = node[p]
    node[last] = value


CASES = [
    # (id, mutations, verdict, codes of errors)
    ("verified", [], "verified", []),
    ("trail_missing", [("trail", None)], "failed", ["TRAIL_NOT_FOUND"]),
    ("trail_other_key", [("trail.KmsKeyId", OLD_KEY)], "failed", ["TRAIL_KEY_MISMATCH"]),
    ("trail_key_removed", [("trail.KmsKeyId", None)], "failed", ["TRAIL_KEY_MISMATCH"]),
    ("logging_stopped", [("status.IsLogging", False)], "failed", ["TRAIL_LOGGING_STOPPED"]),
    ("key_disabled", [("key.metadata.KeyState", "Disabled")], "failed", ["KEY_DISABLED"]),
    ("key_pending_deletion", [("key.metadata.KeyState", "PendingDeletion")], "failed", ["KEY_PENDING_DELETION"]),
    ("key_missing", [("key.metadata", None)], "failed", ["KEY_NOT_FOUND"]),
    ("key_aws_managed", [("key.metadata.KeyManager", "AWS")], "failed", ["KEY_AWS_MANAGED"]),
    ("key_policy_without_cloudtrail",
     [("key.policy", json.dumps(_policy.new_key_policy(ACCOUNT, [OTHER_TRAIL])))],
     "failed", ["KEY_POLICY_DENIES_CLOUDTRAIL", "KEY_POLICY_NO_DESCRIBE"]),
    ("bucket_missing", [("bucket.exists", False)], "failed", ["BUCKET_NOT_FOUND"]),
    ("bucket_no_policy", [("bucket.policy", None)], "failed",
     ["BUCKET_POLICY_DENIES_CLOUDTRAIL", "BUCKET_POLICY_DENIES_CLOUDTRAIL"]),
    ("delivery_error_after_attach",
     [("status.LatestDeliveryError", "KMS.DisabledException"),
      ("status.LatestDeliveryAttemptTime", "2026-01-01T10:10:00Z")], "failed", ["DELIVERY_ERROR"]),
    ("delivery_error_before_attach_is_stale",
     [("status.LatestDeliveryError", "AccessDenied"), ("status.LatestDeliveryAttemptTime", "2026-01-01T09:00:00Z"),
      ("status.LatestDeliveryAttemptSucceeded", "2026-01-01T08:00:00Z")], "verified", []),
    ("delivery_error_superseded_by_success",
     [("status.LatestDeliveryError", "AccessDenied"), ("status.LatestDeliveryAttemptTime", "2026-01-01T10:10:00Z"),
      ("status.LatestDeliveryAttemptSucceeded", "2026-01-01T10:10:00Z")], "verified", []),
    ("object_other_key", [("evidence.objects", [kms_object(key=OLD_KEY)])], "failed",
     ["OBJECT_NOT_ENCRYPTED_WITH_KEY"]),
    ("object_sse_s3", [("evidence.objects", [kms_object(sse="AES256")])], "failed", ["OBJECT_NOT_ENCRYPTED_WITH_KEY"]),
    ("object_other_key_in_shared_path",
     [("evidence.objects", [kms_object(key=OLD_KEY), kms_object(name="b.json.gz")]),
      ("evidence.shared_path_with", [OTHER_TRAIL])], "verified", []),
    ("shared_same_key_without_delivery_time",
     [("evidence.shared_path_with", [OTHER_TRAIL]), ("evidence.shared_same_key", [OTHER_TRAIL]),
      ("status.LatestDeliveryTime", None)], "pending", ["NO_NEW_LOG_OBJECT"]),
    ("shared_same_key_with_delivery_time",
     [("evidence.shared_path_with", [OTHER_TRAIL]), ("evidence.shared_same_key", [OTHER_TRAIL])], "verified", []),
    ("no_object", [("evidence.objects", [])], "pending", ["NO_NEW_LOG_OBJECT"]),
    ("delivery_time_alone_is_not_evidence", [("evidence.objects", [])], "pending", ["NO_NEW_LOG_OBJECT"]),
    ("pre_change_object_not_judged", [("evidence.objects", [kms_object(when="2026-01-01T09:59:00Z", key=OLD_KEY)])],
     "pending", ["NO_NEW_LOG_OBJECT"]),
    ("object_in_attach_second_not_judged",
     [("evidence.objects", [kms_object(when="2026-01-01T10:00:00Z", key=OLD_KEY)])], "pending", ["NO_NEW_LOG_OBJECT"]),
    ("not_logging_as_before", [("status.IsLogging", False), ("evidence.objects", [])], "failed",
     ["TRAIL_LOGGING_STOPPED"]),
    ("key_unreadable_still_verified_by_objects", [("key", {"read_error": {"message": "AccessDenied"}})], "verified",
     ["KEY_UNREADABLE"]),
    ("read_error_without_objects", [("evidence.objects", []),
                                    ("read_errors", [{"operation": "list_objects_v2", "message": "AccessDenied",
                                                      "resource": BUCKET}])], "pending",
     ["READ_ERROR", "NO_NEW_LOG_OBJECT"]),
]


@pytest.mark.parametrize(("mutations", "verdict", "codes"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_judge(mutations, verdict, codes):
    obs = good_observed()
    for path, value in mutations:
        set_path(obs, path, copy.deepcopy(value))
    result = V.judge(SPEC, obs)
    assert result["verdict"] == verdict, result["message"]
    assert [e["code"] for e in result["errors"]] == codes
    for error in result["errors"]:
        assert error["message"] and error["remediation"]


def test_bucket_policy_blocking_kms_with_this_key():
    obs = good_observed()
    deny_bucket(obs)
    result = V.judge(SPEC, obs)
    assert result["verdict"] == "failed"
    assert [e["code"] for e in result["errors"]] == ["BUCKET_POLICY_BLOCKS_KMS"]
    assert result["errors"][0]["statement"] == "NoKms"


def test_not_logging_before_and_after_is_pending_with_plain_message():
    spec = {**SPEC, "was_logging": False}
    obs = good_observed()
    obs["status"]["IsLogging"] = False
    obs["evidence"]["objects"] = []
    result = V.judge(spec, obs)
    assert result["verdict"] == "pending"
    assert "not logging" in result["message"]
    assert "StartLogging" in result["errors"][0]["remediation"]


def test_started_logging_is_info_only():
    spec = {**SPEC, "was_logging": False}
    result = V.judge(spec, good_observed())
    assert result["verdict"] == "verified"
    assert any(c["code"] == "TRAIL_LOGGING_STARTED" and c["status"] == "info" for c in result["checks"])


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        ("AccessDenied", "bucket policy"),
        ("KMS.DisabledException", "disabled"),
        ("KMS.NotFoundException", "does not exist"),
        ("KMS.KMSInvalidStateException", "pending deletion"),
        ("KMS.AccessDeniedException", "key policy"),
        ("NoSuchBucket", "no longer exists"),
        ("SomethingNew", "an S3 or KMS error"),
    ],
)
def test_delivery_error_reported_verbatim_with_likely_cause(error, cause):
    obs = good_observed()
    obs["status"].update(LatestDeliveryError=error, LatestDeliveryAttemptTime="2026-01-01T10:10:00Z")
    result = V.judge(SPEC, obs)
    delivery = next(e for e in result["errors"] if e["code"] == "DELIVERY_ERROR")
    assert f"LatestDeliveryError: {error} " in delivery["message"]
    assert cause in delivery["message"]


@pytest.mark.parametrize(
    ("modified", "position"),
    [("2026-01-01T10:00:01Z", "after"), ("2026-01-01T10:00:00Z", "boundary"), ("2026-01-01T09:59:59Z", "before")],
)
def test_classify(modified, position):
    assert V.classify(modified, ATTACHED) == position


def test_paths_days_and_sample():
    assert V.log_roots("p/", ACCOUNT, ["o-abc"]) == [f"p/AWSLogs/{ACCOUNT}/", f"p/AWSLogs/o-abc/{ACCOUNT}/"]
    assert V.log_roots("", ACCOUNT) == [f"AWSLogs/{ACCOUNT}/"]
    assert V.day_prefixes("x/", "2026-01-01T00:30:00Z", "2026-01-02T05:00:00Z") == [
        "x/2025/12/31/", "x/2026/01/01/", "x/2026/01/02/"]
    objs = [{"key": f"{r}{i}", "region": r, "last_modified": f"2026-01-01T10:0{i}:00Z"}
            for r in ("eu", "us") for i in range(3)]
    picked = V.sample(objs, 3)
    assert [o["key"] for o in picked] == ["eu2", "us2", "eu1"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"trail_arn": "main", "expected_key_arn": KEY, "attached_at": ATTACHED},
         "trail_arn 'main' is not a cloudtrail trail ARN"),
        ({"trail_arn": KEY, "expected_key_arn": KEY, "attached_at": ATTACHED}, "is not a cloudtrail trail ARN"),
        ({"trail_arn": TRAIL, "expected_key_arn": f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/x",
          "attached_at": ATTACHED}, r"expected_key_arn of .* is not a kms key ARN \(arn:<partition>:kms:"),
        ({"trail_arn": TRAIL, "expected_key_arn": KEY, "attached_at": "yesterday"}, "not an ISO 8601 time"),
        ({"trail_arn": TRAIL, "expected_key_arn": KEY, "attached_at": None}, "missing"),
    ],
)
def test_validate_spec_rejects(spec, message):
    with pytest.raises(ValueError, match=message):
        V.validate_spec(spec)


def test_validate_spec_normalises():
    spec = V.validate_spec({"trail_arn": TRAIL, "expected_key_arn": KEY, "attached_at": "2026-01-01T10:00:00+01:00",
                            "was_logging": None})
    assert spec["attached_at"] == "2026-01-01T09:00:00.000Z"
    assert spec["was_logging"] is True
    assert (spec["account_id"], spec["home_region"], spec["name"]) == (ACCOUNT, "us-east-1", "main")


def test_summarize():
    results = [{"verdict": v} for v in ("verified", "failed", "pending", "verified")]
    assert V.summarize(results) == {"trails": 4, "verified": 2, "failed": 1, "pending": 1, "all_verified": False}
    assert V.summarize([])["all_verified"] is True
