# -*- coding: utf-8 -*-
# Copyright: trailguard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE module_utils: not part of the collection's public API; may change without notice.
# Pure standard library (no boto3, no ansible imports): the local AWS lab and the filters import it.
"""IAM resource-policy evaluation for the requests CloudTrail makes, findings, statement synthesis.

The evaluation follows IAM's logic for a single resource policy: an applicable explicit ``Deny``
wins; otherwise an applicable ``Allow`` is needed; otherwise the request is implicitly denied.
A statement applies when its Principal/NotPrincipal, Action/NotAction, Resource/NotResource and
every Condition block match the request.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as _dt
import hashlib
import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

try:  # inside the collection
    from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils._arn import (
        ArnError,
        is_arn,
        parse_arn,
    )
except ImportError:  # pragma: no cover - imported as a plain file (lab, ad-hoc scripts)
    from _arn import ArnError, is_arn, parse_arn  # type: ignore[no-redef]

MAX_KEY_POLICY_BYTES = 32768
OUR_SID_PREFIX = "TrailGuard"
CLOUDTRAIL_SERVICE = "cloudtrail.amazonaws.com"
POLICY_VERSION = "2012-10-17"

_STATEMENT_KEYS = {
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
}


class PolicyError(ValueError):
    """A policy that is not valid JSON or does not have the shape of an IAM policy."""


# --------------------------------------------------------------------------------------------
# Loading and canonical form
# --------------------------------------------------------------------------------------------


def _parse(policy: str | dict | None) -> dict | None:
    """Parse a JSON string / copy a dict; None for an absent policy (None, "" or whitespace)."""
    if policy is None:
        return None
    if isinstance(policy, (bytes, bytearray)):
        policy = policy.decode("utf-8")
    if isinstance(policy, str):
        if not policy.strip():
            return None
        try:
            policy = json.loads(policy)
        except ValueError as exc:
            raise PolicyError(f"policy is not valid JSON: {exc}") from exc
    if not isinstance(policy, dict):
        raise PolicyError(f"policy must be a JSON object, got {type(policy).__name__}")
    return copy.deepcopy(policy)


def load_policy(policy: str | dict | None) -> dict:
    """Validate a policy and return a normalised deep copy whose ``Statement`` is a list.

    ``None`` / ``""`` give an empty policy (no statements). Raises :class:`PolicyError` on invalid
    JSON or a shape IAM would reject. Statement elements themselves are kept as written.
    """
    parsed = _parse(policy)
    if parsed is None:
        return {"Version": POLICY_VERSION, "Statement": []}
    statements = parsed.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        raise PolicyError("policy Statement must be an object or a list of objects")
    for index, statement in enumerate(statements):
        _validate_statement(statement, index)
    parsed["Statement"] = statements
    return parsed


def _validate_statement(statement: object, index: int) -> None:
    """Raise PolicyError unless ``statement`` has the shape of a resource-policy statement."""
    where = f"statement #{index}"
    if not isinstance(statement, dict):
        raise PolicyError(f"{where} is not an object")
    unknown = set(statement) - _STATEMENT_KEYS
    if unknown:
        raise PolicyError(f"{where} has unknown element(s): {', '.join(sorted(unknown))}")
    if statement.get("Effect") not in ("Allow", "Deny"):
        raise PolicyError(f"{where}: Effect must be 'Allow' or 'Deny', got {statement.get('Effect')!r}")
    for positive, negative in (("Action", "NotAction"), ("Resource", "NotResource"), ("Principal", "NotPrincipal")):
        if (positive in statement) == (negative in statement):
            raise PolicyError(f"{where} needs exactly one of {positive} / {negative}")
    for name in ("Action", "NotAction", "Resource", "NotResource"):
        if name in statement:
            _string_list(statement[name], f"{where} {name}")
    for name in ("Principal", "NotPrincipal"):
        if name in statement:
            _principal_map(statement[name], f"{where} {name}")
    if "Sid" in statement and not isinstance(statement["Sid"], str):
        raise PolicyError(f"{where}: Sid must be a string")
    if "Condition" in statement:
        _validate_condition(statement["Condition"], where)


def _validate_condition(condition: object, where: str) -> None:
    """Raise PolicyError unless ``condition`` is {operator: {key: value(s)}} with known operators."""
    if not isinstance(condition, dict):
        raise PolicyError(f"{where}: Condition must be an object")
    for operator, block in condition.items():
        _parse_operator(operator)
        if not isinstance(block, dict):
            raise PolicyError(f"{where}: Condition operator {operator} must map keys to values")
        for key, values in block.items():
            for value in _as_list(values):
                if not isinstance(value, (str, bool, int, float)) or value is None:
                    raise PolicyError(f"{where}: Condition {operator} {key} has a value of type {type(value).__name__}")


def _as_list(value: object) -> list:
    """A list for a list, [value] for anything else."""
    return list(value) if isinstance(value, list) else [value]


def _string_list(value: object, where: str) -> list[str]:
    """Validate a string-or-list-of-strings element and return it as a list."""
    values = _as_list(value)
    if not values or not all(isinstance(item, str) for item in values):
        raise PolicyError(f"{where} must be a string or a non-empty list of strings")
    return values


def _principal_map(value: object, where: str) -> dict[str, list[str]]:
    """Normalise a Principal element: "*" -> {"*": ["*"]}, {"AWS": "x"} -> {"AWS": ["x"]}."""
    if value == "*":
        return {"*": ["*"]}
    if not isinstance(value, dict) or not value:
        raise PolicyError(f'{where} must be "*" or an object such as {{"AWS": ...}}')
    return {kind: _string_list(ids, f"{where} {kind}") for kind, ids in value.items()}


def canonical_json(policy: str | dict | None) -> str:
    """Compact JSON with sorted keys (``""`` for an absent policy); the form hashed for drift checks."""
    parsed = _parse(policy)
    if parsed is None:
        return ""
    return json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def policy_sha256(policy: str | dict | None) -> str:
    """sha256 hex digest of :func:`canonical_json` (the digest of ``""`` for an absent policy)."""
    return hashlib.sha256(canonical_json(policy).encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------
# Requests and decisions
# --------------------------------------------------------------------------------------------


@dataclass
class Request:
    """One API request as IAM sees it.

    ``principal``: ``{"Service": "cloudtrail.amazonaws.com"}`` or ``{"AWS": "<arn or account id>"}``.
    ``context``: condition keys (any case) to values (str, bool, number, or a list for multi-valued keys).
    """

    principal: dict
    action: str
    resource: str
    context: dict = field(default_factory=dict)


@dataclass
class Decision:
    """The outcome of :func:`evaluate`.

    ``decision`` is ``allow`` / ``explicit_deny`` / ``implicit_deny``; ``allowing`` and ``denying``
    list the refs (Sid, or ``#<index>`` without Sid) of the Allow / Deny statements that apply.
    ``allowing`` is filled even when a Deny wins (it tells what remains after the Deny is fixed).
    """

    allowed: bool
    decision: str
    allowing: list = field(default_factory=list)
    denying: list = field(default_factory=list)


def statement_ref(statement: dict, index: int) -> str:
    """How findings name a statement: its Sid, or ``#<index>`` when it has none."""
    sid = statement.get("Sid")
    return sid if isinstance(sid, str) and sid else f"#{index}"


def evaluate(policy: str | dict | None, request: Request) -> Decision:
    """Evaluate ``request`` against one resource policy as IAM does."""
    loaded = load_policy(policy)
    allowing: list[str] = []
    denying: list[str] = []
    context = _lower_keys(request.context)
    for index, statement in enumerate(loaded["Statement"]):
        if not statement_applies(statement, request, context):
            continue
        target = denying if statement["Effect"] == "Deny" else allowing
        target.append(statement_ref(statement, index))
    if denying:
        return Decision(False, "explicit_deny", allowing, denying)
    if allowing:
        return Decision(True, "allow", allowing, denying)
    return Decision(False, "implicit_deny", allowing, denying)


def _lower_keys(context: dict) -> dict:
    """Condition keys are case-insensitive: index the context by lower-cased key."""
    return {str(key).lower(): value for key, value in (context or {}).items()}


def statement_applies(statement: dict, request: Request, context: dict | None = None) -> bool:
    """True when every element of ``statement`` matches ``request`` (its Effect is not considered)."""
    context = _lower_keys(request.context) if context is None else context
    return (
        _principal_applies(statement, request.principal)
        and _action_applies(statement, request.action)
        and _resource_applies(statement, request.resource)
        and conditions_match(statement.get("Condition") or {}, context)
    )


# --------------------------------------------------------------------------------------------
# Principal / Action / Resource
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _glob_regex(pattern: str, ignore_case: bool) -> re.Pattern:
    """Compile an IAM wildcard pattern (``*`` any run, ``?`` one character) to an anchored regex."""
    parts = (".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def glob_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM wildcard match of the whole ``value``."""
    return _glob_regex(pattern, ignore_case).fullmatch(value) is not None


def _action_applies(statement: dict, action: str) -> bool:
    """Action/NotAction: case-insensitive wildcards."""
    if "Action" in statement:
        return any(glob_match(p, action, ignore_case=True) for p in _as_list(statement["Action"]))
    return not any(glob_match(p, action, ignore_case=True) for p in _as_list(statement["NotAction"]))


def _resource_applies(statement: dict, resource: str) -> bool:
    """Resource/NotResource: case-sensitive wildcards."""
    if "Resource" in statement:
        return any(glob_match(p, resource) for p in _as_list(statement["Resource"]))
    return not any(glob_match(p, resource) for p in _as_list(statement["NotResource"]))


def _request_principal(principal: dict) -> tuple[str, str]:
    """(kind, id) of a request principal; AWS account ids become root ARNs."""
    if not isinstance(principal, dict) or len(principal) != 1:
        raise PolicyError(f"request principal must be one of {{'Service': ...}} / {{'AWS': ...}}: {principal!r}")
    kind, ident = next(iter(principal.items()))
    if kind == "AWS":
        ident = _aws_principal_arn(ident)
    return kind, ident


def _aws_principal_arn(ident: str) -> str:
    """``111111111111`` -> ``arn:aws:iam::111111111111:root``; other values unchanged."""
    if re.fullmatch(r"\d{12}", ident):
        return f"arn:aws:iam::{ident}:root"
    return ident


def _principal_account(ident: str) -> str | None:
    """The account of an AWS principal ARN / id, None for ``*`` or unparsable values."""
    if re.fullmatch(r"\d{12}", ident):
        return ident
    if is_arn(ident):
        return parse_arn(ident)["account"] or None
    return None


def _is_account_root(ident: str) -> bool:
    """True for an account id or an ``arn:...:iam::<acct>:root`` ARN."""
    if re.fullmatch(r"\d{12}", ident):
        return True
    return is_arn(ident) and parse_arn(ident)["service"] == "iam" and parse_arn(ident)["resource"] == "root"


def _assumed_role_as_role(ident: str) -> str | None:
    """``arn:aws:sts::1:assumed-role/R/session`` -> ``arn:aws:iam::1:role/R`` (None otherwise)."""
    match = re.fullmatch(r"arn:([^:]+):sts::(\d{12}):assumed-role/([^/]+)/.+", ident)
    if match is None:
        return None
    return f"arn:{match.group(1)}:iam::{match.group(2)}:role/{match.group(3)}"


def _aws_entry_matches(entry: str, ident: str, exact: bool) -> bool:
    """Whether a policy AWS principal entry names the request's AWS principal.

    An account entry (id or root ARN) covers every principal of that account in Principal
    (``exact=False``); in NotPrincipal (``exact=True``) it only names the account root itself.
    """
    if entry == "*":
        return True
    if _is_account_root(entry):
        if exact:
            return _is_account_root(ident) and _principal_account(ident) == _principal_account(entry)
        return _principal_account(ident) is not None and _principal_account(ident) == _principal_account(entry)
    return entry == ident or entry == _assumed_role_as_role(ident)


def _principal_matches(element: dict[str, list[str]], principal: dict, exact: bool) -> bool:
    """Whether a normalised Principal element names the request principal."""
    kind, ident = _request_principal(principal)
    if "*" in element or "*" in element.get("AWS", []):
        return True
    if kind == "Service":
        return any(entry.lower() == str(ident).lower() for entry in element.get("Service", []))
    if kind == "AWS":
        return any(_aws_entry_matches(_aws_principal_arn(entry), ident, exact) for entry in element.get("AWS", []))
    return ident in element.get(kind, [])


def _principal_applies(statement: dict, principal: dict) -> bool:
    """Principal names the request principal; NotPrincipal does not."""
    if "Principal" in statement:
        return _principal_matches(_principal_map(statement["Principal"], "Principal"), principal, exact=False)
    return not _principal_matches(_principal_map(statement["NotPrincipal"], "NotPrincipal"), principal, exact=True)


# --------------------------------------------------------------------------------------------
# Conditions
# --------------------------------------------------------------------------------------------

_NEGATED = {
    "StringNotEquals",
    "StringNotEqualsIgnoreCase",
    "StringNotLike",
    "ArnNotEquals",
    "ArnNotLike",
    "NumericNotEquals",
    "DateNotEquals",
    "NotIpAddress",
}
# Negated operator -> the positive operator it negates.
_POSITIVE_OF = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals",
    "NotIpAddress": "IpAddress",
}


@dataclass(frozen=True)
class Operator:
    """A parsed condition operator: ``ForAnyValue:StringLikeIfExists`` -> set_op, base, if_exists."""

    name: str
    set_op: str  # "" | "ForAnyValue" | "ForAllValues"
    base: str
    if_exists: bool

    @property
    def negated(self) -> bool:
        """True for the StringNotEquals / NotIpAddress family."""
        return self.base in _NEGATED


def _parse_operator(name: str) -> Operator:
    """Parse a condition operator name; PolicyError for an operator IAM does not know."""
    if not isinstance(name, str):
        raise PolicyError(f"condition operator must be a string: {name!r}")
    set_op, _, rest = name.rpartition(":")
    canonical_set = {"": "", "foranyvalue": "ForAnyValue", "forallvalues": "ForAllValues"}.get(set_op.lower())
    if canonical_set is None:
        raise PolicyError(f"unknown condition set operator in {name!r}")
    if_exists = rest.lower().endswith("ifexists") and rest.lower() != "ifexists"
    base_name = rest[: -len("IfExists")] if if_exists else rest
    base = _OPERATOR_NAMES.get(base_name.lower())
    if base is None:
        raise PolicyError(f"unknown condition operator {name!r}")
    if base == "Null" and (if_exists or canonical_set):
        raise PolicyError(f"condition operator {name!r}: Null takes no IfExists / set prefix")
    return Operator(name, canonical_set, base, if_exists)


def _to_str(value: object) -> str:
    """String form of a context / policy value (booleans as ``true`` / ``false``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _to_number(value: object) -> float | None:
    """A number, or None when the value is not numeric."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _to_datetime(value: object) -> _dt.datetime | None:
    """A UTC datetime from ISO 8601 or epoch seconds; None when unparsable."""
    if isinstance(value, _dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=_dt.UTC)
    number = _to_number(value)
    if number is not None:
        return _dt.datetime.fromtimestamp(number, tz=_dt.UTC)
    text = _to_str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = _dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=_dt.UTC)


