"""CloudTrail as AWS documents it, where moto differs.

* CreateTrail / UpdateTrail KmsKeyId: key id, key ARN, alias name or alias ARN; missing or in another
  region than the bucket -> KmsKeyNotFoundException; disabled / pending deletion -> KmsException; key
  policy or bucket policy insufficient for CloudTrail -> InsufficientEncryptionPolicyException (one
  message naming both, as AWS does); stored and returned as the key ARN; ``""`` removes encryption.
* CreateTrail with an existing name -> TrailAlreadyExistsException.
* UpdateTrail / StartLogging / StopLogging / DeleteTrail / Put*Selectors from another region than the
  trail's home region (shadow trail name, or ARN of another region) -> InvalidHomeRegionException.
  UpdateTrail changes only the fields it is given (moto already does; IsMultiRegionTrail is applied
  when passed, as on AWS).
* DescribeTrails honours trailNameList (names: trails of this region; ARNs: any region) and
  includeShadowTrails. Absent fields are omitted instead of null.
* GetTrailStatus: delivery fields come from real lab deliveries only.
* LookupEvents: a page of events the lab recorded (mutating calls it served), instead of HTTP 500.
"""

from __future__ import annotations

import json
from datetime import datetime, UTC

from ..backends import is_symmetric_encryption_key, bucket_region, cloudtrail_backend, find_bucket
from ..checks import bucket_allows_cloudtrail, key_allows_cloudtrail, resolve_trail_key
from ..errors import LabError, json_response

HOME_REGION_ACTIONS = ("UpdateTrail", "StartLogging", "StopLogging", "DeleteTrail", "PutEventSelectors",
                       "PutInsightSelectors")


def _all_trails(account: str):
    from moto.cloudtrail.models import cloudtrail_backends

    for region, backend in list(cloudtrail_backends[account].items()):
        for trail in list(backend.trails.values()):
            yield region, trail


def organization_trails_seen_by(account: str):
    """Organization trails of the management account whose organization has ``account`` as a member.

    AWS shows an organization trail to every member account (DescribeTrails lists it under the
    management account's ARN, read-only); moto keeps trails per account and shows it nowhere else.
    """
    from moto.organizations.models import organizations_backends

    for management, regions in list(organizations_backends.items()):
        backend = regions.get("aws") if management != account else None
        if backend is None or backend.org is None:
            continue
        if not any(member.id == account for member in backend.accounts):
            continue
        for home, trail in _all_trails(management):
            if getattr(trail, "is_org_trail", False):
                yield home, trail


def find_trail_anywhere(account: str, name_or_arn: str):
    for _region, trail in _all_trails(account):
        if name_or_arn in (trail.trail_name, trail.arn):
            return trail
    return None


def trail_by_arn(account: str, arn: str):
    parts = arn.split(":")
    if len(parts) >= 6 and parts[4] != account:
        account = parts[4]
    return find_trail_anywhere(account, arn)


def _trail_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:cloudtrail:{region}:{account}:trail/{name}"


# -- KMS / bucket validation ------------------------------------------------------------------------
def validate_encryption(account: str, region: str, trail_arn: str, bucket_name: str, prefix: str | None,
                        key_ref: str, is_org: bool) -> str:
    """The key ARN to store, or raise the LabError AWS would return."""
    bucket = find_bucket(account, bucket_name)
    if bucket is None:
        raise LabError("S3BucketDoesNotExistException", f"S3 bucket {bucket_name} does not exist!")
    key = resolve_trail_key(account, region, key_ref)
    if key is None:
        raise LabError("KmsKeyNotFoundException", f"KMS key {key_ref} does not exist.")
    if key.region != bucket_region(bucket):
        raise LabError(
            "KmsKeyNotFoundException",
            f"KMS key {key.arn} is not in the same region as the S3 bucket {bucket_name} ({bucket_region(bucket)}).",
        )
    if key.key_state == "Disabled":
        raise LabError("KmsException", f"KMS key {key.arn} is disabled.")
    if key.key_state != "Enabled":
        state = "pending deletion" if key.key_state == "PendingDeletion" else key.key_state
        raise LabError("KmsException", f"KMS key {key.arn} is {state}.")
    if not is_symmetric_encryption_key(key):
        raise LabError("InvalidKmsKeyIdException",
                       f"KMS key {key.arn} is not a symmetric encryption key; CloudTrail supports only those.")
    if not (key_allows_cloudtrail(key, trail_arn, bucket, is_org)
            and bucket_allows_cloudtrail(bucket, trail_arn, prefix, key.arn, is_org)):
        raise LabError("InsufficientEncryptionPolicyException",
                       f"Insufficient permissions to access S3 bucket {bucket_name} or KMS key {key.arn}.")
    return key.arn


