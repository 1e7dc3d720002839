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
import difflib
import datetime as _dt
import hashlib
import ipaddress
import json
import re
from collections.abc import Callable, Iterable
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
    return _evaluate_loaded(load_policy(policy), request)


def _evaluate_loaded(loaded: dict, request: Request) -> Decision:
    """:func:`evaluate` for a policy :func:`load_policy` already returned (no copy, no validation)."""
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
    """The account of an AWS principal ARN, None for ``*`` or unparsable values (ids are normalised first)."""
    if is_arn(ident):
        return parse_arn(ident)["account"] or None
    return None


def _is_account_root(ident: str) -> bool:
    """True for an ``arn:...:iam::<acct>:root`` ARN (account ids are normalised to it first)."""
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
    set_op, _colon, rest = name.rpartition(":")
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


# --------------------------------------------------------------------------------------------
# Statement synthesis
# --------------------------------------------------------------------------------------------

SID_ENCRYPT = f"{OUR_SID_PREFIX}CloudTrailEncrypt"
SID_DESCRIBE = f"{OUR_SID_PREFIX}CloudTrailDescribeKey"
SID_DECRYPT_BUCKET_KEY = f"{OUR_SID_PREFIX}CloudTrailDecryptBucketKey"
SID_READERS = f"{OUR_SID_PREFIX}LogReadersDecrypt"
SID_ACL = f"{OUR_SID_PREFIX}CloudTrailAclCheck"
SID_WRITE = f"{OUR_SID_PREFIX}CloudTrailWrite"
ROOT_ADMIN_SID = "Enable IAM User Permissions"


def _trail_list(trail_arns: str | Iterable[str]) -> list[str]:
    """Sorted unique trail ARNs (a single ARN may be given as a string); PolicyError when empty/invalid."""
    trails = sorted({trail_arns} if isinstance(trail_arns, str) else set(trail_arns))
    if not trails:
        raise PolicyError("at least one trail ARN is needed")
    for trail in trails:
        _trail_parts(trail)
    return trails


def _partition(trails: list[str]) -> str:
    """The partition of the (first) trail."""
    return _trail_parts(trails[0])["partition"]


def _is_service_principal(ident: str) -> bool:
    """``logs.amazonaws.com`` style identifiers."""
    return not is_arn(ident) and ident.endswith((".amazonaws.com", ".amazonaws.com.cn"))


