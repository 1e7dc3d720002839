# -*- coding: utf-8 -*-
# Copyright: trailguard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE to trailguard.cloudtrail_cmk: the consent record (approvals vars file).

Format, validation, the approved change plan, canonical JSON and SSH signatures. Pure Python:
no boto3 and no ansible imports, so the filters, the apply role (on the controller) and
``scripts/consent_sign.py`` (loaded by file path) can all use it. The format is documented in
``docs/consent.md`` and ``docs/schemas/approvals.schema.json``; keep the three in step.

Every validation error is ``{"field": <path relative to trailguard_consent>, "message": str}``,
for example ``{"field": "trails['arn:aws:cloudtrail:us-east-1:111111111111:trail/main'].action", ...}``.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import subprocess
import tempfile

SCHEMA_VERSION = 1
SIGNATURE_NAMESPACE = "trailguard-consent"
VARS_KEY = "trailguard_consent"
REQUIRE_SIGNATURE_VAR = "trailguard_require_signed_consent"

ACTIONS = ("use_existing_key", "create_key", "defer")
CONSTRAINTS = ("modify_organization_trails", "allow_key_policy_changes", "allow_bucket_policy_changes")
IMPACTS = (
    "kms_request_costs",  # every request CloudTrail makes to the key is billed
    "possible_delivery_interruption",  # a wrong key or bucket policy stops log delivery until fixed
    "new_key_cost",  # a new customer-managed key is billed monthly
    "key_policy_change",  # statements are added to an existing key policy
    "bucket_policy_change",  # statements are added to (or a blocking condition amended in) a bucket policy
    "bucket_default_encryption_change",  # the bucket's default encryption is changed
    "log_readers_lose_access",  # principals that read the logs today will not be able to decrypt new ones
)
RECORD_KEYS = (
    "schema_version",
    "assessment_digest",
    "approved_by",
    "approved_at",
    "expires_at",
    "change_ticket",
    "comment",
    "constraints",
    "accepted_impacts",
    "trails",
    "awx",
    "signature",
)
REQUIRED_RECORD_KEYS = ("assessment_digest", "approved_by", "approved_at", "trails")
TRAIL_KEYS = (
    "trail_arn",
    "action",
    "key_arn",
    "may_change_key_policy",
    "use_grant",
    "create_key",
    "readers",
    "may_change_bucket_policy",
    "may_resolve_default_encryption",
    "comment",
)
TRAIL_BOOLS = ("may_change_key_policy", "use_grant", "may_change_bucket_policy", "may_resolve_default_encryption")
CREATE_KEY_KEYS = ("alias", "description", "tags", "rotation", "rotation_period_days", "multi_region")
CREATE_KEY_DEFAULTS = {"description": "", "tags": {}, "rotation": True, "rotation_period_days": 365,
                       "multi_region": False}
# Keys excluded from the signed canonical form: the signature itself and the run-time AWX provenance
# (added by the controller after the approver signed).
UNSIGNED_KEYS = ("signature", "awx")
# Findings on a trail that mean its bucket policy must change before CloudTrail can deliver with a CMK.
BUCKET_POLICY_FINDINGS = ("BUCKET_POLICY_DENIES_CLOUDTRAIL", "BUCKET_POLICY_BLOCKS_KMS")
# Trail classifications (assessment) that may be changed from here.
ACTIONABLE_CLASSIFICATIONS = (None, "owned")

DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")
# Own ARN patterns rather than _arn.require: this file must also load on its own, by file path
# (scripts/consent_sign.py), where no other module_utils can be imported.
TRAIL_ARN_RE = re.compile(r"^arn:(aws[a-z-]*):cloudtrail:([a-z0-9-]+):(\d{12}):trail/([A-Za-z0-9._-]{1,128})$")
KEY_ARN_RE = re.compile(r"^arn:(aws[a-z-]*):kms:([a-z0-9-]+):(\d{12}):key/([A-Za-z0-9-]+)$")
ALIAS_RE = re.compile(r"^alias/(?!aws/)[A-Za-z0-9/_-]{1,250}$")
PRINCIPAL_RE = re.compile(r"^(\d{12}|arn:aws[a-z-]*:(iam|sts)::\d{12}:(root|(user|role|assumed-role)/.+))$")
SIGNATURE_RE = re.compile(r"^\s*-----BEGIN SSH SIGNATURE-----\s+[A-Za-z0-9+/=\s]+-----END SSH SIGNATURE-----\s*$")
TAG_KEY_MAX, TAG_VALUE_MAX = 128, 256
ROTATION_MIN_DAYS, ROTATION_MAX_DAYS = 90, 2560
CLOCK_SKEW = datetime.timedelta(minutes=5)
# Not datetime.UTC: module_utils must also compile on the older Pythons ansible-test checks.
_UTC = datetime.timezone.utc  # noqa: UP017

