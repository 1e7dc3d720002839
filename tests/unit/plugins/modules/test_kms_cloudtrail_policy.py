"""kms_cloudtrail_policy main() under moto: patch, create, no-op, check mode, diff, drift, refusals, grants."""

import json

import pytest
from change_module_helpers import (
    REGION,
    account,
    client,
    key_policy,
    make_key,
    root_statement,
    run,
    writes,
)

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _policy
from ansible_collections.trailguard.cloudtrail_cmk.plugins.modules.kms_cloudtrail_policy import main

OTHER_READER = "arn:aws:iam::222222222222:role/SecurityAudit"


@pytest.fixture
def estate(aws):
    acct = account()
    app = {
        "Sid": "AppUse",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{acct}:role/App"},
        "Action": ["kms:Encrypt", "kms:Decrypt"],
        "Resource": "*",
    }
    policy = {"Version": "2012-10-17", "Statement": [root_statement(acct), app]}
    key = make_key(policy)
    built = {
        "account": acct,
        "key": key,
        "trail": f"arn:aws:cloudtrail:{REGION}:{acct}:trail/main",
        "original": key_policy(key),
    }
    aws.clear()
    return built


def args(estate, **extra):
    base = {"key_id": estate["key"], "trail_arns": [estate["trail"]]}
    base.update(extra)
    return base


def allowed(policy, key, trail, name):
    return _policy.evaluate(policy, _policy.cloudtrail_key_requests(trail, key)[name]).allowed


def test_patch_existing_key(estate, aws):
    sha = _policy.policy_sha256(estate["original"])
    result, failed = run(main, args(estate, expected_policy_sha256=sha, readers=[OTHER_READER]))
    assert not failed, result
    assert result["changed"] is True and result["created"] is False and result["key_arn"] == estate["key"]
    live = key_policy(estate["key"])
    assert result["policy_after"] == live and result["policy_before"] == estate["original"]
    for statement in estate["original"]["Statement"]:
        assert statement in live["Statement"]
    assert allowed(live, estate["key"], estate["trail"], "encrypt")
    assert allowed(live, estate["key"], estate["trail"], "describe")
    assert result["readers_added"] == [OTHER_READER]
    (put,) = [p for s, op, p in writes(aws)]
    assert set(put) == {"KeyId", "PolicyName", "Policy"}  # no BypassPolicyLockoutSafetyCheck
    (entry,) = result["audit"]
    assert entry["status"] == "done" and entry["action"] == "put_key_policy" and entry["resource"] == estate["key"]
    assert entry["before"] == estate["original"] and entry["after"] == live
    assert entry["request_ids"] and entry["timestamps"]


def test_second_run_is_noop(estate, aws):
    run(main, args(estate))
    n = len(writes(aws))
    result, failed = run(main, args(estate))
    assert not failed and result["changed"] is False and result["audit"] == [] and result["planned_calls"] == []
    assert len(writes(aws)) == n


def test_check_mode_predicts_the_real_run(estate, aws):
    predicted, failed = run(main, args(estate), check_mode=True, diff=True)
    assert not failed and predicted["changed"] is True
    assert writes(aws) == [] and key_policy(estate["key"]) == estate["original"]
    assert predicted["audit"][0]["status"] == "planned"
    real, failed = run(main, args(estate), diff=True)
    assert not failed
    for key in ("changed", "key_arn", "created", "policy_before", "policy_after", "planned_calls", "diff", "grant_ids"):
        assert predicted[key] == real[key], key


def test_diff_content(estate):
    result, _failed = run(main, args(estate), check_mode=True, diff=True)
    diff = result["diff"]
    assert json.loads(diff["before"]) == estate["original"]
    assert "TrailGuardCloudTrailEncrypt" in diff["after"] and "TrailGuardCloudTrailEncrypt" not in diff["before"]
    assert diff["before_header"] == estate["key"]


def test_drift_detected(estate, aws):
    result, failed = run(main, args(estate, expected_policy_sha256="0" * 64))
    assert failed and result["findings"][0]["code"] == "DRIFT_DETECTED"
    assert writes(aws) == [] and key_policy(estate["key"]) == estate["original"]
    assert result["audit"][0]["status"] == "refused"


