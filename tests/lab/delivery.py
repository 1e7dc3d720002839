"""Log delivery: every logging trail writes one log file per region it covers, the way CloudTrail does.

A delivery is all-or-nothing per trail: every check passes for every region, then the objects are
written through moto's S3 backend in-process; otherwise nothing is written and the trail's
LatestDeliveryError says why (AWS-style codes). Digest files (log file validation) are written
SSE-S3: AWS's documents disagree on whether digests use the trail's KMS key, so nothing may judge
a trail by its digests.
"""

from __future__ import annotations

import gzip
import json
import logging
import random
import string
import threading
import uuid
from datetime import datetime, UTC

from .accounts import ORGANIZATION_ID
from .backends import (
    bucket_encryption_rule,
    bucket_region,
    find_bucket,
    is_symmetric_encryption_key,
    resolve_key,
    s3_backend,
)
from .checks import bucket_decision, key_allows_cloudtrail

log = logging.getLogger("lab.delivery")


class DeliveryFailure(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _all_trails():
    from moto.cloudtrail.models import cloudtrail_backends

    for _account, regions in list(cloudtrail_backends.items()):
        for _region, backend in list(regions.items()):
            yield from list(backend.trails.values())


def _random_suffix() -> str:
    return "".join(random.choices(string.ascii_letters + string.digits, k=16))


def _prefix(trail) -> str:
    p = (trail.s3_key_prefix or "").strip("/")
    return f"{p}/" if p else ""


def log_key(trail, region: str, now: datetime) -> str:
    account = trail.account_id
    org = f"{ORGANIZATION_ID}/" if trail.is_org_trail else ""
    return (f"{_prefix(trail)}AWSLogs/{org}{account}/CloudTrail/{region}/{now:%Y/%m/%d}/"
            f"{account}_CloudTrail_{region}_{now:%Y%m%dT%H%MZ}_{_random_suffix()}.json.gz")


def digest_key(trail, region: str, now: datetime) -> str:
    account = trail.account_id
    org = f"{ORGANIZATION_ID}/" if trail.is_org_trail else ""
    return (f"{_prefix(trail)}AWSLogs/{org}{account}/CloudTrail-Digest/{region}/{now:%Y/%m/%d}/"
            f"{account}_CloudTrail-Digest_{region}_{trail.trail_name}_{trail.region_name}_{now:%Y%m%dT%H%M%SZ}.json.gz")


def _records(state, trail, region: str, now: datetime) -> list[dict]:
    recorded = [e for e in state.events if e["account"] == trail.account_id and e["region"] == region][-5:]
    names = [(e["EventSource"], e["EventName"], e["caller_arn"]) for e in recorded] or [
        ("cloudtrail.amazonaws.com", "DescribeTrails", f"arn:aws:iam::{trail.account_id}:user/moto"),
        ("sts.amazonaws.com", "GetCallerIdentity", f"arn:aws:iam::{trail.account_id}:user/moto"),
        ("kms.amazonaws.com", "ListKeys", f"arn:aws:iam::{trail.account_id}:user/moto"),
    ]
    out = []
    for source, name, arn in names:
        out.append({
            "eventVersion": "1.09",
            "userIdentity": {"type": "IAMUser", "arn": arn, "accountId": trail.account_id},
            "eventTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": source, "eventName": name, "awsRegion": region,
            "sourceIPAddress": "127.0.0.1", "userAgent": "trailguard-lab",
            "requestParameters": None, "responseElements": None,
            "requestID": str(uuid.uuid4()), "eventID": str(uuid.uuid4()),
            "readOnly": name.startswith(("Describe", "Get", "List")), "eventType": "AwsApiCall",
            "managementEvent": True, "recipientAccountId": trail.account_id, "eventCategory": "Management",
        })
    return out


def _plan(state, trail, now: datetime) -> dict:
    """Check everything; return what to write (raise DeliveryFailure otherwise)."""
    bucket = find_bucket(trail.account_id, trail.bucket_name)
    if bucket is None:
        raise DeliveryFailure("NoSuchBucket", f"The specified bucket does not exist: {trail.bucket_name}")
    if getattr(bucket, "payer", "BucketOwner") == "Requester":
        raise DeliveryFailure("AccessDenied", "CloudTrail cannot deliver to a Requester Pays bucket")
    region_of_bucket = bucket_region(bucket)
    encryption, kms_arn = None, None
    if trail.kms_key_id:
        key = resolve_key(trail.account_id, trail.region_name, trail.kms_key_id)
        if key is None or key.region != region_of_bucket:
            raise DeliveryFailure("KMS.NotFoundException", f"Key '{trail.kms_key_id}' does not exist")
        if key.key_state == "Disabled":
            raise DeliveryFailure("KMS.DisabledException", f"{key.arn} is disabled.")
        if key.key_state != "Enabled":
            raise DeliveryFailure("KMS.KMSInvalidStateException", f"{key.arn} is {key.key_state}.")
        if not is_symmetric_encryption_key(key):
            raise DeliveryFailure("KMS.InvalidKeyUsageException",
                                  f"{key.arn} key usage is {key.key_usage} which is not valid for GenerateDataKey.")
        if not key_allows_cloudtrail(key, trail.arn, bucket, trail.is_org_trail):
            raise DeliveryFailure("KMS.AccessDeniedException",
                                  f"CloudTrail is not authorized to use {key.arn} for {trail.arn}")
        encryption, kms_arn = "aws:kms", key.arn
    else:
        default = bucket_encryption_rule(bucket).get("ApplyServerSideEncryptionByDefault") or {}
        if default.get("SSEAlgorithm", "").startswith("aws:kms"):
            ref = default.get("KMSMasterKeyID") or "alias/aws/s3"
            key = resolve_key(trail.account_id, region_of_bucket, ref)
            if key is None or key.region != region_of_bucket:
                raise DeliveryFailure("KMS.NotFoundException", f"Key '{ref}' does not exist")
            if key.key_state != "Enabled":
                code = "KMS.DisabledException" if key.key_state == "Disabled" else "KMS.KMSInvalidStateException"
                raise DeliveryFailure(code, f"{key.arn} is {key.key_state}.")
            encryption, kms_arn = default["SSEAlgorithm"], key.arn
        else:
            encryption = default.get("SSEAlgorithm") or "AES256"
    regions = state.regions() if trail.is_multi_region else [trail.region_name]
    if trail.region_name not in regions:
        regions.append(trail.region_name)
    logs, digests = [], []
    for region in regions:
        key_name = log_key(trail, region, now)
        decision = bucket_decision(bucket, trail.arn, trail.s3_key_prefix, kms_arn if trail.kms_key_id else None,
                                   trail.is_org_trail, object_key=key_name)
        if not decision.allowed:
            raise DeliveryFailure("AccessDenied", "Access Denied")
        logs.append((region, key_name))
        if trail.log_validation:
            digests.append((region, digest_key(trail, region, now)))
    return {"bucket": bucket, "encryption": encryption, "kms_arn": kms_arn, "logs": logs, "digests": digests}


def deliver_trail(state, trail, now: datetime | None = None) -> dict:
    now = now or datetime.now(UTC)
    status = state.status_for(trail.arn)
    status.latest_delivery_attempt_time = now
    result = {"trail": trail.arn, "delivered": [], "digests": [], "error": None}
    try:
        plan = _plan(state, trail, now)
    except DeliveryFailure as failure:
        status.latest_delivery_error = failure.code
        result["error"] = {"code": failure.code, "message": failure.message}
        return result
    bucket = plan["bucket"]
    backend = s3_backend(bucket.account_id)
    for region, key_name in plan["logs"]:
        body = gzip.compress(json.dumps({"Records": _records(state, trail, region, now)}).encode())
        backend.put_object(bucket.name, key_name, body, encryption=plan["encryption"], kms_key_id=plan["kms_arn"])
        result["delivered"].append({"region": region, "bucket": bucket.name, "key": key_name,
                                    "encryption": plan["encryption"], "kms_key_id": plan["kms_arn"]})
        status.delivered_keys.append(key_name)
    status.latest_delivery_time = now
    status.latest_delivery_attempt_succeeded = now
    status.latest_delivery_error = None
    if plan["digests"]:
        digest_error = None
        for region, key_name in plan["digests"]:
            decision = bucket_decision(bucket, trail.arn, trail.s3_key_prefix, None, trail.is_org_trail,
                                       object_key=key_name, request_name="write_sse_s3")
            if not decision.allowed:
                digest_error = "AccessDenied"
                continue
            digest = {"awsAccountId": trail.account_id, "digestStartTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                      "digestEndTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "digestS3Bucket": bucket.name,
                      "digestS3Object": key_name, "logFiles": [k for r, k in plan["logs"] if r == region]}
            backend.put_object(bucket.name, key_name, gzip.compress(json.dumps(digest).encode()), encryption="AES256")
            result["digests"].append({"region": region, "bucket": bucket.name, "key": key_name,
                                      "encryption": "AES256"})
        if digest_error:
            status.latest_digest_delivery_error = digest_error
        else:
            status.latest_digest_delivery_time = now
            status.latest_digest_delivery_error = None
    return result


def deliver(state, trail_arn: str | None = None) -> dict:
    """Deliver for every logging trail (or only ``trail_arn``, logging or not). Returns a summary."""
    with state.lock:
        results = []
        for trail in _all_trails():
            if trail_arn is not None and trail.arn != trail_arn:
                continue
            if not trail.status.is_logging:
                if trail_arn is not None:
                    results.append({"trail": trail.arn, "delivered": [], "digests": [],
                                    "error": {"code": "TrailNotLogging", "message": "The trail is not logging."}})
                continue
            results.append(deliver_trail(state, trail))
    return {
        "trails": results,
        "keys": [d["key"] for r in results for d in r["delivered"]],
        "digest_keys": [d["key"] for r in results for d in r["digests"]],
        "errors": {r["trail"]: r["error"]["code"] for r in results if r["error"]},
    }


class DeliveryLoop:
    def __init__(self, state, interval: float):
        self.state = state
        self.interval = float(interval)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lab-delivery", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                deliver(self.state)
            except Exception:  # keep delivering; a broken trail must not stop the loop
                log.exception("delivery loop failure")

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
