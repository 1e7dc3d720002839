"""The CloudTrail-side checks shared by CreateTrail/UpdateTrail validation and log delivery."""

from __future__ import annotations

import dataclasses

from . import policy as pol
from .accounts import ORGANIZATION_ID
from .backends import (
    bucket_key_enabled,
    bucket_policy,
    bucket_region,
    find_bucket,
    mark_aws_managed,
    kms_backend,
    resolve_key,
)


def org_id_for(trail) -> str | None:
    return ORGANIZATION_ID if getattr(trail, "is_org_trail", False) else None


def key_allows_cloudtrail(key, trail_arn: str, bucket, is_org: bool = False) -> bool:
    reqs = pol.engine().cloudtrail_key_requests(trail_arn, key.arn, is_org, ORGANIZATION_ID if is_org else None)
    needed = ["encrypt", "describe"] + (["decrypt"] if bucket_key_enabled(bucket) else [])
    return all(pol.allowed(key.policy, reqs[name]) for name in needed)


def bucket_decision(bucket, trail_arn: str, prefix: str | None, key_arn: str | None, is_org: bool = False,
                    object_key: str | None = None, request_name: str = "write"):
    """evaluate() of CloudTrail's write (optionally at a concrete object key) against the bucket policy."""
    reqs = pol.engine().cloudtrail_bucket_requests(bucket.name, trail_arn, prefix or "", key_arn, is_org,
                                                   ORGANIZATION_ID if is_org else None)
    request = reqs[request_name]
    if object_key is not None:
        request = dataclasses.replace(request, resource=f"arn:aws:s3:::{bucket.name}/{object_key}")
    return pol.decision(bucket_policy(bucket), request)


def bucket_allows_cloudtrail(bucket, trail_arn: str, prefix: str | None, key_arn: str | None,
                             is_org: bool = False) -> bool:
    reqs = pol.engine().cloudtrail_bucket_requests(bucket.name, trail_arn, prefix or "", key_arn, is_org,
                                                   ORGANIZATION_ID if is_org else None)
    policy = bucket_policy(bucket)
    return pol.allowed(policy, reqs["acl"]) and pol.allowed(policy, reqs["write"])


def resolve_trail_key(account: str, region: str, key_ref: str):
    key = resolve_key(account, region, key_ref)
    if key is not None:
        mark_aws_managed(kms_backend(key.account_id, key.region))
    return key


__all__ = [
    "bucket_allows_cloudtrail",
    "bucket_decision",
    "bucket_region",
    "find_bucket",
    "key_allows_cloudtrail",
    "org_id_for",
    "resolve_trail_key",
]