def _arn_like(pattern: str, value: str) -> bool:
    """ArnLike / ArnEquals: the six ARN components matched one by one, wildcards allowed."""
    pattern_parts = pattern.split(":", 5)
    value_parts = value.split(":", 5)
    if len(pattern_parts) != 6 or len(value_parts) != 6:
        return pattern == "*" or glob_match(pattern, value)
    return all(glob_match(p, v) for p, v in zip(pattern_parts, value_parts, strict=True))


def _ip_match(pattern: str, value: str) -> bool:
    """IpAddress: the value lies in the CIDR (or equals the address)."""
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(pattern, strict=False)
    except ValueError:
        return False


def _binary_equals(pattern: str, value: object) -> bool:
    """BinaryEquals: the policy holds base64; the context holds bytes or base64."""
    try:
        expected = base64.b64decode(pattern, validate=True)
    except (binascii.Error, ValueError):
        return False
    if isinstance(value, (bytes, bytearray)):
        return bytes(value) == expected
    return _to_str(value) == pattern


def _numeric(compare: Callable[[float, float], bool]) -> Callable[[object, object], bool]:
    """Lift a numeric comparison (context, policy) to raw values; non-numbers never match."""

    def matcher(pattern: object, value: object) -> bool:
        left, right = _to_number(value), _to_number(pattern)
        return left is not None and right is not None and compare(left, right)

    return matcher