def create_trail(ctx):
    params = dict(ctx.req.params)
    name = params.get("Name") or ""
    backend = cloudtrail_backend(ctx.account, ctx.region)
    if name in backend.trails:
        raise LabError("TrailAlreadyExistsException", f"Trail {name} already exists for customer: {ctx.account}")
    if "KmsKeyId" in params:
        key_ref = params.get("KmsKeyId")
        if not key_ref:
            params.pop("KmsKeyId")
        elif find_bucket(ctx.account, params.get("S3BucketName") or "") is not None:
            params["KmsKeyId"] = validate_encryption(
                ctx.account, ctx.region, _trail_arn(ctx.region, ctx.account, name), params["S3BucketName"],
                params.get("S3KeyPrefix"), key_ref, bool(params.get("IsOrganizationTrail")))
        ctx.set_json_body(params)
    return None


def _home_region_check(ctx):
    params = ctx.req.params
    ref = params.get("Name") or params.get("TrailName") or ""
    if not ref:
        return None
    backend = cloudtrail_backend(ctx.account, ctx.region)
    local = backend.trails.get(ref) or next((t for t in backend.trails.values() if t.arn == ref), None)
    if local is not None:
        return local
    other = trail_by_arn(ctx.account, ref) if ref.startswith("arn:") else None
    if other is None and not ref.startswith("arn:"):
        other = next((t for _r, t in _all_trails(ctx.account) if t.trail_name == ref and t.is_multi_region), None)
    if other is not None and other.region_name != ctx.region:
        raise LabError(
            "InvalidHomeRegionException",
            f"The trail {other.arn} can only be updated from its home region {other.region_name}; "
            f"this request was made in {ctx.region}.",
        )
    if ref.startswith("arn:"):
        raise LabError("TrailNotFoundException", f"Unknown trail: {ref} for the user: {ctx.account}")
    return None


def home_region_only(ctx):
    trail = _home_region_check(ctx)
    params = ctx.req.params
    if trail is not None and params.get("Name") and params["Name"] != trail.trail_name:
        ctx.set_json_body({**params, "Name": trail.trail_name})  # moto's DeleteTrail ignores ARNs
    if trail is not None and ctx.req.action == "DeleteTrail":
        ctx.state.delivery.pop(trail.arn, None)
    return None


def update_trail(ctx):
    trail = _home_region_check(ctx)
    if trail is None:
        return None  # moto answers TrailNotFoundException
    params = dict(ctx.req.params)
    if params.get("Name") != trail.trail_name:
        params["Name"] = trail.trail_name
    bucket_name = params.get("S3BucketName") or trail.bucket_name
    if params.get("S3BucketName") and find_bucket(ctx.account, bucket_name) is None:
        raise LabError("S3BucketDoesNotExistException", f"S3 bucket {bucket_name} does not exist!")
    prefix = params.get("S3KeyPrefix", trail.s3_key_prefix)
    is_org = bool(params["IsOrganizationTrail"]) if "IsOrganizationTrail" in params else bool(trail.is_org_trail)
    if "KmsKeyId" in params:
        key_ref = params.get("KmsKeyId")
        if key_ref:
            params["KmsKeyId"] = validate_encryption(ctx.account, ctx.region, trail.arn, bucket_name, prefix,
                                                     key_ref, is_org)
        else:
            params["KmsKeyId"] = ""
    elif trail.kms_key_id and ("S3BucketName" in params or "S3KeyPrefix" in params):
        validate_encryption(ctx.account, ctx.region, trail.arn, bucket_name, prefix, trail.kms_key_id, is_org)
    ctx.set_json_body(params)
    return None


# -- responses ---------------------------------------------------------------------------------------
_OPTIONAL = ("KmsKeyId", "CloudWatchLogsLogGroupArn", "CloudWatchLogsRoleArn", "S3KeyPrefix", "SnsTopicName",
             "SnsTopicARN")


