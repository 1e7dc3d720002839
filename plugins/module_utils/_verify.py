# Copyright: contributors to trailguard.cloudtrail_cmk
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE to trailguard.cloudtrail_cmk: not a public API, may change without notice.

Pure judgement for the verify phase (no boto3, no ansible imports): given what was read about one trail
(its configuration, its key, its bucket policy, GetTrailStatus and the heads of log objects delivered
after the key was attached) decide ``verified`` / ``failed`` / ``pending`` with the evidence, the exact
error and the remediation.

* ``verified``: no check failed and at least one log object delivered after the attach time carries
  ``ServerSideEncryption: aws:kms`` with ``SSEKMSKeyId`` equal to the expected key ARN.
* ``failed``: a check failed (trail, key, bucket policy, a current ``LatestDeliveryError``, or a new log
  object encrypted otherwise).
* ``pending``: nothing failed, but no new log object proves the key yet.

Digest files and objects delivered before the attach time are reported, never judged.
"""

from __future__ import annotations

import datetime as _dt

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils._arn import require as require_arn
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils._policy import (
    PolicyError,
    bucket_policy_findings,
    key_policy_findings,
    log_prefix,
)

VERIFIED, FAILED, PENDING = "verified", "failed", "pending"
VERDICTS = (VERIFIED, FAILED, PENDING)
PASS, FAIL, UNKNOWN, INFO = "pass", "fail", "unknown", "info"
UTC = _dt.UTC

# LatestDeliveryError values (opaque S3/KMS error strings) -> (likely cause, remediation).
DELIVERY_ERRORS = {
    "AccessDenied": (
        "S3 refused CloudTrail's write: the bucket policy no longer lets cloudtrail.amazonaws.com call "
        "s3:GetBucketAcl / s3:PutObject at the trail's log path, or it denies SSE-KMS uploads with this key.",
        "Restore the TrailGuardCloudTrailAclCheck / TrailGuardCloudTrailWrite statements of the bucket policy "
        "(re-run the apply playbook for this trail) and remove any Deny that matches CloudTrail's SSE-KMS upload.",
    ),
    "KMS.DisabledException": (
        "The trail's KMS key is disabled, so CloudTrail cannot generate data keys to encrypt log files.",
        "Enable the key (kms:EnableKey) or move the trail to an enabled customer-managed key.",
    ),
    "KMS.NotFoundException": (
        "The trail's KMS key does not exist (deleted) or is not in the bucket's region.",
        "Move the trail to an existing customer-managed key in the bucket's region (re-run assess and apply).",
    ),
    "KMS.KMSInvalidStateException": (
        "The trail's KMS key is not usable (for example pending deletion).",
        "Cancel the key deletion (kms:CancelKeyDeletion) and enable the key, or move the trail to another key.",
    ),
    "KMS.AccessDeniedException": (
        "The key policy no longer lets cloudtrail.amazonaws.com call kms:GenerateDataKey* for this trail.",
        "Restore the TrailGuardCloudTrailEncrypt statement of the key policy (re-run the apply playbook).",
    ),
    "KMS.InvalidKeyUsageException": (
        "The key is not a symmetric ENCRYPT_DECRYPT key, which CloudTrail requires.",
        "Move the trail to a symmetric customer-managed key.",
    ),
    "NoSuchBucket": (
        "The trail's S3 bucket no longer exists.",
        "Recreate the bucket with CloudTrail's bucket policy or point the trail at an existing bucket.",
    ),
    "InsufficientEncryptionPolicyException": (
        "CloudTrail cannot use the key with this bucket: either the key policy or the bucket policy refuses it.",
        "Re-run assess and apply for this trail; both policies are checked there.",
    ),
}
UNKNOWN_DELIVERY_ERROR = (
    "CloudTrail could not deliver the log file (an S3 or KMS error).",
    "Check the bucket policy, the key state and the key policy; see 'Troubleshooting CloudTrail log delivery' "
    "in the AWS documentation.",
)

KEY_STATE_FINDINGS = {
    "Disabled": ("KEY_DISABLED", "Enable the key (kms:EnableKey) or move the trail to an enabled key."),
    "PendingDeletion": (
        "KEY_PENDING_DELETION",
        "Cancel the deletion (kms:CancelKeyDeletion), enable the key, or move the trail to another key.",
    ),
}


# --------------------------------------------------------------------------------------------
# Time and paths
# --------------------------------------------------------------------------------------------


def parse_time(value: object) -> _dt.datetime | None:
    """A timezone-aware UTC datetime from a datetime, an ISO 8601 string or epoch seconds (None if empty)."""
    if value is None or value == "":
        return None
    if isinstance(value, _dt.datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, int | float):
        return _dt.datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = _dt.datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"not an ISO 8601 time: {value!r}") from exc
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    raise ValueError(f"not a time: {value!r}")


def iso(value: object) -> str | None:
    """``2026-01-01T00:00:00.000Z`` (None stays None)."""
    parsed = parse_time(value)
    if parsed is None:
        return None
    return parsed.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _second(value: _dt.datetime) -> _dt.datetime:
    return value.replace(microsecond=0)


def classify(last_modified: object, attached_at: object) -> str:
    """``after`` (judged), ``boundary`` (same second as the attach: S3 times have 1 s resolution, so the
    object may predate the change; reported, not judged) or ``before`` (old encryption; not judged)."""
    modified, attached = _second(parse_time(last_modified)), _second(parse_time(attached_at))
    if modified > attached:
        return "after"
    if modified == attached:
        return "boundary"
    return "before"


def log_roots(s3_key_prefix: str | None, account: str, organization_ids=()) -> list[str]:
    """``[prefix/]AWSLogs/<account>/`` and, per organization id, ``[prefix/]AWSLogs/<org-id>/<account>/``."""
    base = f"{log_prefix(s3_key_prefix)}AWSLogs/"
    return [f"{base}{account}/", *(f"{base}{org}/{account}/" for org in sorted(set(organization_ids)))]


def day_prefixes(folder: str, attached_at: object, now: object) -> list[str]:
    """``<folder>YYYY/MM/DD/`` for every UTC day from an hour before the attach time through ``now``."""
    start = (parse_time(attached_at) - _dt.timedelta(hours=1)).date()
    end = parse_time(now).date()
    days = []
    day = start
    while day <= end:
        days.append(f"{folder}{day:%Y/%m/%d}/")
        day += _dt.timedelta(days=1)
    return days


def sample(objects: list[dict], size: int) -> list[dict]:
    """The newest ``size`` objects, taken round-robin over regions so every region is represented."""
    by_region: dict[str, list[dict]] = {}
    for obj in sorted(objects, key=lambda o: (parse_time(o["last_modified"]), o["key"]), reverse=True):
        by_region.setdefault(obj.get("region") or "", []).append(obj)
    picked: list[dict] = []
    queues = [by_region[r] for r in sorted(by_region)]
    while len(picked) < size and any(queues):
        for queue in queues:
            if queue and len(picked) < size:
                picked.append(queue.pop(0))
    return picked


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def _check(name, status, code=None, message="", remediation=None, severity=None, resource=None, statement=None):
    return {
        "name": name,
        "status": status,
        "code": code,
        "severity": severity,
        "resource": resource,
        "message": message,
        "remediation": remediation,
        "statement": statement,
    }


def _from_findings(name, findings, ok_message, resource=None):
    if not findings:
        return [_check(name, PASS, message=ok_message, resource=resource)]
    return [
        _check(
            name,
            FAIL if f["severity"] in ("critical", "high") else INFO,
            f["code"],
            f["message"],
            f["remediation"],
            f["severity"],
            f["resource"],
            f.get("statement"),
        )
        for f in findings
    ]


def trail_checks(spec: dict, trail: dict | None, status: dict | None, read_error: dict | None = None) -> list[dict]:
    """The trail still exists, uses the expected key ARN and logs as it did before the change."""
    arn, expected = spec["trail_arn"], spec["expected_key_arn"]
    if read_error:
        return [
            _check(
                "trail", UNKNOWN, "TRAIL_UNREADABLE", f"The trail could not be read: {read_error['message']}",
                "Grant cloudtrail:DescribeTrails and cloudtrail:GetTrailStatus to the verify role.", "high", arn,
            )
        ]  # fmt: skip
    if trail is None:
        return [
            _check(
                "trail", FAIL, "TRAIL_NOT_FOUND", f"Trail {arn} does not exist in its home region any more.",
                "Find out who deleted the trail (CloudTrail event history: DeleteTrail) and recreate it.",
                "critical", arn,
            )
        ]  # fmt: skip
    checks = []
    actual = trail.get("KmsKeyId") or None
    if actual == expected:
        checks.append(_check("trail_key", PASS, message=f"The trail's KmsKeyId is {expected}.", resource=arn))
    else:
        checks.append(
            _check(
                "trail_key", FAIL, "TRAIL_KEY_MISMATCH",
                f"The trail's KmsKeyId is {actual or 'not set (SSE-S3)'}, expected {expected}.",
                "Someone changed the trail after apply: re-run assess and apply, or UpdateTrail with "
                f"KmsKeyId={expected}.", "critical", arn,
            )
        )  # fmt: skip
    logging = (status or {}).get("IsLogging")
    was = spec.get("was_logging", True)
    if status is None:
        checks.append(_check("trail_logging", UNKNOWN, "TRAIL_STATUS_UNREADABLE", "GetTrailStatus gave no answer.",
                             "Grant cloudtrail:GetTrailStatus to the verify role.", "medium", arn))
    elif logging == was:
        state = "logging" if logging else "not logging"
        checks.append(_check("trail_logging", PASS, message=f"The trail is {state}, as before the change.",
                             resource=arn))
    elif was:
        checks.append(
            _check(
                "trail_logging", FAIL, "TRAIL_LOGGING_STOPPED",
                "The trail was logging before the change and is not logging now.",
                f"Start logging again (cloudtrail:StartLogging on {arn}) and find out who stopped it (StopLogging).",
                "critical", arn,
            )
        )  # fmt: skip
    else:
        checks.append(_check("trail_logging", INFO, "TRAIL_LOGGING_STARTED",
                             "The trail was not logging before the change and is logging now.", None, "info", arn))
    return checks


def key_checks(spec: dict, trail: dict | None, key: dict) -> list[dict]:
    """The expected key exists, is Enabled and customer-managed, and its policy lets CloudTrail use it."""
    expected = spec["expected_key_arn"]
    if key.get("read_error"):
        return [
            _check(
                "key", UNKNOWN, "KEY_UNREADABLE", f"The key could not be read: {key['read_error']['message']}",
                "Grant kms:DescribeKey and kms:GetKeyPolicy on the key to the verify role.", "high", expected,
            )
        ]  # fmt: skip
    meta = key.get("metadata")
    if meta is None:
        return [
            _check(
                "key", FAIL, "KEY_NOT_FOUND", f"Key {expected} does not exist.",
                "Move the trail to an existing customer-managed key (re-run assess and apply).", "critical", expected,
            )
        ]  # fmt: skip
    checks = []
    state = meta.get("KeyState")
    if state == "Enabled":
        checks.append(_check("key_state", PASS, message="The key is Enabled.", resource=expected))
    else:
        code, remediation = KEY_STATE_FINDINGS.get(
            state, ("KEY_NOT_ENABLED", "Make the key usable again or move the trail to an enabled key.")
        )
        checks.append(_check("key_state", FAIL, code, f"Key {expected} is {state}; CloudTrail cannot encrypt with it.",
                             remediation, "critical", expected))
    if meta.get("KeyManager") == "AWS":
        checks.append(_check("key_manager", FAIL, "KEY_AWS_MANAGED", f"Key {expected} is AWS-managed.",
                             "Move the trail to a customer-managed key.", "critical", expected))
    else:
        checks.append(_check("key_manager", PASS, message="The key is customer-managed.", resource=expected))
    if trail is None or meta.get("KeyManager") == "AWS":
        return checks
    if key.get("policy_error"):
        checks.append(_check("key_policy", UNKNOWN, "KEY_UNREADABLE",
                             f"The key policy could not be read: {key['policy_error']['message']}",
                             "Grant kms:GetKeyPolicy on the key to the verify role.", "high", expected))
        return checks
    try:
        findings = key_policy_findings(
            key.get("policy"),
            spec["trail_arn"],
            expected,
            is_organization_trail=bool(trail.get("IsOrganizationTrail")),
            bucket_key_enabled=bool(key.get("bucket_key_enabled")),
        )
    except PolicyError as exc:
        findings = [
            {"code": "KEY_POLICY_INVALID", "severity": "critical", "resource": expected,
             "message": f"The key policy cannot be evaluated: {exc}", "remediation": "Fix the key policy JSON.",
             "statement": None}
        ]  # fmt: skip
    checks.extend(
        _from_findings(
            "key_policy", findings, "The key policy lets CloudTrail GenerateDataKey* and DescribeKey.", expected
        )
    )
    return checks


def bucket_checks(spec: dict, trail: dict | None, bucket: dict) -> list[dict]:
    """CloudTrail's GetBucketAcl and SSE-KMS PutObject with this key are allowed at the trail's path(s)."""
    if trail is None:
        return []
    name = trail.get("S3BucketName")
    if bucket.get("exists") is False:
        return [_check("bucket", FAIL, "BUCKET_NOT_FOUND", f"Bucket {name} does not exist.",
                       "Recreate the bucket with CloudTrail's bucket policy or point the trail at another bucket.",
                       "critical", name)]
    if bucket.get("policy_error"):
        return [_check("bucket_policy", UNKNOWN, "BUCKET_UNREADABLE",
                       f"The bucket policy could not be read: {bucket['policy_error']['message']}",
                       "Grant s3:GetBucketPolicy on the bucket to the verify role.", "high", name)]
    orgs = bucket.get("organization_ids") or [None]
    findings, seen = [], set()
    try:
        for org in orgs:
            for finding in bucket_policy_findings(
                bucket.get("policy"),
                name,
                spec["trail_arn"],
                trail.get("S3KeyPrefix") or "",
                spec["expected_key_arn"],
                is_organization_trail=bool(trail.get("IsOrganizationTrail")),
                organization_id=org,
            ):
                marker = (finding["code"], finding["message"])
                if marker not in seen:
                    seen.add(marker)
                    findings.append(finding)
    except PolicyError as exc:
        findings = [{"code": "BUCKET_POLICY_INVALID", "severity": "critical", "resource": name,
                     "message": f"The bucket policy cannot be evaluated: {exc}",
                     "remediation": "Fix the bucket policy JSON.", "statement": None}]
    return _from_findings(
        "bucket_policy",
        findings,
        "The bucket policy lets CloudTrail GetBucketAcl and PutObject with SSE-KMS (this key).",
        name,
    )


def explain_delivery_error(error: str) -> tuple[str, str]:
    """(likely cause, remediation) of an opaque LatestDeliveryError string."""
    text = error or ""
    for code, answer in DELIVERY_ERRORS.items():
        if text == code or text.startswith(code) or code in text.split():
            return answer
    if "AccessDenied" in text:
        return DELIVERY_ERRORS["AccessDenied"]
    return UNKNOWN_DELIVERY_ERROR


def delivery_check(spec: dict, status: dict | None) -> dict:
    """A LatestDeliveryError is current when the latest attempt did not succeed and it came after the attach."""
    arn = spec["trail_arn"]
    status = status or {}
    error = status.get("LatestDeliveryError")
    attached = parse_time(spec["attached_at"])
    attempt = parse_time(status.get("LatestDeliveryAttemptTime"))
    succeeded = parse_time(status.get("LatestDeliveryAttemptSucceeded"))
    delivered = parse_time(status.get("LatestDeliveryTime"))
    if not error:
        if delivered and delivered >= _second(attached):
            return _check("delivery_status", PASS, message=f"CloudTrail reports a delivery at {iso(delivered)}, "
                          "after the change (supporting evidence only).", resource=arn)
        return _check("delivery_status", INFO, message="CloudTrail reports no delivery since the change yet.",
                      resource=arn)
    current = attempt is None or succeeded is None or succeeded < attempt
    if attempt is not None and _second(attempt) < _second(attached):
        current = False
    if not current:
        return _check("delivery_status", INFO, "STALE_DELIVERY_ERROR",
                      f"GetTrailStatus still shows LatestDeliveryError {error!r}, but from an attempt before the "
                      "change or superseded by a later successful delivery; not judged.", None, "info", arn)
    cause, remediation = explain_delivery_error(error)
    when = f" (latest attempt {iso(attempt)})" if attempt else ""
    return _check("delivery_status", FAIL, "DELIVERY_ERROR",
                  f"CloudTrail reports LatestDeliveryError: {error}{when}. Likely cause: {cause}",
                  remediation, "critical", arn)


def object_checks(spec: dict, evidence: dict) -> tuple[list[dict], int]:
    """Judge the heads of log objects delivered after the attach; returns (checks, matching count)."""
    expected = spec["expected_key_arn"]
    judged = [o for o in evidence.get("objects") or [] if o.get("judged")]
    matching = [o for o in judged if o.get("matches")]
    wrong = [o for o in judged if not o.get("matches")]
    shared = evidence.get("shared_path_with") or []
    checks = []
    if matching:
        checks.append(_check("log_objects", PASS,
                             message=f"{len(matching)} of {len(judged)} sampled log object(s) delivered after the "
                             f"change are SSE-KMS with {expected}.", resource=evidence.get("bucket")))
    for obj in wrong:
        what = (f"SSE-KMS with {obj.get('sse_kms_key_id')}" if obj.get("server_side_encryption") == "aws:kms"
                else f"encrypted with {obj.get('server_side_encryption') or 'nothing'}")
        location = f"s3://{obj['bucket']}/{obj['key']}"
        if shared:
            checks.append(_check("log_objects", INFO, "OBJECT_OF_OTHER_TRAIL",
                                 f"{location} is {what}; the path is shared with {', '.join(shared)}, so it is "
                                 "attributed to another trail and not judged.", None, "info", location))
            continue
        checks.append(_check("log_objects", FAIL, "OBJECT_NOT_ENCRYPTED_WITH_KEY",
                             f"{location} (delivered {obj.get('last_modified')}, after the change) is {what}, "
                             f"not SSE-KMS with {expected}.",
                             "Check that nothing rewrites the objects (replication, lifecycle, a Lambda) and that "
                             "the trail's KmsKeyId is the expected key; then run verify again.", "critical", location))
    return checks, len(matching)


def judge(spec: dict, observed: dict) -> dict:
    """The verdict for one trail from everything read about it (see the module docstring)."""
    trail = observed.get("trail")
    status = observed.get("status")
    evidence = observed.get("evidence") or {}
    checks = trail_checks(spec, trail, status, observed.get("trail_read_error"))
    if trail is not None:
        checks += key_checks(spec, trail, observed.get("key") or {})
        checks += bucket_checks(spec, trail, observed.get("bucket") or {})
        checks.append(delivery_check(spec, status))
    object_results, matching = object_checks(spec, evidence)
    checks += object_results
    for error in observed.get("read_errors") or []:
        checks.append(_check("read", UNKNOWN, "READ_ERROR",
                             f"{error.get('operation')} failed: {error.get('message')}",
                             "Grant the verify role the read permission named in the error and run verify again.",
                             "medium", error.get("resource")))
    failed = [c for c in checks if c["status"] == FAIL]
    logging = (status or {}).get("IsLogging")
    shared_same_key = evidence.get("shared_same_key") or []
    supported = any(c["name"] == "delivery_status" and c["status"] == PASS for c in checks)
    if failed:
        verdict = FAILED
        message = "; ".join(f"{c['code']}: {c['message']}" for c in failed)
    elif matching and (not shared_same_key or supported):
        verdict = VERIFIED
        message = f"New log files arrive SSE-KMS encrypted with {spec['expected_key_arn']}."
    else:
        verdict = PENDING
        message = pending_message(spec, trail, logging, evidence, observed.get("polling") or {}, shared_same_key,
                                  matching)
        checks.append(_check("log_objects", UNKNOWN, "NO_NEW_LOG_OBJECT", message, pending_remediation(logging),
                             "medium", spec["trail_arn"]))
    errors = [_finding(c) for c in checks if c["status"] in (FAIL, UNKNOWN)]
    return {"verdict": verdict, "message": message, "checks": checks, "errors": errors}


def pending_message(spec, trail, logging, evidence, polling, shared_same_key, matching) -> str:
    if matching and shared_same_key:
        return (f"Log objects SSE-KMS with the expected key arrived, but the path is shared with "
                f"{', '.join(shared_same_key)} (same key) and CloudTrail reports no delivery for this trail since "
                "the change, so they may not be this trail's.")
    if trail is not None and logging is False:
        return ("The trail is not logging, so CloudTrail delivers no log file that could prove the key. "
                "Nothing arrived since the change.")
    where = ", ".join(f"s3://{evidence.get('bucket')}/{p}" for p in evidence.get("roots") or []) or "the trail's path"
    waited = polling.get("waited_seconds")
    within = f" within {waited:.0f} s ({polling.get('polls', 0)} polls)" if waited is not None else ""
    return (f"No log file delivered after {spec['attached_at']} arrived under {where}{within}. "
            "CloudTrail delivers about every 5 minutes; run verify again later.")


def pending_remediation(logging) -> str:
    if logging is False:
        return "Start logging (cloudtrail:StartLogging) if the trail should log, then run verify again."
    return "Run verify again later (or with a longer wait_timeout); CloudTrail delivers about every 5 minutes."


def _finding(check: dict) -> dict:
    return {
        "code": check["code"],
        "severity": check["severity"] or "medium",
        "resource": check["resource"],
        "message": check["message"],
        "remediation": check["remediation"],
        "statement": check["statement"],
    }


def object_evidence(bucket: str, key: str, region: str, last_modified: object, head: dict | None,
                    expected_key_arn: str, attached_at: object, request_id: str | None = None,
                    headed_at: str | None = None) -> dict:
    """One log object as evidence: where, when, its encryption headers and whether it proves the key."""
    position = classify(last_modified, attached_at)
    entry = {
        "bucket": bucket,
        "key": key,
        "region": region,
        "last_modified": iso(last_modified),
        "position": position,
        "judged": position == "after" and head is not None,
        "server_side_encryption": None,
        "sse_kms_key_id": None,
        "bucket_key_enabled": None,
        "matches": None,
        "request_id": request_id,
        "headed_at": headed_at,
    }
    if head is not None:
        entry["server_side_encryption"] = head.get("ServerSideEncryption")
        entry["sse_kms_key_id"] = head.get("SSEKMSKeyId")
        entry["bucket_key_enabled"] = head.get("BucketKeyEnabled")
        entry["matches"] = head.get("ServerSideEncryption") == "aws:kms" and head.get("SSEKMSKeyId") == expected_key_arn
    return entry


def validate_spec(spec: dict) -> dict:
    """Normalise one trail entry; ValueError with a plain message when it cannot be verified."""
    arn = spec.get("trail_arn")
    parts = require_arn(arn, "cloudtrail", "trail", "trail_arn")
    key = spec.get("expected_key_arn")
    require_arn(key, "kms", "key", f"expected_key_arn of {arn}")
    try:
        attached = parse_time(spec.get("attached_at"))
    except ValueError as exc:
        raise ValueError(f"attached_at of {arn}: {exc}") from exc
    if attached is None:
        raise ValueError(f"attached_at of {arn} is missing")
    was = spec.get("was_logging")
    return {
        **spec,
        "trail_arn": arn,
        "expected_key_arn": key,
        "attached_at": iso(attached),
        "was_logging": True if was is None else bool(was),
        "account_id": parts["account"],
        "home_region": parts["region"],
        "name": parts["resource"],
    }


def summarize(results: list[dict]) -> dict:
    counts = {v: sum(1 for r in results if r["verdict"] == v) for v in VERDICTS}
    return {"trails": len(results), **counts, "all_verified": counts[VERIFIED] == len(results)}