def _date(compare: Callable[[_dt.datetime, _dt.datetime], bool]) -> Callable[[object, object], bool]:
    """Lift a date comparison (context, policy) to raw values; unparsable dates never match."""

    def matcher(pattern: object, value: object) -> bool:
        left, right = _to_datetime(value), _to_datetime(pattern)
        return left is not None and right is not None and compare(left, right)

    return matcher


# Positive base operators: (policy value, context value) -> bool
_MATCHERS: dict[str, Callable[[object, object], bool]] = {
    "StringEquals": lambda p, v: _to_str(v) == _to_str(p),
    "StringEqualsIgnoreCase": lambda p, v: _to_str(v).lower() == _to_str(p).lower(),
    "StringLike": lambda p, v: glob_match(_to_str(p), _to_str(v)),
    "ArnEquals": lambda p, v: _arn_like(_to_str(p), _to_str(v)),
    "ArnLike": lambda p, v: _arn_like(_to_str(p), _to_str(v)),
    "Bool": lambda p, v: _to_str(v).lower() == _to_str(p).lower(),
    "NumericEquals": _numeric(lambda a, b: a == b),
    "NumericLessThan": _numeric(lambda a, b: a < b),
    "NumericLessThanEquals": _numeric(lambda a, b: a <= b),
    "NumericGreaterThan": _numeric(lambda a, b: a > b),
    "NumericGreaterThanEquals": _numeric(lambda a, b: a >= b),
    "DateEquals": _date(lambda a, b: a == b),
    "DateLessThan": _date(lambda a, b: a < b),
    "DateLessThanEquals": _date(lambda a, b: a <= b),
    "DateGreaterThan": _date(lambda a, b: a > b),
    "DateGreaterThanEquals": _date(lambda a, b: a >= b),
    "IpAddress": lambda p, v: _ip_match(_to_str(p), _to_str(v)),
    "BinaryEquals": lambda p, v: _binary_equals(_to_str(p), v),
}
_OPERATOR_NAMES = {name.lower(): name for name in [*_MATCHERS, *_NEGATED, "Null"]}