# AWX / Tower job metadata recorded into the record (``awx_<name>`` or ``tower_<name>`` extra vars).
# A whitelist: the awx.awx collection's own ``tower_*`` connection variables carry credentials.
AWX_FIELDS = (
    "job_id", "job_launch_type", "job_template_id", "job_template_name", "user_id", "user_name",
    "user_email", "user_first_name", "user_last_name", "schedule_id", "schedule_name", "workflow_job_id",
    "workflow_job_name", "workflow_job_template_id", "workflow_job_launch_type", "parent_job_schedule_id",
    "project_revision", "project_scm_branch", "inventory_id", "inventory_name", "execution_node",
    "approval_user", "approval_user_name", "approval_node_id", "approval_timestamp", "approval_job_id",
)


class ConsentError(ValueError):
    """The consent record is not usable; ``errors`` lists every problem (field + message)."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in self.errors) or "invalid consent")


# --------------------------------------------------------------------------------------------- helpers


def _err(field, message):
    return {"field": field, "message": message}


def _q(value):
    """Quote a map key inside a field path: trails['arn:...']."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _is_bool(v):
    return isinstance(v, bool)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_str(v):
    return isinstance(v, str)


def _type_name(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, dict):
        return "mapping"
    if isinstance(v, (list, tuple)):
        return "list"
    return type(v).__name__


def record_of(consent_vars):
    """The record itself: accepts the vars file mapping ({trailguard_consent: {...}}) or the record."""
    if isinstance(consent_vars, dict) and VARS_KEY in consent_vars:
        return consent_vars[VARS_KEY]
    return consent_vars


def parse_timestamp(value):
    """ISO 8601 string or datetime with a timezone -> aware UTC datetime; None when not parseable.

    YAML loaders (PyYAML, Ansible) turn unquoted timestamps into datetime objects: accept them, but
    refuse naive ones (no timezone) and bare dates, which are ambiguous."""
    if isinstance(value, datetime.datetime):
        dt = value
    elif isinstance(value, str):
        text = value.strip()
        if not re.match(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})$", text):
            return None
        text = text[:-1] + "+00:00" if text[-1] in "Zz" else text
        try:
            dt = datetime.datetime.fromisoformat(text.replace("t", "T"))
        except ValueError:
            return None
    else:
        return None
    if dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None:
        return None
    return dt.astimezone(_UTC)


def format_timestamp(dt):
    """Aware datetime -> 'YYYY-MM-DDTHH:MM:SS[.ffffff]Z' (UTC), the canonical form."""
    dt = dt.astimezone(_UTC).replace(tzinfo=None)
    return dt.isoformat() + "Z"


def _now(now):
    if now is None:
        return datetime.datetime.now(_UTC)
    parsed = parse_timestamp(now)
    if parsed is None:
        raise ValueError(f"now must be an ISO 8601 timestamp with a timezone, got {now!r}")
    return parsed


def _normalise(value, timestamp_keys=()):
    """Plain JSON data: mappings with str keys, lists, scalars; datetimes rendered canonically."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            key = str(k)
            if key in timestamp_keys:
                parsed = parse_timestamp(v)
                if parsed is not None:
                    out[key] = format_timestamp(parsed)
                    continue
            out[key] = _normalise(v)
        return out
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    if isinstance(value, datetime.datetime):
        parsed = parse_timestamp(value)
        return format_timestamp(parsed) if parsed else value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    raise TypeError(f"value of type {type(value).__name__} cannot be part of a consent record")


# ----------------------------------------------------------------------------------- canonical form


def canonical_json(record_without_signature):
    """The exact text that is signed: JSON, keys sorted, no whitespace, ASCII only (``\\uXXXX``).

    Accepts the vars mapping or the record; ``signature`` and ``awx`` are always left out.
    ``approved_at`` / ``expires_at`` are rendered as UTC ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z`` whether
    they were quoted strings or YAML timestamps, so signer and verifier agree."""
    record = record_of(record_without_signature)
    if not isinstance(record, dict):
        raise TypeError("the consent record must be a mapping")
    body = {k: v for k, v in record.items() if str(k) not in UNSIGNED_KEYS}
    body = _normalise(body, timestamp_keys=("approved_at", "expires_at"))
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def consent_digest(consent_vars):
    """sha256 hex of the canonical JSON (what is signed); recorded in the apply audit."""
    return hashlib.sha256(canonical_json(consent_vars).encode("ascii")).hexdigest()


def assessment_sha256(raw):
    """sha256 hex of assessment.json as written (str is encoded as UTF-8)."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    return hashlib.sha256(bytes(raw)).hexdigest()


# ----------------------------------------------------------------------------------- assessment index


