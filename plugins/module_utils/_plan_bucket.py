# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE to trailguard.cloudtrail_cmk: pure planner for the S3 side of the apply phase.

No boto3, no ansible imports. Given the bucket policy and default encryption just read, the policy
sha256 from the assessment and the approved change, return a :class:`_plan_key.Plan`:

- adds ``TrailGuardCloudTrailAclCheck`` / ``TrailGuardCloudTrailWrite`` (``_policy.cloudtrail_bucket_statements``:
  the trail's exact path, the organization path for organization trails) only when CloudTrail is not
  already allowed; merged by Sid, every other statement kept verbatim;
- a Deny that blocks CloudTrail's SSE-KMS write with the chosen key is refused (``BUCKET_POLICY_BLOCKS_KMS``)
  unless ``amend_blocking_deny``; then ONLY the blocking condition value list is extended (``aws:kms``
  added to an allowed-algorithm list, or the key ARN to an allowed-key list) and every amendment is reported;
- a default-encryption conflict (SSE-KMS by default with another key) is reported as a warning
  (``BUCKET_DEFAULT_ENCRYPTION_CONFLICT``; CloudTrail names its key explicitly so delivery still works)
  and changed with PutBucketEncryption only when ``resolve_default_encryption`` is approved.
"""

from __future__ import annotations

import copy

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _policy
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils._plan_key import (
    Plan,
    api_call,
    drift_check,
    finding,
    foreign_statements_preserved,
    render_policy,
)

MAX_BUCKET_POLICY_BYTES = 20480  # S3 bucket policy size limit

SSE_HEADER = "s3:x-amz-server-side-encryption"
SSE_KEY_HEADER = "s3:x-amz-server-side-encryption-aws-kms-key-id"


def _ref(statement, index):
    return statement.get("Sid") or f"#{index}"


def _find_statement(policy, ref):
    for index, statement in enumerate(policy.get("Statement", [])):
        if _ref(statement, index) == ref:
            return index, statement
    return None, None


def _as_list(value):
    return list(value) if isinstance(value, list) else [value]


# Negated operators whose value list is an allow-list: adding a value narrows the Deny.
_ALLOW_LIST_OPERATORS = ("StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals", "ArnNotLike")


def _amend_statement(statement, key_arn):
    """Minimal amendments that stop ``statement`` from denying an SSE-KMS write with ``key_arn``.

    Returns (amended statement, [amendment records]) or (None, []) when no minimal amendment exists."""
    conditions = statement.get("Condition") or {}
    amended = copy.deepcopy(statement)
    records = []
    for operator, block in conditions.items():
        base = operator.replace("ForAnyValue:", "").replace("ForAllValues:", "")
        base = base[: -len("IfExists")] if base.endswith("IfExists") else base
        if base not in _ALLOW_LIST_OPERATORS or not isinstance(block, dict):
            continue
        for cond_key, values in block.items():
            wanted = None
            if cond_key.lower() == SSE_HEADER:
                wanted = "aws:kms"
            elif cond_key.lower() == SSE_KEY_HEADER:
                wanted = key_arn
            if wanted is None or wanted in _as_list(values):
                continue
            new_values = [*_as_list(values), wanted]
            amended["Condition"][operator][cond_key] = new_values
            records.append(
                {"operator": operator, "key": cond_key, "before": values, "after": new_values, "added": wanted}
            )
    return (amended, records) if records else (None, [])


def _trail_requests(bucket, trail_arn, s3_key_prefix, key_arn, is_organization_trail, organization_id):
    requests = _policy.cloudtrail_bucket_requests(
        bucket,
        trail_arn,
        s3_key_prefix=s3_key_prefix or "",
        key_arn=key_arn,
        is_organization_trail=is_organization_trail,
        organization_id=organization_id,
    )
    names = ["acl", "write"] + (["write_org"] if is_organization_trail and "write_org" in requests else [])
    return {n: requests[n] for n in names}


def blocking_denies(policy, requests):
    """{statement ref: [request names it explicitly denies]}."""
    out = {}
    for name, request in requests.items():
        decision = _policy.evaluate(policy, request)
        if decision.decision == "explicit_deny":
            for ref in decision.denying:
                out.setdefault(ref, []).append(name)
    return out


def not_allowed(policy, requests):
    return [n for n, r in requests.items() if not _policy.evaluate(policy, r).allowed]


def plan_bucket_policy(
    bucket,
    current_policy,
    account_id,
    trail_arn,
    key_arn,
    s3_key_prefix="",
    expected_policy_sha256=None,
    is_organization_trail=False,
    organization_id=None,
    amend_blocking_deny=False,
    default_encryption=None,
    resolve_default_encryption=False,
):
    """``current_policy``: GetBucketPolicy's Policy (None when the bucket has none).
    ``default_encryption``: GetBucketEncryption's first rule, with ``KMSMasterKeyID`` resolved to a key ARN by
    the caller (None when the bucket has none)."""
    plan = Plan(resource=bucket)
    plan.details.update(amendments=[], default_encryption_change=None, statements_added=[])
    try:
        before = _policy.load_policy(current_policy)
    except _policy.PolicyError as exc:
        return plan.refuse("POLICY_MALFORMED", f"The bucket policy of {bucket} cannot be parsed: {exc}")
    plan.before = before
    plan.after = before
    if drift_check(plan, _policy.policy_sha256(current_policy or ""), expected_policy_sha256, "bucket policy"):
        return plan

    requests = _trail_requests(bucket, trail_arn, s3_key_prefix, key_arn, is_organization_trail, organization_id)
    after = before
    denies = blocking_denies(before, requests)
    for ref, names in sorted(denies.items()):
        index, statement = _find_statement(after, ref)
        amended, records = _amend_statement(statement, key_arn) if statement else (None, [])
        if amended is None:
            return plan.refuse(
                "BUCKET_POLICY_BLOCKS_CLOUDTRAIL",
                "Statement {} of the policy of {} denies CloudTrail's {} and has no condition TrailGuard can "
                "amend minimally.".format(ref, bucket, "/".join(names)),
                statement=ref,
            )
        if not amend_blocking_deny:
            return plan.refuse(
                "BUCKET_POLICY_BLOCKS_KMS",
                "Statement {} of the policy of {} denies CloudTrail's SSE-KMS write with {} ({}); amending it "
                "needs amend_blocking_deny: true. Proposed: {}".format(
                    ref,
                    bucket,
                    key_arn,
                    "/".join(names),
                    "; ".join("{} {} += {}".format(r["operator"], r["key"], r["added"]) for r in records),
                ),
                statement=ref,
            )
        after = copy.deepcopy(after)
        after["Statement"][index] = amended
        for record in records:
            record["statement"] = ref
            plan.details["amendments"].append(record)
    still = blocking_denies(after, requests)
    if still:
        ref = sorted(still)[0]
        return plan.refuse(
            "BUCKET_POLICY_BLOCKS_CLOUDTRAIL",
            "Even after amending, statement {} of the policy of {} still denies CloudTrail's {}.".format(
                ref, bucket, "/".join(still[ref])
            ),
            statement=ref,
        )

    if not_allowed(after, requests):
        statements = _policy.cloudtrail_bucket_statements(
            bucket,
            [trail_arn],
            s3_key_prefix or "",
            account_id,
            is_organization_trail=is_organization_trail,
            organization_id=organization_id,
        )
        after = _policy.merge_statements(after, statements)
        plan.details["statements_added"] = [s.get("Sid") for s in statements]

    if _policy.canonical_json(after) != _policy.canonical_json(before):
        amended_refs = {a["statement"] for a in plan.details["amendments"]}
        lost = [r for r in foreign_statements_preserved(before, after) if r not in amended_refs]
        if lost:
            return plan.refuse(
                "MERGE_INVARIANT_VIOLATED",
                "Statements {} would change or disappear.".format(", ".join(lost)),
                statement=lost[0],
            )
        rendered = render_policy(after, MAX_BUCKET_POLICY_BYTES)
        if len(rendered.encode("utf-8")) > MAX_BUCKET_POLICY_BYTES:
            return plan.refuse(
                "BUCKET_POLICY_TOO_LARGE",
                f"The bucket policy of {bucket} would be {len(rendered.encode('utf-8'))} bytes; S3 accepts "
                f"at most {MAX_BUCKET_POLICY_BYTES}.",
            )
        plan.after = after
        plan.diff = _policy.policy_diff(before, after)
        plan.calls.append(api_call("s3", "PutBucketPolicy", Bucket=bucket, Policy=rendered))

    _plan_default_encryption(plan, bucket, key_arn, default_encryption, resolve_default_encryption)
    plan.changed = bool(plan.calls)
    plan.action = (
        "+".join(
            {"PutBucketPolicy": "put_bucket_policy", "PutBucketEncryption": "put_bucket_encryption"}[c["operation"]]
            for c in plan.calls
        )
        or "none"
    )
    return plan


def _plan_default_encryption(plan, bucket, key_arn, rule, resolve):
    default = (rule or {}).get("ApplyServerSideEncryptionByDefault") or {}
    if default.get("SSEAlgorithm") not in ("aws:kms", "aws:kms:dsse"):
        return
    current_key = default.get("KMSMasterKeyID")
    if current_key == key_arn:
        return
    message = (
        "Default encryption of {} uses {}, not the trail key {}; objects written without encryption "
        "headers (e.g. digest files) use that key.".format(bucket, current_key or "the AWS-managed aws/s3 key", key_arn)
    )
    if not resolve:
        plan.warnings.append(finding("BUCKET_DEFAULT_ENCRYPTION_CONFLICT", bucket, message, severity="medium"))
        return
    new_rule = {
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
    }
    if "BucketKeyEnabled" in (rule or {}):
        new_rule["BucketKeyEnabled"] = rule["BucketKeyEnabled"]
    plan.details["default_encryption_change"] = {"before": rule, "after": new_rule}
    plan.calls.append(
        api_call("s3", "PutBucketEncryption", Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [new_rule]})
    )