def _value_matches(operator: Operator, policy_values: list, value: object) -> bool:
    """One context value against the policy values: positive = any match, negated = none match."""
    matcher = _MATCHERS[_POSITIVE_OF.get(operator.base, operator.base)]
    hit = any(matcher(pattern, value) for pattern in policy_values)
    return not hit if operator.negated else hit


def _null_matches(policy_values: list, present: bool) -> bool:
    """Null: ``true`` asks for the key to be absent, ``false`` for it to be present (values OR)."""
    return any((_to_str(v).lower() == "true") != present for v in policy_values)


def condition_entry_matches(operator_name: str, key: str, policy_values: object, context: dict) -> bool:
    """Evaluate one ``{operator: {key: values}}`` entry against a (lower-cased key) context."""
    operator = _parse_operator(operator_name)
    values = _as_list(policy_values)
    present = key.lower() in context and context[key.lower()] is not None
    if operator.base == "Null":
        return _null_matches(values, present)
    context_values = _as_list(context[key.lower()]) if present else []
    if present and not context_values:
        present = False
    if operator.set_op == "ForAllValues":
        return all(_value_matches(operator, values, v) for v in context_values)
    if not present:
        return operator.if_exists or (operator.negated and operator.set_op == "")
    if operator.set_op == "ForAnyValue":
        return any(_value_matches(operator, values, v) for v in context_values)
    if operator.negated:
        return all(_value_matches(operator, values, v) for v in context_values)
    return any(_value_matches(operator, values, v) for v in context_values)