class _Assessment:
    """Lookup tables over the documented assessment.json structure (see docs/consent.md)."""

    def __init__(self, data):
        self.data = data
        self.trails = {}  # arn -> (account_id, trail)
        self.trails_norm = {}  # normalised arn -> arn
        self.keys = {}  # key arn -> (account_id, key)
        self.buckets = {}  # bucket name -> (account_id, bucket)
        self.account_findings = {}
        for account_id, account in sorted((data.get("accounts") or {}).items()):
            if not isinstance(account, dict):
                continue
            self.account_findings[account_id] = account.get("findings")
            for trail in account.get("trails") or []:
                if not isinstance(trail, dict) or not _is_str(trail.get("arn")):
                    continue
                arn = trail["arn"]
                owner = trail.get("account_id") or account_id
                # An organization trail may be listed by a member account too: prefer the owner's entry.
                if arn not in self.trails or owner == account_id:
                    self.trails[arn] = (account_id, trail)
                self.trails_norm.setdefault(_norm_arn(arn), arn)
            for key in account.get("keys") or []:
                if isinstance(key, dict) and _is_str(key.get("arn")):
                    self.keys.setdefault(key["arn"], (account_id, key))
            for bucket in account.get("buckets") or []:
                if isinstance(bucket, dict) and _is_str(bucket.get("name")):
                    self.buckets.setdefault(bucket["name"], (account_id, bucket))

    def trail_findings(self, account_id, trail):
        findings = trail.get("findings")
        if isinstance(findings, list):
            return [f for f in findings if isinstance(f, dict)]
        extra = self.account_findings.get(account_id)
        if isinstance(extra, dict):
            extra = extra.get(trail["arn"])
        if isinstance(extra, list):
            return [f for f in extra if isinstance(f, dict) and f.get("resource") in (trail["arn"], None)]
        return []

    def bucket_of(self, trail):
        entry = self.buckets.get(trail.get("s3_bucket_name"))
        return entry[1] if entry else None

    def bucket_region(self, trail):
        bucket = self.bucket_of(trail)
        if bucket and _is_str(bucket.get("region")) and bucket["region"]:
            return bucket["region"]
        return trail.get("home_region")

    def aliases_in(self, account_id, region):
        out = set()
        for owner, key in self.keys.values():
            if owner == account_id and key.get("region") == region:
                out.update(a for a in key.get("aliases") or [] if _is_str(a))
        return out


def _norm_arn(arn):
    return re.sub(r"\s+", "", str(arn)).lower()


def _load_assessment(assessment, assessment_sha256_hex, errors):
    """-> (parsed dict or None, sha256 of the file bytes or None)."""
    digest = assessment_sha256_hex
    data = assessment
    if isinstance(assessment, (bytes, bytearray, str)):
        digest = assessment_sha256(assessment)
        try:
            data = json.loads(assessment)
        except ValueError as exc:
            errors.append(_err("assessment", f"assessment.json is not valid JSON: {exc}"))
            return None, digest
    if not isinstance(data, dict) or not isinstance(data.get("accounts"), dict):
        errors.append(_err("assessment", "the assessment must be a mapping with an 'accounts' mapping "
                                         "(the structure of assess/assessment.json)"))
        return None, digest
    return data, digest


# ------------------------------------------------------------------------------------ validation


def _check_timestamp(record, name, errors, required):
    if name not in record or record[name] is None:
        if required:
            errors.append(_err(name, f"{name} is required (ISO 8601 timestamp with a timezone)"))
        return None
    parsed = parse_timestamp(record[name])
    if parsed is None:
        errors.append(_err(name, f"{name} must be an ISO 8601 timestamp with a timezone such as "
                                 f"'2025-01-31T12:00:00Z', got {record[name]!r}"))
    return parsed


