# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE to trailguard.cloudtrail_cmk: the runners behind the three change modules.

Each runner does: fresh read -> pure plan (``_plan_key`` / ``_plan_bucket`` / ``_plan_attach``) -> unless
check mode, the planned calls in order -> re-read -> result. Reads use the access layer (``_kms``, ``_s3``,
``_cloudtrail``); writes go through ``_common.call`` (the one retried call helper), except ``CreateKey``,
which is sent once without retry so a 5xx cannot create two keys.

Results are plain dicts; refusals and failures raise :class:`ApplyFailed` carrying the partial result
(``audit`` says exactly which calls were done before the failure).
"""

from __future__ import annotations

import copy
import json

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _arn
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _cloudtrail
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _kms
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _plan_attach
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _plan_bucket
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _plan_key
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _policy
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _s3
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils._common import (
    AwsApiError,
    ClientFactory,
    TrailGuardError,
    call,
    error_code,
    module_connect,
    paginate,
    utcnow_iso,
)

try:
    from botocore.exceptions import ClientError
except ImportError:  # pragma: no cover - handled by AnsibleAWSModule
    ClientError = Exception

_WRITE_METHODS = {
    "PutKeyPolicy": "put_key_policy",
    "CreateGrant": "create_grant",
    "CreateKey": "create_key",
    "CreateAlias": "create_alias",
    "EnableKeyRotation": "enable_key_rotation",
    "PutBucketPolicy": "put_bucket_policy",
    "PutBucketEncryption": "put_bucket_encryption",
    "UpdateTrail": "update_trail",
}


class ApplyFailed(TrailGuardError):
    """A refusal (plan errors) or a failed write; ``result`` is what the module returns with fail_json."""

    def __init__(self, message, result):
        super().__init__(message)
        self.result = result


# ---------------------------------------------------------------------------------------------
# shared plumbing


def _pretty(policy):
    return json.dumps(policy, indent=2, sort_keys=True) + "\n" if policy is not None else ""


def _summary_calls(calls):
    return [{"service": c["service"], "operation": c["operation"]} for c in calls]


def _audit_entry(plan, status, request_ids=(), timestamps=(), error=None):
    entry = {
        "resource": plan.resource,
        "action": plan.action,
        "status": status,
        "before": plan.before,
        "after": plan.after,
        "calls": _summary_calls(plan.calls),
        "request_ids": list(request_ids),
        "timestamps": list(timestamps),
    }
    if error is not None:
        entry["error"] = error
    return entry


def _refuse(plan, result):
    result = dict(result)
    result["changed"] = False
    result["findings"] = plan.errors + plan.warnings
    result["audit"] = [_audit_entry(plan, "refused", timestamps=[utcnow_iso()])]
    codes = ", ".join(sorted({e["code"] for e in plan.errors}))
    raise ApplyFailed(f"{codes}: {plan.errors[0]['message']} Remediation: {plan.errors[0]['remediation']}", result)


def _substitute(value, placeholder, real):
    if value == placeholder:
        return real
    if isinstance(value, dict):
        return {k: _substitute(v, placeholder, real) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, placeholder, real) for v in value]
    return value


def _raw_once(client, method, params):
    """One attempt, no retry (CreateKey): a retried 5xx could leave a second, orphaned key."""
    try:
        result = getattr(client, method)(**params)
    except ClientError as exc:
        code = error_code(exc)
        raise AwsApiError(
            f"{client.meta.service_model.service_name}:{method} failed: {code}: {exc}",
            exception=exc,
            code=code,
            operation=method,
            service=client.meta.service_model.service_name,
        ) from exc
    result.pop("ResponseMetadata", None)
    return result


def _execute(factory, client_for, plan, result):
    """Run ``plan.calls`` in order. Returns the list of responses. On failure raises ApplyFailed with an audit
    entry listing exactly which calls were done."""
    recorder = factory.recorder
    mark = len(recorder.calls)
    responses = []
    done = []
    new_key = None
    for planned in plan.calls:
        params = copy.deepcopy(planned["params"])
        if new_key is not None:
            params = _substitute(params, _plan_key.NEW_KEY, new_key)
        client = client_for(planned["service"])
        method = _WRITE_METHODS[planned["operation"]]
        try:
            if planned["operation"] == "CreateKey":
                response = _raw_once(client, method, params)
                new_key = response["KeyMetadata"]["Arn"]
            else:
                response = call(client, method, resource=plan.resource, **params)
        except AwsApiError as exc:
            records = [r for r in recorder.calls[mark:] if r["operation"] in _WRITE_METHODS]
            failed = copy.copy(plan)
            entry = _audit_entry(
                failed,
                "failed",
                [r["request_id"] for r in records if r["request_id"]],
                [r["timestamp"] for r in records],
                error={"operation": planned["operation"], "code": exc.code, "message": exc.message},
            )
            entry["calls_done"] = done
            entry["calls_not_done"] = [c["operation"] for c in plan.calls[len(done) :]]
            result = dict(result)
            result["changed"] = bool(done)
            result["audit"] = [entry]
            if new_key is not None:  # CreateKey succeeded: say which key exists now (no alias yet, maybe)
                entry["created_key_arn"] = new_key
                result["key_arn"] = new_key
            result["findings"] = plan.warnings
            raise ApplyFailed(
                f"{planned['operation']} failed on {plan.resource} after {len(done)} of {len(plan.calls)} planned "
                f"calls ({', '.join(done) or 'none'} done): {exc.code}: {exc.message}",
                result,
            ) from exc
        done.append(planned["operation"])
        responses.append(response)
    records = [r for r in recorder.calls[mark:] if r["operation"] in _WRITE_METHODS]
    return responses, new_key, records


def _finish(plan, result, check_mode, want_diff, records, before_text=None, after_text=None):
    result["changed"] = plan.changed
    result["findings"] = plan.warnings
    result["planned_calls"] = _summary_calls(plan.calls)
    if plan.changed:
        status = "planned" if check_mode else "done"
        result["audit"] = [
            _audit_entry(
                plan,
                status,
                [r["request_id"] for r in records if r["request_id"]],
                [r["timestamp"] for r in records] or [utcnow_iso()],
            )
        ]
    else:
        result["audit"] = []
    if want_diff:
        result["diff"] = {
            "before_header": plan.resource,
            "after_header": plan.resource,
            "before": before_text if before_text is not None else _pretty(plan.before),
            "after": after_text if after_text is not None else _pretty(plan.after),
        }
    return result


def _account_of(factory, params, *arns):
    if params.get("account_id"):
        return params["account_id"]
    for arn in arns:
        if arn and _arn.is_arn(arn) and _arn.parse_arn(arn)["account"]:
            return _arn.parse_arn(arn)["account"]
    if factory.account:
        return factory.account
    identity = call(factory.client("sts"), "get_caller_identity")
    factory.account = identity["Account"]
    return factory.account


# ---------------------------------------------------------------------------------------------
# kms_cloudtrail_policy


def _list_grants(client, key_arn):
    # Minimal local reader: _kms has no list_grants yet. Goes through the one paginate helper.
    result = paginate(client, "list_grants", not_found=_kms.KEY_NOT_FOUND, resource=key_arn, KeyId=key_arn)
    return (result or {}).get("Grants") or []


def _key_region(params, default_region):
    key_id = params.get("key_id") or ""
    if _arn.is_arn(key_id):
        return _arn.parse_arn(key_id)["region"]
    return default_region


def run_key(factory, params, check_mode=False, want_diff=False):
    """Runner of ``kms_cloudtrail_policy``."""
    for index, arn in enumerate(params["trail_arns"]):
        _arn.require(arn, "cloudtrail", "trail", f"trail_arns[{index}]")
    region = _key_region(params, factory.default_region)
    kms = factory.client("kms", region)
    trail_arns = list(params["trail_arns"])
    common = dict(
        trail_arns=trail_arns,
        bucket_key_enabled=params.get("bucket_key_enabled") or False,
        readers=tuple(params.get("readers") or ()),
        is_organization_trail=params.get("is_organization_trail") or False,
        organization_id=params.get("organization_id"),
    )
    result = {
        "changed": False,
        "key_arn": None,
        "created": False,
        "grant_ids": [],
        "policy_before": None,
        "policy_after": None,
    }
    metadata = None
    if params["mode"] == "create_key":
        alias = params["alias"] if params["alias"].startswith("alias/") else "alias/" + params["alias"]
        metadata = _kms.describe_key(kms, alias)
        if metadata is not None:
            tags = _kms.list_resource_tags(kms, metadata["Arn"]) or {}
            if tags.get(_plan_key.CREATED_BY_TAG_KEY) != _plan_key.CREATED_BY_TAG_VALUE:
                _refuse(_plan_key.alias_in_use(alias, metadata["Arn"]), result)
        else:
            account = _account_of(factory, params, *trail_arns)
            plan = _plan_key.plan_create_key(
                account,
                region,
                alias=alias,
                description=params.get("description") or "",
                tags=params.get("tags") or {},
                enable_rotation=params.get("enable_rotation", True),
                rotation_period_days=params.get("rotation_period_days"),
                multi_region=params.get("multi_region") or False,
                bucket_region=params.get("bucket_region"),
                **common,
            )
            if not plan.ok:
                _refuse(plan, result)
            return _run_create(factory, kms, plan, result, check_mode, want_diff)
    else:
        metadata = _kms.describe_key(kms, params["key_id"])
        if metadata is None:
            plan = _plan_key.Plan(resource=params["key_id"])
            plan.refuse("KEY_NOT_FOUND", f"{params['key_id']} was not found in {region}.")
            _refuse(plan, result)

    key_arn = metadata["Arn"]
    account = _account_of(factory, params, key_arn)
    policy = _kms.get_key_policy(kms, key_arn)
    grants = _list_grants(kms, key_arn) if params.get("use_grant") else []
    plan = _plan_key.plan_key_policy(
        metadata,
        policy,
        account,
        expected_policy_sha256=params.get("expected_policy_sha256"),
        bucket_region=params.get("bucket_region"),
        use_grant=params.get("use_grant") or False,
        grants=grants,
        **common,
    )
    if plan.ok and params["mode"] == "create_key":
        rotation = _kms.get_key_rotation_status(kms, key_arn) or {}
        _plan_key.plan_rotation(
            plan,
            key_arn,
            {"KeyRotationEnabled": rotation.get("enabled"), "RotationPeriodInDays": rotation.get("period_in_days")},
            params.get("enable_rotation", True),
            params.get("rotation_period_days"),
        )
    result.update(key_arn=key_arn, policy_before=plan.before, policy_after=plan.after)
    if not plan.ok:
        _refuse(plan, result)
    records = []
    if plan.changed and not check_mode:
        responses, _unused, records = _execute(factory, lambda s: factory.client(s, region), plan, result)
        new_grants = [
            r.get("GrantId") for r, c in zip(responses, plan.calls, strict=True) if c["operation"] == "CreateGrant"
        ]
        plan.details["grant_ids"] = plan.details["grant_ids"] + new_grants
        _verify_key_after(kms, key_arn, plan, result)
    result["grant_ids"] = list(plan.details["grant_ids"])
    result["readers_added"] = list(plan.details.get("readers_added") or [])
    return _finish(plan, result, check_mode, want_diff, records)


def _verify_key_after(kms, key_arn, plan, result):
    """Re-read: the key is still Enabled and its policy is what was planned."""
    metadata = _kms.describe_key(kms, key_arn)
    if metadata is None or metadata.get("KeyState") != "Enabled":
        state = (metadata or {}).get("KeyState", "missing")
        raise ApplyFailed(
            f"{key_arn} is {state} after the change; expected Enabled.",
            dict(result, changed=True, audit=[_audit_entry(plan, "done")]),
        )
    live = _policy.load_policy(_kms.get_key_policy(kms, key_arn))
    if plan.after is not None and _policy.canonical_json(live) != _policy.canonical_json(plan.after):
        plan.warnings.append(
            _plan_key.finding(
                "POLICY_READBACK_DIFFERS",
                key_arn,
                "The key policy read back differs from the one written.",
                severity="medium",
                remediation="Re-run in check mode to see the current state.",
            )
        )
    plan.after = live
    result["policy_after"] = live


def _run_create(factory, kms, plan, result, check_mode, want_diff):
    result.update(created=True, policy_after=plan.after, alias=plan.details["alias"])
    records = []
    if not check_mode:
        _responses, new_key, records = _execute(
            factory, lambda s: factory.client(s, kms.meta.region_name), plan, result
        )
        plan.resource = new_key
        result["key_arn"] = new_key
        _verify_key_after(kms, new_key, plan, result)
    return _finish(plan, result, check_mode, want_diff, records)


# ---------------------------------------------------------------------------------------------
# trail lookup shared by the bucket and attach runners


def _read_trail(factory, trail_arn):
    region = _arn.parse_arn(trail_arn)["region"]
    client = factory.client("cloudtrail", region)
    for trail in _cloudtrail.describe_trails(client):
        if trail.get("TrailARN") == trail_arn and (trail.get("HomeRegion") or region) == region:
            return client, region, trail
    return client, region, None


def _resolve_key_arn(factory, key_id, region):
    if _arn.is_arn(key_id) and ":key/" in key_id:
        return key_id
    kms_region = _arn.parse_arn(key_id)["region"] if _arn.is_arn(key_id) else region
    metadata = _kms.describe_key(factory.client("kms", kms_region), key_id)
    return metadata["Arn"] if metadata else key_id


def _bucket_client(factory, bucket, default_region):
    location = _s3.get_bucket_location(factory.client("s3", default_region), bucket)
    return factory.client("s3", location), location


# ---------------------------------------------------------------------------------------------
# s3_cloudtrail_policy


def run_bucket(factory, params, check_mode=False, want_diff=False):
    """Runner of ``s3_cloudtrail_policy``."""
    trail_arn = params["trail_arn"]
    _arn.require(trail_arn, "cloudtrail", "trail", "trail_arn")
    result = {
        "changed": False,
        "bucket": None,
        "policy_before": None,
        "policy_after": None,
        "amendments": [],
        "default_encryption_change": None,
    }
    _client, region, trail = _read_trail(factory, trail_arn)
    if trail is None and not params.get("s3_bucket_name"):
        plan = _plan_key.Plan(resource=trail_arn)
        plan.refuse("TRAIL_NOT_FOUND", f"{trail_arn} was not found in {region}.")
        _refuse(plan, result)
    trail = trail or {}
    bucket = params.get("s3_bucket_name") or trail["S3BucketName"]
    prefix = params["s3_key_prefix"] if params.get("s3_key_prefix") is not None else trail.get("S3KeyPrefix") or ""
    is_org = (
        params["is_organization_trail"]
        if params.get("is_organization_trail") is not None
        else bool(trail.get("IsOrganizationTrail"))
    )
    result["bucket"] = bucket
    s3, bucket_region = _bucket_client(factory, bucket, region)
    key_arn = _resolve_key_arn(factory, params["kms_key_arn"], bucket_region)
    policy = _s3.get_bucket_policy(s3, bucket)
    rules = _s3.get_bucket_encryption(s3, bucket)
    rule = copy.deepcopy(rules[0]) if rules else None
    default = (rule or {}).get("ApplyServerSideEncryptionByDefault") or {}
    if default.get("KMSMasterKeyID"):
        default["KMSMasterKeyID"] = _resolve_key_arn(factory, default["KMSMasterKeyID"], bucket_region)
    plan = _plan_bucket.plan_bucket_policy(
        bucket,
        policy,
        _account_of(factory, params, trail_arn),
        trail_arn,
        key_arn,
        s3_key_prefix=prefix,
        expected_policy_sha256=params.get("expected_policy_sha256"),
        is_organization_trail=is_org,
        organization_id=params.get("organization_id"),
        amend_blocking_deny=params.get("amend_blocking_deny") or False,
        default_encryption=rule,
        resolve_default_encryption=params.get("resolve_default_encryption") or False,
    )
    result.update(
        policy_before=plan.before,
        policy_after=plan.after,
        amendments=plan.details.get("amendments", []),
        default_encryption_change=plan.details.get("default_encryption_change"),
    )
    if not plan.ok:
        _refuse(plan, result)
    records = []
    if plan.changed and not check_mode:
        _responses, _unused, records = _execute(factory, lambda s: s3, plan, result)
        live = _s3.get_bucket_policy(s3, bucket)
        plan.after = _policy.load_policy(live)
        result["policy_after"] = plan.after
    return _finish(plan, result, check_mode, want_diff, records)


# ---------------------------------------------------------------------------------------------
# trail_kms_attach


def run_attach(factory, params, check_mode=False, want_diff=False):
    """Runner of ``trail_kms_attach``."""
    trail_arn = params["trail_arn"]
    _arn.require(trail_arn, "cloudtrail", "trail", "trail_arn")
    client, region, trail = _read_trail(factory, trail_arn)
    key_arn = _resolve_key_arn(factory, params["kms_key_arn"], region)
    result = {
        "changed": False,
        "trail_arn": trail_arn,
        "previous_kms_key_id": None,
        "kms_key_id": None,
        "is_logging": None,
    }
    caller = params.get("account_id") or factory.account
    plan = _plan_attach.plan_attach(trail, region, key_arn, params.get("expected_kms_key_id"), caller_account=caller)
    result.update(
        previous_kms_key_id=plan.details.get("previous_kms_key_id"), kms_key_id=plan.details.get("kms_key_id")
    )
    if not plan.ok:
        _refuse(plan, result)
    status = _cloudtrail.get_trail_status(client, trail_arn) or {}
    logging_before = bool(status.get("IsLogging"))
    result["is_logging"] = logging_before
    records = []
    if plan.changed and not check_mode:
        try:
            _responses, _unused, records = _execute(factory, lambda s: client, plan, result)
        except ApplyFailed as exc:
            code = (exc.result["audit"][0].get("error") or {}).get("code")
            mapped = _explain_attach_error(factory, trail, key_arn, code, exc.message, params)
            exc.result["findings"] = [mapped]
            raise ApplyFailed(
                f"{mapped['code']}: {mapped['message']} Remediation: {mapped['remediation']}", exc.result
            ) from exc
        _c, _r, after = _read_trail(factory, trail_arn)
        live_key = (after or {}).get("KmsKeyId") or None
        plan.after = {"KmsKeyId": live_key or ""}
        result["kms_key_id"] = live_key
        logging_after = bool((_cloudtrail.get_trail_status(client, trail_arn) or {}).get("IsLogging"))
        result["is_logging"] = logging_after
        if logging_after != logging_before:
            raise ApplyFailed(
                f"LOGGING_STATUS_CHANGED: {trail_arn} was {'logging' if logging_before else 'not logging'} before "
                f"UpdateTrail and is {'logging' if logging_after else 'not logging'} after. Remediation: "
                f"{_plan_key.REFUSAL_CODES['LOGGING_STATUS_CHANGED']}",
                dict(result, changed=True, audit=[_audit_entry(plan, "done")]),
            )
        if live_key != key_arn:
            plan.warnings.append(
                _plan_key.finding(
                    "KMS_KEY_READBACK_DIFFERS",
                    trail_arn,
                    f"describe_trails reports {live_key!r}, expected {key_arn!r}.",
                    severity="medium",
                    remediation="Re-run trail_kms_attach in check mode to inspect.",
                )
            )
    return _finish(
        plan,
        result,
        check_mode,
        want_diff,
        records,
        before_text=f"KmsKeyId: {(plan.before or {}).get('KmsKeyId') or ''}\n",
        after_text=f"KmsKeyId: {(plan.after or {}).get('KmsKeyId') or ''}\n",
    )


def _explain_attach_error(factory, trail, key_arn, code, message, params):
    diagnosis = None
    if code == "InsufficientEncryptionPolicyException":
        key_policy = bucket_policy = None
        bucket_key = False
        try:
            key_region = _arn.parse_arn(key_arn)["region"] if _arn.is_arn(key_arn) else None
            key_policy = _kms.get_key_policy(factory.client("kms", key_region), key_arn)
            s3, _loc = _bucket_client(factory, trail["S3BucketName"], _arn.parse_arn(trail["TrailARN"])["region"])
            bucket_policy = _s3.get_bucket_policy(s3, trail["S3BucketName"]) or ""
            rules = _s3.get_bucket_encryption(s3, trail["S3BucketName"])
            bucket_key = any(r.get("BucketKeyEnabled") for r in rules)
        except AwsApiError:
            pass  # diagnose with what could be read
        diagnosis = _plan_attach.diagnose_insufficient_policy(
            trail,
            key_arn,
            key_policy,
            bucket_policy,
            bucket_key_enabled=bucket_key,
            organization_id=params.get("organization_id"),
        )
    return _plan_attach.explain_update_trail_error(code, message, trail, key_arn, diagnosis)


def run_module(module, runner):
    """The body every change module's ``main()`` shares: one client factory, the runner, errors mapped.

    ``runner`` is ``run_key``, ``run_bucket`` or ``run_attach``. An ``ApplyFailed`` carries the partial result
    (audit, calls done and not done) into the failure; any other AWS error is reported with its details. A
    malformed trail ARN fails before any AWS call, naming the argument.
    """
    factory = ClientFactory(module_connect(module), default_region=module.region)
    try:
        result = runner(factory, module.params, check_mode=module.check_mode, want_diff=module._diff)
    except _arn.ArnError as exc:
        module.fail_json(msg=str(exc), changed=False)
    except ApplyFailed as exc:
        module.fail_json(msg=exc.message, **exc.result)
    except AwsApiError as exc:
        module.fail_json_aws(exc.exception or exc, msg=exc.message)
    module.exit_json(**result)