def conditions_match(condition: dict, context: dict) -> bool:
    """A Condition element: every operator block and every key in it must match (AND)."""
    return all(
        condition_entry_matches(operator, key, values, context)
        for operator, block in condition.items()
        for key, values in block.items()
    )


def matching_condition_entries(statement: dict, request: Request) -> list[tuple[str, str, object]]:
    """The ``(operator, key, values)`` entries of ``statement`` that the request satisfies."""
    context = _lower_keys(request.context)
    return [
        (operator, key, values)
        for operator, block in (statement.get("Condition") or {}).items()
        for key, values in block.items()
        if condition_entry_matches(operator, key, values, context)
    ]


# --------------------------------------------------------------------------------------------
# The requests CloudTrail makes
# --------------------------------------------------------------------------------------------

SAMPLE_LOG_DATE = ("2026", "01", "01")
SAMPLE_LOG_SUFFIX = "20260101T0000Z_abcdefghijklmnop.json.gz"
SAMPLE_MEMBER_ACCOUNTS = ("999999999999", "888888888888")


def _trail_parts(trail_arn: str) -> dict:
    """Parse a trail ARN (PolicyError when it is not one)."""
    try:
        parts = parse_arn(trail_arn)
    except ArnError as exc:
        raise PolicyError(str(exc)) from exc
    if parts["service"] != "cloudtrail" or not parts["account"] or not parts["region"]:
        raise PolicyError(f"not a CloudTrail trail ARN: {trail_arn!r}")
    return parts


