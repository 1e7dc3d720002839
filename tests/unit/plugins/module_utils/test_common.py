"""Unit tests for _common: the retried call helper, typed errors and the ApiCallRecorder."""

import threading

import boto3
import pytest
from moto import mock_aws

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _common
from cmk_facts_helpers import Faults, fast_retries, faults_on_every_client, make_factory


@pytest.fixture(autouse=True)
def _fast(monkeypatch):
    fast_retries(monkeypatch)


@pytest.fixture
def aws():
    with mock_aws():
        yield


def test_recorder_records_every_call_with_fields(aws):
    factory = make_factory()
    kms = factory.client("kms", "eu-west-1")
    _common.call(kms, "list_keys")
    [entry] = factory.recorder.calls
    assert entry["service"] == "kms"
    assert entry["operation"] == "ListKeys"
    assert entry["region"] == "eu-west-1"
    assert entry["http_status"] == 200
    assert entry["error_code"] is None
    assert entry["request_id"]
    assert entry["timestamp"].endswith("Z")
    assert entry["attempt"] == 1
    factory.recorder.fill_account("123456789012")
    assert factory.recorder.calls[0]["account"] == "123456789012"


def test_clients_are_created_once_per_service_and_region(aws):
    factory = make_factory()
    assert factory.client("kms", "us-east-1") is factory.client("kms", "us-east-1")
    assert factory.client("kms", "us-east-1") is not factory.client("kms", "eu-west-1")
    assert factory.client("s3") is factory.client("s3", "us-east-1")


def test_throttling_is_retried_and_every_attempt_recorded(aws):
    faults = Faults()
    # botocore (max_attempts=2) retries once, then AWSRetry retries the call again.
    faults.add("kms", "ListKeys", 400, "ThrottlingException", times=3)
    factory = make_factory(faults)
    result = _common.paginate(factory.client("kms"), "list_keys")
    assert result["Keys"] == []
    codes = [c["error_code"] for c in factory.recorder.calls]
    assert codes == ["ThrottlingException"] * 3 + [None]
    assert factory.recorder.summary()["retried"] >= 1
    assert factory.recorder.summary()["errors"] == 3


def test_5xx_is_retried(aws):
    faults = Faults()
    faults.add("kms", "ListAliases", 500, "SomethingOdd", times=2)
    factory = make_factory(faults)
    assert "Aliases" in _common.paginate(factory.client("kms"), "list_aliases")
    assert factory.recorder.count(operation="ListAliases") == 3


def test_access_denied_is_typed_and_not_retried(aws):
    faults = Faults()
    faults.add("kms", "DescribeKey", 400, "AccessDeniedException")
    factory = make_factory(faults)
    with pytest.raises(_common.AccessDeniedError) as info:
        _common.call(factory.client("kms"), "describe_key", resource="k1", KeyId="k1")
    assert info.value.code == "AccessDeniedException"
    assert info.value.as_dict()["operation"] == "describe_key"
    assert factory.recorder.count(operation="DescribeKey") == 1


def test_not_found_maps_to_none_only_when_asked(aws):
    factory = make_factory()
    kms = factory.client("kms")
    assert _common.call(kms, "describe_key", not_found=("NotFoundException",), KeyId="nope") is None
    with pytest.raises(_common.AwsApiError) as info:
        _common.call(kms, "describe_key", KeyId="nope")
    assert not isinstance(info.value, _common.AccessDeniedError)
    assert info.value.code == "NotFoundException"


def test_paginate_follows_every_page(aws):
    kms = boto3.client("kms", region_name="us-east-1")
    for _attempt in range(5):
        kms.create_key()
    factory = make_factory()
    result = _common.paginate(factory.client("kms"), "list_keys", PaginationConfig={"PageSize": 2})
    assert len(result["Keys"]) == 5
    assert "NextMarker" not in result


