# Copyright: contributors to trailguard.cloudtrail_cmk
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE to trailguard.cloudtrail_cmk: one small retried function per KMS read API call.

Missing keys (``NotFoundException``) are answered with ``None``; AccessDenied raises
``_common.AccessDeniedError`` which the inventory turns into a KEY_UNREADABLE finding.
"""

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils._common import call, paginate

KEY_NOT_FOUND = ("NotFoundException",)


def list_keys(client):
    """``[{"KeyId", "KeyArn"}]`` of every key in the client's region (all pages)."""
    return paginate(client, "list_keys")["Keys"]


def list_aliases(client):
    """Every alias in the client's region (all pages), AWS-managed ``alias/aws/*`` included."""
    return paginate(client, "list_aliases")["Aliases"]


def describe_key(client, key_id):
    result = call(client, "describe_key", not_found=KEY_NOT_FOUND, resource=key_id, KeyId=key_id)
    return None if result is None else result["KeyMetadata"]


def get_key_policy(client, key_id):
    """The key policy as a JSON string (``default`` is the only policy name KMS has)."""
    result = call(
        client, "get_key_policy", not_found=KEY_NOT_FOUND, resource=key_id, KeyId=key_id, PolicyName="default"
    )
    return None if result is None else result.get("Policy")


def get_key_rotation_status(client, key_id):
    """``{"enabled": bool, "period_in_days": int|None}`` or None when the key is gone."""
    result = call(client, "get_key_rotation_status", not_found=KEY_NOT_FOUND, resource=key_id, KeyId=key_id)
    if result is None:
        return None
    return {"enabled": bool(result.get("KeyRotationEnabled")), "period_in_days": result.get("RotationPeriodInDays")}


def list_resource_tags(client, key_id):
    """``{TagKey: TagValue}`` (all pages) or None when the key is gone."""
    result = paginate(client, "list_resource_tags", not_found=KEY_NOT_FOUND, resource=key_id, KeyId=key_id)
    if result is None:
        return None
    return {t["TagKey"]: t.get("TagValue", "") for t in result.get("Tags") or []}
