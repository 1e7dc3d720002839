# -*- coding: utf-8 -*-
# Copyright: trailguard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE module_utils: not part of the collection's public API; may change without notice.
# Pure standard library (no boto3, no ansible imports): the local AWS lab and the filters import it.
"""ARN parsing and construction for the ARNs trailguard deals with (trails, keys, buckets, IAM)."""

from __future__ import annotations

import re

_ARN_RE = re.compile(r"^arn:(?P<partition>[^:]+):(?P<service>[^:]+):(?P<region>[^:]*):(?P<account>[^:]*):(?P<rest>.+)$")


class ArnError(ValueError):
    """Raised when a string is not a well-formed ARN."""


def is_arn(value: object) -> bool:
    """True when ``value`` is a string shaped like ``arn:partition:service:region:account:resource``."""
    return isinstance(value, str) and _ARN_RE.match(value) is not None


def parse_arn(arn: str) -> dict:
    """Split an ARN into partition, service, region, account, resource_type and resource.

    ``resource_type`` is the part before the first ``/`` or ``:`` of the resource section
    (``trail``, ``key``, ``alias``, ``role``...), ``resource`` the rest. S3 ARNs have no type:
    ``arn:aws:s3:::bucket/key`` gives ``resource_type=""`` and ``resource="bucket/key"``; so does a
    resource section without separator (``arn:aws:iam::111111111111:root`` -> ``resource="root"``).
    """
    match = _ARN_RE.match(arn) if isinstance(arn, str) else None
    if match is None:
        raise ArnError(f"not an ARN: {arn!r}")
    parts = match.groupdict()
    rest = parts.pop("rest")
    resource_type, resource = _split_resource(parts["service"], rest)
    return {**parts, "resource_type": resource_type, "resource": resource}


def require(value: object, service: str, resource_type: str, name: str) -> dict:
    """``parse_arn(value)`` when it is a ``service`` ARN of ``resource_type`` with region and account.

    Raises ArnError naming the argument otherwise, e.g. ``trail_arn 'x' is not a cloudtrail trail ARN
    (arn:<partition>:cloudtrail:<region>:<account>:trail/<name>)``.
    """
    leaf = "name" if service == "cloudtrail" else "id"
    example = f"arn:<partition>:{service}:<region>:<account>:{resource_type}/<{leaf}>"
    try:
        parts = parse_arn(value)  # type: ignore[arg-type]
    except ArnError:
        parts = None
    if (parts is None or parts["service"] != service or parts["resource_type"] != resource_type
            or not parts["region"] or not re.fullmatch(r"\d{12}", parts["account"]) or not parts["resource"]):
        raise ArnError(f"{name} {value!r} is not a {service} {resource_type} ARN ({example})")
    return parts


def _split_resource(service: str, rest: str) -> tuple[str, str]:
    """Split the resource section at its first ``/`` or ``:`` (never for S3)."""
    if service == "s3":
        return "", rest
    match = re.match(r"^([^/:]+)[/:](.*)$", rest)
    if match is None:
        return "", rest
    return match.group(1), match.group(2)


def partition_for_region(region: str) -> str:
    """The AWS partition a region belongs to (``aws``, ``aws-cn``, ``aws-us-gov``, ``aws-iso``...)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    if region.startswith("us-iso-"):
        return "aws-iso"
    return "aws"


def trail_arn(region: str, account: str, name: str) -> str:
    """The ARN of trail ``name`` (an ARN is returned unchanged)."""
    if is_arn(name):
        return name
    return f"arn:{partition_for_region(region)}:cloudtrail:{region}:{account}:trail/{name}"


def key_arn(region: str, account: str, key_id: str) -> str:
    """The ARN of a KMS key id (``1234abcd-...``, ``mrk-...``) or alias (``alias/x``); ARNs pass through."""
    if is_arn(key_id):
        return key_id
    resource = key_id if key_id.startswith("alias/") else f"key/{key_id}"
    return f"arn:{partition_for_region(region)}:kms:{region}:{account}:{resource}"


def account_of(arn: str) -> str:
    """The account id of an ARN ("" for S3 and other account-less ARNs)."""
    return parse_arn(arn)["account"]


def bucket_arn(bucket: str, partition: str = "aws") -> str:
    """The ARN of an S3 bucket."""
    return f"arn:{partition}:s3:::{bucket}"