def clean_description(desc: dict) -> dict:
    return {k: v for k, v in desc.items() if not (k in _OPTIONAL and v in (None, ""))}


def _rewrite_json(response, fn):
    status, headers, body = response
    if status >= 400:
        return response
    data = fn(json.loads(body or b"{}"))
    payload = json.dumps(data, default=str).encode()
    headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
    headers.append(("Content-Length", str(len(payload))))
    return status, headers, payload


# What GetEventSelectors returns for a trail nobody gave selectors: all management events, no data events.
DEFAULT_EVENT_SELECTORS = [{"ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": [],
                            "ExcludeManagementEventSources": []}]


def selector_flags(trail) -> dict:
    """AWS: ``HasCustomEventSelectors`` / ``HasInsightSelectors`` say whether selectors were put (moto: never)."""
    return {
        "HasCustomEventSelectors": bool(getattr(trail, "event_selectors", None)
                                        or getattr(trail, "advanced_event_selectors", None)),
        "HasInsightSelectors": bool(getattr(trail, "insight_selectors", None)),
    }


def describe(trail) -> dict:
    return {**clean_description(trail.description(include_region=True)), **selector_flags(trail)}


def after_get_event_selectors(ctx, response):
    """A trail without selectors has AWS's default one; only the kind in use is returned."""
    def fix(data):
        basic, advanced = data.get("EventSelectors") or [], data.get("AdvancedEventSelectors") or []
        out = {k: v for k, v in data.items() if k not in ("EventSelectors", "AdvancedEventSelectors")}
        if advanced:
            out["AdvancedEventSelectors"] = advanced
        else:
            out["EventSelectors"] = basic or DEFAULT_EVENT_SELECTORS
        return out

    return _rewrite_json(response, fix)


def after_put_event_selectors(ctx, response):
    """AWS: basic and advanced selectors replace each other (moto keeps the advanced ones on a basic put)."""
    if response[0] < 400 and ctx.req.params.get("EventSelectors"):
        trail = find_trail_anywhere(ctx.account, ctx.req.params.get("TrailName") or "")
        if trail is not None:
            trail.advanced_event_selectors = []
    return response


def after_trail_write(ctx, response):
    return _rewrite_json(response, clean_description)


def after_get_trail(ctx, response):
    def fix(data):
        desc = clean_description(data.get("Trail", {}))
        trail = find_trail_anywhere(ctx.account, desc.get("TrailARN") or desc.get("Name") or "")
        return {**data, "Trail": {**desc, **(selector_flags(trail) if trail is not None else {})}}

    return _rewrite_json(response, fix)


def describe_trails(ctx):
    params = ctx.req.params
    names = params.get("trailNameList") or []
    include_shadow = params.get("includeShadowTrails", True)
    include_shadow = True if include_shadow is None else bool(include_shadow)
    account, region = ctx.account, ctx.region
    trails = []
    if not names:
        for home, trail in [*_all_trails(account), *organization_trails_seen_by(account)]:
            if home == region or (include_shadow and trail.is_multi_region):
                trails.append(trail)
    else:
        for ref in names:
            if ref.startswith("arn:"):
                trail = trail_by_arn(account, ref)
            else:
                trail = cloudtrail_backend(account, region).trails.get(ref)
                if trail is None and include_shadow:
                    trail = next((t for _r, t in _all_trails(account)
                                  if t.trail_name == ref and t.is_multi_region), None)
            if trail is not None and trail not in trails:
                trails.append(trail)
    return json_response({"trailList": [describe(t) for t in trails]})