def _check_structure(record, errors):
    """Types and required fields of the record itself. Returns the list of usable trail entries."""
    for key in record:
        if key not in RECORD_KEYS:
            errors.append(_err(str(key), f"unknown field {key!r} (allowed: {', '.join(RECORD_KEYS)})"))
    if "schema_version" in record and record["schema_version"] != SCHEMA_VERSION:
        errors.append(_err("schema_version", f"schema_version must be {SCHEMA_VERSION}, "
                                             f"got {record['schema_version']!r}"))
    for key in REQUIRED_RECORD_KEYS:
        if key in ("approved_at",):
            continue
        value = record.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            errors.append(_err(key, f"{key} is required"))
    digest = record.get("assessment_digest")
    if digest is not None and not (_is_str(digest) and DIGEST_RE.match(digest)):
        errors.append(_err("assessment_digest", "assessment_digest must be the 64 lowercase hex characters of "
                                                "the sha256 of assess/assessment.json"))
    approver = record.get("approved_by")
    if approver is not None and not _is_str(approver):
        errors.append(_err("approved_by", f"approved_by must be a string, got {_type_name(approver)}"))
    for key in ("change_ticket", "comment"):
        if record.get(key) is not None and not _is_str(record[key]):
            errors.append(_err(key, f"{key} must be a string, got {_type_name(record[key])}"))

    constraints = record.get("constraints")
    if constraints is not None:
        if not isinstance(constraints, dict):
            errors.append(_err("constraints", f"constraints must be a mapping, got {_type_name(constraints)}"))
        else:
            for key, value in constraints.items():
                if key not in CONSTRAINTS:
                    errors.append(_err(f"constraints.{key}", f"unknown constraint {key!r} "
                                                             f"(allowed: {', '.join(CONSTRAINTS)})"))
                elif not _is_bool(value):
                    errors.append(_err(f"constraints.{key}", f"must be true or false, got {_type_name(value)}"))

    impacts = record.get("accepted_impacts")
    if impacts is not None:
        if not isinstance(impacts, list):
            errors.append(_err("accepted_impacts", f"accepted_impacts must be a list, got {_type_name(impacts)}"))
        else:
            seen = set()
            for i, impact in enumerate(impacts):
                if impact not in IMPACTS:
                    errors.append(_err(f"accepted_impacts[{i}]", f"unknown impact {impact!r} "
                                                                 f"(allowed: {', '.join(IMPACTS)})"))
                elif impact in seen:
                    errors.append(_err(f"accepted_impacts[{i}]", f"impact {impact!r} is listed twice"))
                seen.add(impact)

    awx = record.get("awx")
    if awx is not None and not (isinstance(awx, dict) and all(
            v is None or isinstance(v, (str, int, float, bool)) for v in awx.values())):
        errors.append(_err("awx", "awx must be a mapping of scalar values"))

    sig = record.get("signature")
    if sig is not None and not (_is_str(sig) and SIGNATURE_RE.match(sig)):
        errors.append(_err("signature", "signature must be an armored SSH signature "
                                        "(-----BEGIN SSH SIGNATURE----- ... -----END SSH SIGNATURE-----)"))

    trails = record.get("trails")
    if trails is None:
        return []
    if not isinstance(trails, list):
        errors.append(_err("trails", f"trails must be a list of trail entries, got {_type_name(trails)}"))
        return []
    if not trails:
        errors.append(_err("trails", "trails must name at least one trail"))
    usable = []
    seen = {}
    for i, entry in enumerate(trails):
        if not isinstance(entry, dict):
            errors.append(_err(f"trails[{i}]", f"each trail entry must be a mapping, got {_type_name(entry)}"))
            continue
        arn = entry.get("trail_arn")
        if not _is_str(arn) or not arn:
            errors.append(_err(f"trails[{i}].trail_arn", "trail_arn is required (the trail's ARN)"))
            continue
        label = f"trails[{_q(arn)}]"
        if not TRAIL_ARN_RE.match(arn):
            errors.append(_err(f"{label}.trail_arn", "trail_arn must be a CloudTrail trail ARN "
                                                     "(arn:aws:cloudtrail:<region>:<account>:trail/<name>)"))
        norm = _norm_arn(arn)
        if norm in seen:
            errors.append(_err(label, f"trail listed twice (entries {seen[norm]} and {i}, "
                                      "ARNs compared without case or whitespace)"))
            continue
        seen[norm] = i
        ok = _check_trail_entry(entry, label, errors)
        if ok:
            usable.append((label, entry))
    return usable


def _check_trail_entry(entry, label, errors):
    ok = True
    for key in entry:
        if key not in TRAIL_KEYS:
            errors.append(_err(f"{label}.{key}", f"unknown field {key!r} (allowed: {', '.join(TRAIL_KEYS)})"))
            ok = False
    action = entry.get("action")
    if action not in ACTIONS:
        errors.append(_err(f"{label}.action", f"action must be one of {', '.join(ACTIONS)}, got {action!r}"))
        ok = False
    for key in TRAIL_BOOLS:
        if key in entry and not _is_bool(entry[key]):
            errors.append(_err(f"{label}.{key}", f"must be true or false, got {_type_name(entry[key])}"))
            ok = False
    if entry.get("comment") is not None and not _is_str(entry["comment"]):
        errors.append(_err(f"{label}.comment", f"must be a string, got {_type_name(entry['comment'])}"))
    key_arn = entry.get("key_arn")
    if key_arn is not None and not (_is_str(key_arn) and KEY_ARN_RE.match(key_arn)):
        errors.append(_err(f"{label}.key_arn", "key_arn must be a KMS key ARN "
                                               f"(arn:aws:kms:<region>:<account>:key/<id>), got {key_arn!r}"))
        ok = False
    elif action == "use_existing_key" and not key_arn:
        errors.append(_err(f"{label}.key_arn", "use_existing_key needs key_arn (the ARN of the key to use)"))
        ok = False
    readers = entry.get("readers")
    if readers is not None:
        if not isinstance(readers, list):
            errors.append(_err(f"{label}.readers", f"readers must be a list, got {_type_name(readers)}"))
            ok = False
        else:
            for j, principal in enumerate(readers):
                if not (_is_str(principal) and PRINCIPAL_RE.match(principal)):
                    errors.append(_err(f"{label}.readers[{j}]", "each reader must be an account id or an IAM "
                                                                f"principal ARN, got {principal!r}"))
                    ok = False
    spec = entry.get("create_key")
    if spec is not None:
        ok = _check_create_key(spec, f"{label}.create_key", errors) and ok
    elif action == "create_key":
        errors.append(_err(f"{label}.create_key", "create_key needs a create_key mapping with at least alias"))
        ok = False
    return ok


