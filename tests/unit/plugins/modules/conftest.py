"""Fixtures for the module unit tests. ``aws`` lives here (not in change_module_helpers) so test files
take it as a fixture argument without importing it. test_cloudtrail_cmk_facts.py defines its own."""

import botocore.client
import pytest
from change_module_helpers import REGION
from moto import mock_aws

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _common


@pytest.fixture
def aws(monkeypatch):
    """moto in-process, dummy credentials, fast retries, and a spy of every API call (name, params)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setitem(_common.RETRY_SETTINGS, "delay", 0.01)
    monkeypatch.setitem(_common.RETRY_SETTINGS, "retries", 2)
    calls = []
    original = botocore.client.BaseClient._make_api_call

    def spy(self, operation_name, api_params):
        calls.append((self.meta.service_model.service_name, operation_name, dict(api_params)))
        return original(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", spy)
    with mock_aws():
        yield calls