@pytest.mark.parametrize("state, code", [("disabled", "KEY_DISABLED"), ("pending", "KEY_PENDING_DELETION")])
def test_unusable_key_is_refused_and_left_alone(estate, aws, state, code):
    kms = client("kms")
    if state == "disabled":
        kms.disable_key(KeyId=estate["key"].split("/")[-1])
    else:
        kms.schedule_key_deletion(KeyId=estate["key"].split("/")[-1], PendingWindowInDays=7)
    aws.clear()
    result, failed = run(main, args(estate))
    assert failed and code in [f["code"] for f in result["findings"]]
    assert writes(aws) == []  # never EnableKey / CancelKeyDeletion
    assert kms.describe_key(KeyId=estate["key"])["KeyMetadata"]["KeyState"] != "Enabled"


def test_key_not_found(aws):
    trail = "arn:aws:cloudtrail:us-east-1:123456789012:trail/x"
    result, failed = run(main, {"key_id": "alias/nope", "trail_arns": [trail]})
    assert failed and result["findings"][0]["code"] == "KEY_NOT_FOUND"


def create_args(estate, **extra):
    base = {
        "mode": "create_key",
        "alias": "trailguard/main",
        "trail_arns": [estate["trail"]],
        "description": "CloudTrail main",
        "tags": {"owner": "security"},
        "rotation_period_days": 180,
    }
    base.update(extra)
    return base


def test_create_key_check_mode_then_real_then_noop(estate, aws):
    predicted, failed = run(main, create_args(estate), check_mode=True)
    assert not failed and predicted["changed"] is True and predicted["created"] is True
    assert predicted["key_arn"] is None and writes(aws) == []
    assert [c["operation"] for c in predicted["planned_calls"]] == ["CreateKey", "CreateAlias", "EnableKeyRotation"]

    real, failed = run(main, create_args(estate))
    assert not failed, real
    assert real["created"] is True and real["key_arn"].startswith(f"arn:aws:kms:{REGION}:")
    assert predicted["policy_after"] == real["policy_after"]
    assert predicted["planned_calls"] == real["planned_calls"]
    kms = client("kms")
    meta = kms.describe_key(KeyId="alias/trailguard/main")["KeyMetadata"]
    assert meta["Arn"] == real["key_arn"] and meta["KeyState"] == "Enabled"
    assert meta["KeySpec"] == "SYMMETRIC_DEFAULT"
    assert kms.get_key_rotation_status(KeyId=meta["Arn"])["KeyRotationEnabled"] is True
    tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=meta["Arn"])["Tags"]}
    assert tags["owner"] == "security" and tags["trailguard:created-by"] == "trailguard.cloudtrail_cmk"
    assert key_policy(meta["Arn"]) == real["policy_after"]
    create = next(p for s, op, p in writes(aws) if op == "CreateKey")
    assert "BypassPolicyLockoutSafetyCheck" not in create

    n = len(writes(aws))
    again, failed = run(main, create_args(estate))
    assert not failed and again["changed"] is False and again["created"] is False
    assert again["key_arn"] == real["key_arn"] and len(writes(aws)) == n


def test_create_refuses_alias_of_a_foreign_key(estate, aws):
    client("kms").create_alias(AliasName="alias/trailguard/main", TargetKeyId=estate["key"])
    aws.clear()
    result, failed = run(main, create_args(estate))
    assert failed and result["findings"][0]["code"] == "ALIAS_IN_USE"
    assert writes(aws) == []


def test_grants_for_readers(estate, aws):
    run(main, args(estate))  # CloudTrail statements first
    before = key_policy(estate["key"])
    aws.clear()
    result, failed = run(main, args(estate, use_grant=True, readers=[OTHER_READER]))
    assert not failed, result
    assert result["changed"] is True and len(result["grant_ids"]) == 1
    assert [op for s, op, p in writes(aws)] == ["CreateGrant"]
    assert key_policy(estate["key"]) == before
    grants = client("kms").list_grants(KeyId=estate["key"])["Grants"]
    assert grants[0]["GranteePrincipal"] == OTHER_READER
    again, failed = run(main, args(estate, use_grant=True, readers=[OTHER_READER]))
    assert not failed and again["changed"] is False and again["grant_ids"] == result["grant_ids"]


def test_grant_cannot_serve_cloudtrail(estate, aws):
    result, failed = run(main, args(estate, use_grant=True, readers=[OTHER_READER]))
    assert failed and result["findings"][0]["code"] == "GRANT_CANNOT_SERVE_CLOUDTRAIL"
    assert "GranteePrincipal" in result["msg"]
    assert writes(aws) == []