def test_recorder_is_thread_safe(aws):
    factory = make_factory()
    kms = factory.client("kms")

    def work():
        for _call in range(10):
            _common.call(kms, "list_aliases")

    threads = [threading.Thread(target=work) for _worker in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert factory.recorder.count(operation="ListAliases") == 80
    assert factory.recorder.summary()["by_operation"] == {"kms:ListAliases": 80}


def test_stubbed_calls_are_recorded_via_after_call():
    from botocore.stub import Stubber

    recorder = _common.ApiCallRecorder()
    client = boto3.client("kms", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    recorder.attach(client, account="111111111111")
    with Stubber(client) as stub:
        stub.add_response("list_keys", {"Keys": [], "Truncated": False})
        client.list_keys()
    [entry] = recorder.calls
    assert (entry["operation"], entry["account"], entry["error_code"]) == ("ListKeys", "111111111111", None)


class _ModuleStub:
    """The part of AnsibleAWSModule that module_connect reads: params, and the failure calls."""

    def __init__(self, **params):
        self.params = {
            "access_key": "AKIDTRAILGUARD", "secret_key": "s3cr3t", "session_token": "tok", "profile": None,
            "endpoint_url": "http://127.0.0.1:1", "region": "eu-west-1", "validate_certs": True,
            "aws_ca_bundle": None, "aws_config": {"connect_timeout": 7}, "debug_botocore_endpoint_logs": False,
            **params,
        }  # fmt: skip

    def fail_json(self, **kwargs):
        raise AssertionError(kwargs)

    fail_json_aws = fail_json


def test_module_connect_shares_one_session_and_keeps_every_connection_option():
    connect = _common.module_connect(_ModuleStub())
    factory = _common.ClientFactory(connect)
    kms = factory.client("kms", "us-east-1")
    trail = factory.client("cloudtrail", None)  # no region: the module's region
    assert kms.meta.region_name == "us-east-1" and trail.meta.region_name == "eu-west-1"
    assert kms.meta.endpoint_url == "http://127.0.0.1:1"
    creds = kms._request_signer._credentials
    assert (creds.access_key, creds.secret_key, creds.token) == ("AKIDTRAILGUARD", "s3cr3t", "tok")
    assert kms.meta.config.connect_timeout == 7  # aws_config
    assert kms.meta.config.retries["mode"] == "adaptive"  # our retry configuration
    assert kms.meta.config.user_agent.startswith("APN/1.0 Ansible/")
    # one botocore session (parsed models shared), not one per client as module.client() does
    assert kms._loader is trail._loader


@mock_aws
def test_module_connect_assumes_the_role_once_and_records_it():
    recorder = _common.ApiCallRecorder()
    role = "arn:aws:iam::222222222222:role/TrailGuardAudit"
    assume = {"role_arn": role, "external_id": "x-1", "session_name": "audit"}
    connect = _common.module_connect(_ModuleStub(endpoint_url=None), assume_role=assume, recorder=recorder)
    factory = _common.ClientFactory(connect, recorder=recorder)
    ident = _common.call(factory.client("sts", "us-east-1"), "get_caller_identity")
    assert ident["Account"] == "222222222222"
    assert ident["Arn"].endswith(":assumed-role/TrailGuardAudit/audit")
    factory.client("kms", "eu-west-1")
    assert recorder.count("sts", "AssumeRole") == 1  # once per run, not per client
    creds = factory.client("kms", "eu-west-1")._request_signer._credentials
    assert creds.access_key != "AKIDTRAILGUARD"  # the temporary credentials, not the module's


@mock_aws
def test_module_connect_names_the_role_it_could_not_assume(monkeypatch):
    fast_retries(monkeypatch)
    faults = Faults()
    faults.add("sts", "AssumeRole", 403, "AccessDenied")
    faults_on_every_client(monkeypatch, faults)
    assume = {"role_arn": "arn:aws:iam::222222222222:role/Nope"}
    factory = _common.ClientFactory(_common.module_connect(_ModuleStub(endpoint_url=None), assume_role=assume))
    with pytest.raises(_common.AccessDeniedError, match="could not assume arn:aws:iam::222222222222:role/Nope"):
        factory.client("kms", "us-east-1")