def _check_create_key(spec, path, errors):
    if not isinstance(spec, dict):
        errors.append(_err(path, f"create_key must be a mapping, got {_type_name(spec)}"))
        return False
    ok = True
    for key in spec:
        if key not in CREATE_KEY_KEYS:
            errors.append(_err(f"{path}.{key}", f"unknown field {key!r} (allowed: {', '.join(CREATE_KEY_KEYS)})"))
            ok = False
    alias = spec.get("alias")
    if not (_is_str(alias) and ALIAS_RE.match(alias)):
        errors.append(_err(f"{path}.alias", "alias must look like 'alias/<name>' (letters, digits, / _ -; "
                                            f"not alias/aws/...), got {alias!r}"))
        ok = False
    if "description" in spec and not _is_str(spec["description"]):
        errors.append(_err(f"{path}.description", f"must be a string, got {_type_name(spec['description'])}"))
        ok = False
    for key in ("rotation", "multi_region"):
        if key in spec and not _is_bool(spec[key]):
            errors.append(_err(f"{path}.{key}", f"must be true or false, got {_type_name(spec[key])}"))
            ok = False
    if "rotation_period_days" in spec:
        days = spec["rotation_period_days"]
        if not _is_int(days) or not ROTATION_MIN_DAYS <= days <= ROTATION_MAX_DAYS:
            errors.append(_err(f"{path}.rotation_period_days", f"must be an integer from {ROTATION_MIN_DAYS} "
                                                               f"to {ROTATION_MAX_DAYS}, got {days!r}"))
            ok = False
    tags = spec.get("tags")
    if tags is not None:
        if not isinstance(tags, dict):
            errors.append(_err(f"{path}.tags", f"tags must be a mapping of strings, got {_type_name(tags)}"))
            ok = False
        else:
            for k, v in tags.items():
                if not (_is_str(k) and 0 < len(k) <= TAG_KEY_MAX and _is_str(v) and len(v) <= TAG_VALUE_MAX):
                    errors.append(_err(f"{path}.tags[{_q(k)}]", "tag keys (1-128 chars) and values "
                                                                "(up to 256 chars) must be strings"))
                    ok = False
    return ok


def entry_targets_recommended(entry, recommended):
    """Whether the approved change uses the key the assessment recommended (or creates one as recommended)."""
    action = entry.get("action")
    if action != recommended.get("action"):
        return False
    return action == "create_key" or entry.get("key_arn") == recommended.get("key_arn")


def _implied_impacts(entry, trail, findings):
    action = entry["action"]
    if action == "defer":
        return []
    impacts = ["kms_request_costs", "possible_delivery_interruption"]
    if action == "create_key":
        impacts.append("new_key_cost")
    if action == "use_existing_key" and entry.get("may_change_key_policy"):
        impacts.append("key_policy_change")
    if entry.get("may_change_bucket_policy"):
        impacts.append("bucket_policy_change")
    if entry.get("may_resolve_default_encryption"):
        impacts.append("bucket_default_encryption_change")
    approved_readers = set(entry.get("readers") or [])
    current_readers = trail.get("log_readers")
    recommended = trail.get("recommended_action") or {}
    if not isinstance(recommended, dict):
        recommended = {"action": recommended}
    if isinstance(trail.get("log_readers_need_decrypt"), list) and entry_targets_recommended(entry, recommended):
        # the assessment checked the recommended key: only the readers it would lock out matter
        current_readers = trail["log_readers_need_decrypt"]
    if isinstance(current_readers, list):
        if set(r for r in current_readers if _is_str(r)) - approved_readers:
            impacts.append("log_readers_lose_access")
    elif any(f.get("code") == "READERS_NEED_DECRYPT" for f in findings) and not approved_readers:
        impacts.append("log_readers_lose_access")
    return impacts