def get_trail_status(ctx):
    ref = ctx.req.params.get("Name") or ""
    trail = None
    backend = cloudtrail_backend(ctx.account, ctx.region)
    for candidate in backend.describe_trails(include_shadow_trails=True):
        if ref in (candidate.trail_name, candidate.arn):
            trail = candidate
            break
    if trail is None and ref.startswith("arn:"):
        trail = trail_by_arn(ctx.account, ref)
    if trail is None:
        return None  # moto's TrailNotFoundException
    status = ctx.state.status_for(trail.arn)
    s = trail.status
    out = {"IsLogging": bool(s.is_logging)}
    if s.started:
        out["StartLoggingTime"] = _epoch(s.started)
        out["TimeLoggingStarted"] = _iso(s.started)
    if s.stopped:
        out["StopLoggingTime"] = _epoch(s.stopped)
        out["TimeLoggingStopped"] = _iso(s.stopped)
    if status.latest_delivery_time:
        out["LatestDeliveryTime"] = _epoch(status.latest_delivery_time)
    if status.latest_delivery_error:
        out["LatestDeliveryError"] = status.latest_delivery_error
    if status.latest_digest_delivery_time:
        out["LatestDigestDeliveryTime"] = _epoch(status.latest_digest_delivery_time)
    if status.latest_digest_delivery_error:
        out["LatestDigestDeliveryError"] = status.latest_digest_delivery_error
    attempt = status.latest_delivery_attempt_time
    out["LatestDeliveryAttemptTime"] = _iso(attempt) if attempt else ""
    out["LatestDeliveryAttemptSucceeded"] = (
        _iso(status.latest_delivery_attempt_succeeded) if status.latest_delivery_attempt_succeeded else "")
    out["LatestNotificationAttemptTime"] = ""
    out["LatestNotificationAttemptSucceeded"] = ""
    return json_response(out)


def _epoch(value) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    return float(value)


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_LOOKUP_KEYS = {"EventId": "EventId", "EventName": "EventName", "ReadOnly": "ReadOnly", "Username": "Username",
                "EventSource": "EventSource", "AccessKeyId": "AccessKeyId"}


def lookup_events(ctx):
    params = ctx.req.params
    events = [e for e in reversed(ctx.state.events) if e["account"] == ctx.account and e["region"] == ctx.region]
    for attr in params.get("LookupAttributes") or []:
        key, value = attr.get("AttributeKey"), attr.get("AttributeValue")
        if key in _LOOKUP_KEYS:
            events = [e for e in events if str(e.get(_LOOKUP_KEYS[key])) == value]
        elif key == "ResourceName":
            events = [e for e in events if any(r["ResourceName"] == value for r in e["Resources"])]
        elif key == "ResourceType":
            events = [e for e in events if any(r["ResourceType"] == value for r in e["Resources"])]
    if params.get("StartTime") is not None:
        events = [e for e in events if e["EventTime"].timestamp() >= float(params["StartTime"])]
    if params.get("EndTime") is not None:
        events = [e for e in events if e["EventTime"].timestamp() <= float(params["EndTime"])]
    start = int(params.get("NextToken") or 0)
    size = max(1, min(int(params.get("MaxResults") or 50), 50))
    page = events[start:start + size]
    out = {"Events": [_event_json(e) for e in page]}
    if start + size < len(events):
        out["NextToken"] = str(start + size)
    return json_response(out)


def _event_json(e: dict) -> dict:
    record = {
        "eventVersion": "1.09", "eventTime": _iso(e["EventTime"]), "eventSource": e["EventSource"],
        "eventName": e["EventName"], "awsRegion": e["region"], "readOnly": False,
        "userIdentity": {"arn": e["caller_arn"], "accountId": e["account"], "accessKeyId": e["AccessKeyId"]},
        "eventID": e["EventId"], "recipientAccountId": e["account"], "eventType": "AwsApiCall",
        "managementEvent": True, "eventCategory": "Management",
    }
    return {
        "EventId": e["EventId"], "EventName": e["EventName"], "ReadOnly": e["ReadOnly"],
        "AccessKeyId": e["AccessKeyId"], "EventTime": e["EventTime"].timestamp(), "EventSource": e["EventSource"],
        "Username": e["Username"], "Resources": e["Resources"], "CloudTrailEvent": json.dumps(record),
    }


BEFORE = {
    ("cloudtrail", "CreateTrail"): create_trail,
    ("cloudtrail", "UpdateTrail"): update_trail,
    ("cloudtrail", "DescribeTrails"): describe_trails,
    ("cloudtrail", "GetTrailStatus"): get_trail_status,
    ("cloudtrail", "LookupEvents"): lookup_events,
}
for _action in HOME_REGION_ACTIONS:
    BEFORE.setdefault(("cloudtrail", _action), home_region_only)
AFTER = {
    ("cloudtrail", "CreateTrail"): after_trail_write,
    ("cloudtrail", "UpdateTrail"): after_trail_write,
    ("cloudtrail", "GetTrail"): after_get_trail,
    ("cloudtrail", "GetEventSelectors"): after_get_event_selectors,
    ("cloudtrail", "PutEventSelectors"): after_put_event_selectors,
}