def _service_context(trail_arn: str) -> dict:
    """Global condition keys of a request CloudTrail makes on behalf of ``trail_arn``."""
    account = _trail_parts(trail_arn)["account"]
    return {
        "aws:SourceArn": trail_arn,
        "aws:SourceAccount": account,
        "aws:PrincipalIsAWSService": True,
        "aws:PrincipalServiceName": CLOUDTRAIL_SERVICE,
        "aws:SecureTransport": True,
    }


def cloudtrail_key_requests(
    trail_arn: str,
    key_arn: str,
    is_organization_trail: bool = False,
    organization_id: str | None = None,
) -> dict[str, Request]:
    """The KMS requests CloudTrail makes for ``trail_arn`` with ``key_arn``.

    ``encrypt`` (kms:GenerateDataKey, the call behind ``kms:GenerateDataKey*``), ``describe``
    (kms:DescribeKey, made when the trail is configured; it carries no encryption context) and
    ``decrypt`` (kms:Decrypt, needed when the bucket uses an S3 Bucket Key). For organization
    trails the trail ARN carries the management account id, so nothing else changes here.
    """
    del is_organization_trail, organization_id  # the ARN already carries the management account
    base = _service_context(trail_arn)
    base["kms:CallerAccount"] = base["aws:SourceAccount"]
    with_context = {
        **base,
        "kms:EncryptionContext:aws:cloudtrail:arn": trail_arn,
        "kms:EncryptionContextKeys": ["aws:cloudtrail:arn"],
    }
    principal = {"Service": CLOUDTRAIL_SERVICE}
    return {
        "encrypt": Request(dict(principal), "kms:GenerateDataKey", key_arn, dict(with_context)),
        "describe": Request(dict(principal), "kms:DescribeKey", key_arn, dict(base)),
        "decrypt": Request(dict(principal), "kms:Decrypt", key_arn, dict(with_context)),
    }


