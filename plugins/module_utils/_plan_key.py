# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE to trailguard.cloudtrail_cmk: pure planner for the KMS side of the apply phase.

No boto3, no ansible imports. Given what was just read from AWS (key metadata, key policy, grants),
the token from the assessment (policy sha256) and the approved change, return a :class:`Plan`
naming exactly which API calls to make. The runner (``_apply_runner``) executes plans.

Also home of :class:`Plan`, :func:`finding` and the other small helpers shared by ``_plan_bucket``
and ``_plan_attach``.

Safety rules enforced here (each refusal has a code, see ``REFUSAL_CODES``):
- only statements whose Sid starts with ``TrailGuard`` are added or merged (``_policy.merge_statements``);
  every other statement is checked to be present verbatim afterwards;
- the result must stay under KMS's 32 KB key-policy limit and keep the account's administrative access;
- ``BypassPolicyLockoutSafetyCheck`` is never sent; a key is never enabled and its deletion never
  cancelled; AWS-managed, disabled, pending-deletion, asymmetric and wrong-region keys are refused.

Grants: KMS ``CreateGrant`` only accepts IAM principal ARNs as ``GranteePrincipal`` (accounts, users,
roles, federated and assumed-role users; see the CreateGrant API reference in the pinned botocore
1.40 model). ``cloudtrail.amazonaws.com`` cannot be a grantee there, and CloudTrail's documented
mechanism is the key policy. So grants are only used for *readers*; when CloudTrail's own permission
is missing and ``use_grant`` is asked, the plan is refused with ``GRANT_CANNOT_SERVE_CLOUDTRAIL``.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _arn
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _policy

CREATED_BY_TAG_KEY = "trailguard:created-by"
CREATED_BY_TAG_VALUE = "trailguard.cloudtrail_cmk"
READERS_SID = "TrailGuardLogReadersDecrypt"
READER_GRANT_NAME = READERS_SID
READER_GRANT_OPERATIONS = ["Decrypt", "DescribeKey"]
NEW_KEY = "<new-key>"  # placeholder for the id/ARN CreateKey will return

REFUSAL_CODES = {
    "DRIFT_DETECTED": "The resource changed since the assessment; re-run assess and approve again.",
    "KEY_AWS_MANAGED": "Choose or create a customer-managed key; AWS-managed key policies cannot be changed.",
    "KEY_DISABLED": "Enable the key yourself (TrailGuard never re-enables keys) or choose another key.",
    "KEY_PENDING_DELETION": "Cancel the deletion yourself if the key is still wanted (TrailGuard never does), "
    "or choose another key.",
    "KEY_UNAVAILABLE": "The key is not usable (pending import, unavailable or being created); choose another key.",
    "KEY_NOT_SYMMETRIC": "CloudTrail needs a symmetric encryption key (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT).",
    "KEY_REGION_MISMATCH": "CloudTrail needs the key in the same region as the trail's S3 bucket; "
    "use or create a key (or multi-Region replica) in that region.",
    "POLICY_MALFORMED": "Fix the policy JSON by hand; TrailGuard does not rewrite policies it cannot parse.",
    "POLICY_TOO_LARGE": "Remove unused statements from the key policy (KMS limit: 32 KB) or use grants for readers.",
    "ADMIN_ACCESS_WOULD_BE_LOST": "Add a statement giving the account (arn:aws:iam::<account>:root) kms:* before "
    "changing this policy; TrailGuard never produces a policy that locks administrators out.",
    "MERGE_INVARIANT_VIOLATED": "Internal safety check failed: a statement TrailGuard does not own would change. "
    "Nothing was written; report this as a bug.",
    "GRANT_CANNOT_SERVE_CLOUDTRAIL": "KMS grants cannot name a service principal, so CloudTrail's permission must "
    "be in the key policy: re-run with use_grant=false (and key policy changes approved).",
    "ALIAS_IN_USE": "The alias already names a key TrailGuard did not create; choose another alias or "
    "use_existing_key with that key.",
    "KEY_NOT_FOUND": "The key does not exist in this account and region; check the key ARN.",
    # bucket
    "BUCKET_POLICY_BLOCKS_KMS": "Amend the Deny statement so SSE-KMS with the chosen key is allowed "
    "(or re-run with amend_blocking_deny: true once approved).",
    "BUCKET_POLICY_BLOCKS_CLOUDTRAIL": "A Deny statement blocks CloudTrail in a way TrailGuard cannot amend "
    "minimally; edit it by hand.",
    "BUCKET_POLICY_TOO_LARGE": "Remove unused statements from the bucket policy (S3 limit: 20 KB).",
    "BUCKET_DEFAULT_ENCRYPTION_CONFLICT": "Set the bucket's default encryption to the trail key "
    "(resolve_default_encryption: true) or accept that objects written without encryption headers use another key.",
    "BUCKET_NOT_FOUND": "The trail's bucket does not exist or is not readable; check the trail's S3BucketName.",
    # trail
    "TRAIL_NOT_FOUND": "Check the trail ARN and the account/region credentials.",
    "INVALID_HOME_REGION": "Call UpdateTrail from the trail's home region (the region in its ARN).",
    "ORGANIZATION_TRAIL_NOT_MANAGEABLE": "Organization trails can only be changed from the management account.",
    "LOGGING_STATUS_CHANGED": "Check get-trail-status and restore logging (start-logging/stop-logging) by hand.",
}


