# Copyright: contributors to trailguard.cloudtrail_cmk
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE to trailguard.cloudtrail_cmk: read-only inventory of one account (trails, buckets, keys).

``gather(factory, ...)`` returns the ``ansible_facts.cloudtrail_cmk`` structure documented in
``plugins/modules/cloudtrail_cmk_facts.py`` (RETURN). Reads run on a thread pool; each bucket and key
is read once however many trails share it. API-call budget per account (checked by the benchmark):

* fixed: sts GetCallerIdentity, ec2 DescribeRegions (only without ``regions``), s3 ListBuckets,
  organizations DescribeOrganization (only when an organization trail is owned here);
* per region: DescribeTrails, ListAliases, ListKeys, ListTags (one per 20 trails homed there);
* per trail: GetTrailStatus, GetEventSelectors (only when HasCustomEventSelectors: otherwise the trail has
  AWS's default selector, all management events and no data events), GetInsightSelectors (only when
  HasInsightSelectors);
* per bucket: 8 reads (policy, ACL, encryption, versioning, object lock, lifecycle, ownership
  controls, request payment) + HeadBucket only when ListBuckets did not say the region;
* per key: DescribeKey, GetKeyPolicy, GetKeyRotationStatus, ListResourceTags (AWS-managed keys:
  DescribeKey + GetKeyPolicy);
* per account: iam GetAccountAuthorizationDetails (one call per 1,000 roles, users, groups and
  policies), for the principals that read the logs through their own IAM policies.

