"""trail_kms_attach main() under moto: attach, no-op, check mode, diff, drift, exact UpdateTrail params."""

import pytest
from change_module_helpers import make_key, make_trail, run, trail_config, writes

from ansible_collections.trailguard.cloudtrail_cmk.plugins.modules.trail_kms_attach import main


@pytest.fixture
def estate(aws):
    built = {"trail": make_trail(multi_region=True), "key": make_key(), "other_key": make_key()}
    aws.clear()  # count only the module's calls
    return built


def args(estate, **extra):
    base = {"trail_arn": estate["trail"], "kms_key_arn": estate["key"]}
    base.update(extra)
    return base


def test_attach_sends_only_name_and_key_and_keeps_multi_region(estate, aws):
    before, logging_before = trail_config(estate["trail"])
    result, failed = run(main, args(estate, expected_kms_key_id=""))
    assert not failed, result
    assert result["changed"] is True
    assert result["previous_kms_key_id"] is None
    assert result["kms_key_id"] == estate["key"]
    assert result["is_logging"] is True
    updates = [(s, op, p) for s, op, p in writes(aws) if op == "UpdateTrail"]
    assert updates == [("cloudtrail", "UpdateTrail", {"Name": estate["trail"], "KmsKeyId": estate["key"]})]
    after, logging_after = trail_config(estate["trail"])
    assert after["IsMultiRegionTrail"] is True and after["IncludeGlobalServiceEvents"] is True
    assert logging_after == logging_before
    # everything but the key is unchanged
    assert {k: v for k, v in after.items() if k != "KmsKeyId"} == before
    assert result["audit"][0]["status"] == "done" and result["audit"][0]["action"] == "update_trail"
    assert result["audit"][0]["before"] == {"KmsKeyId": ""}
    assert result["audit"][0]["after"] == {"KmsKeyId": estate["key"]}
    assert result["audit"][0]["timestamps"]


def test_second_run_is_noop(estate, aws):
    run(main, args(estate))
    n = len(writes(aws))
    result, failed = run(main, args(estate, expected_kms_key_id=""))
    assert not failed and result["changed"] is False and result["audit"] == []
    assert len(writes(aws)) == n


def test_check_mode_predicts_real_run_and_writes_nothing(estate, aws):
    before = trail_config(estate["trail"])
    predicted, failed = run(main, args(estate), check_mode=True, diff=True)
    assert not failed
    assert writes(aws) == []
    assert trail_config(estate["trail"]) == before
    assert predicted["audit"][0]["status"] == "planned"
    real, failed = run(main, args(estate), diff=True)
    assert not failed
    for key in ("changed", "previous_kms_key_id", "kms_key_id", "is_logging", "planned_calls", "diff"):
        assert predicted[key] == real[key], key
    assert predicted["diff"] == {
        "before_header": estate["trail"],
        "after_header": estate["trail"],
        "before": "KmsKeyId: \n",
        "after": f"KmsKeyId: {estate['key']}\n",
    }


def test_drift_detected_writes_nothing(estate, aws):
    run(main, args(estate, kms_key_arn=estate["other_key"]))
    n = len(writes(aws))
    result, failed = run(main, args(estate, expected_kms_key_id=""))
    assert failed
    assert result["findings"][0]["code"] == "DRIFT_DETECTED"
    assert "DRIFT_DETECTED" in result["msg"]
    assert len(writes(aws)) == n
    assert trail_config(estate["trail"])[0]["KmsKeyId"] == estate["other_key"]
    assert result["audit"][0]["status"] == "refused"


def test_trail_not_found(aws):
    key = make_key()
    result, failed = run(
        main, {"trail_arn": "arn:aws:cloudtrail:us-east-1:123456789012:trail/nope", "kms_key_arn": key}
    )
    assert failed and result["findings"][0]["code"] == "TRAIL_NOT_FOUND"


def test_alias_is_resolved_to_the_key_arn(estate, aws):
    from change_module_helpers import client

    client("kms").create_alias(AliasName="alias/ct", TargetKeyId=estate["key"])
    result, failed = run(main, args(estate, kms_key_arn="alias/ct"))
    assert not failed and result["kms_key_id"] == estate["key"]


def test_update_trail_error_is_mapped(estate, aws, monkeypatch):
    import botocore.client
    from botocore.exceptions import ClientError

    original = botocore.client.BaseClient._make_api_call

    def failing(self, name, params):
        if name == "UpdateTrail":
            raise ClientError(
                {
                    "Error": {"Code": "KmsException", "Message": "key disabled"},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                name,
            )
        return original(self, name, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", failing)
    result, failed = run(main, args(estate))
    assert failed
    assert result["findings"][0]["code"] == "KMS_EXCEPTION"
    assert result["changed"] is False
    assert result["audit"][0]["status"] == "failed"
    assert result["audit"][0]["calls_done"] == [] and result["audit"][0]["calls_not_done"] == ["UpdateTrail"]


def test_insufficient_policy_names_the_key(estate, aws, monkeypatch):
    import botocore.client
    from botocore.exceptions import ClientError

    original = botocore.client.BaseClient._make_api_call

    def failing(self, name, params):
        if name == "UpdateTrail":
            raise ClientError(
                {
                    "Error": {
                        "Code": "InsufficientEncryptionPolicyException",
                        "Message": "Insufficient permissions to access S3 bucket trail-logs or KMS key",
                    },
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                name,
            )
        return original(self, name, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", failing)
    result, failed = run(main, args(estate))
    assert failed
    finding = result["findings"][0]
    assert finding["code"] == "INSUFFICIENT_ENCRYPTION_POLICY"
    # the key has only the root statement and the bucket has no policy: both are at fault
    assert finding["culprit"] == "both"
    assert {m["sid"] for m in finding["missing"]} >= {"TrailGuardCloudTrailEncrypt", "TrailGuardCloudTrailWrite"}
