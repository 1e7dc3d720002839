# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE to trailguard.cloudtrail_cmk: pure planner for attaching a KMS key to a trail.

No boto3, no ansible imports. The only write ever planned is
``UpdateTrail(Name=<trail ARN>, KmsKeyId=<key ARN>)`` from the trail's home region: nothing else is
restated (amazon.aws ``cloudtrail`` restates IsMultiRegionTrail / IncludeGlobalServiceEvents and can turn a
multi-region trail into a single-region one). The trail's current KmsKeyId from the assessment is the
concurrency token.

:func:`explain_update_trail_error` turns UpdateTrail's errors into findings with remediation; for
``InsufficientEncryptionPolicyException`` (whose AWS message names both the bucket and the key) it re-runs
the policy evaluation with ``_policy`` and says which policy is at fault and which statement is missing.
"""

from __future__ import annotations

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _arn
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _policy
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils._plan_key import Plan, api_call, finding

# Which TrailGuard statement supplies each CloudTrail request (names from CONTRACTS.md).
KEY_REQUEST_SIDS = {
    "encrypt": "TrailGuardCloudTrailEncrypt",
    "describe": "TrailGuardCloudTrailDescribeKey",
    "decrypt": "TrailGuardCloudTrailDecryptBucketKey",
}
BUCKET_REQUEST_SIDS = {
    "acl": "TrailGuardCloudTrailAclCheck",
    "write": "TrailGuardCloudTrailWrite",
    "write_org": "TrailGuardCloudTrailWrite",
}
REQUEST_ACTIONS = {
    "encrypt": "kms:GenerateDataKey*",
    "describe": "kms:DescribeKey",
    "decrypt": "kms:Decrypt",
    "acl": "s3:GetBucketAcl",
    "write": "s3:PutObject",
    "write_org": "s3:PutObject (organization path)",
}


def normalise_key_id(value):
    return value or ""


def plan_attach(trail, region, key_arn, expected_kms_key_id=None, caller_account=None):
    """``trail``: the describe_trails entry just read (None when not found); ``region``: the region the
    client calls; ``expected_kms_key_id``: KmsKeyId from the assessment ("" = no key; None = no check)."""
    trail_arn = (trail or {}).get("TrailARN") or "unknown-trail"
    plan = Plan(resource=trail_arn)
    if not trail:
        return plan.refuse("TRAIL_NOT_FOUND", "The trail was not found.")
    current = normalise_key_id(trail.get("KmsKeyId"))
    plan.before = {"KmsKeyId": current}
    plan.after = {"KmsKeyId": current}
    plan.details.update(previous_kms_key_id=current or None, kms_key_id=current or None)
    home = trail.get("HomeRegion") or _arn.parse_arn(trail_arn)["region"]
    if home != region:
        return plan.refuse(
            "INVALID_HOME_REGION", f"{trail_arn} lives in {home}; UpdateTrail must be called there, not in {region}."
        )
    if trail.get("IsOrganizationTrail") and caller_account:
        owner = _arn.parse_arn(trail_arn)["account"]
        if owner != caller_account:
            return plan.refuse(
                "ORGANIZATION_TRAIL_NOT_MANAGEABLE",
                f"{trail_arn} is an organization trail owned by {owner}; account {caller_account} cannot change it.",
            )
    if current == key_arn:
        return plan  # already there: idempotent, no drift question
    if expected_kms_key_id is not None and current != normalise_key_id(expected_kms_key_id):
        return plan.refuse(
            "DRIFT_DETECTED",
            f"The KmsKeyId of {trail_arn} changed since the assessment "
            f"(expected {normalise_key_id(expected_kms_key_id)!r}, found {current!r}); nothing was written.",
        )
    plan.after = {"KmsKeyId": key_arn}
    plan.details["kms_key_id"] = key_arn
    plan.diff = "- KmsKeyId: {}\n+ KmsKeyId: {}\n".format(current or "(none)", key_arn)
    plan.calls.append(api_call("cloudtrail", "UpdateTrail", Name=trail_arn, KmsKeyId=key_arn))
    plan.changed = True
    plan.action = "update_trail"
    return plan


def _denied(policy, requests, names):
    out = []
    for name in names:
        decision = _policy.evaluate(policy, requests[name])
        if not decision.allowed:
            out.append((name, decision))
    return out


def diagnose_insufficient_policy(
    trail, key_arn, key_policy, bucket_policy, bucket_key_enabled=False, organization_id=None
):
    """Which of the key / bucket policy blocks CloudTrail, and which statement is missing.

    Returns {"culprit": "key"|"bucket"|"both"|"unknown", "missing": [{policy, request, action, sid,
    explicit_deny_by}], "message": str}."""
    trail_arn = trail["TrailARN"]
    is_org = bool(trail.get("IsOrganizationTrail"))
    key_requests = _policy.cloudtrail_key_requests(
        trail_arn, key_arn, is_organization_trail=is_org, organization_id=organization_id
    )
    key_names = ["encrypt", "describe"] + (["decrypt"] if bucket_key_enabled else [])
    bucket = trail.get("S3BucketName")
    bucket_requests = _policy.cloudtrail_bucket_requests(
        bucket,
        trail_arn,
        s3_key_prefix=trail.get("S3KeyPrefix") or "",
        key_arn=key_arn,
        is_organization_trail=is_org,
        organization_id=organization_id,
    )
    bucket_names = ["acl", "write"] + (["write_org"] if is_org and "write_org" in bucket_requests else [])

    missing = []
    for policy_name, policy, requests, names, sids in (
        ("key", key_policy, key_requests, key_names, KEY_REQUEST_SIDS),
        ("bucket", bucket_policy, bucket_requests, bucket_names, BUCKET_REQUEST_SIDS),
    ):
        if policy is None:
            continue
        for name, decision in _denied(_policy.load_policy(policy), requests, names):
            missing.append(
                {
                    "policy": policy_name,
                    "resource": key_arn if policy_name == "key" else bucket,
                    "request": name,
                    "action": REQUEST_ACTIONS[name],
                    "sid": sids[name],
                    "explicit_deny_by": list(decision.denying) if decision.decision == "explicit_deny" else [],
                }
            )
    kinds = sorted({m["policy"] for m in missing})
    culprit = {(): "unknown", ("key",): "key", ("bucket",): "bucket", ("bucket", "key"): "both"}[tuple(kinds)]
    parts = []
    for m in missing:
        if m["explicit_deny_by"]:
            parts.append(
                "the {} policy of {} explicitly denies {} (statement {})".format(
                    m["policy"], m["resource"], m["action"], ", ".join(m["explicit_deny_by"])
                )
            )
        else:
            parts.append(
                "the {} policy of {} does not allow cloudtrail.amazonaws.com {} (missing statement {})".format(
                    m["policy"], m["resource"], m["action"], m["sid"]
                )
            )
    if parts:
        message = "At fault: {}. {}.".format(culprit, "; ".join(parts))
    else:
        message = (
            "Both policies evaluate as allowing CloudTrail; the key may be in another region than the "
            "bucket, or an SCP / permissions boundary may interfere."
        )
    return {"culprit": culprit, "missing": missing, "message": message}


def explain_update_trail_error(code, aws_message, trail, key_arn, diagnosis=None):
    """A finding for UpdateTrail's error ``code``. ``diagnosis`` from :func:`diagnose_insufficient_policy`."""
    trail_arn = (trail or {}).get("TrailARN") or "unknown-trail"
    if code == "InsufficientEncryptionPolicyException":
        diagnosis = diagnosis or {"culprit": "unknown", "missing": [], "message": ""}
        fix = []
        if diagnosis["culprit"] in ("key", "both"):
            fix.append(f"run trailguard.cloudtrail_cmk.kms_cloudtrail_policy for {key_arn}")
        if diagnosis["culprit"] in ("bucket", "both"):
            fix.append(
                "run trailguard.cloudtrail_cmk.s3_cloudtrail_policy for bucket {}".format(
                    (trail or {}).get("S3BucketName")
                )
            )
        result = finding(
            "INSUFFICIENT_ENCRYPTION_POLICY",
            trail_arn,
            "{} (AWS: {})".format(diagnosis["message"], aws_message),
            remediation=("; ".join(fix) or "Check the key and bucket policies, SCPs and the key's region.")
            + ", then re-run trail_kms_attach.",
            statement=(diagnosis["missing"][0]["sid"] if diagnosis["missing"] else None),
        )
        result["culprit"] = diagnosis["culprit"]
        result["missing"] = diagnosis["missing"]
        return result
    table = {
        "KmsKeyNotFoundException": (
            "KMS_KEY_NOT_FOUND",
            f"The key {key_arn} does not exist or is not in the same region as the trail's bucket.",
            "Use a key ARN in the bucket's region (create one with kms_cloudtrail_policy).",
        ),
        "KmsException": (
            "KMS_EXCEPTION",
            f"KMS refused the key {key_arn}: it may be disabled or pending deletion.",
            "Check the key state (describe-key); enable it or cancel its deletion yourself, or choose another key.",
        ),
        "InvalidHomeRegionException": (
            "INVALID_HOME_REGION",
            f"UpdateTrail was not called from the home region of {trail_arn}.",
            "Call it from the region in the trail ARN.",
        ),
        "TrailNotFoundException": (
            "TRAIL_NOT_FOUND",
            f"{trail_arn} was not found.",
            "Check the trail ARN, account and region.",
        ),
    }
    mapped, message, remediation = table.get(
        code,
        (
            "UPDATE_TRAIL_FAILED",
            f"UpdateTrail failed for {trail_arn}.",
            "Read the AWS error; nothing else was changed.",
        ),
    )
    return finding(mapped, trail_arn, f"{message} (AWS {code}: {aws_message})", remediation=remediation)
