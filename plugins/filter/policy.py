# -*- coding: utf-8 -*-
# Copyright: trailguard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Policy analysis filters: cloudtrail_key_policy_findings, cloudtrail_bucket_policy_findings.
Documentation in the .yml sidecars next to this file."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _policy
from ansible_collections.trailguard.cloudtrail_cmk.plugins.plugin_utils._filter_args import optional


def _required(name: str, filter_name: str, value):
    """The value of a required string argument, AnsibleFilterError when it is missing."""
    value = optional(value)
    if not isinstance(value, str):
        raise AnsibleFilterError(f"{filter_name}: {name} is required (a string), got {value!r}")
    return value


def _bool(name: str, filter_name: str, value) -> bool:
    """A boolean argument (true/false, yes/no, 1/0 accepted as Ansible does)."""
    value = optional(value)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise AnsibleFilterError(f"{filter_name}: {name} must be a boolean, got {value!r}")


def _policy_input(filter_name: str, policy):
    """The policy as str / dict / None, AnsibleFilterError for other types."""
    if policy is None or isinstance(policy, (str, dict)):
        return policy
    raise AnsibleFilterError(f"{filter_name}: the policy must be a JSON string or a dict, got {type(policy).__name__}")


def cloudtrail_key_policy_findings(
    policy,
    trail_arn=None,
    key_arn=None,
    is_organization_trail=False,
    organization_id=None,
    bucket_key_enabled=False,
):
    """Findings on a KMS key policy for CloudTrail encrypting ``trail_arn``'s logs; [] = usable."""
    name = "cloudtrail_key_policy_findings"
    try:
        return _policy.key_policy_findings(
            _policy_input(name, policy),
            _required("trail_arn", name, trail_arn),
            _required("key_arn", name, key_arn),
            is_organization_trail=_bool("is_organization_trail", name, is_organization_trail),
            organization_id=optional(organization_id),
            bucket_key_enabled=_bool("bucket_key_enabled", name, bucket_key_enabled),
        )
    except _policy.PolicyError as exc:
        raise AnsibleFilterError(f"{name}: {exc}") from exc


def cloudtrail_bucket_policy_findings(
    policy,
    bucket=None,
    trail_arn=None,
    s3_key_prefix="",
    key_arn=None,
    is_organization_trail=False,
    organization_id=None,
):
    """Findings on an S3 bucket policy for CloudTrail delivering ``trail_arn``'s logs; [] = delivery works."""
    name = "cloudtrail_bucket_policy_findings"
    prefix = optional(s3_key_prefix) or ""
    if not isinstance(prefix, str):
        raise AnsibleFilterError(f"{name}: s3_key_prefix must be a string, got {prefix!r}")
    try:
        return _policy.bucket_policy_findings(
            _policy_input(name, policy),
            _required("bucket", name, bucket),
            _required("trail_arn", name, trail_arn),
            s3_key_prefix=prefix,
            key_arn=optional(key_arn),
            is_organization_trail=_bool("is_organization_trail", name, is_organization_trail),
            organization_id=optional(organization_id),
        )
    except _policy.PolicyError as exc:
        raise AnsibleFilterError(f"{name}: {exc}") from exc


class FilterModule:
    """trailguard.cloudtrail_cmk policy analysis filters."""

    def filters(self):
        return {
            "cloudtrail_key_policy_findings": cloudtrail_key_policy_findings,
            "cloudtrail_bucket_policy_findings": cloudtrail_bucket_policy_findings,
        }