def finding(code, resource, message, severity="critical", statement=None, remediation=None):
    """A finding in the shape CONTRACTS.md defines; remediation defaults to REFUSAL_CODES[code]."""
    return {
        "code": code,
        "severity": severity,
        "resource": resource,
        "message": message,
        "remediation": remediation if remediation is not None else REFUSAL_CODES.get(code, ""),
        "statement": statement,
    }


def api_call(service, operation, **params):
    return {"service": service, "operation": operation, "params": params}


@dataclass
class Plan:
    """What one resource needs. ``errors`` non-empty means: refuse, make no call."""

    resource: str
    action: str = "none"
    changed: bool = False
    errors: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    before: dict | None = None
    after: dict | None = None
    diff: str = ""
    calls: list = field(default_factory=list)
    details: dict = field(default_factory=dict)

    @property
    def ok(self):
        return not self.errors

    def refuse(self, code, message, statement=None, severity="critical"):
        self.errors.append(finding(code, self.resource, message, severity=severity, statement=statement))
        self.changed = False
        self.calls = []
        return self

    def as_dict(self):
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# shared helpers (also used by _plan_bucket)


def _statement_ref(statement, index):
    sid = statement.get("Sid") if isinstance(statement, dict) else None
    return sid if sid else f"#{index}"


def foreign_statements_preserved(before, after):
    """Every statement whose Sid does not start with TrailGuard is in ``after`` verbatim.

    Returns the list of refs of statements that are missing or changed (empty = preserved)."""
    after_set = [json.dumps(s, sort_keys=True) for s in after.get("Statement", [])]
    missing = []
    for index, statement in enumerate(before.get("Statement", [])):
        if str(statement.get("Sid", "")).startswith(_policy.OUR_SID_PREFIX):
            continue
        if json.dumps(statement, sort_keys=True) not in after_set:
            missing.append(_statement_ref(statement, index))
    return missing


def render_policy(policy, limit=None):
    """The exact string to send: indented when it fits under ``limit``, compact otherwise."""
    pretty = json.dumps(policy, indent=2, sort_keys=False)
    if limit is None or len(pretty.encode("utf-8")) <= limit:
        return pretty
    return json.dumps(policy, separators=(",", ":"), sort_keys=False)


def drift_check(plan, current_policy_sha, expected_sha, what="policy"):
    """Refuse with DRIFT_DETECTED when a token was given and the live value differs."""
    if expected_sha is None:
        return False
    if current_policy_sha != expected_sha:
        plan.refuse(
            "DRIFT_DETECTED",
            f"The {what} of {plan.resource} changed since the assessment (expected sha256 {expected_sha}, "
            f"found {current_policy_sha}); nothing was written.",
        )
        return True
    return False


def _policy_or_refuse(plan, raw):
    try:
        return _policy.load_policy(raw)
    except _policy.PolicyError as exc:
        plan.refuse("POLICY_MALFORMED", f"The current policy of {plan.resource} cannot be parsed: {exc}")
        return None


# ---------------------------------------------------------------------------------------------
# key checks