def _check_against_assessment(record, usable, index, errors):
    constraints = record.get("constraints") if isinstance(record.get("constraints"), dict) else {}
    allow_org = constraints.get("modify_organization_trails", False) is True
    allow_key_policy = constraints.get("allow_key_policy_changes", False) is True
    allow_bucket_policy = constraints.get("allow_bucket_policy_changes", False) is True
    needed_impacts = {}  # impact -> first field that implies it
    new_aliases = {}  # (account, region, alias) -> (label, spec)
    resolved = []
    for label, entry in usable:
        arn = entry["trail_arn"]
        found = index.trails.get(arn)
        if found is None:
            hint = index.trails_norm.get(_norm_arn(arn))
            extra = f"; the assessment lists {hint!r} (spell it exactly)" if hint else ""
            errors.append(_err(f"{label}.trail_arn", f"trail is not in the assessment{extra}"))
            continue
        account_id, trail = found
        action = entry["action"]
        findings = index.trail_findings(account_id, trail)
        codes = {f.get("code") for f in findings}
        resolved.append((label, entry, account_id, trail))
        if action == "defer":
            continue
        if trail.get("classification") not in ACTIONABLE_CLASSIFICATIONS or "ORG_TRAIL_NOT_MANAGEABLE_HERE" in codes:
            errors.append(_err(f"{label}.action", f"the assessment classifies this trail as "
                                                  f"{trail.get('classification') or 'not manageable here'}: "
                                                  "only the owner account's home-region trail can be changed; "
                                                  "use defer"))
        if trail.get("is_organization_trail") and not allow_org:
            errors.append(_err(f"{label}.action", f"organization trail approved for {action} but "
                                                  "constraints.modify_organization_trails is false"))
        if entry.get("may_change_key_policy") and action == "use_existing_key" and not allow_key_policy:
            errors.append(_err(f"{label}.may_change_key_policy", "may_change_key_policy is true but "
                                                                 "constraints.allow_key_policy_changes is false"))
        if entry.get("may_change_bucket_policy") and not allow_bucket_policy:
            errors.append(_err(f"{label}.may_change_bucket_policy", "may_change_bucket_policy is true but "
                                                                    "constraints.allow_bucket_policy_changes "
                                                                    "is false"))
        blocking = sorted(c for c in codes if c in BUCKET_POLICY_FINDINGS)
        if blocking and not entry.get("may_change_bucket_policy"):
            errors.append(_err(f"{label}.may_change_bucket_policy",
                               f"the bucket policy must change before CloudTrail can deliver with a CMK "
                               f"({', '.join(blocking)}) but may_change_bucket_policy is not true"))
        bucket_region = index.bucket_region(trail)
        if action == "use_existing_key":
            _check_existing_key(label, entry, trail, bucket_region, index, allow_key_policy, errors)
        elif action == "create_key":
            spec = entry["create_key"]
            alias = spec["alias"]
            if alias in index.aliases_in(account_id, bucket_region):
                errors.append(_err(f"{label}.create_key.alias", f"alias {alias} already exists in account "
                                                                f"{account_id} region {bucket_region} "
                                                                "(per the assessment); use_existing_key or "
                                                                "choose another alias"))
            slot = (account_id, bucket_region, alias)
            if slot in new_aliases and _create_spec(new_aliases[slot][1]) != _create_spec(spec):
                errors.append(_err(f"{label}.create_key.alias", f"alias {alias} is also requested by "
                                                                f"{new_aliases[slot][0]} with different "
                                                                "settings; one alias names one key"))
            new_aliases.setdefault(slot, (label, spec))
        for impact in _implied_impacts(entry, trail, findings):
            needed_impacts.setdefault(impact, label)
    accepted = record.get("accepted_impacts") if isinstance(record.get("accepted_impacts"), list) else []
    for impact in IMPACTS:
        if impact in needed_impacts and impact not in accepted:
            errors.append(_err("accepted_impacts", f"must include {impact!r}: implied by "
                                                   f"{needed_impacts[impact]}"))
    return resolved


def _create_spec(spec):
    out = dict(CREATE_KEY_DEFAULTS)
    out.update(spec)
    return out


def _check_existing_key(label, entry, trail, bucket_region, index, allow_key_policy, errors):
    key_arn = entry["key_arn"]
    field = f"{label}.key_arn"
    key_region = KEY_ARN_RE.match(key_arn).group(2)
    if bucket_region and key_region != bucket_region:
        errors.append(_err(field, f"key is in {key_region} but the trail's bucket "
                                  f"{trail.get('s3_bucket_name')} is in {bucket_region}: CloudTrail needs a key in "
                                  "the bucket's region"))
        return
    found = index.keys.get(key_arn)
    if found is None:
        errors.append(_err(field, "key is not in the assessment: re-run assess with it as a candidate key so "
                                  "its state and policy are known"))
        return
    key = found[1]
    if key.get("exists") is False:
        errors.append(_err(field, "the assessment found no such key (KEY_NOT_FOUND)"))
        return
    state = key.get("state", key.get("key_state"))
    if state is not None and state != "Enabled":
        errors.append(_err(field, f"key state is {state}; only Enabled keys can be used"))
    if key.get("manager", key.get("key_manager")) == "AWS":
        errors.append(_err(field, "key is AWS-managed; use a customer-managed key"))
    spec = key.get("key_spec", key.get("spec"))
    if spec is not None and spec != "SYMMETRIC_DEFAULT":
        errors.append(_err(field, f"key spec is {spec}; CloudTrail needs a symmetric encryption key"))
    may_policy = entry.get("may_change_key_policy") is True and allow_key_policy
    if may_policy and not key.get("policy_sha256"):
        errors.append(_err(field, "the assessment could not read this key's policy (no policy_sha256), so a "
                                  "policy change cannot be checked for drift: re-run assess with kms:GetKeyPolicy"))
    use_grant = entry.get("use_grant") is True
    suitable = trail["arn"] in (key.get("suitable_for") or [])
    if not suitable and not (may_policy or use_grant):
        errors.append(_err(field, "the assessment marks this key unsuitable for the trail (its policy does "
                                  "not let CloudTrail use it) and neither may_change_key_policy (with "
                                  "constraints.allow_key_policy_changes) nor use_grant is true"))
    if entry.get("readers") and not (may_policy or use_grant):
        errors.append(_err(f"{label}.readers", "giving readers kms:Decrypt on an existing key needs "
                                               "may_change_key_policy (with constraints.allow_key_policy_changes) "
                                               "or use_grant"))