def _cloudtrail_statement(sid: str, action: str, resource: str | list, condition: dict) -> dict:
    """An Allow statement for the CloudTrail service principal."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": CLOUDTRAIL_SERVICE},
        "Action": action,
        "Resource": resource,
        "Condition": condition,
    }


def _readers_statement(readers: Iterable[str]) -> dict | None:
    """kms:Decrypt for log readers (IAM principals; ``*`` and service principals are left out)."""
    principals = sorted({_aws_principal_arn(r) for r in readers if r != "*" and not _is_service_principal(r)})
    if not principals:
        return None
    accounts = sorted({_principal_account(p) for p in principals} - {None})
    return {
        "Sid": SID_READERS,
        "Effect": "Allow",
        "Principal": {"AWS": principals},
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {
            "StringEquals": {"kms:CallerAccount": accounts},
            "Null": {"kms:EncryptionContext:aws:cloudtrail:arn": "false"},
        },
    }


def cloudtrail_key_statements(
    trail_arns: str | Iterable[str],
    account_id: str,
    bucket_key_enabled: bool = False,
    readers: Iterable[str] = (),
) -> list[dict]:
    """The key-policy statements (our Sids) that let CloudTrail use the key for ``trail_arns``.

    Encrypt (kms:GenerateDataKey*, conditioned on aws:SourceArn and the encryption context),
    DescribeKey (aws:SourceArn), kms:Decrypt for CloudTrail when the bucket uses an S3 Bucket Key,
    and kms:Decrypt for ``readers`` (principals that read the logs) when given.
    """
    del account_id  # the conditions name the trails, which carry their accounts
    trails = _trail_list(trail_arns)
    source = {"aws:SourceArn": list(trails)}
    statements = [
        _cloudtrail_statement(
            SID_ENCRYPT,
            "kms:GenerateDataKey*",
            "*",
            {"StringEquals": dict(source), "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": list(trails)}},
        ),
        _cloudtrail_statement(SID_DESCRIBE, "kms:DescribeKey", "*", {"StringEquals": {"aws:SourceArn": list(trails)}}),
    ]
    if bucket_key_enabled:
        condition = {"StringEquals": {"aws:SourceArn": list(trails)}}
        statements.append(_cloudtrail_statement(SID_DECRYPT_BUCKET_KEY, "kms:Decrypt", "*", condition))
    readers_statement = _readers_statement(readers)
    if readers_statement is not None:
        statements.append(readers_statement)
    return statements


def cloudtrail_bucket_statements(
    bucket: str,
    trail_arns: str | Iterable[str],
    s3_key_prefix: str | None,
    account_id: str,
    is_organization_trail: bool = False,
    organization_id: str | None = None,
) -> list[dict]:
    """The bucket-policy statements (our Sids) CloudTrail needs: GetBucketAcl and scoped PutObject.

    PutObject covers ``[prefix/]AWSLogs/<account>/*`` for ``account_id`` and every trail's account,
    plus ``[prefix/]AWSLogs/<org-id>/*`` for organization trails.
    """
    trails = _trail_list(trail_arns)
    partition = _partition(trails)
    base = f"arn:{partition}:s3:::{bucket}"
    accounts = sorted({account_id, *(_trail_parts(t)["account"] for t in trails)} - {"", None})
    paths = [f"{base}/{log_prefix(s3_key_prefix)}AWSLogs/{account}/*" for account in accounts]
    if is_organization_trail and organization_id:
        paths.append(f"{base}/{log_prefix(s3_key_prefix)}AWSLogs/{organization_id}/*")
    write_condition = {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": list(trails)}}
    return [
        _cloudtrail_statement(SID_ACL, "s3:GetBucketAcl", base, {"StringEquals": {"aws:SourceArn": list(trails)}}),
        _cloudtrail_statement(SID_WRITE, "s3:PutObject", paths, write_condition),
    ]


# --------------------------------------------------------------------------------------------
# Findings
# --------------------------------------------------------------------------------------------


def _finding(code: str, severity: str, resource: str, message: str, remediation: str, statement: str | None) -> dict:
    """A finding object as every part of the collection uses it."""
    return {
        "code": code,
        "severity": severity,
        "resource": resource,
        "message": message,
        "remediation": remediation,
        "statement": statement,
    }


def _json(value: object) -> str:
    """Compact, readable JSON for messages."""
    return json.dumps(value, separators=(", ", ": "))


def _statement_by_ref(policy: dict, ref: str) -> dict:
    """The statement a ref (Sid or #index) names."""
    for index, statement in enumerate(policy["Statement"]):
        if statement_ref(statement, index) == ref:
            return statement
    raise KeyError(ref)  # pragma: no cover - refs always come from the same policy


def _describe_request(request: Request, keys: Iterable[str]) -> str:
    """``principal cloudtrail.amazonaws.com, aws:SourceArn=...`` for the given context keys."""
    context = _lower_keys(request.context)
    parts = [f"{key}={_to_str(context[key.lower()])}" for key in keys if key.lower() in context]
    principal = next(iter(request.principal.values()))
    return ", ".join([f"principal {principal}", f"{request.action} on {request.resource}", *parts])


def _entry_hint(operator_name: str, key: str, values: object, request: Request) -> str:
    """How to change one condition entry so it stops matching the request."""
    operator = _parse_operator(operator_name)
    current = _lower_keys(request.context).get(key.lower())
    shown = _json({operator_name: {key: values}})
    if operator.base == "Null":
        return f"{shown} holds because the request {'lacks' if current is None else 'carries'} {key}"
    if current is None:
        return f"{shown} holds because the request carries no {key}"
    request_values = ", ".join(_json(_to_str(v)) for v in _as_list(current))
    if operator.negated:
        return f"{shown} holds for {key}={request_values}: add {request_values} to its values"
    return f"{shown} holds for {key}={request_values}: remove the value that matches {request_values}"


def deny_remediation(statement: dict, ref: str, request: Request) -> str:
    """A concrete change to Deny ``statement`` that stops it from matching ``request``."""
    entries = matching_condition_entries(statement, request)
    if entries:
        hints = "; ".join(_entry_hint(op, key, values, request) for op, key, values in entries)
        return f"Change the Condition of statement {ref} so it no longer matches: {hints}."
    if "NotPrincipal" in statement:
        principal = _json(request.principal)
        return f"Add {principal} to the NotPrincipal of statement {ref} (it has no condition to narrow)."
    exemption = _json({"StringNotEquals": {"aws:SourceArn": request.context.get("aws:SourceArn", "")}})
    return f"Statement {ref} has no condition that the request fails; add {exemption} to its Condition."


def _decision_finding(
    code: str,
    severity: str,
    resource: str,
    what: str,
    policy: dict,
    decision: Decision,
    request: Request,
    statement_to_add: dict,
    policy_name: str,
) -> dict:
    """A finding for a request that ``decision`` does not allow."""
    add = f"add this statement to the {policy_name}: {_json(statement_to_add)}"
    if decision.decision == "explicit_deny":
        ref = decision.denying[0]
        message = f"Statement {ref} of the {policy_name} denies {what} ({_describe_request(request, _SHOWN_KEYS)})."
        remediation = deny_remediation(_statement_by_ref(policy, ref), ref, request)
        if not decision.allowing:
            remediation += f" Then {add}"
        return _finding(code, severity, resource, message, remediation, ref)
    empty = " (there is no policy)" if not policy["Statement"] else ""
    message = (
        f"No statement of the {policy_name}{empty} allows {what} "
        f"({_describe_request(request, _SHOWN_KEYS)}): the request is implicitly denied."
    )
    return _finding(code, severity, resource, message, add[0].upper() + add[1:], None)


_SHOWN_KEYS = (
    "aws:SourceArn",
    "kms:EncryptionContext:aws:cloudtrail:arn",
    "s3:x-amz-server-side-encryption",
    "s3:x-amz-server-side-encryption-aws-kms-key-id",
)


def key_policy_findings(
    policy: str | dict | None,
    trail_arn: str,
    key_arn: str,
    is_organization_trail: bool = False,
    organization_id: str | None = None,
    bucket_key_enabled: bool = False,
) -> list[dict]:
    """Findings on a key policy for CloudTrail's use of ``key_arn`` for ``trail_arn`` ([] = usable).

    KEY_POLICY_DENIES_CLOUDTRAIL (kms:GenerateDataKey), KEY_POLICY_NO_DESCRIBE (kms:DescribeKey),
    KEY_POLICY_NO_DECRYPT_FOR_BUCKET_KEY (kms:Decrypt, only when ``bucket_key_enabled``).
    """
    loaded = load_policy(policy)
    requests = cloudtrail_key_requests(trail_arn, key_arn, is_organization_trail, organization_id)
    account = _trail_parts(trail_arn)["account"]
    ours = {s["Sid"]: s for s in cloudtrail_key_statements([trail_arn], account, bucket_key_enabled=True)}
    checks = [
        (
            "encrypt",
            "KEY_POLICY_DENIES_CLOUDTRAIL",
            "critical",
            SID_ENCRYPT,
            "CloudTrail's kms:GenerateDataKey (encrypting log files)",
        ),
        ("describe", "KEY_POLICY_NO_DESCRIBE", "high", SID_DESCRIBE, "CloudTrail's kms:DescribeKey"),
    ]
    if bucket_key_enabled:
        checks.append(
            (
                "decrypt",
                "KEY_POLICY_NO_DECRYPT_FOR_BUCKET_KEY",
                "high",
                SID_DECRYPT_BUCKET_KEY,
                "CloudTrail's kms:Decrypt (needed because the bucket uses an S3 Bucket Key)",
            )
        )
    findings = []
    for name, code, severity, sid, what in checks:
        decision = evaluate(loaded, requests[name])
        if not decision.allowed:
            finding = _decision_finding(
                code, severity, key_arn, what, loaded, decision, requests[name], ours[sid], "key policy"
            )
            findings.append(finding)
    return findings


def _blocks_kms_finding(
    bucket: str,
    loaded: dict,
    kms: Decision,
    plain: Decision,
    request: Request,
    write_statement: dict,
    where: str,
) -> dict | None:
    """BUCKET_POLICY_BLOCKS_KMS when the SSE-KMS upload fails for a reason the SSE-S3 upload does not."""
    key = request.context.get("s3:x-amz-server-side-encryption-aws-kms-key-id")
    blocking = [ref for ref in kms.denying if ref not in plain.denying]
    if blocking:
        ref = blocking[0]
        message = (
            f"Statement {ref} of the bucket policy denies CloudTrail's SSE-KMS upload with key {key} "
            f"to {where} ({_describe_request(request, _SHOWN_KEYS)}); the same upload with SSE-S3 would pass."
        )
        remediation = deny_remediation(_statement_by_ref(loaded, ref), ref, request)
        return _finding("BUCKET_POLICY_BLOCKS_KMS", "critical", bucket, message, remediation, ref)
    if kms.decision == "implicit_deny" and plain.allowed:
        message = (
            f"No statement of the bucket policy allows CloudTrail's SSE-KMS upload with key {key} to {where} "
            f"({_describe_request(request, _SHOWN_KEYS)}); the statements {', '.join(plain.allowing)} allow "
            "only other encryption settings."
        )
        remediation = f"Add this statement to the bucket policy: {_json(write_statement)}"
        return _finding("BUCKET_POLICY_BLOCKS_KMS", "critical", bucket, message, remediation, None)
    return None


def bucket_policy_findings(
    policy: str | dict | None,
    bucket: str,
    trail_arn: str,
    s3_key_prefix: str = "",
    key_arn: str | None = None,
    is_organization_trail: bool = False,
    organization_id: str | None = None,
) -> list[dict]:
    """Findings on a bucket policy for CloudTrail delivering ``trail_arn``'s logs ([] = delivery works).

    BUCKET_POLICY_DENIES_CLOUDTRAIL: GetBucketAcl, or PutObject at the trail's path (and the
    organization path for organization trails), is not allowed; decided with the SSE-S3 upload, or
    with the SSE-KMS upload when ``key_arn`` is given and the bucket admits only that.
    BUCKET_POLICY_BLOCKS_KMS: the SSE-S3 upload would pass, the SSE-KMS upload with ``key_arn`` not.
    """
    loaded = load_policy(policy)
    requests = cloudtrail_bucket_requests(
        bucket, trail_arn, s3_key_prefix, key_arn, is_organization_trail, organization_id
    )
    account = _trail_parts(trail_arn)["account"]
    ours = {
        s["Sid"]: s
        for s in cloudtrail_bucket_statements(
            bucket, [trail_arn], s3_key_prefix, account, is_organization_trail, organization_id
        )
    }
    findings = []
    acl = evaluate(loaded, requests["acl"])
    if not acl.allowed:
        what = "CloudTrail's s3:GetBucketAcl on the bucket"
        findings.append(
            _decision_finding(
                "BUCKET_POLICY_DENIES_CLOUDTRAIL", "critical", bucket, what, loaded, acl, requests["acl"],
                ours[SID_ACL], "bucket policy",
            )
        )  # fmt: skip
    writes = [("write", "write_sse_s3", "the trail's log path")]
    if "write_org" in requests:
        writes.append(("write_org", "write_org_sse_s3", "the organization log path"))
    for kms_name, plain_name, where in writes:
        plain = evaluate(loaded, requests[plain_name])
        kms = evaluate(loaded, requests[kms_name]) if key_arn else plain
        if not plain.allowed and not kms.allowed:
            what = f"CloudTrail's s3:PutObject of log files to {where}"
            findings.append(
                _decision_finding(
                    "BUCKET_POLICY_DENIES_CLOUDTRAIL", "critical", bucket, what, loaded, plain, requests[plain_name],
                    ours[SID_WRITE], "bucket policy",
                )
            )  # fmt: skip
        if key_arn and not kms.allowed:
            finding = _blocks_kms_finding(bucket, loaded, kms, plain, requests[kms_name], ours[SID_WRITE], where)
            if finding is not None:
                findings.append(finding)
    return findings


# --------------------------------------------------------------------------------------------
# Log readers
# --------------------------------------------------------------------------------------------


def _covers_logs(resource_patterns: list[str], sample: str, log_root: str) -> bool:
    """A Resource list covers the logs when it matches a log object or lies under the log root."""
    return any(glob_match(pattern, sample) or pattern.startswith(log_root) for pattern in resource_patterns)


def _reader_principal(reader: str) -> dict:
    """The request principal for a reader id (service name, ``*`` or IAM ARN / account id)."""
    return {"Service": reader} if _is_service_principal(reader) else {"AWS": reader}


def _reader_context(reader: str) -> dict:
    """Global keys an IAM principal's request carries (absent for services and ``*``)."""
    if _is_service_principal(reader) or reader == "*":
        return {"aws:SecureTransport": True}
    arn = _aws_principal_arn(reader)
    account = _principal_account(arn)
    return {
        "aws:SecureTransport": True,
        "aws:PrincipalArn": arn,
        "aws:PrincipalAccount": account,
        "aws:PrincipalIsAWSService": False,
        "kms:CallerAccount": account,
    }


def log_readers(
    bucket_policy: str | dict | None,
    bucket: str,
    s3_key_prefix: str | None,
    account_id: str,
    partition: str = "aws",
) -> list[str]:
    """Principals a bucket policy grants s3:GetObject on ``account_id``'s CloudTrail logs.

    Principals are returned as written (IAM ARNs / account ids, service names, ``"*"`` for
    everyone: the caller should flag it), first-seen order, without CloudTrail itself and without
    principals an explicit Deny keeps from reading. Allow conditions are not evaluated (the reader
    may meet them).
    """
    loaded = load_policy(bucket_policy)
    sample = f"arn:{partition}:s3:::{bucket}/{log_object_key(s3_key_prefix, account_id, 'us-east-1')}"
    log_root = f"arn:{partition}:s3:::{bucket}/{log_prefix(s3_key_prefix)}AWSLogs/{account_id}/"
    readers: list[str] = []
    for statement in loaded["Statement"]:
        if statement["Effect"] != "Allow" or "Principal" not in statement:
            continue
        if not _action_applies(statement, "s3:GetObject"):
            continue
        if "Resource" not in statement or not _covers_logs(_as_list(statement["Resource"]), sample, log_root):
            continue
        for ids in _principal_map(statement["Principal"], "Principal").values():
            readers.extend(i for i in ids if i not in readers and i.lower() != CLOUDTRAIL_SERVICE)
    return [r for r in readers if not _read_denied(loaded, r, sample)]


def _read_denied(policy: dict, reader: str, sample: str) -> bool:
    """True when an explicit Deny keeps ``reader`` from reading the sample log object."""
    request = Request(_reader_principal(reader), "s3:GetObject", sample, _reader_context(reader))
    return evaluate(policy, request).decision == "explicit_deny"


# --- identity (IAM) policies: the account's own principals --------------------------------------


def identity_policy(document: str | dict | None) -> dict | None:
    """An IAM identity policy as a resource policy that names every principal (``Principal: "*"``).

    Identity policies have no Principal: the policy applies to the principal it is attached to, so
    evaluating it with ``Principal: "*"`` for that principal is the same evaluation. Returns None
    for an unparsable document or one with Principal / NotPrincipal (not an identity policy).
    """
    try:
        parsed = _parse(document)
    except PolicyError:
        return None
    if not isinstance(parsed, dict):
        return None
    statements = parsed.get("Statement")
    statements = statements if isinstance(statements, list) else [statements]
    if any(not isinstance(s, dict) or "Principal" in s or "NotPrincipal" in s for s in statements):
        return None
    try:
        return load_policy({"Version": parsed.get("Version", POLICY_VERSION),
                            "Statement": [dict(s, Principal="*") for s in statements]})
    except PolicyError:
        return None


def _unconditional(policy: dict) -> dict:
    return {**policy, "Statement": [{k: v for k, v in s.items() if k != "Condition"} for s in policy["Statement"]]}


def prepare_identity(identity: dict) -> dict:
    """Parse an identity's policies once; :func:`identity_allows` and :func:`identity_log_readers` take either.

    Unparsable documents (and resource policies) are left out; an unparsable permissions boundary allows
    nothing. Adds private keys (``_policies``, ``_boundary`` and their condition-free forms).
    """
    if identity.get("_prepared"):
        return identity
    policies = [p for p in (identity_policy(d) for d in identity.get("policies") or []) if p is not None]
    boundary = identity.get("permissions_boundary")
    prepared_boundary = None
    if boundary is not None:
        prepared_boundary = identity_policy(boundary) or {"Version": POLICY_VERSION, "Statement": []}
    return {
        **identity,
        "_prepared": True,
        "_policies": policies,
        "_policies_unconditional": [_unconditional(p) for p in policies],
        "_boundary": prepared_boundary,
        "_boundary_unconditional": None if prepared_boundary is None else _unconditional(prepared_boundary),
    }


def identity_allows(
    identity: dict,
    action: str,
    resource: str,
    context: dict | None = None,
    allow_conditions_met: bool = False,
) -> bool:
    """Whether an IAM principal's own policies allow ``action`` on ``resource``.

    ``identity``: ``{"arn": ..., "policies": [document, ...], "permissions_boundary": document or None}``
    (inline, attached managed and group policies together), or its :func:`prepare_identity` form. An
    explicit Deny whose conditions hold for ``context`` wins; otherwise an Allow is needed, and within a
    permissions boundary as well. ``allow_conditions_met=True`` takes the Allow statements' conditions as
    met (the principal *may* meet them: the right reading for "who can read the logs today").
    """
    prepared = prepare_identity(identity)
    principal = {"AWS": prepared["arn"]}
    request = Request(principal, action, resource, dict(context or {}))
    loose = Request(principal, action, resource, {})

    def allows(policies: list, unconditional: list) -> bool:
        if any(_evaluate_loaded(p, request).decision == "explicit_deny" for p in policies):
            return False
        if allow_conditions_met:
            return any(_evaluate_loaded(p, loose).allowed for p in unconditional)
        return any(_evaluate_loaded(p, request).allowed for p in policies)

    if not allows(prepared["_policies"], prepared["_policies_unconditional"]):
        return False
    if prepared["_boundary"] is None:
        return True
    return allows([prepared["_boundary"]], [prepared["_boundary_unconditional"]])


def may_read_objects(identity: dict) -> bool:
    """Cheap pre-check: some Allow statement of the identity's policies covers s3:GetObject at all."""
    prepared = prepare_identity(identity)
    return any(
        statement["Effect"] == "Allow" and _action_applies(statement, "s3:GetObject")
        for policy in prepared["_policies"]
        for statement in policy["Statement"]
    )


def identity_log_readers(
    identities: Iterable[dict],
    bucket: str,
    s3_key_prefix: str | None,
    account_id: str,
    bucket_policy: str | dict | None = None,
    partition: str = "aws",
) -> list[str]:
    """The account's own IAM principals whose policies let them s3:GetObject the trail's log files.

    For a bucket of the principals' own account: the identity policies must allow (their Allow
    conditions taken as met) and the bucket policy must not explicitly deny. Sorted ARNs.
    Pass :func:`prepare_identity` forms when calling it for many trails.
    """
    sample = f"arn:{partition}:s3:::{bucket}/{log_object_key(s3_key_prefix, account_id, 'us-east-1')}"
    loaded = load_policy(bucket_policy) if bucket_policy is not None else None
    readers = []
    for identity in identities:
        arn = identity["arn"]
        if not may_read_objects(identity):
            continue
        context = _reader_context(arn)
        if not identity_allows(identity, "s3:GetObject", sample, context, allow_conditions_met=True):
            continue
        if loaded is not None and _read_denied(loaded, arn, sample):
            continue
        readers.append(arn)
    return sorted(set(readers))


def _names_directly(statement: dict, arn: str) -> bool:
    """Whether a key policy statement's Principal names ``arn`` itself (or ``*``), not via the account."""
    if "Principal" not in statement:
        return False
    entries = _principal_map(statement["Principal"], "Principal").get("AWS", [])
    return any(e == "*" or (not _is_account_root(_aws_principal_arn(e)) and _aws_entry_matches(
        _aws_principal_arn(e), arn, exact=False)) for e in entries)


def readers_without_decrypt(
    key_policy: str | dict | None,
    key_arn: str,
    readers: Iterable[str],
    trail_arn: str | None = None,
    identities: dict | None = None,
) -> list[str]:
    """The ``readers`` the key policy does not allow kms:Decrypt of CloudTrail log files.

    Without ``identities``, principals of the key's account are taken as covered by the account-root
    statement (IAM delegation). ``identities`` (ARN -> the principal's IAM policies, see
    :func:`identity_allows`) settles that: a principal the key policy covers only through the account
    must also be allowed kms:Decrypt by its own policies (conditions evaluated: the request is S3's
    Decrypt on the reader's behalf, ``kms:ViaService`` = ``s3.<region>.amazonaws.com``).
    ``trail_arn`` sets the encryption context; by default a trail of the key's account and region.
    """
    loaded = load_policy(key_policy)
    try:
        key = parse_arn(key_arn)
    except ArnError as exc:
        raise PolicyError(str(exc)) from exc
    trail = trail_arn or f"arn:{key['partition']}:cloudtrail:{key['region']}:{key['account']}:trail/trailguard-sample"
    identities = identities or {}
    missing = []
    for reader in readers:
        context = {
            **_reader_context(reader),
            "kms:EncryptionContext:aws:cloudtrail:arn": trail,
            "kms:EncryptionContextKeys": ["aws:cloudtrail:arn"],
            "kms:ViaService": f"s3.{key['region']}.amazonaws.com",
        }
        decision = evaluate(loaded, Request(_reader_principal(reader), "kms:Decrypt", key_arn, context))
        if not decision.allowed:
            missing.append(reader)
            continue
        identity = identities.get(reader)
        if identity is None or _principal_account(reader) != key["account"]:
            continue
        direct = any(_names_directly(_statement_by_ref(loaded, ref), reader) for ref in decision.allowing)
        if not direct and not identity_allows(identity, "kms:Decrypt", key_arn, context):
            missing.append(reader)
    return missing


# --------------------------------------------------------------------------------------------
# New key policy, merge by Sid, admin access, diff
# --------------------------------------------------------------------------------------------

ADMIN_ACTIONS = (
    "kms:PutKeyPolicy",
    "kms:GetKeyPolicy",
    "kms:DescribeKey",
    "kms:EnableKey",
    "kms:DisableKey",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:CreateGrant",
    "kms:RevokeGrant",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:EnableKeyRotation",
)


def root_admin_statement(account_id: str, partition: str = "aws") -> dict:
    """The statement that keeps the account's administrative access (and IAM delegation)."""
    return {
        "Sid": ROOT_ADMIN_SID,
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }


def new_key_policy(
    account_id: str,
    trail_arns: str | Iterable[str],
    bucket_key_enabled: bool = False,
    readers: Iterable[str] = (),
) -> dict:
    """The policy of a key created for ``trail_arns``: account root admin + our statements."""
    trails = _trail_list(trail_arns)
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            root_admin_statement(account_id, _partition(trails)),
            *cloudtrail_key_statements(trails, account_id, bucket_key_enabled, readers),
        ],
    }


def _union(existing: object, new: object) -> object:
    """Values of ``existing`` in order, then those of ``new`` not in it; a lone value stays scalar."""
    merged = list(_as_list(existing))
    merged.extend(v for v in _as_list(new) if v not in merged)
    return existing if len(merged) == len(_as_list(existing)) else merged


def _merge_principal(existing: object, new: object) -> object:
    """Union of two Principal elements per principal type (``*`` absorbs everything)."""
    if existing == "*" or new == "*":
        return "*"
    merged = dict(existing)  # type: ignore[call-overload]
    for kind, ids in new.items():  # type: ignore[union-attr]
        merged[kind] = _union(merged[kind], ids) if kind in merged else ids
    return merged


def _merge_condition(existing: dict, new: dict) -> dict:
    """Entries present in both: union of values. Entries in only one side are dropped (never narrows)."""
    merged: dict = {}
    for operator, block in existing.items():
        for key, values in block.items():
            if key in new.get(operator, {}):
                merged.setdefault(operator, {})[key] = _union(values, new[operator][key])
    return merged


def _merge_statement(existing: dict, new: dict) -> dict:
    """Merge our statement ``new`` into the existing statement with the same Sid (union, never narrower)."""
    sid = existing.get("Sid")
    if existing["Effect"] != new["Effect"]:
        raise PolicyError(f"statement {sid} exists with Effect {existing['Effect']}; refusing to merge")
    for negative in ("NotPrincipal", "NotAction", "NotResource"):
        if negative in existing:
            raise PolicyError(f"statement {sid} uses {negative}; refusing to merge into it")
    merged = copy.deepcopy(existing)
    merged["Principal"] = _merge_principal(existing["Principal"], new["Principal"])
    merged["Action"] = _union(existing["Action"], new["Action"])
    merged["Resource"] = _union(existing["Resource"], new["Resource"])
    condition = _merge_condition(existing.get("Condition") or {}, new.get("Condition") or {})
    if condition:
        merged["Condition"] = condition
    else:
        merged.pop("Condition", None)
    return merged


def merge_statements(policy: str | dict | None, statements: Iterable[dict]) -> dict:
    """Add our ``statements`` to ``policy``; an existing statement with the same Sid is merged into.

    Only statements whose Sid starts with ``TrailGuard`` are accepted; every other statement is
    kept unchanged and in place. The input is not modified; the result is deterministic and
    merging the same statements again changes nothing.
    """
    merged = load_policy(policy)
    merged.setdefault("Version", POLICY_VERSION)
    position = {s.get("Sid"): i for i, s in reversed(list(enumerate(merged["Statement"]))) if s.get("Sid")}
    for statement in statements:
        sid = statement.get("Sid", "")
        if not isinstance(sid, str) or not sid.startswith(OUR_SID_PREFIX):
            raise PolicyError(f"only statements with a {OUR_SID_PREFIX}* Sid may be merged, got {sid!r}")
        _validate_statement(statement, len(merged["Statement"]))
        if sid in position:
            index = position[sid]
            merged["Statement"][index] = _merge_statement(merged["Statement"][index], statement)
        else:
            position[sid] = len(merged["Statement"])
            merged["Statement"].append(copy.deepcopy(statement))
    return merged


def admin_access_preserved(policy: str | dict | None, account_id: str, key_arn: str = "*") -> bool:
    """True when the account root may run every key-administration action (kms:PutKeyPolicy first).

    The account root (as account id or root ARN, or ``*``) must be allowed each of
    :data:`ADMIN_ACTIONS` and no Deny may apply to it.
    """
    loaded = load_policy(policy)
    root = f"arn:aws:iam::{account_id}:root"
    context = {
        "aws:PrincipalArn": root,
        "aws:PrincipalAccount": account_id,
        "aws:PrincipalIsAWSService": False,
        "aws:SecureTransport": True,
        "kms:CallerAccount": account_id,
    }
    resource = key_arn if key_arn != "*" else f"arn:aws:kms:us-east-1:{account_id}:key/trailguard-admin-check"
    return all(
        evaluate(loaded, Request({"AWS": account_id}, action, resource, context)).allowed for action in ADMIN_ACTIONS
    )


def pretty_json(policy: str | dict | None) -> str:
    """Indented JSON with sorted keys ("" for an absent policy)."""
    parsed = _parse(policy)
    return "" if parsed is None else json.dumps(parsed, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def policy_diff(before: str | dict | None, after: str | dict | None) -> str:
    """Unified diff of the pretty canonical JSON of two policies ("" when they are equal)."""
    lines = difflib.unified_diff(
        pretty_json(before).splitlines(keepends=True),
        pretty_json(after).splitlines(keepends=True),
        fromfile="before",
        tofile="after",
    )
    return "".join(lines)


def policy_size(policy: str | dict | None) -> int:
    """Bytes of the compact JSON form (what counts against :data:`MAX_KEY_POLICY_BYTES`)."""
    return len(canonical_json(policy).encode("utf-8"))