def key_refusals(plan, metadata, bucket_region=None):
    """Append refusals for keys CloudTrail cannot (or TrailGuard must not) use. Returns True if refused."""
    arn = metadata.get("Arn") or plan.resource
    state = metadata.get("KeyState")
    if metadata.get("KeyManager") == "AWS":
        plan.refuse("KEY_AWS_MANAGED", f"{arn} is an AWS-managed key; its policy cannot be changed.")
    if state == "Disabled":
        plan.refuse("KEY_DISABLED", f"{arn} is disabled; TrailGuard does not enable keys.")
    elif state in ("PendingDeletion", "PendingReplicaDeletion"):
        when = metadata.get("DeletionDate")
        plan.refuse(
            "KEY_PENDING_DELETION",
            "{} is scheduled for deletion{}; TrailGuard does not cancel deletions.".format(
                arn, f" on {when}" if when else ""
            ),
        )
    elif state and state != "Enabled":
        plan.refuse("KEY_UNAVAILABLE", f"{arn} is in state {state}.")
    spec = metadata.get("KeySpec") or metadata.get("CustomerMasterKeySpec") or "SYMMETRIC_DEFAULT"
    usage = metadata.get("KeyUsage") or "ENCRYPT_DECRYPT"
    if spec != "SYMMETRIC_DEFAULT" or usage != "ENCRYPT_DECRYPT":
        plan.refuse(
            "KEY_NOT_SYMMETRIC", f"{arn} is {spec}/{usage}; CloudTrail needs SYMMETRIC_DEFAULT/ENCRYPT_DECRYPT."
        )
    if bucket_region and arn and _arn.is_arn(arn):
        key_region = _arn.parse_arn(arn)["region"]
        if key_region != bucket_region:
            plan.refuse(
                "KEY_REGION_MISMATCH",
                f"{arn} is in {key_region} but the trail's bucket is in {bucket_region}.",
            )
    return bool(plan.errors)


def _cloudtrail_allowed(policy, trail_arns, key_arn, bucket_key_enabled, is_organization_trail, organization_id):
    """{trail_arn: [request names CloudTrail needs that the policy does not allow]}."""
    missing = {}
    for trail in trail_arns:
        requests = _policy.cloudtrail_key_requests(
            trail, key_arn, is_organization_trail=is_organization_trail, organization_id=organization_id
        )
        names = ["encrypt", "describe"] + (["decrypt"] if bucket_key_enabled else [])
        denied = [n for n in names if not _policy.evaluate(policy, requests[n]).allowed]
        if denied:
            missing[trail] = denied
    return missing


def _grant_present(grants, reader, key_arn):
    for grant in grants or ():
        if grant.get("GranteePrincipal") != reader:
            continue
        if set(READER_GRANT_OPERATIONS) <= set(grant.get("Operations") or ()):
            return grant.get("GrantId")
    return None


def _finish_policy_plan(plan, before, after, account_id):
    """Shared tail for patch and create: invariants, size, admin access, diff."""
    lost = foreign_statements_preserved(before, after) if before else []
    if lost:
        return plan.refuse(
            "MERGE_INVARIANT_VIOLATED",
            "Statements {} would change or disappear.".format(", ".join(lost)),
            statement=lost[0],
        )
    rendered = render_policy(after, _policy.MAX_KEY_POLICY_BYTES)
    size = len(rendered.encode("utf-8"))
    plan.details["policy_bytes"] = size
    if size > _policy.MAX_KEY_POLICY_BYTES:
        return plan.refuse(
            "POLICY_TOO_LARGE",
            f"The key policy would be {size} bytes; KMS accepts at most {_policy.MAX_KEY_POLICY_BYTES}.",
        )
    if not _policy.admin_access_preserved(after, account_id):
        return plan.refuse(
            "ADMIN_ACCESS_WOULD_BE_LOST",
            "The resulting key policy would not give account {} administrative access to the key{}.".format(
                account_id,
                ""
                if before is None or _policy.admin_access_preserved(before, account_id)
                else " (the current policy already lacks it)",
            ),
        )
    plan.details["policy_document"] = rendered
    return plan


