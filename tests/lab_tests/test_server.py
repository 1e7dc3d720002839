"""LabServer, the CLI, accounts and the control API basics."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError

import lab as lab_pkg

from .conftest import ACCOUNT, NO_RETRY, OTHER_ACCOUNT, make_bucket, make_key

TESTS_DIR = Path(__file__).resolve().parents[1]


def test_health_reports_default_account_and_regions(lab):
    health = lab.control.health()
    assert health["status"] == "ok"
    assert health["default_account"] == ACCOUNT == "111111111111"
    assert health["endpoint_url"] == lab.endpoint_url
    assert {"us-east-1", "us-west-2"} <= set(health["regions"])


def test_default_credentials_map_to_main_account(aws):
    assert aws("sts").get_caller_identity()["Account"] == ACCOUNT


def test_assume_role_reaches_second_account(aws, other_account_creds):
    identity = aws("sts", creds=other_account_creds).get_caller_identity()
    assert identity["Account"] == OTHER_ACCOUNT
    assert identity["Arn"] == f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/TrailGuardAudit/lab-tests"


def test_resources_live_in_the_callers_account(aws, other_account_creds):
    mine = make_key(aws)
    theirs = make_key(aws, creds=other_account_creds, account=OTHER_ACCOUNT)
    assert mine["Arn"].split(":")[4] == ACCOUNT
    assert theirs["Arn"].split(":")[4] == OTHER_ACCOUNT
    own_ids = {k["KeyId"] for k in aws("kms").list_keys()["Keys"]}
    other_ids = {k["KeyId"] for k in aws("kms", creds=other_account_creds).list_keys()["Keys"]}
    assert mine["KeyId"] in own_ids and mine["KeyId"] not in other_ids
    assert theirs["KeyId"] in other_ids and theirs["KeyId"] not in own_ids


def test_trail_checks_use_the_callers_account(aws, other_account_creds):
    from .conftest import key_policy

    make_bucket(aws, "other-acct-trail-bucket", creds=other_account_creds, account=OTHER_ACCOUNT)
    key = make_key(aws, creds=other_account_creds, account=OTHER_ACCOUNT, policy=key_policy(OTHER_ACCOUNT))
    ct = aws("cloudtrail", creds=other_account_creds)
    trail = ct.create_trail(Name="other-acct-trail", S3BucketName="other-acct-trail-bucket", KmsKeyId=key["KeyId"])
    assert trail["TrailARN"] == f"arn:aws:cloudtrail:us-east-1:{OTHER_ACCOUNT}:trail/other-acct-trail"
    assert trail["KmsKeyId"] == key["Arn"]
    assert aws("cloudtrail").describe_trails()["trailList"] == []


def test_reset_clears_moto_and_lab_state(lab, aws):
    make_bucket(aws, "reset-me-bucket", policy=None)
    lab.control.inject("s3", "ListBuckets", "InternalError", 500, count=5)
    lab.control.reset()
    assert aws("s3").list_buckets()["Buckets"] == []
    assert lab.control.faults() == []
    assert lab.control.calls() == {"s3:ListBuckets": 1}


def test_unknown_control_route_is_404(lab):
    with pytest.raises(lab_pkg.LabControlError, match="404"):
        lab.control._call("GET", "nope")


def test_second_server_in_process_and_clean_stop():
    with lab_pkg.LabServer(delivery_interval=30) as server:
        url = server.endpoint_url
        assert server.control.health()["status"] == "ok"
    assert server._server is None and server._loop is None
    with pytest.raises(EndpointConnectionError):
        boto3.client("sts", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                     aws_secret_access_key="testing", config=NO_RETRY).get_caller_identity()


def test_cli_serve_prints_environment_and_stops_on_sigterm(tmp_path):
    ready = tmp_path / "ready"
    env = {**os.environ, "PYTHONPATH": str(TESTS_DIR)}
    proc = subprocess.Popen([sys.executable, "-m", "lab", "serve", "--ready-file", str(ready)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.time() + 30
        while not ready.exists() and time.time() < deadline:
            time.sleep(0.1)
        url = ready.read_text().strip()
        assert url.startswith("http://127.0.0.1:")
        sts = boto3.client("sts", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                           aws_secret_access_key="testing")
        assert sts.get_caller_identity()["Account"] == ACCOUNT
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert f"export AWS_ENDPOINT_URL={url}" in lines
    for expected in ("export AWS_ACCESS_KEY_ID=testing", "export AWS_SECRET_ACCESS_KEY=testing",
                     "export AWS_REGION=us-east-1", "export AWS_DEFAULT_REGION=us-east-1"):
        assert expected in lines
