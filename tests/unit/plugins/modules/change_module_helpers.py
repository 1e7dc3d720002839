"""Helpers for the change-module unit tests: run a module's main() in-process under moto.

Imported by test_kms_cloudtrail_policy.py, test_s3_cloudtrail_policy.py and test_trail_kms_attach.py
(pytest puts this directory on sys.path).
"""

import json

import boto3
import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


REGION = "us-east-1"
WRITE_OPERATIONS = {
    "PutKeyPolicy",
    "CreateGrant",
    "CreateKey",
    "CreateAlias",
    "EnableKeyRotation",
    "PutBucketPolicy",
    "PutBucketEncryption",
    "UpdateTrail",
    "EnableKey",
    "CancelKeyDeletion",
    "DisableKeyRotation",
    "DeleteBucketPolicy",
    "CreateTrail",
    "StartLogging",
    "StopLogging",
    "DeleteTrail",
}


class ModuleExit(Exception):
    def __init__(self, result, failed):
        super().__init__(result.get("msg", ""))
        self.result = result
        self.failed = failed


def writes(calls):
    return [(s, op, p) for s, op, p in calls if op in WRITE_OPERATIONS]


def run(main, args, check_mode=False, diff=False, monkeypatch=None):
    """Run ``main()`` with ``args``; returns (result, failed)."""
    args = dict(args)
    args.setdefault("region", REGION)
    args["_ansible_check_mode"] = check_mode
    args["_ansible_diff"] = diff

    def exit_json(self, **kwargs):
        raise ModuleExit(kwargs, False)

    def fail_json(self, msg=None, **kwargs):
        kwargs["msg"] = msg
        raise ModuleExit(kwargs, True)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(basic.AnsibleModule, "exit_json", exit_json)
        mp.setattr(basic.AnsibleModule, "fail_json", fail_json)
        with patch_module_args(args):
            try:
                main()
            except ModuleExit as exc:
                return json.loads(json.dumps(exc.result, default=str)), exc.failed
    raise AssertionError("module did not exit")


def client(service, region=REGION):
    return boto3.client(service, region_name=region)


def account():
    return client("sts").get_caller_identity()["Account"]


def make_trail(name="main", bucket="trail-logs", region=REGION, multi_region=True, bucket_policy=None, **extra):
    s3 = client("s3", region)
    kwargs = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket, **kwargs)
    if bucket_policy is not None:
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(bucket_policy))
    ct = client("cloudtrail", region)
    trail = ct.create_trail(Name=name, S3BucketName=bucket, IsMultiRegionTrail=multi_region, **extra)
    ct.start_logging(Name=trail["TrailARN"])
    return trail["TrailARN"]


def root_statement(acct):
    return {
        "Sid": "Enable IAM User Permissions",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{acct}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }


def make_key(policy=None, region=REGION, **kwargs):
    kms = client("kms", region)
    acct = account()
    policy = policy or {"Version": "2012-10-17", "Statement": [root_statement(acct)]}
    return kms.create_key(Policy=json.dumps(policy), **kwargs)["KeyMetadata"]["Arn"]


def key_policy(key_arn, region=REGION):
    return json.loads(client("kms", region).get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])


def trail_config(trail_arn, region=REGION):
    ct = client("cloudtrail", region)
    trail = ct.get_trail(Name=trail_arn)["Trail"]
    status = ct.get_trail_status(Name=trail_arn)
    return trail, bool(status.get("IsLogging"))