def plan_key_policy(
    metadata,
    current_policy,
    account_id,
    trail_arns,
    expected_policy_sha256=None,
    bucket_region=None,
    bucket_key_enabled=False,
    readers=(),
    use_grant=False,
    grants=(),
    is_organization_trail=False,
    organization_id=None,
    policy_name="default",
):
    """Plan the change of an existing key: PutKeyPolicy with only TrailGuard statements added, and/or
    CreateGrant for readers when ``use_grant``.

    ``metadata`` is DescribeKey's KeyMetadata; ``current_policy`` GetKeyPolicy's Policy (str or dict);
    ``grants`` ListGrants' Grants. ``readers``: approved principal ARNs that need kms:Decrypt.
    """
    key_arn = metadata.get("Arn")
    plan = Plan(resource=key_arn or "unknown-key")
    plan.details.update(key_arn=key_arn, grant_ids=[], readers_added=[], trails=list(trail_arns))
    if key_refusals(plan, metadata, bucket_region):
        return plan
    before = _policy_or_refuse(plan, current_policy)
    if before is None:
        return plan
    plan.before = before
    plan.after = before
    if drift_check(plan, _policy.policy_sha256(current_policy), expected_policy_sha256, "key policy"):
        return plan

    missing_ct = _cloudtrail_allowed(
        before, trail_arns, key_arn, bucket_key_enabled, is_organization_trail, organization_id
    )
    readers = sorted(set(readers or ()))
    # An approved reader of the key's own account is covered only when the key policy names it: through
    # the account-root statement it would also need kms:Decrypt in its IAM policies, which this module
    # cannot see (the assessment found it lacking, or it would not be an approved reader).
    no_iam = {reader: {"arn": reader, "policies": []} for reader in readers}
    readers_missing = list(_policy.readers_without_decrypt(before, key_arn, readers, identities=no_iam))

    if use_grant and missing_ct:
        return plan.refuse(
            "GRANT_CANNOT_SERVE_CLOUDTRAIL",
            "use_grant was asked but the key policy of {} does not let CloudTrail {}; KMS grants only accept "
            "IAM principals (GranteePrincipal), not cloudtrail.amazonaws.com.".format(
                key_arn, "; ".join("{} for {}".format(",".join(v), k) for k, v in sorted(missing_ct.items()))
            ),
        )

    after = before
    policy_readers = [] if use_grant else readers_missing
    if missing_ct or policy_readers:
        statements = _policy.cloudtrail_key_statements(
            list(trail_arns), account_id, bucket_key_enabled=bucket_key_enabled, readers=policy_readers
        )
        if not missing_ct:
            # CloudTrail is already allowed (possibly by someone else's statement): add readers only.
            statements = [s for s in statements if s.get("Sid") == READERS_SID]
        after = _policy.merge_statements(before, statements)
    if _policy.canonical_json(after) != _policy.canonical_json(before):
        _finish_policy_plan(plan, before, after, account_id)
        if not plan.ok:
            return plan
        plan.after = after
        plan.diff = _policy.policy_diff(before, after)
        plan.calls.append(
            api_call(
                "kms", "PutKeyPolicy", KeyId=key_arn, PolicyName=policy_name, Policy=plan.details["policy_document"]
            )
        )
        plan.details["readers_added"] = list(policy_readers)
        plan.details["cloudtrail_missing"] = missing_ct

    if use_grant:
        for reader in readers:
            existing = _grant_present(grants, reader, key_arn)
            if existing:
                plan.details["grant_ids"].append(existing)
                continue
            plan.calls.append(
                api_call(
                    "kms",
                    "CreateGrant",
                    KeyId=key_arn,
                    GranteePrincipal=reader,
                    Operations=list(READER_GRANT_OPERATIONS),
                    Name=READER_GRANT_NAME,
                )
            )
            plan.details["readers_added"].append(reader)

    plan.changed = bool(plan.calls)
    plan.action = _action_name(plan.calls)
    return plan


def _action_name(calls):
    ops = []
    for call in calls:
        name = {
            "PutKeyPolicy": "put_key_policy",
            "CreateGrant": "create_grant",
            "CreateKey": "create_key",
            "CreateAlias": "create_alias",
            "EnableKeyRotation": "enable_key_rotation",
        }[call["operation"]]
        if name not in ops:
            ops.append(name)
    return "+".join(ops) if ops else "none"