def validate_consent(consent_vars, assessment, now=None, *, assessment_sha256_hex=None, require_signature=None,
                     allowed_signers=None, ssh_keygen="ssh-keygen"):
    """Every problem of a consent record, as [{"field", "message"}]; [] means usable.

    consent_vars: the approvals vars mapping ({trailguard_consent: ...}, optionally with
      trailguard_require_signed_consent) or the record itself.
    assessment: the raw content of assess/assessment.json (str or bytes; its sha256 is compared with
      assessment_digest), or the parsed mapping together with ``assessment_sha256_hex``.
    now: datetime or ISO 8601 string (default: the current time) for expiry checks.
    require_signature: overrides ``trailguard_require_signed_consent`` in consent_vars (default False).
    allowed_signers: when given (path), the signature is also verified with ssh-keygen.
    """
    errors = []
    when = _now(now)
    if require_signature is None:
        require_signature = isinstance(consent_vars, dict) and consent_vars.get(REQUIRE_SIGNATURE_VAR) is True
    record = record_of(consent_vars)
    if not isinstance(record, dict):
        return [_err(VARS_KEY, f"the consent record must be a mapping under {VARS_KEY}, got {_type_name(record)}")]

    usable = _check_structure(record, errors)
    approved_at = _check_timestamp(record, "approved_at", errors, required=True)
    expires_at = _check_timestamp(record, "expires_at", errors, required=False)
    if approved_at and approved_at > when + CLOCK_SKEW:
        errors.append(_err("approved_at", f"approved_at {format_timestamp(approved_at)} is in the future"))
    if expires_at:
        if approved_at and expires_at <= approved_at:
            errors.append(_err("expires_at", "expires_at must be after approved_at"))
        elif expires_at <= when:
            errors.append(_err("expires_at", f"the consent expired at {format_timestamp(expires_at)}"))

    data, actual_digest = _load_assessment(assessment, assessment_sha256_hex, errors)
    claimed = record.get("assessment_digest")
    if _is_str(claimed) and DIGEST_RE.match(claimed):
        if actual_digest is None:
            errors.append(_err("assessment_digest", "cannot check the digest: pass the raw content of "
                                                    "assessment.json (or its sha256)"))
        elif claimed != str(actual_digest).lower():
            errors.append(_err("assessment_digest", f"the record approves assessment {claimed} but the "
                                                    f"assessment given is {actual_digest}: re-approve against the "
                                                    "current assessment"))
    if data is not None:
        _check_against_assessment(record, usable, _Assessment(data), errors)

    signature = record.get("signature")
    if require_signature and not signature:
        errors.append(_err("signature", f"a signature is required ({REQUIRE_SIGNATURE_VAR}: true); sign with "
                                        "scripts/consent_sign.py"))
    if allowed_signers and signature and not any(e["field"] == "signature" for e in errors):
        ok, message = verify_signature(record, allowed_signers, ssh_keygen=ssh_keygen)
        if not ok:
            errors.append(_err("signature", message))
    return errors


# ------------------------------------------------------------------------------------------- plan


def approved_changes(consent_vars, assessment, now=None, **kwargs):
    """The plan: one item per trail whose action is not ``defer``, in record order.

    Validates first (same arguments as validate_consent) and raises ConsentError listing every
    problem: a plan is never produced from a record that does not validate."""
    errors = validate_consent(consent_vars, assessment, now=now, **kwargs)
    if errors:
        raise ConsentError(errors)
    record = record_of(consent_vars)
    data, _digest = _load_assessment(assessment, kwargs.get("assessment_sha256_hex"), [])
    index = _Assessment(data)
    plan = []
    for entry in record["trails"]:
        if entry["action"] == "defer":
            continue
        account_id, trail = index.trails[entry["trail_arn"]]
        bucket = index.bucket_of(trail) or {}
        bucket_region = index.bucket_region(trail)
        findings = index.trail_findings(account_id, trail)
        item = {
            "account_id": account_id,
            "trail_arn": trail["arn"],
            "trail_name": trail.get("name"),
            "home_region": trail.get("home_region"),
            "is_organization_trail": bool(trail.get("is_organization_trail")),
            "action": entry["action"],
            "key_arn": None,
            "key_account_id": None,
            "key_region": bucket_region,
            "create_key": None,
            "may_change_key_policy": False,
            "use_grant": False,
            "may_change_bucket_policy": entry.get("may_change_bucket_policy") is True,
            "may_resolve_default_encryption": entry.get("may_resolve_default_encryption") is True,
            "readers": sorted(set(entry.get("readers") or [])),
            "s3_bucket_name": trail.get("s3_bucket_name"),
            "s3_key_prefix": trail.get("s3_key_prefix") or "",
            "bucket_region": bucket_region,
            "tokens": {
                "trail_kms_key_id": trail.get("kms_key_id"),
                "key_policy_sha256": None,
                "bucket_policy_sha256": bucket.get("policy_sha256"),
            },
            "impacts": _implied_impacts(entry, trail, findings),
        }
        if entry["action"] == "use_existing_key":
            key_account, key = index.keys[entry["key_arn"]]
            item.update(key_arn=entry["key_arn"], key_account_id=key_account,
                        key_region=KEY_ARN_RE.match(entry["key_arn"]).group(2),
                        may_change_key_policy=entry.get("may_change_key_policy") is True,
                        use_grant=entry.get("use_grant") is True)
            item["tokens"]["key_policy_sha256"] = key.get("policy_sha256")
        else:
            item.update(key_account_id=account_id, create_key=_create_spec(entry["create_key"]))
        plan.append(item)
    return plan


