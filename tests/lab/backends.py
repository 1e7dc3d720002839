"""In-process access to moto's backends (the lab runs in the same process as moto)."""

from __future__ import annotations

import json

AWS_MANAGED_PREFIX = "alias/aws/"


def kms_backend(account: str, region: str):
    from moto.kms.models import kms_backends

    return kms_backends[account][region]


def cloudtrail_backend(account: str, region: str):
    from moto.cloudtrail.models import cloudtrail_backends

    return cloudtrail_backends[account][region]


def s3_backend(account: str):
    from moto.s3.models import s3_backends

    return s3_backends[account]["aws"]


def find_bucket(account: str, name: str):
    """The bucket (any account: S3 bucket names are global) or None."""
    from moto.s3.models import s3_backends

    try:
        return s3_backend(account).get_bucket(name)
    except Exception:
        pass
    owner = s3_backends.bucket_accounts.get(name)
    if owner:
        try:
            return s3_backends[owner[1]][owner[0]].get_bucket(name)
        except Exception:
            return None
    return None


def bucket_policy(bucket) -> str | None:
    policy = getattr(bucket, "policy", None)
    if not policy:
        return None
    return policy.decode() if isinstance(policy, bytes) else policy


def bucket_region(bucket) -> str:
    return getattr(bucket, "region_name", None) or "us-east-1"


def bucket_encryption_rule(bucket) -> dict:
    enc = getattr(bucket, "encryption", None) or {}
    rule = enc.get("Rule") or {}
    if isinstance(rule, list):
        rule = rule[0] if rule else {}
    return rule


def bucket_key_enabled(bucket) -> bool:
    value = bucket_encryption_rule(bucket).get("BucketKeyEnabled", False)
    return str(value).lower() == "true"


def parse_key_ref(key_ref: str, account: str, region: str) -> tuple[str, str, str]:
    """(account, region, id-or-alias) of a key id, key ARN, alias name or alias ARN."""
    if key_ref.startswith("arn:"):
        parts = key_ref.split(":", 5)
        if len(parts) == 6 and parts[2] == "kms":
            return parts[4] or account, parts[3] or region, parts[5]
    return account, region, key_ref


def resolve_key(account: str, region: str, key_ref: str | None):
    """The moto Key for a key id / key ARN / alias name / alias ARN, or None. Key ARNs and alias ARNs
    are looked up in the region (and account) they name."""
    if not key_ref:
        return None
    key_account, key_region, ref = parse_key_ref(key_ref, account, region)
    try:
        backend = kms_backend(key_account, key_region)
    except Exception:
        return None
    if ref.startswith("key/"):
        ref = ref[4:]
    if ref.startswith("alias/"):
        key_id = backend.get_key_id_from_alias(ref)
        if key_id is None:
            return None
        mark_aws_managed(backend)
        return backend.keys.get(key_id)
    return backend.keys.get(ref)


def key_aliases(key) -> list[str]:
    return list(getattr(key, "aliases", {}) or {})


def is_aws_managed(key) -> bool:
    return getattr(key, "key_manager", "CUSTOMER") == "AWS" or any(
        a.startswith(AWS_MANAGED_PREFIX) for a in key_aliases(key)
    )


def aws_managed_policy(key, service: str) -> str:
    """The policy AWS gives AWS-managed keys: use via the owning service only, read-only otherwise."""
    account, region = key.account_id, key.region
    return json.dumps({
        "Version": "2012-10-17",
        "Id": f"auto-{service}-2",
        "Statement": [
            {
                "Sid": f"Allow access through {service.upper()} for all principals in the account that are "
                       f"authorized to use {service.upper()}",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                           "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:CallerAccount": account,
                                               "kms:ViaService": f"{service}.{region}.amazonaws.com"}},
            },
            {
                "Sid": "Allow direct access to key metadata to the account",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": ["kms:Describe*", "kms:Get*", "kms:List*"],
                "Resource": "*",
            },
        ],
    })


def mark_aws_managed(backend) -> None:
    """moto creates ``alias/aws/*`` keys as CUSTOMER keys with the default policy; AWS reports
    KeyManager AWS and an AWS-owned policy that only the service may use."""
    for key in list(backend.keys.values()):
        if key.key_manager == "AWS":
            continue
        managed = [a for a in key_aliases(key) if a.startswith(AWS_MANAGED_PREFIX)]
        if managed:
            service = managed[0][len(AWS_MANAGED_PREFIX):]
            key.key_manager = "AWS"
            key.policy = aws_managed_policy(key, service)
            key.key_rotation_status = True  # AWS rotates AWS-managed keys every year
            key.description = f"Default key that protects my {service.upper()} data when no other key is defined"


def key_state(key) -> str:
    return getattr(key, "key_state", "Enabled")


def is_symmetric_encryption_key(key) -> bool:
    """CloudTrail (GenerateDataKey) needs a SYMMETRIC_DEFAULT ENCRYPT_DECRYPT key (moto leaves usage None)."""
    return ((key.key_spec or "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"
            and (key.key_usage or "ENCRYPT_DECRYPT") == "ENCRYPT_DECRYPT")