AccessDenied on a resource is recorded on it (``read_errors``) and judged by ``_findings`` as
*_UNREADABLE; it never fails the run. Only the identity call failing is fatal.
"""

import datetime
import fnmatch
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _arn
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _cloudtrail
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _findings
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _iam
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _kms
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _policy
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _s3
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils._assessment import write_account_files
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils._common import (
    AccessDeniedError,
    ApiCallRecorder,
    AwsApiError,
    ClientFactory,
    NotFoundError,
    TrailGuardError,
    call,
    module_connect,
    utcnow_iso,
)

DEFAULT_MAX_WORKERS = 10
OWNED = "owned"
SHADOW = "shadow"
ORG_MEMBER_VIEW = "organization_member_view"


def jsonable(value):
    """Datetimes to ISO 8601 strings, recursively (facts must be JSON)."""
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def _read_error(exc, operation=None):
    return {
        "operation": operation or getattr(exc, "operation", None),
        "code": getattr(exc, "code", None),
        "access_denied": isinstance(exc, AccessDeniedError),
        "message": getattr(exc, "message", str(exc)),
    }


def _parse_policy(text):
    if text is None:
        return None
    try:
        return json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return {"_unparsed": text}


def resolve_key_ref(ref, default_region, account, aliases_by_region):
    """A trail's / bucket's KmsKeyId (key ARN, key id, alias name or alias ARN) -> key ARN, or None.

    ``aliases_by_region``: ``{region: {alias_name: target_key_id}}``. AWS returns key ARNs; moto and
    older APIs may echo what was set, so every form is accepted.
    """
    if not ref:
        return None
    if _arn.is_arn(ref):
        parts = _arn.parse_arn(ref)
        if parts["resource_type"] == "key":
            return ref
        if parts["resource_type"] == "alias":
            target = (aliases_by_region.get(parts["region"]) or {}).get("alias/" + parts["resource"])
            return _arn.key_arn(parts["region"], parts["account"], target) if target else None
        return None
    if ref.startswith("alias/"):
        target = (aliases_by_region.get(default_region) or {}).get(ref)
        return _arn.key_arn(default_region, account, target) if target else None
    return _arn.key_arn(default_region, account, ref)


class Inventory:
    """One account, one run. Use ``gather()``."""

    def __init__(self, factory, max_workers=DEFAULT_MAX_WORKERS):
        self.factory = factory
        self.max_workers = max(1, int(max_workers or DEFAULT_MAX_WORKERS))
        self.region_errors = []
        self._aliases = {}  # region -> [alias dicts]
        self._aliases_lock = threading.Lock()

    # --- helpers -------------------------------------------------------------------------------
    def _map(self, func, items):
        items = list(items)
        if not items:
            return []
        with ThreadPoolExecutor(max_workers=min(self.max_workers, len(items))) as pool:
            return list(pool.map(func, items))

    def _region_call(self, region, func, *args):
        try:
            return func(*args)
        except AwsApiError as exc:
            self.region_errors.append({"region": region, **_read_error(exc)})
            return None

    def aliases(self, region):
        """ListAliases once per region (lazily for regions outside the scan)."""
        with self._aliases_lock:
            if region in self._aliases:
                return self._aliases[region]
        result = self._region_call(region, _kms.list_aliases, self.factory.client("kms", region)) or []
        with self._aliases_lock:
            self._aliases.setdefault(region, result)
            return self._aliases[region]

    def alias_targets(self):
        with self._aliases_lock:
            return {
                region: {a["AliasName"]: a["TargetKeyId"] for a in aliases if a.get("TargetKeyId")}
                for region, aliases in self._aliases.items()
            }

    # --- phases ----------------------------------------------------------------------------------
    def identity(self):
        ident = call(self.factory.client("sts"), "get_caller_identity")
        self.account = ident["Account"]
        self.partition = _arn.parse_arn(ident["Arn"])["partition"]
        self.factory.account = self.account
        self.factory.recorder.fill_account(self.account)

    def enabled_regions(self):
        result = call(
            self.factory.client("ec2"),
            "describe_regions",
            Filters=[{"Name": "opt-in-status", "Values": ["opt-in-not-required", "opted-in"]}],
        )
        return sorted(r["RegionName"] for r in result["Regions"])

    def scan_regions(self, regions):
        def per_region(region):
            kms = self.factory.client("kms", region)
            trails = self._region_call(region, _cloudtrail.describe_trails, self.factory.client("cloudtrail", region))
            self.aliases(region)
            keys = self._region_call(region, _kms.list_keys, kms)
            return region, trails or [], keys or []

        def buckets(_region):
            return self._region_call(None, _s3.list_buckets, self.factory.client("s3"))

        jobs = [(per_region, r) for r in regions] + [(buckets, None)]
        results = self._map(lambda job: job[0](job[1]), jobs)
        self.owned_buckets = results[-1] or {}
        self.owned_buckets_known = results[-1] is not None
        return results[:-1]

    def dedupe_trails(self, per_region, regions, trail_filter):
        trails = {}
        for region, trail_list, _keys in per_region:
            for raw in trail_list:
                arn = raw["TrailARN"]
                entry = trails.setdefault(arn, {"raw": raw, "seen_in_regions": []})
                entry["seen_in_regions"].append(region)
                if raw.get("HomeRegion") == region:
                    entry["raw"] = raw
        wanted = set(trail_filter or [])
        out = []
        for arn, entry in sorted(trails.items()):
            raw = entry["raw"]
            if wanted and arn not in wanted and raw.get("Name") not in wanted:
                continue
            home = raw.get("HomeRegion") or _arn.parse_arn(arn)["region"]
            owner = _arn.account_of(arn)
            if owner != self.account:
                classification = ORG_MEMBER_VIEW
            elif home in entry["seen_in_regions"]:
                classification = OWNED
            else:
                classification = SHADOW
            out.append(self._trail_record(raw, arn, home, owner, classification, sorted(entry["seen_in_regions"])))
        return out

    @staticmethod
    def _trail_record(raw, arn, home, owner, classification, seen):
        return {
            "name": raw.get("Name"),
            "arn": arn,
            "account_id": owner,
            "home_region": home,
            "classification": classification,
            "actionable": classification == OWNED,
            "seen_in_regions": seen,
            "is_multi_region_trail": bool(raw.get("IsMultiRegionTrail")),
            "is_organization_trail": bool(raw.get("IsOrganizationTrail")),
            "include_global_service_events": bool(raw.get("IncludeGlobalServiceEvents")),
            "s3_bucket_name": raw.get("S3BucketName"),
            "s3_key_prefix": raw.get("S3KeyPrefix") or "",
            "kms_key_id": raw.get("KmsKeyId"),
            "kms_key_arn": None,
            "sns_topic_arn": raw.get("SnsTopicARN"),
            "cloud_watch_logs_log_group_arn": raw.get("CloudWatchLogsLogGroupArn"),
            "cloud_watch_logs_role_arn": raw.get("CloudWatchLogsRoleArn"),
            "log_file_validation_enabled": bool(raw.get("LogFileValidationEnabled")),
            "has_custom_event_selectors": bool(raw.get("HasCustomEventSelectors")),
            "event_selectors_source": None,
            "has_insight_selectors": bool(raw.get("HasInsightSelectors")),
            "event_selectors": None,
            "advanced_event_selectors": None,
            "insight_selectors": None,
            "tags": None,
            "status": None,
            "is_logging": None,
            "latest_delivery_time": None,
            "latest_delivery_error": None,
            "read_errors": [],
        }

    def organization_id(self, trails):
        if not any(t["is_organization_trail"] and t["classification"] != ORG_MEMBER_VIEW for t in trails):
            return None
        try:
            result = call(self.factory.client("organizations"), "describe_organization")
            return (result.get("Organization") or {}).get("Id")
        except AwsApiError as exc:
            self.region_errors.append({"region": None, **_read_error(exc)})
            return None

    # --- per-resource readers ---------------------------------------------------------------------
    def read_iam(self, _job=None):
        """The account's roles and users with their identity policies (``_iam.principals``)."""
        try:
            details = _iam.account_authorization_details(self.factory.client("iam"))
        except AwsApiError as exc:
            return {"read": False, "principals": [], "read_errors": [_read_error(exc)]}
        return {"read": True, "principals": jsonable(_iam.principals(details)), "read_errors": []}

    def read_trail(self, trail):
        client = self.factory.client("cloudtrail", trail["home_region"])
        arn = trail["arn"]

        def attempt(func, *args):
            try:
                return func(*args)
            except AwsApiError as exc:
                trail["read_errors"].append(_read_error(exc))
                return None

        status = attempt(_cloudtrail.get_trail_status, client, arn)
        if status is not None:
            status = jsonable(status)
            trail["status"] = status
            trail["is_logging"] = status.get("IsLogging")
            trail["latest_delivery_time"] = status.get("LatestDeliveryTime")
            trail["latest_delivery_error"] = status.get("LatestDeliveryError") or None
        if trail["classification"] == ORG_MEMBER_VIEW:
            return
        if trail["has_custom_event_selectors"]:
            selectors = attempt(_cloudtrail.get_event_selectors, client, arn)
            if selectors is not None:
                trail["event_selectors"] = selectors["EventSelectors"]
                trail["advanced_event_selectors"] = selectors["AdvancedEventSelectors"]
                trail["event_selectors_source"] = "api"
        else:
            # No custom selectors (DescribeTrails says so): AWS's default, no call needed.
            trail["event_selectors"] = _cloudtrail.default_event_selectors()
            trail["advanced_event_selectors"] = []
            trail["event_selectors_source"] = "default"
        if trail["has_insight_selectors"]:
            trail["insight_selectors"] = attempt(_cloudtrail.get_insight_selectors, client, arn)
        else:
            trail["insight_selectors"] = []

    def read_tags(self, job):
        region, trails = job
        client = self.factory.client("cloudtrail", region)
        try:
            tags = _cloudtrail.list_tags(client, [t["arn"] for t in trails])
        except AwsApiError as exc:
            for t in trails:
                t["read_errors"].append(_read_error(exc))
            return
        for t in trails:
            t["tags"] = tags.get(t["arn"], {})

    def read_bucket(self, name):
        bucket = {
            "name": name,
            "arn": _arn.bucket_arn(name, self.partition),
            "exists": True,
            "region": self.owned_buckets.get(name),
            "owned_by_account": name in self.owned_buckets if self.owned_buckets_known else None,
            "owner_account": self.account if name in self.owned_buckets else None,
            "cross_account": (name not in self.owned_buckets) if self.owned_buckets_known else None,
            "policy": None,
            "policy_sha256": None,
            "acl": None,
            "encryption": None,
            "versioning": None,
            "object_lock": None,
            "lifecycle_rules": None,
            "ownership_controls": None,
            "request_payer": None,
            "requester_pays": None,
            "read_errors": [],
        }
        try:
            if bucket["region"] is None:
                region, _accessible = _s3.head_bucket_region(self.factory.client("s3"), name)
                bucket["region"] = region
            client = self.factory.client("s3", bucket["region"])
            readers = (
                ("policy", _s3.get_bucket_policy),
                ("acl", _s3.get_bucket_acl),
                ("encryption", _s3.get_bucket_encryption),
                ("versioning", _s3.get_bucket_versioning),
                ("object_lock", _s3.get_object_lock_configuration),
                ("lifecycle_rules", _s3.get_bucket_lifecycle_configuration),
                ("ownership_controls", _s3.get_bucket_ownership_controls),
                ("request_payer", _s3.get_bucket_request_payment),
            )
            for field, func in readers:
                try:
                    bucket[field] = func(client, name)
                except NotFoundError:
                    raise
                except AwsApiError as exc:
                    bucket["read_errors"].append(_read_error(exc))
        except NotFoundError:
            bucket["exists"] = False
        except AwsApiError as exc:
            bucket["read_errors"].append(_read_error(exc))
        if bucket["policy"] is not None:
            bucket["policy"] = _parse_policy(bucket["policy"])
            bucket["policy_sha256"] = _policy.policy_sha256(bucket["policy"])
        if bucket["request_payer"] is not None:
            bucket["requester_pays"] = bucket["request_payer"] == "Requester"
        if bucket["encryption"] is not None:
            bucket["encryption"] = self._encryption(bucket["encryption"], bucket["region"])
        bucket["readable"] = bucket["exists"] and not bucket["read_errors"]
        return jsonable(bucket)

    def _encryption(self, rules, region):
        out = {
            "rules": rules,
            "sse_algorithm": None,
            "kms_key_id": None,
            "kms_key_arn": None,
            "bucket_key_enabled": False,
        }
        for rule in rules:
            default = rule.get("ApplyServerSideEncryptionByDefault") or {}
            if default:
                out["sse_algorithm"] = default.get("SSEAlgorithm")
                out["kms_key_id"] = default.get("KMSMasterKeyID")
                out["bucket_key_enabled"] = bool(rule.get("BucketKeyEnabled"))
        if out["kms_key_id"] and region:
            if out["kms_key_id"].startswith("alias/") or ":alias/" in out["kms_key_id"]:
                self.aliases(region)
            out["kms_key_arn"] = resolve_key_ref(out["kms_key_id"], region, self.account, self.alias_targets())
        return out

    def read_key(self, job):
        arn, referenced, aliases = job
        region = _arn.parse_arn(arn)["region"]
        client = self.factory.client("kms", region)
        key = {
            "arn": arn,
            "key_id": _arn.parse_arn(arn)["resource"],
            "account_id": _arn.account_of(arn),
            "region": region,
            "aliases": aliases,
            "exists": True,
            "candidate": False,
            "referenced": referenced,
            "read_errors": [],
        }
        try:
            meta = _kms.describe_key(client, arn)
        except AwsApiError as exc:
            key["read_errors"].append(_read_error(exc))
            key["readable"] = False
            return key
        if meta is None:
            key["exists"] = False
            key["readable"] = True
            return key
        spec = meta.get("KeySpec") or meta.get("CustomerMasterKeySpec")
        key.update(
            {
                "arn": meta.get("Arn") or arn,
                "key_id": meta.get("KeyId") or key["key_id"],
                "state": meta.get("KeyState"),
                "enabled": bool(meta.get("Enabled")),
                "manager": meta.get("KeyManager"),
                "spec": spec,
                # AWS always sends KeyUsage; default it for emulators that omit it for symmetric keys.
                "usage": meta.get("KeyUsage") or ("ENCRYPT_DECRYPT" if spec == "SYMMETRIC_DEFAULT" else None),
                "origin": meta.get("Origin"),
                "description": meta.get("Description"),
                "multi_region": bool(meta.get("MultiRegion")),
                "multi_region_configuration": jsonable(meta.get("MultiRegionConfiguration")),
                "creation_date": jsonable(meta.get("CreationDate")),
                "deletion_date": jsonable(meta.get("DeletionDate")),
                "rotation_enabled": None,
                "rotation_period_in_days": None,
                "tags": None,
                "policy": None,
                "policy_sha256": None,
            }
        )
        shape_ok = self._candidate_shape(key)
        if not referenced and not shape_ok:
            return None
        customer = key["manager"] == "CUSTOMER"

        def attempt(func):
            try:
                return func(client, key["arn"])
            except AwsApiError as exc:
                key["read_errors"].append(_read_error(exc))
                return None

        if customer:
            key["tags"] = attempt(_kms.list_resource_tags)
        key["candidate"] = shape_ok and self._aliases_match(aliases) and self._tags_match(key["tags"])
        key["referenced"] = referenced
        if not referenced and not key["candidate"]:
            return None
        policy = attempt(_kms.get_key_policy)
        if policy is not None:
            key["policy"] = _parse_policy(policy)
            key["policy_sha256"] = _policy.policy_sha256(key["policy"])
        if customer:
            rotation = attempt(_kms.get_key_rotation_status)
            if rotation is not None:
                key["rotation_enabled"] = rotation["enabled"]
                key["rotation_period_in_days"] = rotation["period_in_days"]
        key["readable"] = not key["read_errors"]
        return key

    @staticmethod
    def _candidate_shape(key):
        return (
            key["manager"] == "CUSTOMER"
            and key["spec"] == "SYMMETRIC_DEFAULT"
            and key["usage"] == "ENCRYPT_DECRYPT"
            and key["state"] == "Enabled"
        )

    def _tags_match(self, tags):
        if not self.candidate_key_tags:
            return True
        tags = tags or {}
        return all(k in tags and (v is None or tags[k] == str(v)) for k, v in self.candidate_key_tags.items())

    def _aliases_match(self, names):
        if not self.candidate_key_aliases:
            return True
        patterns = [p if p.startswith("alias/") else "alias/" + p for p in self.candidate_key_aliases]
        return any(fnmatch.fnmatchcase(n, p) for n in names for p in patterns)

    # --- the run --------------------------------------------------------------------------------------
    def gather(self, regions=None, trails=None, candidate_key_aliases=None, candidate_key_tags=None,
               expected_account_id=None):
        started = time.monotonic()
        self.candidate_key_aliases = list(candidate_key_aliases or [])
        self.candidate_key_tags = dict(candidate_key_tags or {})
        self.identity()
        if expected_account_id and str(expected_account_id) != self.account:
            raise TrailGuardError(
                f"expected account {expected_account_id} but the credentials belong to {self.account}: "
                "fix the role to assume or the credentials (nothing was read)"
            )
        regions = sorted(set(regions)) if regions else self.enabled_regions()
        per_region = self.scan_regions(regions)
        trail_list = self.dedupe_trails(per_region, regions, trails)
        organization_id = self.organization_id(trail_list)
        ours = [t for t in trail_list if t["classification"] != ORG_MEMBER_VIEW]

        # Key references: resolve alias / id / ARN to key ARNs (aliases of other regions fetched once).
        for t in ours:
            ref = t["kms_key_id"]
            if not ref:
                continue
            region = _arn.parse_arn(ref)["region"] if _arn.is_arn(ref) else t["home_region"]
            if "alias/" in ref:
                self.aliases(region)
            t["kms_key_arn"] = resolve_key_ref(ref, t["home_region"], self.account, self.alias_targets())

        # Tags: one ListTags per 20 trails homed in a region; details per trail.
        by_home = {}
        for t in ours:
            by_home.setdefault(t["home_region"], []).append(t)
        tag_jobs = [
            (region, group[i : i + _cloudtrail.LIST_TAGS_BATCH])
            for region, group in sorted(by_home.items())
            for i in range(0, len(group), _cloudtrail.LIST_TAGS_BATCH)
        ]
        bucket_names = sorted({t["s3_bucket_name"] for t in ours if t["s3_bucket_name"]})
        key_jobs = self._key_jobs(per_region, ours)

        # One pool for every read: IAM first (one long paginated call), then trails, tags, buckets, keys.
        jobs = (
            [(self.read_iam, None)]
            + [(self.read_trail, t) for t in trail_list]
            + [(self.read_tags, j) for j in tag_jobs]
            + [(self.read_bucket, b) for b in bucket_names]
            + [(self.read_key, k) for k in key_jobs]
        )
        results = self._map(lambda job: job[0](job[1]), jobs)
        iam = results[0]
        first_bucket = 1 + len(trail_list) + len(tag_jobs)
        buckets = {b["name"]: b for b in results[first_bucket : first_bucket + len(bucket_names)]}
        keys = {k["arn"]: k for k in results[first_bucket + len(bucket_names) :] if k is not None}
        for t in trail_list:
            if t["kms_key_arn"] is None and t["kms_key_id"] and t["classification"] != ORG_MEMBER_VIEW:
                t["kms_key_unresolved"] = True

        inventory = {
            "account_id": self.account,
            "partition": self.partition,
            "organization_id": organization_id,
            "regions": regions,
            "trails": [jsonable(t) for t in trail_list],
            "buckets": buckets,
            "keys": keys,
            "iam": iam,
        }
        verdict = _findings.assess(inventory)
        calls = self.factory.recorder.calls
        summary = _findings.summarize(verdict)
        summary.update(
            {
                "regions": len(regions),
                "region_errors": self.region_errors,
                "api_calls": self.factory.recorder.summary(),
                "duration_seconds": round(time.monotonic() - started, 3),
            }
        )
        return {
            "account_id": self.account,
            "partition": self.partition,
            "organization_id": organization_id,
            "regions": regions,
            "trails": verdict["trails"],
            "buckets": verdict["buckets"],
            "keys": verdict["keys"],
            "trail_bucket_map": verdict["trail_bucket_map"],
            "findings": verdict["findings"],
            "iam": verdict["iam"],
            "summary": summary,
            "api_calls": calls,
            "generated_at": utcnow_iso(),
        }

    def _key_jobs(self, per_region, ours):
        referenced = {}
        for t in ours:
            if t["kms_key_arn"]:
                referenced.setdefault(t["kms_key_arn"], []).append(t["arn"])
        aliases_by_key = {}
        aws_managed = set()
        with self._aliases_lock:
            snapshot = dict(self._aliases)
        for region, aliases in snapshot.items():
            for a in aliases:
                if not a.get("TargetKeyId"):
                    continue
                target = a.get("TargetKeyId")
                arn = a.get("AliasArn") or ""
                account = _arn.account_of(arn) if _arn.is_arn(arn) else self.account
                key_arn = _arn.key_arn(region, account, target)
                aliases_by_key.setdefault(key_arn, []).append(a["AliasName"])
                if a["AliasName"].startswith("alias/aws/"):
                    aws_managed.add(key_arn)
        jobs = {arn: (arn, True, sorted(aliases_by_key.get(arn, []))) for arn in referenced}
        for _region, _trails, keys in per_region:
            for k in keys:
                arn = k.get("KeyArn")
                if not arn or arn in jobs or arn in aws_managed:
                    continue
                names = sorted(aliases_by_key.get(arn, []))
                if self._aliases_match(names):
                    jobs[arn] = (arn, False, names)
        return [jobs[a] for a in sorted(jobs)]