# ------------------------------------------------------------------------------------------- AWX


def awx_metadata(extra_vars):
    """The AWX / Tower job metadata among ``extra_vars``: {"job_id": 42, "workflow_job_id": 40, ...}.

    ``awx_<field>`` wins over ``tower_<field>``; only the whitelisted AWX_FIELDS are taken (never the
    awx.awx collection's ``tower_host`` / ``tower_password`` / ``tower_oauthtoken`` connection vars)."""
    out = {}
    for field in AWX_FIELDS:
        for prefix in ("awx_", "tower_"):
            value = (extra_vars or {}).get(prefix + field)
            if value is not None and value != "" and isinstance(value, (str, int, float, bool)):
                out[field] = value
                break
    return out


def record_awx_metadata(consent_vars, extra_vars):
    """A copy of the record with ``awx`` set from the AWX / Tower extra vars (merged over an existing
    ``awx`` mapping). ``awx`` is outside the signed canonical form, so signatures stay valid."""
    record = record_of(consent_vars)
    if not isinstance(record, dict):
        raise TypeError("the consent record must be a mapping")
    new = dict(record)
    meta = dict(record.get("awx") or {}) if isinstance(record.get("awx"), dict) else {}
    meta.update(awx_metadata(extra_vars))
    if meta:
        new["awx"] = meta
    return new


# ------------------------------------------------------------------------------------- signatures


def sign_record(record, key_path, ssh_keygen="ssh-keygen"):
    """Armored ``ssh-keygen -Y sign -n trailguard-consent`` signature over canonical_json(record)."""
    canonical = canonical_json(record)
    with tempfile.TemporaryDirectory(prefix="trailguard-sign-") as tmp:
        msg = os.path.join(tmp, "consent.json")
        with open(msg, "w", encoding="ascii") as fh:
            fh.write(canonical)
        proc = subprocess.run([ssh_keygen, "-q", "-Y", "sign", "-n", SIGNATURE_NAMESPACE, "-f", str(key_path), msg],
                              capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise RuntimeError(f"ssh-keygen -Y sign failed: {(proc.stderr or proc.stdout).strip()}")
        with open(msg + ".sig", encoding="ascii") as fh:
            return fh.read()


def verify_signature(record, allowed_signers_path, ssh_keygen="ssh-keygen"):
    """-> (ok, message). ``ssh-keygen -Y verify -f allowed_signers -I <approved_by> -n trailguard-consent``
    over canonical_json(record), with the record's ``signature``."""
    record = record_of(record)
    if not isinstance(record, dict):
        return False, "the consent record must be a mapping"
    signature = record.get("signature")
    approver = record.get("approved_by")
    if not _is_str(signature) or not signature.strip():
        return False, "the record has no signature"
    if not _is_str(approver) or not approver.strip():
        return False, "the record has no approved_by to verify the signature against"
    try:
        canonical = canonical_json(record)
    except (TypeError, ValueError) as exc:
        return False, f"cannot build the canonical form: {exc}"
    with tempfile.TemporaryDirectory(prefix="trailguard-verify-") as tmp:
        sig = os.path.join(tmp, "consent.sig")
        with open(sig, "w", encoding="ascii", errors="replace") as fh:
            fh.write(signature if signature.endswith("\n") else signature + "\n")
        try:
            proc = subprocess.run([ssh_keygen, "-Y", "verify", "-f", str(allowed_signers_path), "-I", approver,
                                   "-n", SIGNATURE_NAMESPACE, "-s", sig], input=canonical, capture_output=True,
                                  text=True, check=False)
        except OSError as exc:
            return False, f"cannot run {ssh_keygen}: {exc}"
    output = " ".join(((proc.stdout or "") + " " + (proc.stderr or "")).split())
    if proc.returncode == 0:
        return True, output or f"good signature for {approver}"
    return False, f"signature verification failed for approved_by {approver!r}: {output or 'ssh-keygen failed'}"
