"""Estates: reproducible sample AWS estates for the lab.

``build(name, endpoint_url, **params) -> manifest`` runs inside the lab server process. Everything is
built through boto3 against ``endpoint_url`` in an order AWS itself would accept (good bucket policy
and key policy first, attach, then decay: DisableKey, ScheduleKeyDeletion, PutKeyPolicy, ...). Only
states that no legal API order can produce go through the BACKDOORS section below, which writes
moto's in-process models directly; every backdoor is recorded in ``manifest["backdoors"]``.

Estates: ``none`` (empty), ``demo`` (one trail per finding code, two accounts, two regions) and
``bench`` (parameterised, deterministic, shared buckets and keys). See docs/estates.md.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from botocore.config import Config

MAIN_ACCOUNT = "111111111111"
SECOND_ACCOUNT = "222222222222"
AUDIT_ROLE_NAME = "TrailGuardAudit"
ORGANIZATION_ID = "o-trailguard1"  # docs/dev/CONTRACTS.md; moto's random id is renamed (backdoor)
CLOUDTRAIL = "cloudtrail.amazonaws.com"

# Every finding code of issue 3 section 2.
FINDING_CODES = (
    "TRAIL_NO_KMS_KEY", "KEY_NOT_FOUND", "KEY_DISABLED", "KEY_PENDING_DELETION", "KEY_AWS_MANAGED",
    "KEY_NOT_SYMMETRIC", "KEY_REGION_MISMATCH", "KEY_POLICY_DENIES_CLOUDTRAIL", "KEY_POLICY_NO_DESCRIBE",
    "KEY_ROTATION_DISABLED", "KEY_UNREADABLE", "BUCKET_NOT_FOUND", "BUCKET_POLICY_DENIES_CLOUDTRAIL",
    "BUCKET_POLICY_BLOCKS_KMS", "BUCKET_DEFAULT_ENCRYPTION_OTHER_KEY", "BUCKET_UNREADABLE",
    "BUCKET_CROSS_ACCOUNT", "TRAIL_NOT_LOGGING", "TRAIL_DELIVERY_ERROR", "TRAIL_LOG_VALIDATION_DISABLED",
    "ORG_TRAIL_NOT_MANAGEABLE_HERE", "KEY_POLICY_NO_DECRYPT_FOR_BUCKET_KEY", "BUCKET_REQUESTER_PAYS",
    "READERS_NEED_DECRYPT",
)
# Issue 3 section 2: "A trail is compliant only when it has a KMS key that exists, is Enabled, is
# customer-managed, is a symmetric encryption key, is in the bucket's region, and whose policy lets
# CloudTrail encrypt for this trail." These codes break that sentence; every other code is a finding on
# a trail that is still compliant. KEY_UNREADABLE: the key cannot be shown to satisfy it.
# KEY_POLICY_NO_DESCRIBE and KEY_POLICY_NO_DECRYPT_FOR_BUCKET_KEY count too: CloudTrail needs DescribeKey
# (and Decrypt when the bucket uses an S3 Bucket Key) to use the key at all; AWS (and the lab) refuse
# CreateTrail/UpdateTrail without them and log delivery fails.
NON_COMPLIANT_CODES = frozenset({
    "TRAIL_NO_KMS_KEY", "KEY_NOT_FOUND", "KEY_DISABLED", "KEY_PENDING_DELETION", "KEY_AWS_MANAGED",
    "KEY_NOT_SYMMETRIC", "KEY_REGION_MISMATCH", "KEY_POLICY_DENIES_CLOUDTRAIL", "KEY_POLICY_NO_DESCRIBE",
    "KEY_POLICY_NO_DECRYPT_FOR_BUCKET_KEY", "KEY_UNREADABLE",
    # delivery-blocking: see DELIVERY_BLOCKING_CODES in plugins/module_utils/_findings.py
    "BUCKET_NOT_FOUND", "BUCKET_POLICY_DENIES_CLOUDTRAIL", "BUCKET_POLICY_BLOCKS_KMS", "BUCKET_REQUESTER_PAYS",
})
# Codes no estate builds statically: they come from lab behaviour or fault injection (docs/estates.md).
DYNAMIC_CODES = frozenset({"KEY_UNREADABLE", "BUCKET_UNREADABLE", "TRAIL_DELIVERY_ERROR"})

DEMO_REGIONS = ("us-east-1", "eu-west-1")
BENCH_REGIONS = ("us-east-1", "eu-west-1", "us-west-2", "ap-southeast-2", "eu-central-1", "ap-northeast-1",
                 "us-east-2", "eu-north-1", "ca-central-1", "sa-east-1")

_BOTO_CONFIG = Config(retries={"max_attempts": 8, "mode": "standard"}, max_pool_connections=32)


def build(name: str, endpoint_url: str, **params: Any) -> dict:
    """Build estate ``name`` against ``endpoint_url`` and return its manifest."""
    try:
        builder = BUILDERS[name]
    except KeyError:
        raise ValueError(f"unknown estate {name!r}; known: {', '.join(sorted(BUILDERS))}") from None
    return builder(endpoint_url, **params)


# --------------------------------------------------------------------------------------------------
# AWS access: one boto3 session per (thread, account); other accounts through AssumeRole.
# --------------------------------------------------------------------------------------------------
class Aws:
    """boto3 clients (thread-safe, shared by every worker thread; created once per account, service and
    region under a lock, since boto3 sessions are not thread-safe and client creation is slow)."""

    def __init__(self, endpoint_url: str, main_account: str = MAIN_ACCOUNT):
        self.endpoint_url = endpoint_url
        self.main_account = main_account
        self._sessions: dict[str, boto3.Session] = {}
        self._clients: dict[tuple, Any] = {}
        self._lock = threading.RLock()

    @staticmethod
    def role_arn(account: str) -> str:
        return f"arn:aws:iam::{account}:role/{AUDIT_ROLE_NAME}"

    def _session(self, account: str) -> boto3.Session:
        with self._lock:
            if account not in self._sessions:
                if account == self.main_account:
                    self._sessions[account] = boto3.Session(aws_access_key_id="testing",
                                                            aws_secret_access_key="testing")
                else:
                    creds = self.client(self.main_account, "sts").assume_role(
                        RoleArn=self.role_arn(account), RoleSessionName="trailguard-estate")["Credentials"]
                    self._sessions[account] = boto3.Session(aws_access_key_id=creds["AccessKeyId"],
                                                            aws_secret_access_key=creds["SecretAccessKey"],
                                                            aws_session_token=creds["SessionToken"])
            return self._sessions[account]

    def client(self, account: str, service: str, region: str = "us-east-1"):
        key = (account, service, region)
        client = self._clients.get(key)
        if client is None:
            with self._lock:
                client = self._clients.get(key)
                if client is None:
                    client = self._session(account).client(service, region_name=region,
                                                           endpoint_url=self.endpoint_url, config=_BOTO_CONFIG)
                    self._clients[key] = client
        return client

    def check_account(self, account: str) -> None:
        got = self.client(account, "sts").get_caller_identity()["Account"]
        if got != account:
            raise RuntimeError(f"estate: credentials for {account} act as {got}: the server maps every request "
                               "to one account (MOTO_ACCOUNT_ID set in the server process?); AssumeRole is broken")

    def ensure_account(self, account: str) -> None:
        """Create the TrailGuardAudit role in ``account`` (moto lets AssumeRole into a role that does not
        exist yet, so we assume it, then create it from inside the account as its admin would)."""
        self.check_account(self.main_account)
        if account == self.main_account:
            return
        self.check_account(account)
        iam = self.client(account, "iam")
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{self.main_account}:root"},
            "Action": "sts:AssumeRole"}]}
        with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
            iam.create_role(RoleName=AUDIT_ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust),
                            Description="TrailGuard assessment and remediation role")


# --------------------------------------------------------------------------------------------------
# Policies, as AWS documents them ("Configure AWS KMS key policies for CloudTrail", "Amazon S3 bucket
# policy for CloudTrail"). These are the customer's own statements: none has a TrailGuard Sid.
# --------------------------------------------------------------------------------------------------
def trail_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:cloudtrail:{region}:{account}:trail/{name}"


def _one_or_list(values):
    values = sorted(set(values))
    return values[0] if len(values) == 1 else values


def key_policy(account: str, trail_arns=(), *, encrypt: bool = True, describe: bool = True,
               cloudtrail_decrypt: bool = False, account_decrypt: bool = True, source_arn: bool = True,
               policy_id: str = "key-policy-cloudtrail") -> dict:
    """A CloudTrail key policy. ``trail_arns`` go into ``aws:SourceArn`` (AWS's recommendation);
    ``source_arn=False`` gives the older account-wide form (any trail of ``account``)."""
    ct_context = {"kms:EncryptionContext:aws:cloudtrail:arn": f"arn:aws:cloudtrail:*:{account}:trail/*"}
    src = {"aws:SourceArn": _one_or_list(trail_arns)} if (source_arn and trail_arns) else {}
    statements: list[dict] = [{
        "Sid": "Enable IAM User Permissions", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "kms:*", "Resource": "*"}]
    if encrypt:
        cond: dict = {"StringLike": dict(ct_context)}
        if src:
            cond["StringEquals"] = dict(src)
        statements.append({"Sid": "Allow CloudTrail to encrypt logs", "Effect": "Allow",
                           "Principal": {"Service": CLOUDTRAIL}, "Action": "kms:GenerateDataKey*",
                           "Resource": "*", "Condition": cond})
    if describe:
        st = {"Sid": "Allow CloudTrail to describe key", "Effect": "Allow", "Principal": {"Service": CLOUDTRAIL},
              "Action": "kms:DescribeKey", "Resource": "*"}
        if src:
            st["Condition"] = {"StringEquals": dict(src)}
        statements.append(st)
    if cloudtrail_decrypt:
        st = {"Sid": "Allow CloudTrail to decrypt for the S3 Bucket Key", "Effect": "Allow",
              "Principal": {"Service": CLOUDTRAIL}, "Action": "kms:Decrypt", "Resource": "*"}
        if src:
            st["Condition"] = {"StringEquals": dict(src)}
        statements.append(st)
    if account_decrypt:
        statements.append({
            "Sid": "Allow principals in the account to decrypt log files", "Effect": "Allow",
            "Principal": {"AWS": "*"}, "Action": ["kms:Decrypt", "kms:ReEncryptFrom"], "Resource": "*",
            "Condition": {"StringEquals": {"kms:CallerAccount": account}, "StringLike": dict(ct_context)}})
    return {"Version": "2012-10-17", "Id": policy_id, "Statement": statements}


def bucket_policy(bucket: str, writers=(), *, org_writers=(), extra=()) -> dict:
    """A CloudTrail bucket policy. ``writers``: (trail_arn, s3_key_prefix) pairs; each trail may write
    ``[prefix/]AWSLogs/<its account>/*``. ``org_writers``: (trail_arn, prefix, organization_id) for
    organization trails (also ``[prefix/]AWSLogs/<org-id>/*``). ``extra``: further statements."""
    arns, paths, org_paths, org_arns = set(), set(), set(), set()
    for arn, prefix in writers:
        account = arn.split(":")[4]
        arns.add(arn)
        paths.add(f"arn:aws:s3:::{bucket}/{prefix + '/' if prefix else ''}AWSLogs/{account}/*")
    for arn, prefix, org_id in org_writers:
        org_arns.add(arn)
        org_paths.add(f"arn:aws:s3:::{bucket}/{prefix + '/' if prefix else ''}AWSLogs/{org_id}/*")
    statements: list[dict] = []
    if arns or org_arns:
        statements.append({
            "Sid": "AWSCloudTrailAclCheck20150319", "Effect": "Allow", "Principal": {"Service": CLOUDTRAIL},
            "Action": "s3:GetBucketAcl", "Resource": f"arn:aws:s3:::{bucket}",
            "Condition": {"StringEquals": {"aws:SourceArn": _one_or_list(arns | org_arns)}}})
    if arns:
        statements.append({
            "Sid": "AWSCloudTrailWrite20150319", "Effect": "Allow", "Principal": {"Service": CLOUDTRAIL},
            "Action": "s3:PutObject", "Resource": _one_or_list(paths),
            "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control",
                                           "aws:SourceArn": _one_or_list(arns)}}})
    if org_arns:
        statements.append({
            "Sid": "AWSCloudTrailOrganizationWrite20150319", "Effect": "Allow",
            "Principal": {"Service": CLOUDTRAIL}, "Action": "s3:PutObject", "Resource": _one_or_list(org_paths),
            "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control",
                                           "aws:SourceArn": _one_or_list(org_arns)}}})
    statements.extend(extra)
    return {"Version": "2012-10-17", "Statement": statements}


def deny_unless_aes256(bucket: str) -> dict:
    """The common "deny unless AES256" statement: blocks every SSE-KMS upload, CloudTrail's included."""
    return {"Sid": "DenyUnencryptedObjectUploads", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{bucket}/*",
            "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}}}


def deny_insecure_transport(bucket: str) -> dict:
    return {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


def reader_grant(bucket: str, principal_arn: str, sid: str = "SiemLogReaders") -> dict:
    return {"Sid": sid, "Effect": "Allow", "Principal": {"AWS": principal_arn},
            "Action": ["s3:GetObject", "s3:ListBucket"],
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/AWSLogs/*"]}


# --------------------------------------------------------------------------------------------------
# BACKDOORS: direct writes to moto's in-process models, for states real estates reach but no legal API
# order can produce any more (AWS refuses the call that would create them today, or the state is the
# result of time passing). Each is documented in docs/estates.md and recorded in the manifest.
# --------------------------------------------------------------------------------------------------
def _backend(service: str, account: str, region: str):
    from moto.backends import get_backend

    backends = get_backend(service)
    return backends[account][region]


def backdoor_set_trail_key(account: str, region: str, trail_name: str, key_arn: str) -> None:
    """Point a trail at a key CloudTrail would refuse today (AWS-managed ``aws/s3``, a key in another
    region than the bucket, an asymmetric key): trails configured before CloudTrail validated keys, or
    whose key was later replaced/moved, look exactly like this."""
    _backend("cloudtrail", account, region).trails[trail_name].kms_key_id = key_arn


def backdoor_delete_key(account: str, region: str, key_id: str) -> None:
    """A key whose deletion window has elapsed: gone, while the trail still names its ARN (AWS
    enforces at least 7 days of PendingDeletion; the lab cannot wait)."""
    _backend("kms", account, region).delete_key(key_id)


def backdoor_organization(main_account: str, members=(), org_id: str = ORGANIZATION_ID) -> str:
    """Give the organization created through the API the contract's id (moto makes a random one) and
    make ``members`` (existing accounts) members of it (moto does not implement
    InviteAccountToOrganization/AcceptHandshake). Returns the organization id."""
    from moto.organizations.models import FakeAccount

    backend = _backend("organizations", main_account, "aws")
    org = backend.org
    old = org.id
    org.id = org_id
    for obj in [*backend.accounts, *backend.ou, *backend.policies]:
        if getattr(obj, "organization_id", None) == old:
            obj.organization_id = org_id
    for member in members:
        if any(a.id == member for a in backend.accounts):
            continue
        account = FakeAccount(org, AccountName=f"member-{member}", Email=f"aws+{member}@example.com")
        account.id = member
        account.joined_method = "INVITED"
        backend.accounts.append(account)
        with contextlib.suppress(Exception):  # the default SCP is cosmetic here
            backend.attach_policy(PolicyId="p-FullAWSAccess", TargetId=member)
    return org.id


# --------------------------------------------------------------------------------------------------
# Building blocks (legal API calls)
# --------------------------------------------------------------------------------------------------
def _tags(estate: str, purpose: str) -> list[dict]:
    return [{"TagKey": "trailguard:estate", "TagValue": estate}, {"TagKey": "purpose", "TagValue": purpose}]


class Recorder:
    """Builds resources and collects the manifest."""

    def __init__(self, aws: Aws, estate: str):
        self.aws = aws
        self.estate = estate
        self.trails: list[dict] = []
        self.keys: list[dict] = []
        self.buckets: list[dict] = []
        self.backdoors: list[dict] = []
        self._lock = threading.Lock()

    # keys ---------------------------------------------------------------------------------------
    def create_key(self, account: str, region: str, alias: str, purpose: str, policy: dict | None,
                   *, rotation: bool = True, spec: str = "SYMMETRIC_DEFAULT", usage: str = "ENCRYPT_DECRYPT") -> dict:
        kms = self.aws.client(account, "kms", region)
        kwargs: dict = {"Description": f"{self.estate}: {purpose}", "KeySpec": spec, "KeyUsage": usage,
                        "Tags": _tags(self.estate, purpose)}
        if policy is not None:
            kwargs["Policy"] = json.dumps(policy)
        meta = kms.create_key(**kwargs)["KeyMetadata"]
        kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
        if rotation:
            kms.enable_key_rotation(KeyId=meta["KeyId"])
        entry = {"arn": meta["Arn"], "key_id": meta["KeyId"], "alias": alias, "account": account, "region": region,
                 "state": "Enabled", "manager": "CUSTOMER", "spec": spec,
                 "rotation": rotation if spec == "SYMMETRIC_DEFAULT" else None,  # None: not applicable
                 "purpose": purpose}
        with self._lock:
            self.keys.append(entry)
        return entry

    def aws_managed_key(self, account: str, region: str, alias: str = "alias/aws/s3") -> dict:
        meta = self.aws.client(account, "kms", region).describe_key(KeyId=alias)["KeyMetadata"]
        entry = {"arn": meta["Arn"], "key_id": meta["KeyId"], "alias": alias, "account": account, "region": region,
                 "state": meta.get("KeyState", "Enabled"), "manager": "AWS", "spec": "SYMMETRIC_DEFAULT",
                 "rotation": None, "purpose": "AWS-managed key for S3 (referenced by a trail through a backdoor)"}
        with self._lock:
            self.keys.append(entry)
        return entry

    def put_key_policy(self, key: dict, policy: dict) -> None:
        self.aws.client(key["account"], "kms", key["region"]).put_key_policy(
            KeyId=key["key_id"], PolicyName="default", Policy=json.dumps(policy))

    def disable_key(self, key: dict) -> None:
        self.aws.client(key["account"], "kms", key["region"]).disable_key(KeyId=key["key_id"])
        key["state"] = "Disabled"

    def schedule_deletion(self, key: dict, days: int = 30) -> None:
        self.aws.client(key["account"], "kms", key["region"]).schedule_key_deletion(
            KeyId=key["key_id"], PendingWindowInDays=days)
        key["state"] = "PendingDeletion"

    # buckets ------------------------------------------------------------------------------------
    def create_bucket(self, account: str, region: str, name: str, purpose: str, policy: dict | None,
                      *, encryption: str = "AES256", kms_key_arn: str | None = None,
                      bucket_key: bool = False) -> dict:
        s3 = self.aws.client(account, "s3", region)
        kwargs: dict = {"Bucket": name}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**kwargs)
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [
            {"Key": "trailguard:estate", "Value": self.estate}, {"Key": "purpose", "Value": purpose[:250]}]})
        entry = {"name": name, "account": account, "region": region, "purpose": purpose, "exists": True,
                 "default_encryption": None, "default_kms_key_id": None, "bucket_key": False,
                 "requester_pays": False}
        self.set_encryption(entry, encryption, kms_key_arn, bucket_key)
        if policy is not None:
            s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
        with self._lock:
            self.buckets.append(entry)
        return entry

    def set_encryption(self, bucket: dict, algorithm: str, kms_key_arn: str | None = None,
                       bucket_key: bool = False) -> None:
        rule: dict = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": algorithm}}
        if kms_key_arn:
            rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] = kms_key_arn
        rule["BucketKeyEnabled"] = bucket_key
        self.aws.client(bucket["account"], "s3", bucket["region"]).put_bucket_encryption(
            Bucket=bucket["name"], ServerSideEncryptionConfiguration={"Rules": [rule]})
        bucket.update(default_encryption=algorithm, default_kms_key_id=kms_key_arn, bucket_key=bucket_key)

    def put_bucket_policy(self, bucket: dict, policy: dict) -> None:
        self.aws.client(bucket["account"], "s3", bucket["region"]).put_bucket_policy(
            Bucket=bucket["name"], Policy=json.dumps(policy))

    # trails -------------------------------------------------------------------------------------
    def create_trail(self, account: str, region: str, name: str, bucket: dict, *, key: dict | None,
                     prefix: str = "", problems=(), multi_region: bool = False, organization: bool = False,
                     log_validation: bool = True, logging: bool = True, delivery_blocked: bool = False,
                     notes: str = "") -> dict:
        ct = self.aws.client(account, "cloudtrail", region)
        kwargs: dict = {"Name": name, "S3BucketName": bucket["name"], "IsMultiRegionTrail": multi_region,
                        "EnableLogFileValidation": log_validation, "IncludeGlobalServiceEvents": True,
                        "TagsList": [{"Key": "trailguard:estate", "Value": self.estate}]}
        if prefix:
            kwargs["S3KeyPrefix"] = prefix
        if organization:
            kwargs["IsOrganizationTrail"] = True
        if key is not None:
            kwargs["KmsKeyId"] = key["arn"]
        arn = ct.create_trail(**kwargs)["TrailARN"]
        if logging:
            ct.start_logging(Name=arn)
        problems = sorted(set(problems))
        unknown = set(problems) - set(FINDING_CODES)
        if unknown:
            raise ValueError(f"unknown finding codes {unknown}")
        entry = {"name": name, "arn": arn, "account": account, "home_region": region, "bucket": bucket["name"],
                 "bucket_account": bucket["account"], "bucket_region": bucket["region"], "s3_key_prefix": prefix,
                 "kms_key_id": key["arn"] if key else None, "multi_region": multi_region,
                 "organization": organization, "logging": logging, "log_validation": log_validation,
                 "problems": problems, "compliant": not (set(problems) & NON_COMPLIANT_CODES),
                 "delivery_blocked": delivery_blocked}
        if notes:
            entry["notes"] = notes
        with self._lock:
            self.trails.append(entry)
        return entry

    def backdoor(self, what: str, why: str, fn, *args) -> None:
        fn(*args)
        self.backdoors.append({"what": what, "why": why})

    def manifest(self, name: str, accounts: dict, organization_id: str | None, **extra) -> dict:
        manifest = {"name": name, "accounts": accounts, "organization_id": organization_id,
                    "trails": sorted(self.trails, key=lambda t: (t["account"], t["home_region"], t["name"])),
                    "keys": sorted(self.keys, key=lambda k: (k["account"], k["region"], k["alias"])),
                    "buckets": sorted(self.buckets, key=lambda b: b["name"]),
                    "backdoors": self.backdoors}
        manifest.update(extra)
        return manifest


def _organization(aws: Aws, rec: Recorder, members) -> str | None:
    """CreateOrganization in the main account (API), then the contract id and membership (backdoor)."""
    org = aws.client(aws.main_account, "organizations")
    with contextlib.suppress(org.exceptions.AlreadyInOrganizationException):
        org.create_organization(FeatureSet="ALL")
    rec.backdoor("organizations: id renamed to " + ORGANIZATION_ID + ", accounts joined: " + ", ".join(members),
                 "moto gives a random id and does not implement InviteAccountToOrganization",
                 backdoor_organization, aws.main_account, list(members))
    return org.describe_organization()["Organization"]["Id"]


# --------------------------------------------------------------------------------------------------
# none
# --------------------------------------------------------------------------------------------------
def build_none(endpoint_url: str, **_params: Any) -> dict:
    return {"name": "none", "accounts": {MAIN_ACCOUNT: {"regions": []}}, "organization_id": None,
            "trails": [], "keys": [], "buckets": [], "backdoors": []}


# --------------------------------------------------------------------------------------------------
# demo
# --------------------------------------------------------------------------------------------------
IAM_READER_NO_DECRYPT = "LogPipelineReader"     # demo account A: reads logs via IAM, no kms:Decrypt
IAM_READER_WITH_DECRYPT = "LogArchiver"          # demo account A: reads logs via IAM, kms:Decrypt via S3


def build_demo(endpoint_url: str, **_params: Any) -> dict:
    aws = Aws(endpoint_url)
    rec = Recorder(aws, "demo")
    A, B = MAIN_ACCOUNT, SECOND_ACCOUNT
    E, W = DEMO_REGIONS
    aws.ensure_account(A)
    aws.ensure_account(B)
    org_id = _organization(aws, rec, [B])

    siem_role = f"arn:aws:iam::{B}:role/SiemLogReader"
    aws.client(B, "iam").create_role(
        RoleName="SiemLogReader", Description="SIEM ingestion: reads CloudTrail logs from the central bucket",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))

    def t(account, region, name):
        return trail_arn(region, account, name)

    # ---- trail plan: name -> (account, region, bucket id, key id, prefix) ----------------------
    # Buckets (A = 111111111111, B = 222222222222, E = us-east-1, W = eu-west-1).
    b_main = f"tg-demo-logs-{A}-use1"          # shared by most A/E trails
    b_eu = f"tg-demo-logs-{A}-euw1"            # shared by A/W trails
    b_org = f"tg-demo-org-logs-{A}"            # organization trail
    b_central = f"tg-demo-central-{A}"         # receives B's trail (cross-account)
    b_aes = f"tg-demo-aes-only-{A}"            # deny unless AES256
    b_other = f"tg-demo-default-key-{A}"       # default encryption with another key
    b_bkey = f"tg-demo-bucket-key-{A}"         # S3 Bucket Key
    b_rp = f"tg-demo-requester-pays-{A}"
    b_siem = f"tg-demo-siem-{A}"               # readers in another account
    b_gone = f"tg-demo-deleted-{A}"            # deleted after the trail was created
    b_locked = f"tg-demo-locked-{A}"           # policy rewritten without CloudTrail
    bB_e = f"tg-demo-logs-{B}-use1"
    bB_w = f"tg-demo-logs-{B}-euw1"

    # (name, account, region, bucket, key-alias or None, prefix)
    plan = [
        ("tg-good", A, E, b_main, "shared-a-e", "good"),
        ("tg-no-key", A, E, b_main, None, ""),
        ("tg-multi-region", A, E, b_main, None, "multi"),
        ("tg-not-logging", A, E, b_main, "shared-a-e", ""),
        ("tg-log-validation-off", A, E, b_main, "shared-a-e", "audit"),
        ("tg-key-disabled", A, E, b_main, "disabled", ""),
        ("tg-key-pending-deletion", A, E, b_main, "pending", ""),
        ("tg-key-missing", A, E, b_main, "missing", ""),
        ("tg-key-policy-no-cloudtrail", A, E, b_main, "no-cloudtrail", ""),
        ("tg-aws-managed-key", A, E, b_main, None, ""),          # key set by backdoor
        ("tg-key-not-symmetric", A, E, b_main, None, ""),        # key set by backdoor
        ("tg-key-other-region", A, E, b_main, None, ""),         # key set by backdoor
        ("tg-org-trail", A, E, b_org, "org", ""),
        ("tg-bucket-denies-kms", A, E, b_aes, "shared-a-e", ""),
        ("tg-bucket-default-other-key", A, E, b_other, "shared-a-e", ""),
        ("tg-bucket-key-no-decrypt", A, E, b_bkey, "bucket-key", ""),
        ("tg-requester-pays", A, E, b_rp, "shared-a-e", ""),
        ("tg-readers", A, E, b_siem, "shared-a-e", ""),
        ("tg-bucket-missing", A, E, b_gone, "shared-a-e", ""),
        ("tg-bucket-policy-no-cloudtrail", A, E, b_locked, "shared-a-e", ""),
        ("tg-good-eu", A, W, b_eu, "shared-a-w", "eu"),
        ("tg-key-policy-no-describe", A, W, b_eu, "no-describe", ""),
        ("tg-rotation-off", A, W, b_eu, "rotation-off", ""),
        ("tg-good-b", B, E, bB_e, "shared-b-e", ""),
        ("tg-cross-account-bucket", B, E, b_central, "shared-b-e", "member"),
        ("tg-good-b-eu", B, W, bB_w, "shared-b-w", "eu"),
        ("tg-no-key-b", B, W, bB_w, None, ""),
    ]
    arn_of = {n: t(acct, reg, n) for n, acct, reg, *_rest in plan}
    users_of_key: dict[str, list[str]] = {}
    writers_of_bucket: dict[str, list[tuple[str, str]]] = {}
    for n, _acct, _reg, bucket, key, prefix in plan:
        if key:
            users_of_key.setdefault(key, []).append(arn_of[n])
        writers_of_bucket.setdefault(bucket, []).append((arn_of[n], prefix))
    # The key tg-key-other-region will point at (eu-west-1) lists that trail too: its policy is right,
    # only its region is wrong.
    users_of_key["shared-a-w"].append(arn_of["tg-key-other-region"])
    users_of_key["asymmetric"] = [arn_of["tg-key-not-symmetric"]]

    # ---- keys (good policies first) ------------------------------------------------------------
    def kp(alias, account, **kw):
        return key_policy(account, users_of_key.get(alias, ()), policy_id=f"tg-demo-{alias}", **kw)

    keys: dict[str, dict] = {}
    key_plan = [
        # alias, account, region, purpose, policy kwargs, rotation
        ("shared-a-e", A, E, "shared CloudTrail key (good), used by several trails", {}, True),
        ("shared-a-w", A, W, "shared CloudTrail key (good) in eu-west-1", {}, True),
        ("org", A, E, "organization trail key (good)", {}, True),
        ("disabled", A, E, "disabled after the trail was attached", {}, True),
        ("pending", A, E, "scheduled for deletion after the trail was attached", {}, True),
        ("missing", A, E, "deleted (window elapsed) after the trail was attached", {}, True),
        ("no-cloudtrail", A, E, "policy later rewritten without any CloudTrail statement", {}, True),
        # No "principals in the account" Decrypt statement ({"AWS": "*"} + kms:CallerAccount) on this key:
        # an evaluator that gives CloudTrail's own calls a kms:CallerAccount would read it as a Decrypt
        # grant to CloudTrail. The root statement still lets the account's IAM policies grant Decrypt.
        ("bucket-key", A, E, "bucket's S3 Bucket Key key; policy lacks kms:Decrypt for CloudTrail",
         {"account_decrypt": False}, True),
        ("no-describe", A, W, "policy later rewritten without kms:DescribeKey for CloudTrail", {}, True),
        ("rotation-off", A, W, "good policy, automatic rotation off", {}, False),
        ("bucket-default", A, E, "another bucket's default encryption key (no trail)", {}, True),
        ("shared-b-e", B, E, "shared CloudTrail key (good) in account B", {}, True),
        ("shared-b-w", B, W, "CloudTrail key (good) in account B, eu-west-1", {}, True),
    ]
    for alias, account, region, purpose, pkw, rotation in key_plan:
        keys[alias] = rec.create_key(account, region, f"alias/tg-demo-{alias}", purpose,
                                     kp(alias, account, **pkw), rotation=rotation)
    # Spare keys: good, CloudTrail-ready (account-wide form), no trail: candidates for use_existing_key.
    for account in (A, B):
        for region in (E, W):
            keys[f"spare-{account}-{region}"] = rec.create_key(
                account, region, "alias/tg-demo-spare", "spare CloudTrail-ready key, no trail (use_existing_key "
                "candidate)", key_policy(account, (), source_arn=False, policy_id="tg-demo-spare"))
    keys["asymmetric"] = rec.create_key(
        A, E, "alias/tg-demo-asymmetric", "asymmetric RSA key (referenced by a trail through a backdoor)",
        kp("asymmetric", A), rotation=False, spec="RSA_2048")
    keys["aws-s3"] = rec.aws_managed_key(A, E)

    # ---- buckets (good policies first) ---------------------------------------------------------
    buckets: dict[str, dict] = {}

    def mk_bucket(name, account, region, purpose, **kw):
        writers = writers_of_bucket.get(name, [])
        org_writers = kw.pop("org_writers", ())
        extra = kw.pop("extra", ())
        policy = bucket_policy(name, writers, org_writers=org_writers, extra=extra)
        buckets[name] = rec.create_bucket(account, region, name, purpose, policy, **kw)

    org_arn = arn_of["tg-org-trail"]
    mk_bucket(b_main, A, E, "shared CloudTrail bucket (several trails, some with prefixes)")
    mk_bucket(b_eu, A, W, "shared CloudTrail bucket in eu-west-1")
    mk_bucket(b_org, A, E, "organization trail bucket (account and organization paths)",
              org_writers=[(org_arn, "", org_id)])
    mk_bucket(b_central, A, E, f"central bucket in {A} receiving a trail of {B}")
    mk_bucket(b_aes, A, E, "bucket policy later gets 'deny unless AES256'")
    mk_bucket(b_other, A, E, "default encryption SSE-KMS with another key than the trail's",
              encryption="aws:kms", kms_key_arn=keys["bucket-default"]["arn"])
    mk_bucket(b_bkey, A, E, "S3 Bucket Key enabled later, with the trail's key")
    mk_bucket(b_rp, A, E, "Requester Pays turned on after the trail was created")
    mk_bucket(b_siem, A, E, "logs read by a SIEM role in another account",
              extra=[reader_grant(b_siem, siem_role)])
    mk_bucket(b_gone, A, E, "deleted after the trail was created")
    # Readers through their own IAM policies (no bucket-policy grant): one without kms:Decrypt, one with.
    iam_a = aws.client(A, "iam")
    ec2_trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    log_objects = [f"arn:aws:s3:::{b}/*" for b in (b_siem, b_bkey)]
    for role, decrypt in ((IAM_READER_NO_DECRYPT, False), (IAM_READER_WITH_DECRYPT, True)):
        iam_a.create_role(RoleName=role, AssumeRolePolicyDocument=ec2_trust,
                          Description="log pipeline: reads CloudTrail logs through its own IAM policy")
        statements = [{"Sid": "ReadTrailLogs", "Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
                       "Resource": log_objects}]
        if decrypt:
            statements.append({"Sid": "DecryptViaS3", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
                               "Condition": {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}}})
        iam_a.put_role_policy(RoleName=role, PolicyName="read-trail-logs",
                              PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    mk_bucket(b_locked, A, E, "policy later rewritten without CloudTrail statements")
    mk_bucket(bB_e, B, E, "CloudTrail bucket in account B")
    mk_bucket(bB_w, B, W, "CloudTrail bucket in account B, eu-west-1")

    # ---- trails (legal CreateTrail with the good state) ----------------------------------------
    spec = {
        "tg-good": dict(problems=[]),
        "tg-no-key": dict(problems=["TRAIL_NO_KMS_KEY"]),
        "tg-multi-region": dict(problems=["TRAIL_NO_KMS_KEY"], multi_region=True,
                                notes="multi-region trail without a key: one fix at the home region"),
        "tg-not-logging": dict(problems=["TRAIL_NOT_LOGGING"], logging=False),
        "tg-log-validation-off": dict(problems=["TRAIL_LOG_VALIDATION_DISABLED"], log_validation=False),
        "tg-key-disabled": dict(problems=["KEY_DISABLED"], delivery_blocked=True),
        "tg-key-pending-deletion": dict(problems=["KEY_PENDING_DELETION"], delivery_blocked=True),
        "tg-key-missing": dict(problems=["KEY_NOT_FOUND"], delivery_blocked=True),
        "tg-key-policy-no-cloudtrail": dict(problems=["KEY_POLICY_DENIES_CLOUDTRAIL", "KEY_POLICY_NO_DESCRIBE"],
                                            delivery_blocked=True),
        "tg-aws-managed-key": dict(problems=["KEY_AWS_MANAGED"], delivery_blocked=True,
                                   notes="AWS-managed aws/s3 key; its policy is not evaluated (it cannot change)"),
        "tg-key-not-symmetric": dict(problems=["KEY_NOT_SYMMETRIC"], delivery_blocked=True),
        "tg-key-other-region": dict(problems=["KEY_REGION_MISMATCH"], delivery_blocked=True,
                                    notes="bucket in us-east-1, key in eu-west-1 (its policy is right)"),
        "tg-org-trail": dict(problems=[], multi_region=True, organization=True,
                             notes=f"seen from {B}: ORG_TRAIL_NOT_MANAGEABLE_HERE"),
        "tg-bucket-denies-kms": dict(problems=["BUCKET_POLICY_BLOCKS_KMS"], delivery_blocked=True),
        "tg-bucket-default-other-key": dict(problems=["BUCKET_DEFAULT_ENCRYPTION_OTHER_KEY"]),
        "tg-bucket-key-no-decrypt": dict(problems=["KEY_POLICY_NO_DECRYPT_FOR_BUCKET_KEY", "READERS_NEED_DECRYPT"],
                                         delivery_blocked=True,
                                         notes=f"role {IAM_READER_NO_DECRYPT} reads the logs through its IAM policy "
                                               "and may not kms:Decrypt; the key policy has no account-wide Decrypt"),
        "tg-requester-pays": dict(problems=["BUCKET_REQUESTER_PAYS"], delivery_blocked=True),
        "tg-readers": dict(problems=["READERS_NEED_DECRYPT"],
                           notes=f"{siem_role} reads the logs (bucket policy) but may not kms:Decrypt; roles "
                                 f"{IAM_READER_NO_DECRYPT} and {IAM_READER_WITH_DECRYPT} read them through IAM "
                                 "(the key's account-wide Decrypt statement covers both)"),
        "tg-bucket-missing": dict(problems=["BUCKET_NOT_FOUND"], delivery_blocked=True),
        "tg-bucket-policy-no-cloudtrail": dict(problems=["BUCKET_POLICY_DENIES_CLOUDTRAIL"], delivery_blocked=True),
        "tg-good-eu": dict(problems=[]),
        "tg-key-policy-no-describe": dict(problems=["KEY_POLICY_NO_DESCRIBE"], delivery_blocked=True),
        "tg-rotation-off": dict(problems=["KEY_ROTATION_DISABLED"]),
        "tg-good-b": dict(problems=[]),
        "tg-cross-account-bucket": dict(problems=["BUCKET_CROSS_ACCOUNT"]),
        "tg-good-b-eu": dict(problems=[]),
        "tg-no-key-b": dict(problems=["TRAIL_NO_KMS_KEY"]),
    }
    trails: dict[str, dict] = {}
    for n, account, region, bucket, key, prefix in plan:
        trails[n] = rec.create_trail(account, region, n, buckets[bucket], key=keys[key] if key else None,
                                     prefix=prefix, **spec[n])
    # Selectors on one good trail (the inventory reads them only when DescribeTrails says they were put):
    # write-only management events plus S3 data events, and API call rate Insights.
    ct_eu = aws.client(A, "cloudtrail", W)
    ct_eu.put_event_selectors(TrailName="tg-good-eu", EventSelectors=[{
        "ReadWriteType": "WriteOnly", "IncludeManagementEvents": True,
        "DataResources": [{"Type": "AWS::S3::Object", "Values": [f"arn:aws:s3:::{b_eu}/"]}]}])
    ct_eu.put_insight_selectors(TrailName="tg-good-eu", InsightSelectors=[{"InsightType": "ApiCallRateInsight"}])

    # ---- decay (legal API calls, as estates decay) ----------------------------------------------
    rec.disable_key(keys["disabled"])
    rec.schedule_deletion(keys["pending"], 30)
    rec.put_key_policy(keys["no-cloudtrail"], kp("no-cloudtrail", A, encrypt=False, describe=False))
    rec.put_key_policy(keys["no-describe"], kp("no-describe", A, describe=False))
    rec.set_encryption(buckets[b_bkey], "aws:kms", keys["bucket-key"]["arn"], bucket_key=True)
    rec.put_bucket_policy(
        buckets[b_aes], bucket_policy(b_aes, writers_of_bucket[b_aes], extra=[deny_unless_aes256(b_aes)])
    )
    aws.client(A, "s3", E).put_bucket_request_payment(
        Bucket=b_rp, RequestPaymentConfiguration={"Payer": "Requester"}
    )
    buckets[b_rp]["requester_pays"] = True
    rec.put_bucket_policy(buckets[b_locked], {"Version": "2012-10-17",
                                              "Statement": [deny_insecure_transport(b_locked)]})
    s3 = aws.client(A, "s3", E)
    s3.delete_bucket_policy(Bucket=b_gone)
    s3.delete_bucket(Bucket=b_gone)
    buckets[b_gone]["exists"] = False

    # ---- backdoors ------------------------------------------------------------------------------
    rec.backdoor("tg-key-missing: key deleted from moto's KMS", "AWS keeps a key PendingDeletion >= 7 days",
                 backdoor_delete_key, A, E, keys["missing"]["key_id"])
    keys["missing"]["state"] = "Deleted"
    for name, key, why in (
        ("tg-aws-managed-key", keys["aws-s3"], "CloudTrail refuses aws/s3 (its policy only allows S3)"),
        ("tg-key-not-symmetric", keys["asymmetric"], "CloudTrail refuses asymmetric keys"),
        ("tg-key-other-region", keys["shared-a-w"], "CloudTrail refuses a key outside the bucket's region"),
    ):
        rec.backdoor(f"{name}: KmsKeyId set to {key['arn']}", why, backdoor_set_trail_key, A, E, name, key["arn"])
        trails[name]["kms_key_id"] = key["arn"]

    accounts = {A: {"regions": list(DEMO_REGIONS)},
                B: {"role_arn": aws.role_arn(B), "regions": list(DEMO_REGIONS)}}
    member_views = {B: [{"trail": arn_of["tg-org-trail"], "problems": ["ORG_TRAIL_NOT_MANAGEABLE_HERE"]}]}
    return rec.manifest("demo", accounts, org_id, member_views=member_views,
                        non_compliant_codes=sorted(NON_COMPLIANT_CODES))


# --------------------------------------------------------------------------------------------------
# bench
# --------------------------------------------------------------------------------------------------
BENCH_KEY_CONDITIONS = (  # (condition, weight, problems)
    ("good", 60, []),
    ("rotation-off", 12, ["KEY_ROTATION_DISABLED"]),
    ("disabled", 10, ["KEY_DISABLED"]),
    ("no-cloudtrail", 10, ["KEY_POLICY_DENIES_CLOUDTRAIL", "KEY_POLICY_NO_DESCRIBE"]),
    ("pending", 8, ["KEY_PENDING_DELETION"]),
)
BENCH_BUCKET_CONDITIONS = (("good", 88, []), ("aes-only", 12, ["BUCKET_POLICY_BLOCKS_KMS"]))


def bench_accounts(n: int) -> list[str]:
    return [MAIN_ACCOUNT, SECOND_ACCOUNT, *(f"{300000000000 + i:012d}" for i in range(max(0, n - 2)))][:n]


def bench_plan(accounts: int = 10, regions: int = 4, trails: int = 500, trails_per_bucket: int = 5,
               trails_per_key: int = 10, seed: int = 20240601) -> dict:
    """The deterministic plan of the bench estate (no AWS calls): cells, buckets, keys, trails."""
    if regions > len(BENCH_REGIONS):
        raise ValueError(f"at most {len(BENCH_REGIONS)} regions")
    rng = random.Random(seed)
    accts = bench_accounts(accounts)
    regs = list(BENCH_REGIONS[:regions])
    cells = [(a, r) for a in accts for r in regs]
    per_cell = [trails // len(cells) + (1 if i < trails % len(cells) else 0) for i in range(len(cells))]
    plan_trails, plan_keys, plan_buckets = [], [], []
    n = 0
    for (account, region), count in zip(cells, per_cell, strict=True):
        if not count:
            continue
        rshort = region.replace("-", "")
        nb = max(1, -(-count // max(1, trails_per_bucket)))
        nk = max(1, -(-count // max(1, trails_per_key)))
        cell_buckets = []
        for i in range(nb):
            cond = rng.choices([c[0] for c in BENCH_BUCKET_CONDITIONS], [c[1] for c in BENCH_BUCKET_CONDITIONS])[0]
            b = {"name": f"tg-bench-{account}-{rshort}-{i:02d}", "account": account, "region": region,
                 "condition": cond, "writers": []}
            cell_buckets.append(b)
            plan_buckets.append(b)
        cell_keys = []
        for i in range(nk):
            cond = rng.choices([c[0] for c in BENCH_KEY_CONDITIONS], [c[1] for c in BENCH_KEY_CONDITIONS])[0]
            k = {"alias": f"alias/tg-bench-{rshort}-{i:02d}", "account": account, "region": region,
                 "condition": cond, "users": []}
            cell_keys.append(k)
            plan_keys.append(k)
        for j in range(count):
            name = f"tg-bench-{n:04d}"
            n += 1
            bucket = cell_buckets[j % nb]
            no_key = rng.random() < 0.15
            key = None if no_key else cell_keys[j % nk]
            prefix = f"p{j % 3}" if j % 3 else ""
            arn = trail_arn(region, account, name)
            tr = {"name": name, "arn": arn, "account": account, "region": region, "bucket": bucket["name"],
                  "key": key["alias"] if key else None, "prefix": prefix,
                  "log_validation": rng.random() >= 0.1, "logging": rng.random() >= 0.05,
                  "multi_region": j == 0 and region == regs[0]}
            bucket["writers"].append((arn, prefix))
            if key:
                key["users"].append(arn)
            plan_trails.append(tr)
    return {"accounts": accts, "regions": regs, "trails": plan_trails, "keys": plan_keys, "buckets": plan_buckets}


BENCH_ROLE_KINDS = ("log-reader", "log-reader-decrypt", "admin", "app")


def _bench_roles(aws: Aws, account: str, count: int, buckets: list[str]) -> None:
    """``count`` roles in ``account``, cycling through BENCH_ROLE_KINDS: readers of the account's log
    buckets (inline policy, with or without kms:Decrypt), admins (a customer-managed policy ``*:*``, attached)
    and application roles that touch no logs, so the inventory's IAM read and reader analysis work at scale."""
    iam = aws.client(account, "iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    admin_arn = iam.create_policy(PolicyName="tg-bench-admin", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))["Policy"]["Arn"]
    for i in range(count):
        kind = BENCH_ROLE_KINDS[i % len(BENCH_ROLE_KINDS)]
        name = f"tg-bench-{kind}-{i:03d}"
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)
        if kind == "admin":
            iam.attach_role_policy(RoleName=name, PolicyArn=admin_arn)
            continue
        if kind == "app":
            statements = [{"Effect": "Allow", "Action": ["ec2:Describe*", "sqs:*"], "Resource": "*"}]
        else:
            mine = buckets[i % len(buckets)] if buckets else "tg-bench-none"
            statements = [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{mine}/*"}]
            if kind == "log-reader-decrypt":
                statements.append({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"})
        iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": statements}))


def build_bench(endpoint_url: str, accounts: int = 10, regions: int = 4, trails: int = 500,
                trails_per_bucket: int = 5, trails_per_key: int = 10, seed: int = 20240601,
                workers: int = 16, roles_per_account: int = 20, **_params: Any) -> dict:
    started = time.monotonic()
    plan = bench_plan(accounts, regions, trails, trails_per_bucket, trails_per_key, seed)
    aws = Aws(endpoint_url)
    rec = Recorder(aws, "bench")
    for account in plan["accounts"]:
        aws.ensure_account(account)
    org_id = _organization(aws, rec, plan["accounts"][1:]) if len(plan["accounts"]) > 0 else None
    key_by = {}
    bucket_by = {}

    def make_key(k):
        entry = rec.create_key(k["account"], k["region"], k["alias"], f"bench key ({k['condition']})",
                               key_policy(k["account"], k["users"], policy_id="tg-bench"),
                               rotation=k["condition"] != "rotation-off")
        key_by[(k["account"], k["alias"])] = entry

    def make_bucket(b):
        bucket_by[b["name"]] = rec.create_bucket(b["account"], b["region"], b["name"],
                                                 f"bench bucket ({b['condition']})",
                                                 bucket_policy(b["name"], b["writers"]))

    def make_trail(tr):
        key = key_by[(tr["account"], tr["key"])] if tr["key"] else None
        kcond = next(k["condition"] for k in plan["keys"]
                     if k["alias"] == tr["key"] and k["account"] == tr["account"]) if key else None
        bcond = next(b["condition"] for b in plan["buckets"] if b["name"] == tr["bucket"])
        problems = []
        if key is None:
            problems.append("TRAIL_NO_KMS_KEY")
        else:
            problems += dict((c[0], c[2]) for c in BENCH_KEY_CONDITIONS)[kcond]
            problems += dict((c[0], c[2]) for c in BENCH_BUCKET_CONDITIONS)[bcond]
        if not tr["log_validation"]:
            problems.append("TRAIL_LOG_VALIDATION_DISABLED")
        if not tr["logging"]:
            problems.append("TRAIL_NOT_LOGGING")
        blocked = tr["logging"] and ((kcond in ("disabled", "no-cloudtrail", "pending")) or
                                     (key is not None and bcond == "aes-only"))
        rec.create_trail(tr["account"], tr["region"], tr["name"], bucket_by[tr["bucket"]], key=key,
                         prefix=tr["prefix"], problems=problems, multi_region=tr["multi_region"],
                         log_validation=tr["log_validation"], logging=tr["logging"], delivery_blocked=blocked)

    def decay_key(k):
        entry = key_by[(k["account"], k["alias"])]
        if k["condition"] == "disabled":
            rec.disable_key(entry)
        elif k["condition"] == "pending":
            rec.schedule_deletion(entry, 30)
        elif k["condition"] == "no-cloudtrail":
            rec.put_key_policy(entry, key_policy(k["account"], k["users"], encrypt=False, describe=False,
                                                 policy_id="tg-bench"))

    def decay_bucket(b):
        if b["condition"] == "aes-only":
            rec.put_bucket_policy(bucket_by[b["name"]], bucket_policy(b["name"], b["writers"],
                                                                      extra=[deny_unless_aes256(b["name"])]))

    timings = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for phase, fn, items in (("keys", make_key, plan["keys"]), ("buckets", make_bucket, plan["buckets"]),
                                 ("trails", make_trail, plan["trails"]), ("decay_keys", decay_key, plan["keys"]),
                                 ("decay_buckets", decay_bucket, plan["buckets"])):
            t0 = time.monotonic()
            list(pool.map(fn, items))
            timings[phase] = round(time.monotonic() - t0, 2)
        t0 = time.monotonic()
        buckets_of = {a: sorted(b["name"] for b in plan["buckets"] if b["account"] == a) for a in plan["accounts"]}
        list(pool.map(lambda a: _bench_roles(aws, a, roles_per_account, buckets_of[a]), plan["accounts"]))
        timings["iam_roles"] = round(time.monotonic() - t0, 2)
    timings["total"] = round(time.monotonic() - started, 2)
    accounts_out = {}
    for account in plan["accounts"]:
        entry: dict = {"regions": plan["regions"]}
        if account != aws.main_account:
            entry["role_arn"] = aws.role_arn(account)
        accounts_out[account] = entry
    params = {"accounts": accounts, "regions": regions, "trails": trails, "trails_per_bucket": trails_per_bucket,
              "trails_per_key": trails_per_key, "seed": seed, "roles_per_account": roles_per_account}
    return rec.manifest("bench", accounts_out, org_id, params=params, timings=timings,
                        non_compliant_codes=sorted(NON_COMPLIANT_CODES))


BUILDERS = {"none": build_none, "demo": build_demo, "bench": build_bench}
