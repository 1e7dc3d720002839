"""KMS as AWS documents it, where moto differs.

* ``alias/aws/*`` keys are AWS-managed: KeyManager AWS, AWS's service-only key policy; changing
  them (PutKeyPolicy, DisableKey, EnableKey, ScheduleKeyDeletion, CancelKeyDeletion,
  EnableKeyRotation, DisableKeyRotation, UpdateKeyDescription, TagResource, UntagResource) is
  refused with AccessDeniedException because their key policy does not allow it.
* Any KeyId that does not resolve -> NotFoundException (moto: HTTP 500 on CreateGrant).
* Cryptographic operations with a disabled key -> DisabledException, pending deletion ->
  KMSInvalidStateException.
* PutKeyPolicy / CreateKey: invalid JSON or shape -> MalformedPolicyDocumentException; a policy that
  would not let the caller call PutKeyPolicy again -> MalformedPolicyDocumentException unless
  BypassPolicyLockoutSafetyCheck.
"""

from __future__ import annotations

import json

from .. import policy as pol
from ..backends import is_aws_managed, kms_backend, mark_aws_managed, parse_key_ref, resolve_key
from ..errors import LabError

REFUSED_ON_AWS_MANAGED = {
    "PutKeyPolicy", "DisableKey", "EnableKey", "ScheduleKeyDeletion", "CancelKeyDeletion",
    "EnableKeyRotation", "DisableKeyRotation", "UpdateKeyDescription", "TagResource", "UntagResource",
    "RotateKeyOnDemand",
}
CRYPTO = {
    "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext", "GenerateMac", "VerifyMac", "Sign", "Verify", "ReEncrypt",
    "Decrypt",
}
# actions whose KeyId names an existing key (CreateAlias uses TargetKeyId)
_KEY_PARAM = {"ReEncrypt": "DestinationKeyId", "CreateAlias": "TargetKeyId", "UpdateAlias": "TargetKeyId"}
_NO_KEY_CHECK = {"CreateKey", "ListKeys", "ListAliases", "GenerateRandom", "ListRetirableGrants", "RetireGrant"}

LOCKOUT_MESSAGE = "The new key policy will not allow you to update the key policy in the future."
MALFORMED_MESSAGE = "Syntax errors in policy."


def not_found(ref: str, account: str, region: str) -> LabError:
    key_account, key_region, tail = parse_key_ref(ref, account, region)
    if tail.startswith("alias/"):
        return LabError("NotFoundException", f"Alias arn:aws:kms:{key_region}:{key_account}:{tail} is not found.")
    if tail.startswith("key/"):
        tail = tail[4:]
    return LabError("NotFoundException", f"Key 'arn:aws:kms:{key_region}:{key_account}:key/{tail}' does not exist")


def before_any(ctx):
    req = ctx.req
    mark_aws_managed(kms_backend(ctx.account, ctx.region))
    action = req.action
    params = req.params if isinstance(req.params, dict) else {}
    if action == "CreateKey":
        _check_policy(ctx, params.get("Policy"), params.get("BypassPolicyLockoutSafetyCheck"), key_arn=None)
        return None
    if action in _NO_KEY_CHECK:
        return None
    ref = params.get(_KEY_PARAM.get(action, "KeyId"))
    if not ref:
        return None
    key = resolve_key(ctx.account, ctx.region, ref)
    if key is None or key.region != ctx.region:
        raise not_found(ref, ctx.account, ctx.region)
    if action in REFUSED_ON_AWS_MANAGED and is_aws_managed(key):
        raise LabError(
            "AccessDeniedException",
            f"User: {ctx.caller.arn} is not authorized to perform: kms:{action} on resource: {key.arn} "
            f"because no resource-based policy allows the kms:{action} action",
        )
    if action in CRYPTO:
        if key.key_state == "Disabled":
            raise LabError("DisabledException", f"{key.arn} is disabled.")
        if key.key_state != "Enabled":
            raise LabError("KMSInvalidStateException", f"{key.arn} is {_state_words(key.key_state)}.")
    if action == "PutKeyPolicy":
        _check_policy(ctx, params.get("Policy"), params.get("BypassPolicyLockoutSafetyCheck"), key_arn=key.arn)
        # moto looks the key up by raw id only; hand it the id it understands
        if params.get("KeyId") != key.id:
            ctx.set_json_body({**params, "KeyId": key.id})
    elif action in ("CreateGrant", "ListGrants", "RevokeGrant", "DisableKey", "EnableKey",
                    "ScheduleKeyDeletion", "CancelKeyDeletion", "EnableKeyRotation", "DisableKeyRotation",
                    "GetKeyRotationStatus", "GetKeyPolicy") and params.get("KeyId") != key.id:
        ctx.set_json_body({**params, "KeyId": key.id})
    return None


def _state_words(state: str) -> str:
    return {"PendingDeletion": "pending deletion", "PendingImport": "pending import",
            "Unavailable": "unavailable"}.get(state, state)


def _check_policy(ctx, policy_text, bypass, key_arn: str | None) -> None:
    if policy_text is None:
        return
    try:
        doc = json.loads(policy_text)
    except (TypeError, ValueError):
        raise LabError("MalformedPolicyDocumentException", MALFORMED_MESSAGE) from None
    if not isinstance(doc, dict) or not doc.get("Statement"):
        raise LabError("MalformedPolicyDocumentException", MALFORMED_MESSAGE)
    engine = pol.engine()
    try:
        engine.load_policy(doc)
    except engine.PolicyError:
        raise LabError("MalformedPolicyDocumentException", MALFORMED_MESSAGE) from None
    if bypass:
        return
    resource = key_arn or f"arn:aws:kms:{ctx.region}:{ctx.account}:key/00000000-0000-0000-0000-000000000000"
    request = pol.caller_request(ctx.caller.principal, "kms:PutKeyPolicy", resource,
                                 {"aws:PrincipalAccount": ctx.account, "kms:CallerAccount": ctx.account})
    if not pol.allowed(doc, request):
        raise LabError("MalformedPolicyDocumentException", LOCKOUT_MESSAGE)


BEFORE: dict = {}
