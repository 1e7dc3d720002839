# Copyright: contributors to trailguard.cloudtrail_cmk
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE to trailguard.cloudtrail_cmk: not a public API, may change without notice.

The verify phase's reads and polling loop. Everything here only reads; the judgement is ``_verify``.

For each trail: re-read the trail (by ARN, home region), its status, the expected key and its policy,
the bucket policy and default encryption; then poll until ``wait_timeout`` for log objects delivered
after the attach time, heading a sample of them. Trails whose configuration already fails, or that do
not log, are decided at once; the others are polled together, one round every ``poll_interval``.
Calls are made one after another so each trail's AWS calls (request ids, timestamps) are its evidence.
"""

from __future__ import annotations

import time

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _arn, _cloudtrail, _kms, _s3
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _verify as V
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils._common import (
    AwsApiError,
    ClientFactory,
    NotFoundError,
    TrailGuardError,
    module_connect,
    utcnow_iso,
)
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils._policy import log_prefix

DIGEST_SAMPLE = 1


def _err(exc: AwsApiError) -> dict:
    return exc.as_dict()


class TrailVerification:
    """Reads for one trail; ``observed`` is what ``_verify.judge`` needs."""

    def __init__(self, factory, spec, sample_size):
        self.factory = factory
        self.spec = spec
        self.sample_size = sample_size
        self.region = spec["home_region"]
        self.observed = {"read_errors": [], "evidence": {"objects": []}}
        self._errors = {}
        self.heads = {}  # key -> evidence entry (headed once)
        self.listed = {}  # key -> (region, LastModified)
        self.calls_from = len(factory.recorder.calls)
        self.result = None
        self.first_seen_at = None

    # -- reads -------------------------------------------------------------------------------------

    def _error(self, exc):
        """Record a failed read once per (operation, resource)."""
        entry = _err(exc)
        self._errors[(entry["operation"], entry["resource"])] = entry
        self.observed["read_errors"] = list(self._errors.values())

    def _s3(self):
        return self.factory.client("s3", self.bucket_region or self.region)

    def read_configuration(self, shared_trails):
        spec, obs = self.spec, self.observed
        ct = self.factory.client("cloudtrail", self.region)
        try:
            trail = _cloudtrail.describe_trail(ct, spec["trail_arn"])
        except AwsApiError as exc:
            obs["trail_read_error"] = _err(exc)
            trail = None
        obs["trail"] = trail
        self.bucket_region = None
        if trail is None:
            return
        self.read_status()
        self.read_key(trail)
        self.read_bucket(trail)
        evidence = obs["evidence"]
        evidence["bucket"] = trail.get("S3BucketName")
        evidence["s3_key_prefix"] = trail.get("S3KeyPrefix") or ""
        others = [
            t for t in shared_trails
            if t["TrailARN"] != spec["trail_arn"] and t.get("S3BucketName") == trail.get("S3BucketName")
            and log_prefix(t.get("S3KeyPrefix")) == log_prefix(trail.get("S3KeyPrefix"))
        ]  # fmt: skip
        evidence["shared_path_with"] = sorted(t["TrailARN"] for t in others)
        evidence["shared_same_key"] = sorted(
            t["TrailARN"] for t in others if (t.get("KmsKeyId") or None) == spec["expected_key_arn"]
        )

    def read_status(self):
        ct = self.factory.client("cloudtrail", self.region)
        try:
            status = _cloudtrail.get_trail_status(ct, self.spec["trail_arn"])
        except AwsApiError as exc:
            self._error(exc)
            status = None
        self.observed["status"] = status

    def read_key(self, trail):
        expected = self.spec["expected_key_arn"]
        key = {}
        kms = self.factory.client("kms", _arn.parse_arn(expected)["region"])
        try:
            key["metadata"] = _kms.describe_key(kms, expected)
        except AwsApiError as exc:
            key["read_error"] = _err(exc)
        if key.get("metadata") and key["metadata"].get("KeyManager") != "AWS":
            try:
                key["policy"] = _kms.get_key_policy(kms, expected)
            except AwsApiError as exc:
                key["policy_error"] = _err(exc)
        self.observed["key"] = key
        del trail

    def read_bucket(self, trail):
        name = trail.get("S3BucketName")
        bucket = {"name": name}
        s3_home = self.factory.client("s3", self.region)
        try:
            self.bucket_region = _s3.get_bucket_location(s3_home, name)
            s3 = self._s3()
            bucket["exists"] = True
            bucket["policy"] = _s3.get_bucket_policy(s3, name)
        except NotFoundError:
            bucket["exists"] = False
        except AwsApiError as exc:
            bucket["policy_error"] = _err(exc)
        if bucket.get("exists"):
            try:
                rules = _s3.get_bucket_encryption(self._s3(), name)
                enabled = any(r.get("BucketKeyEnabled") for r in rules)
                self.observed["key"]["bucket_key_enabled"] = enabled
                bucket["bucket_key_enabled"] = enabled
            except AwsApiError as exc:
                self._error(exc)
            if trail.get("IsOrganizationTrail"):
                bucket["organization_ids"] = self._organization_ids(trail)
        self.observed["bucket"] = bucket

    def _organization_ids(self, trail):
        """Organization ids CloudTrail writes under (``AWSLogs/o-*/``), found by listing the bucket."""
        base = f"{log_prefix(trail.get('S3KeyPrefix'))}AWSLogs/"
        listing = _s3.list_objects(self._s3(), trail["S3BucketName"], base, delimiter="/")
        return sorted(p[len(base):].strip("/") for p in listing["prefixes"] if p[len(base):].startswith("o-"))

    def config_decided(self):
        """True when the configuration alone decides (a failed check, or no delivery can happen)."""
        verdict = V.judge(self.spec, self.observed)
        if verdict["verdict"] == V.FAILED:
            return True
        return self.observed.get("trail") is not None and (self.observed.get("status") or {}).get("IsLogging") is False

    def poll(self, now_iso):
        """One round: re-read the status, list new objects, head a sample. True when decided."""
        trail = self.observed.get("trail")
        if trail is None:
            return True
        self.read_status()
        bucket, evidence = trail["S3BucketName"], self.observed["evidence"]
        account = self.spec["account_id"]
        roots = V.log_roots(trail.get("S3KeyPrefix"), account, (self.observed.get("bucket") or {}).get(
            "organization_ids") or ())
        evidence["roots"] = roots
        s3 = self._s3()
        try:
            for root in roots:
                for region in self._regions(s3, bucket, root, trail):
                    for day in V.day_prefixes(f"{root}CloudTrail/{region}/", self.spec["attached_at"], now_iso):
                        for obj in _s3.list_objects(s3, bucket, day)["objects"]:
                            self.listed[obj["Key"]] = (region, obj["LastModified"])
        except AwsApiError as exc:
            self._error(exc)
            return False
        self._head_sample(s3, bucket)
        verdict = V.judge(self.spec, self.observed)
        if evidence.get("objects") and self.first_seen_at is None:
            self.first_seen_at = now_iso
        return verdict["verdict"] != V.PENDING

    def _regions(self, s3, bucket, root, trail):
        if not trail.get("IsMultiRegionTrail"):
            return [self.region]
        folder = f"{root}CloudTrail/"
        found = [p[len(folder):].strip("/") for p in _s3.list_objects(s3, bucket, folder, delimiter="/")["prefixes"]]
        return sorted(set(found) | {self.region})

    def _head_sample(self, s3, bucket):
        attached = self.spec["attached_at"]
        after, before, boundary = [], [], []
        for key, (region, modified) in self.listed.items():
            entry = {"key": key, "region": region, "last_modified": modified}
            position = V.classify(modified, attached)
            {"after": after, "before": before, "boundary": boundary}[position].append(entry)
        evidence = self.observed["evidence"]
        for obj in V.sample(after, self.sample_size):
            if obj["key"] in self.heads:
                continue
            self.heads[obj["key"]] = self._head(s3, bucket, obj, judged=True)
        evidence["objects"] = sorted(self.heads.values(), key=lambda o: (o["last_modified"], o["key"]))
        evidence["objects_after_attach"] = len(after)
        evidence["objects_sampled"] = len(self.heads)
        evidence["ignored_before_attach"] = _summary(before)
        evidence["ignored_at_attach_second"] = _summary(boundary)

    def _head(self, s3, bucket, obj, judged):
        mark = len(self.factory.recorder.calls)
        try:
            head = _s3.head_object(s3, bucket, obj["key"])
        except AwsApiError as exc:
            self._error(exc)
            head = None
        calls = [c for c in self.factory.recorder.calls[mark:] if c["operation"] == "HeadObject"]
        request_id = calls[-1]["request_id"] if calls else None
        headed_at = calls[-1]["timestamp"] if calls else utcnow_iso()
        entry = V.object_evidence(bucket, obj["key"], obj["region"], obj["last_modified"], head,
                                  self.spec["expected_key_arn"], self.spec["attached_at"], request_id, headed_at)
        if not judged:
            entry["judged"] = False
            entry["matches"] = None
        return entry

    def read_digests(self, now_iso):
        """Digest files after the attach: listed and one headed, reported, never judged."""
        trail = self.observed.get("trail")
        evidence = self.observed["evidence"]
        evidence["digests"] = {"count": 0, "objects": [], "judged": False}
        if trail is None or self.observed.get("bucket", {}).get("exists") is False:
            return
        s3, bucket, found = self._s3(), trail["S3BucketName"], []
        try:
            for root in evidence.get("roots") or []:
                for region in self._regions(s3, bucket, root, trail):
                    folder = f"{root}CloudTrail-Digest/{region}/"
                    for day in V.day_prefixes(folder, self.spec["attached_at"], now_iso):
                        for obj in _s3.list_objects(s3, bucket, day)["objects"]:
                            if V.classify(obj["LastModified"], self.spec["attached_at"]) == "after":
                                found.append(
                                    {"key": obj["Key"], "region": region, "last_modified": obj["LastModified"]}
                                )
            newest = V.sample(found, DIGEST_SAMPLE)
            evidence["digests"] = {
                "count": len(found),
                "judged": False,
                "objects": [self._head(s3, bucket, obj, judged=False) for obj in newest],
            }
        except AwsApiError as exc:
            evidence["digests"]["read_error"] = _err(exc)

    # -- result ------------------------------------------------------------------------------------

    def finish(self, polling, checked_at):
        self.observed["polling"] = polling
        verdict = V.judge(self.spec, self.observed)
        trail = self.observed.get("trail") or {}
        status = self.observed.get("status") or {}
        key = (self.observed.get("key") or {}).get("metadata") or {}
        evidence = self.observed["evidence"]
        evidence.setdefault("objects", [])
        evidence.setdefault("objects_after_attach", 0)
        evidence.setdefault("objects_sampled", 0)
        evidence.setdefault("ignored_before_attach", _summary([]))
        evidence.setdefault("ignored_at_attach_second", _summary([]))
        evidence.setdefault("roots", [])
        evidence.setdefault("shared_path_with", [])
        evidence.setdefault("shared_same_key", [])
        evidence.setdefault("digests", {"count": 0, "objects": [], "judged": False})
        evidence["first_object_seen_at"] = self.first_seen_at
        spec = self.spec
        self.result = {
            "trail_arn": spec["trail_arn"],
            "name": spec["name"],
            "account_id": spec["account_id"],
            "home_region": spec["home_region"],
            "expected_key_arn": spec["expected_key_arn"],
            "previous_kms_key_id": spec.get("previous_kms_key_id"),
            "attached_at": spec["attached_at"],
            "was_logging": spec["was_logging"],
            "verdict": verdict["verdict"],
            "message": verdict["message"],
            "checks": verdict["checks"],
            "errors": verdict["errors"],
            "trail": {
                "found": bool(self.observed.get("trail")),
                "kms_key_id": trail.get("KmsKeyId"),
                "is_logging": status.get("IsLogging"),
                "bucket": trail.get("S3BucketName"),
                "bucket_region": self.bucket_region,
                "s3_key_prefix": trail.get("S3KeyPrefix") or "",
                "is_multi_region_trail": trail.get("IsMultiRegionTrail"),
                "is_organization_trail": trail.get("IsOrganizationTrail"),
            },
            "key": {
                "key_state": key.get("KeyState"),
                "key_manager": key.get("KeyManager"),
                "key_spec": key.get("KeySpec"),
            },
            "delivery": {
                "latest_delivery_time": V.iso(status.get("LatestDeliveryTime")),
                "latest_delivery_error": status.get("LatestDeliveryError"),
                "latest_delivery_attempt_time": V.iso(status.get("LatestDeliveryAttemptTime")),
                "latest_delivery_attempt_succeeded": V.iso(status.get("LatestDeliveryAttemptSucceeded")),
            },
            "evidence": evidence,
            "polling": polling,
            "checked_at": checked_at,
            "api_calls": self.factory.recorder.calls[self.calls_from:],
        }
        return self.result


def _summary(objects):
    ordered = sorted(objects, key=lambda o: (V.parse_time(o["last_modified"]), o["key"]), reverse=True)
    return {"count": len(objects), "examples": [{"key": o["key"], "last_modified": V.iso(o["last_modified"])}
                                                for o in ordered[:3]]}


def verify(factory, trails, wait_timeout=600, poll_interval=30, sample_size=5, clock=time.monotonic,
           sleep=time.sleep):
    """Verify every trail; returns ``{"trails": [...], "summary": {...}, "api_calls": [...], "generated_at"}``."""
    specs = [V.validate_spec(t) for t in trails]
    started = clock()
    deadline = started + max(0, wait_timeout)
    shared = {}
    for region in sorted({s["home_region"] for s in specs}):
        try:
            shared[region] = _cloudtrail.describe_trails(factory.client("cloudtrail", region))
        except AwsApiError:
            shared[region] = []
    workers = []
    for spec in specs:
        worker = TrailVerification(factory, spec, sample_size)
        worker.read_configuration(shared.get(spec["home_region"], []))
        workers.append(worker)
    open_ = [w for w in workers if not w.config_decided()]
    polls = {id(w): 0 for w in workers}
    while True:
        now_iso = utcnow_iso()
        still = []
        for worker in open_:
            polls[id(worker)] += 1
            if not worker.poll(now_iso):
                still.append(worker)
        open_ = still
        if not open_ or clock() >= deadline:
            break
        sleep(max(0.0, min(poll_interval, deadline - clock())))
    waited = round(clock() - started, 3)
    now_iso = utcnow_iso()
    results = []
    for worker in workers:
        if polls[id(worker)] == 0 and worker.observed.get("trail") is not None:
            worker.poll(now_iso)  # decided by configuration: still list once, as evidence
        worker.read_digests(now_iso)
        polling = {
            "polls": polls[id(worker)],
            "waited_seconds": waited,
            "wait_timeout": wait_timeout,
            "poll_interval": poll_interval,
            "timed_out": worker in open_,
        }
        results.append(worker.finish(polling, now_iso))
    return {
        "trails": results,
        "summary": {**V.summarize(results), "api_calls": factory.recorder.summary(), "duration_seconds": waited},
        "api_calls": factory.recorder.calls,
        "generated_at": utcnow_iso(),
    }


def run_module(module):
    """The body of ``trail_delivery_verify``'s ``main()``: bad input fails with its message, AWS errors with
    the calls made so far; otherwise exit with the verification result (never ``changed``)."""
    factory = ClientFactory(module_connect(module), default_region=module.region or "us-east-1")
    p = module.params
    try:
        result = verify(factory, p["trails"], p["wait_timeout"], max(1, p["poll_interval"]), max(1, p["sample_size"]))
    except ValueError as e:
        module.fail_json(msg=str(e))
    except TrailGuardError as e:
        module.fail_json_aws(e.exception or e, msg=e.message, api_calls=factory.recorder.calls)
    module.exit_json(changed=False, **result)