def log_prefix(s3_key_prefix: str | None) -> str:
    """``"logs"`` / ``"logs/"`` / ``"/logs/"`` -> ``"logs/"``; empty -> ``""``."""
    prefix = (s3_key_prefix or "").strip("/")
    return f"{prefix}/" if prefix else ""


def log_object_key(s3_key_prefix: str | None, account: str, region: str, organization_id: str | None = None) -> str:
    """A concrete object key CloudTrail writes (organization trails: under ``AWSLogs/<org-id>/``)."""
    year, month, day = SAMPLE_LOG_DATE
    org = f"{organization_id}/" if organization_id else ""
    return (
        f"{log_prefix(s3_key_prefix)}AWSLogs/{org}{account}/CloudTrail/{region}/{year}/{month}/{day}/"
        f"{account}_CloudTrail_{region}_{SAMPLE_LOG_SUFFIX}"
    )


def _member_account(management_account: str) -> str:
    """A member account id that is not the management account."""
    return next(a for a in SAMPLE_MEMBER_ACCOUNTS if a != management_account)


def _put_object(partition: str, bucket: str, key: str, context: dict, kms_key_arn: str | None) -> Request:
    """A CloudTrail PutObject: SSE-KMS headers with ``kms_key_arn``, SSE-S3 (AES256) without."""
    context = {**context, "s3:x-amz-acl": "bucket-owner-full-control"}
    if kms_key_arn:
        context["s3:x-amz-server-side-encryption"] = "aws:kms"
        context["s3:x-amz-server-side-encryption-aws-kms-key-id"] = kms_key_arn
    else:
        context["s3:x-amz-server-side-encryption"] = "AES256"
    return Request({"Service": CLOUDTRAIL_SERVICE}, "s3:PutObject", f"arn:{partition}:s3:::{bucket}/{key}", context)


def cloudtrail_bucket_requests(
    bucket: str,
    trail_arn: str,
    s3_key_prefix: str = "",
    key_arn: str | None = None,
    is_organization_trail: bool = False,
    organization_id: str | None = None,
) -> dict[str, Request]:
    """The S3 requests CloudTrail makes to deliver logs of ``trail_arn`` into ``bucket``.

    ``acl`` (s3:GetBucketAcl on the bucket), ``write`` (s3:PutObject of a log object under
    ``AWSLogs/<account>/``, with SSE-KMS headers naming ``key_arn`` when given, else identical to
    ``write_sse_s3``), ``write_sse_s3`` (the same upload with ``x-amz-server-side-encryption: AES256``),
    and for organization trails with an ``organization_id``: ``write_org`` (a member account's log
    under ``AWSLogs/<org-id>/<member>/``, SSE-KMS when ``key_arn``) and ``write_org_sse_s3``.
    """
    parts = _trail_parts(trail_arn)
    partition, account, region = parts["partition"], parts["account"], parts["region"]
    context = _service_context(trail_arn)
    requests = {
        "acl": Request({"Service": CLOUDTRAIL_SERVICE}, "s3:GetBucketAcl", f"arn:{partition}:s3:::{bucket}", context),
        "write": _put_object(partition, bucket, log_object_key(s3_key_prefix, account, region), context, key_arn),
        "write_sse_s3": _put_object(partition, bucket, log_object_key(s3_key_prefix, account, region), context, None),
    }
    if is_organization_trail and organization_id:
        org_key = log_object_key(s3_key_prefix, _member_account(account), region, organization_id)
        requests["write_org"] = _put_object(partition, bucket, org_key, context, key_arn)
        requests["write_org_sse_s3"] = _put_object(partition, bucket, org_key, context, None)
    return requests
