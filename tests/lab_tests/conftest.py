"""A lab per pytest worker (session scope), reset before every test."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config

import lab as labpkg

ACCOUNT = labpkg.DEFAULT_ACCOUNT_ID
OTHER_ACCOUNT = labpkg.SECOND_ACCOUNT_ID
NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})

pytestmark = pytest.mark.lab


@pytest.fixture(scope="session")
def lab_server():
    with labpkg.LabServer() as server:
        yield server


@pytest.fixture
def lab(lab_server):
    lab_server.control.reset()
    return lab_server


@pytest.fixture
def aws(lab):
    """``aws("kms", region="us-west-2", creds=None)`` -> a boto3 client against the lab (no retries)."""

    def make(service: str, region: str = "us-east-1", creds: dict | None = None, config: Config = NO_RETRY):
        kwargs = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        if creds:
            kwargs = {"aws_access_key_id": creds["AccessKeyId"], "aws_secret_access_key": creds["SecretAccessKey"],
                      "aws_session_token": creds["SessionToken"]}
        return boto3.client(service, endpoint_url=lab.endpoint_url, region_name=region, config=config, **kwargs)

    return make


@pytest.fixture
def other_account_creds(aws):
    return aws("sts").assume_role(RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/TrailGuardAudit",
                                  RoleSessionName="lab-tests")["Credentials"]


# -- policies written out by hand (the lab's checks are tested on their own cases) -----------------
def key_policy(account: str = ACCOUNT, cloudtrail: bool = True, describe: bool = True, decrypt: bool = False,
               trail_pattern: str | None = None) -> str:
    statements = [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                   "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "kms:*", "Resource": "*"}]
    pattern = trail_pattern or f"arn:aws:cloudtrail:*:{account}:trail/*"
    if cloudtrail:
        statements.append({"Sid": "AllowCloudTrailEncrypt", "Effect": "Allow",
                           "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "kms:GenerateDataKey*",
                           "Resource": "*",
                           "Condition": {"StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": pattern}}})
    if describe:
        statements.append({"Sid": "AllowCloudTrailDescribe", "Effect": "Allow",
                           "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "kms:DescribeKey",
                           "Resource": "*"})
    if decrypt:
        statements.append({"Sid": "AllowCloudTrailDecrypt", "Effect": "Allow",
                           "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "kms:Decrypt",
                           "Resource": "*"})
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def bucket_policy(bucket: str, account: str = ACCOUNT, prefix: str = "", extra: list | None = None,
                  write: bool = True) -> str:
    p = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    statements = [{"Sid": "AWSCloudTrailAclCheck", "Effect": "Allow",
                   "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:GetBucketAcl",
                   "Resource": f"arn:aws:s3:::{bucket}"}]
    if write:
        statements.append({"Sid": "AWSCloudTrailWrite", "Effect": "Allow",
                           "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:PutObject",
                           "Resource": f"arn:aws:s3:::{bucket}/{p}AWSLogs/*",
                           "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}})
    statements += extra or []
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


DENY_UNENCRYPTED = {
    "Sid": "DenyUnencryptedUploads", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
    "Resource": "arn:aws:s3:::{bucket}/*",
    "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}},
}


def deny_unencrypted(bucket: str) -> dict:
    return json.loads(json.dumps(DENY_UNENCRYPTED).replace("{bucket}", bucket))


def make_bucket(aws, name: str, region: str = "us-east-1", policy: str | None = "cloudtrail", prefix: str = "",
                creds: dict | None = None, account: str = ACCOUNT) -> str:
    s3 = aws("s3", region, creds)
    if region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    if policy == "cloudtrail":
        policy = bucket_policy(name, account, prefix)
    if policy:
        s3.put_bucket_policy(Bucket=name, Policy=policy)
    return name


def make_key(aws, region: str = "us-east-1", policy: str | None = None, alias: str | None = None,
             creds: dict | None = None, account: str = ACCOUNT) -> dict:
    kms = aws("kms", region, creds)
    meta = kms.create_key(Policy=policy or key_policy(account))["KeyMetadata"]
    if alias:
        kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
    return meta


def client_error(excinfo) -> tuple[str, str, int]:
    err = excinfo.value.response
    return err["Error"]["Code"], err["Error"].get("Message", ""), err["ResponseMetadata"]["HTTPStatusCode"]