def gather(
    factory,
    regions=None,
    trails=None,
    candidate_key_aliases=None,
    candidate_key_tags=None,
    max_workers=None,
    expected_account_id=None,
):
    """Inventory and judge one account; returns the ``cloudtrail_cmk`` facts dict.

    With ``expected_account_id``, refuses (TrailGuardError, before any other read) credentials of another account.
    """
    return Inventory(factory, max_workers=max_workers).gather(
        regions=regions,
        trails=trails,
        candidate_key_aliases=candidate_key_aliases,
        candidate_key_tags=candidate_key_tags,
        expected_account_id=expected_account_id,
    )


def run_module(module):
    """The body of ``cloudtrail_cmk_facts``' ``main()``: connect (assuming the role when asked), gather,
    write the per-account files when ``output_dir`` is set, and exit with the facts."""
    params = module.params
    recorder = ApiCallRecorder()
    assume_role = {
        "role_arn": params["assume_role_arn"],
        "external_id": params["assume_role_external_id"],
        "session_name": params["role_session_name"],
    }
    connect = module_connect(module, assume_role=assume_role, recorder=recorder)
    factory = ClientFactory(connect, recorder=recorder, default_region=module.region or "us-east-1")
    try:
        facts = gather(
            factory,
            regions=params["regions"],
            trails=params["trails"],
            candidate_key_aliases=params["candidate_key_aliases"],
            candidate_key_tags=params["candidate_key_tags"],
            max_workers=params["max_workers"],
            expected_account_id=params["expected_account_id"],
        )
    except TrailGuardError as e:
        module.fail_json_aws(e.exception or e, msg=e.message, api_calls=factory.recorder.calls)
    files = write_account_files(facts, params["output_dir"]) if params["output_dir"] else []
    module.exit_json(changed=False, files=files, ansible_facts={"cloudtrail_cmk": facts})