def plan_create_key(
    account_id,
    region,
    trail_arns,
    alias,
    description="",
    tags=None,
    enable_rotation=True,
    rotation_period_days=None,
    multi_region=False,
    bucket_key_enabled=False,
    readers=(),
    bucket_region=None,
    is_organization_trail=False,
    organization_id=None,
):
    """Plan CreateKey (+ CreateAlias + EnableKeyRotation) for a new CMK.

    The runner first resolves ``alias``: if it already names a key created by TrailGuard, it plans
    :func:`plan_key_policy` (+ :func:`plan_rotation`) on that key instead (idempotent re-run); if it names
    another key, :func:`alias_in_use` refuses.
    """
    alias_name = alias if alias.startswith("alias/") else "alias/" + alias
    plan = Plan(resource=f"{alias_name} ({region})")
    plan.details.update(
        key_arn=None, alias=alias_name, grant_ids=[], readers_added=list(readers or ()), trails=list(trail_arns)
    )
    if bucket_region and bucket_region != region:
        return plan.refuse(
            "KEY_REGION_MISMATCH",
            f"The key would be created in {region} but the trail's bucket is in {bucket_region}.",
        )
    if alias_name.startswith("alias/aws/"):
        return plan.refuse("ALIAS_IN_USE", f"{alias_name} is reserved for AWS-managed keys.")
    policy = _policy.new_key_policy(
        account_id, list(trail_arns), bucket_key_enabled=bucket_key_enabled, readers=tuple(readers or ())
    )
    _finish_policy_plan(plan, None, policy, account_id)
    if not plan.ok:
        return plan
    all_tags = dict(tags or {})
    all_tags[CREATED_BY_TAG_KEY] = CREATED_BY_TAG_VALUE
    create = {
        "Policy": plan.details["policy_document"],
        "Description": description or "TrailGuard CloudTrail key",
        "KeyUsage": "ENCRYPT_DECRYPT",
        "KeySpec": "SYMMETRIC_DEFAULT",
        "Origin": "AWS_KMS",
        "MultiRegion": bool(multi_region),
        "Tags": [{"TagKey": k, "TagValue": str(v)} for k, v in sorted(all_tags.items())],
    }
    plan.calls.append(api_call("kms", "CreateKey", **create))
    plan.calls.append(api_call("kms", "CreateAlias", AliasName=alias_name, TargetKeyId=NEW_KEY))
    if enable_rotation:
        rotation = {"KeyId": NEW_KEY}
        if rotation_period_days:
            rotation["RotationPeriodInDays"] = int(rotation_period_days)
        plan.calls.append(api_call("kms", "EnableKeyRotation", **rotation))
    plan.before = None
    plan.after = policy
    plan.diff = _policy.policy_diff({}, policy)
    plan.changed = True
    plan.action = _action_name(plan.calls)
    return plan


def created_by_trailguard(tags):
    """``tags``: ListResourceTags' Tags list."""
    return any(t.get("TagKey") == CREATED_BY_TAG_KEY and t.get("TagValue") == CREATED_BY_TAG_VALUE for t in tags or ())


def alias_in_use(alias_name, target_arn):
    plan = Plan(resource=alias_name)
    return plan.refuse("ALIAS_IN_USE", f"{alias_name} already names {target_arn}, which TrailGuard did not create.")


def plan_rotation(plan, key_arn, rotation_status, enable_rotation, rotation_period_days=None):
    """Add EnableKeyRotation to ``plan`` when rotation is wanted and off (or has another period).
    Never disables rotation (that would weaken the key): reports it as a warning instead."""
    enabled = bool((rotation_status or {}).get("KeyRotationEnabled"))
    period = (rotation_status or {}).get("RotationPeriodInDays")
    if enable_rotation and (
        not enabled or (rotation_period_days and period and int(period) != int(rotation_period_days))
    ):
        params = {"KeyId": key_arn}
        if rotation_period_days:
            params["RotationPeriodInDays"] = int(rotation_period_days)
        plan.calls.append(api_call("kms", "EnableKeyRotation", **params))
        plan.changed = True
        plan.action = _action_name(plan.calls)
    elif not enable_rotation and enabled:
        plan.warnings.append(
            finding(
                "ROTATION_LEFT_ENABLED",
                key_arn,
                "Rotation is on although enable_rotation is false; left as is.",
                severity="info",
                remediation="Disable rotation yourself if that is really wanted.",
            )
        )
    return plan


def planned_copy(plan):
    return copy.deepcopy(plan)
