"""The verify playbook against the lab: real deliveries, real ansible-playbook runs.

The "applied" state is prepared here with boto3 (one bucket, key and trail per scenario, the key attached
with UpdateTrail) plus a hand-written apply/summary.json in the CONTRACTS shape, so these tests do not
depend on the apply role.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import boto3
import jsonschema
import pytest

import lab as labpkg
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _policy
from integration.playbooks import run_playbook
from paths import ROOT

pytestmark = pytest.mark.playbook

ACCOUNT = "111111111111"
REGION = "us-east-1"
SCHEMAS = ROOT / "docs" / "schemas" / "verify"
SCENARIOS = ["good", "key-disabled", "bucket-denied", "not-logging", "no-delivery"]


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Estate:
    """Trails moved onto their keys, one bucket and key per trail (so no log path is shared)."""

    def __init__(self, server):
        self.server = server

        def client(service):
            return boto3.client(service, region_name=REGION, endpoint_url=server.endpoint_url,
                                aws_access_key_id="testing", aws_secret_access_key="testing")

        self.s3, self.kms, self.ct = client("s3"), client("kms"), client("cloudtrail")
        self.trails = {}

    def trail(self, name, prefix="logs"):
        """Bucket + CloudTrail-ready key + a logging trail without key that already delivered (SSE-S3)."""
        arn = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/v-{name}"
        bucket = f"v-{name}-logs"
        self.s3.create_bucket(Bucket=bucket)
        policy = {"Version": "2012-10-17",
                  "Statement": _policy.cloudtrail_bucket_statements(bucket, [arn], prefix, ACCOUNT)}
        self.s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
        key = self.kms.create_key(Policy=json.dumps(_policy.new_key_policy(ACCOUNT, [arn])))["KeyMetadata"]["Arn"]
        self.ct.create_trail(Name=f"v-{name}", S3BucketName=bucket, S3KeyPrefix=prefix, EnableLogFileValidation=True)
        self.ct.start_logging(Name=arn)
        before = self.server.control.deliver(arn)
        assert before["keys"], before
        self.trails[name] = {"arn": arn, "bucket": bucket, "key": key, "prefix": prefix,
                             "pre_change_keys": before["keys"]}
        return self.trails[name]

    def attach(self, name):
        t = self.trails[name]
        self.ct.update_trail(Name=t["arn"], KmsKeyId=t["key"])
        t["attached_at"] = _iso(time.time())
        return t

    def deliver(self, name):
        return self.server.control.deliver(self.trails[name]["arn"])

    def summary_entry(self, name, status="changed", was_logging=True):
        t = self.trails[name]
        return {"account_id": ACCOUNT, "trail_arn": t["arn"], "home_region": REGION, "action": "use_existing_key",
                "status": status, "key_arn": t["key"], "previous_kms_key_id": None, "kms_key_id": t["key"],
                "attached_at": t["attached_at"], "was_logging": was_logging, "bucket": t["bucket"],
                "s3_key_prefix": t["prefix"], "is_organization_trail": False, "is_multi_region_trail": False,
                "failed_step": None, "error": None}


def write_summary(out, trails, check_mode=False):
    counts = {s: sum(1 for t in trails if t["status"] == s) for s in ("changed", "unchanged", "failed", "deferred")}
    summary = {"schema_version": 1, "run_id": "run-verify-test", "generated_at": _iso(time.time()),
               "check_mode": check_mode, "assessment_digest": "0" * 64,
               "consent": {"approved_by": "tester", "approved_at": "2026-01-01T00:00:00Z", "change_ticket": "CHG-1",
                           "awx": {}},
               "trails": trails, "counts": {"approved": len(trails), **counts}}
    (out / "apply").mkdir(parents=True, exist_ok=True)
    (out / "apply" / "summary.json").write_text(json.dumps(summary, indent=2))


@pytest.fixture(scope="module")
def lab_server():
    with labpkg.LabServer() as server:
        yield server


@pytest.fixture(scope="module")
def estate(lab_server):
    estate = Estate(lab_server)
    for name in [*SCENARIOS, "delayed"]:
        estate.trail(name)
    time.sleep(1.1)  # S3 times have 1 s resolution: keep pre-change objects in an earlier second
    for name in [*SCENARIOS, "delayed"]:
        estate.attach(name)
    time.sleep(1.1)
    return estate


@pytest.fixture(scope="module")
def mixed_run(estate, tmp_path_factory):
    """Five scenarios verified in one run from apply/summary.json."""
    out = tmp_path_factory.mktemp("verify-mixed")
    e = estate
    assert e.deliver("good")["errors"] == {}
    e.kms.disable_key(KeyId=e.trails["key-disabled"]["key"])
    assert e.deliver("key-disabled")["errors"] == {e.trails["key-disabled"]["arn"]: "KMS.DisabledException"}
    t = e.trails["bucket-denied"]
    policy = json.loads(e.s3.get_bucket_policy(Bucket=t["bucket"])["Policy"])
    policy["Statement"].append({"Sid": "DenyCloudTrailWrites", "Effect": "Deny",
                                "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:PutObject",
                                "Resource": f"arn:aws:s3:::{t['bucket']}/*"})
    e.s3.put_bucket_policy(Bucket=t["bucket"], Policy=json.dumps(policy))
    assert e.deliver("bucket-denied")["errors"] == {t["arn"]: "AccessDenied"}
    e.ct.stop_logging(Name=e.trails["not-logging"]["arn"])
    entries = [e.summary_entry(n, was_logging=(n != "not-logging")) for n in SCENARIOS]
    # Ignored: a trail apply failed on, a deferred one, and another account's trail (verified by its own host).
    entries.append({**e.summary_entry("delayed"), "status": "failed", "failed_step": "attach"})
    entries.append({**e.summary_entry("delayed"), "trail_arn": e.trails["delayed"]["arn"].replace("v-delayed", "x"),
                    "status": "deferred"})
    entries.append({**e.summary_entry("good"), "account_id": "222222222222",
                    "trail_arn": "arn:aws:cloudtrail:us-east-1:222222222222:trail/other"})
    write_summary(out, entries)
    started = time.monotonic()
    run = run_playbook("verify", e.server, out, extra_vars={
        "trailguard_verify_wait_timeout": 6, "trailguard_verify_poll_interval": 2})
    return run, time.monotonic() - started


def _by_name(doc):
    return {t["name"]: t for t in doc["trails"]}


def test_run_fails_after_writing_every_output(mixed_run):
    run, _details = mixed_run
    assert run.rc != 0
    assert "2 failed and 2 pending of 5 trails in account 111111111111" in run.output
    for rel in ("verify/111111111111/verification.json", "verify/verification.json", "verify/report.html",
                "verify/report.md"):
        assert (run.out_dir / rel).is_file(), rel
    combined = run.json("verify/verification.json")
    assert combined["summary"] == {"accounts": 1, "trails": 5, "verified": 1, "failed": 2, "pending": 2,
                                   "all_verified": False}
    assert combined["source"] == "apply/summary.json" and combined["apply_run_id"] == "run-verify-test"


def test_only_changed_and_unchanged_trails_of_this_account(mixed_run):
    run, _details = mixed_run
    doc = run.json("verify/111111111111/verification.json")
    assert sorted(_by_name(doc)) == sorted(f"v-{n}" for n in SCENARIOS)


def test_good_trail_verified_from_delivered_objects(mixed_run, estate):
    run, _details = mixed_run
    t = _by_name(run.json("verify/111111111111/verification.json"))["v-good"]
    key = estate.trails["good"]["key"]
    assert t["verdict"] == "verified", t["message"]
    assert t["errors"] == []
    judged = [o for o in t["evidence"]["objects"] if o["judged"]]
    assert judged and all(o["matches"] for o in judged)
    for o in judged:
        assert o["server_side_encryption"] == "aws:kms" and o["sse_kms_key_id"] == key
        assert o["key"].startswith(f"logs/AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/")
        assert o["request_id"] and o["last_modified"] > t["attached_at"][:19]
    assert t["delivery"]["latest_delivery_error"] is None
    assert t["delivery"]["latest_delivery_time"] >= t["attached_at"]


def test_digests_and_pre_change_objects_reported_not_judged(mixed_run, estate):
    run, _details = mixed_run
    t = _by_name(run.json("verify/111111111111/verification.json"))["v-good"]
    pre = set(estate.trails["good"]["pre_change_keys"])
    judged_keys = {o["key"] for o in t["evidence"]["objects"]}
    assert not judged_keys & pre
    assert t["evidence"]["ignored_before_attach"]["count"] == len(pre)
    assert {e["key"] for e in t["evidence"]["ignored_before_attach"]["examples"]} <= pre
    digests = t["evidence"]["digests"]
    assert digests["count"] >= 1 and digests["judged"] is False
    digest = digests["objects"][0]
    assert "/CloudTrail-Digest/" in digest["key"]
    assert digest["server_side_encryption"] == "AES256"  # SSE-S3, yet the trail is verified
    assert digest["judged"] is False and digest["matches"] is None


def test_key_disabled_after_attach_fails_with_delivery_error(mixed_run):
    run, _details = mixed_run
    t = _by_name(run.json("verify/111111111111/verification.json"))["v-key-disabled"]
    assert t["verdict"] == "failed"
    codes = {e["code"]: e for e in t["errors"]}
    assert "KEY_DISABLED" in codes
    assert t["delivery"]["latest_delivery_error"] == "KMS.DisabledException"
    assert "LatestDeliveryError: KMS.DisabledException" in codes["DELIVERY_ERROR"]["message"]
    assert "disabled" in codes["DELIVERY_ERROR"]["message"]
    assert "kms:EnableKey" in codes["DELIVERY_ERROR"]["remediation"]
    assert t["polling"]["polls"] == 0  # decided by its configuration: no waiting


def test_bucket_policy_denying_writes_fails(mixed_run):
    run, _details = mixed_run
    t = _by_name(run.json("verify/111111111111/verification.json"))["v-bucket-denied"]
    assert t["verdict"] == "failed"
    codes = {e["code"]: e for e in t["errors"]}
    assert codes["BUCKET_POLICY_DENIES_CLOUDTRAIL"]["statement"] == "DenyCloudTrailWrites"
    assert "LatestDeliveryError: AccessDenied" in codes["DELIVERY_ERROR"]["message"]
    assert "bucket policy" in codes["DELIVERY_ERROR"]["message"]


def test_not_logging_trail_is_pending_without_waiting(mixed_run):
    run, _details = mixed_run
    t = _by_name(run.json("verify/111111111111/verification.json"))["v-not-logging"]
    assert t["verdict"] == "pending"
    assert "not logging" in t["message"]
    assert [e["code"] for e in t["errors"]] == ["NO_NEW_LOG_OBJECT"]


def test_no_delivery_within_timeout_is_pending(mixed_run):
    run, _elapsed = mixed_run
    t = _by_name(run.json("verify/111111111111/verification.json"))["v-no-delivery"]
    assert t["verdict"] == "pending"
    assert t["polling"]["timed_out"] is True and t["polling"]["polls"] >= 2
    assert t["polling"]["waited_seconds"] >= 6
    assert "No log file delivered after" in t["message"] and "run verify again later" in t["message"]
    assert t["evidence"]["objects"] == [] and t["evidence"]["ignored_before_attach"]["count"] == 1


def test_reports_show_keys_evidence_and_remediation(mixed_run, estate):
    run, _details = mixed_run
    md, html = run.text("verify/report.md"), run.text("verify/report.html")
    for name, verdict in [("v-good", "verified"), ("v-key-disabled", "failed"), ("v-no-delivery", "pending")]:
        assert f"### {name}: {verdict}" in md
        assert f"{name} — <span class=\"{verdict}\">{verdict}</span>" in html
    assert estate.trails["good"]["key"] in md
    assert "KMS.DisabledException" in md and "kms:EnableKey" in html
    assert "| 1 | 5 | 1 | 2 | 2 |" in md


def test_outputs_match_their_schemas(mixed_run, delayed_run):
    for run in (mixed_run[0], delayed_run):
        account_schema = json.loads((SCHEMAS / "account_verification.schema.json").read_text())
        combined_schema = json.loads((SCHEMAS / "verification.schema.json").read_text())
        jsonschema.validate(run.json("verify/111111111111/verification.json"), account_schema)
        jsonschema.validate(run.json("verify/verification.json"), combined_schema)


@pytest.fixture(scope="module")
def delayed_run(estate, tmp_path_factory, mixed_run):
    """Explicit trails, check mode; the first object arrives only a few seconds into the wait."""
    out = tmp_path_factory.mktemp("verify-delayed")
    t = estate.trails["delayed"]
    stop = threading.Event()

    def deliver_once_the_module_has_looked():
        # The first object arrives only after the module's first empty look at the bucket.
        while not stop.wait(0.5):
            if estate.server.control.calls(ACCOUNT).get("s3:ListObjectsV2", 0) >= 1:
                stop.wait(3)
                estate.deliver("delayed")
                return

    estate.server.control.reset_counters()
    watcher = threading.Thread(target=deliver_once_the_module_has_looked, daemon=True)
    watcher.start()
    try:
        run = run_playbook("verify", estate.server, out, check=True, extra_vars={
            "trailguard_verify_wait_timeout": 90, "trailguard_verify_poll_interval": 2,
            "trailguard_verify_trails": [{"trail_arn": t["arn"], "expected_key_arn": t["key"],
                                          "attached_at": t["attached_at"], "was_logging": True}]})
    finally:
        stop.set()
        watcher.join(timeout=10)
    return run


def test_delayed_delivery_verified_within_timeout(delayed_run):
    run = delayed_run
    assert run.rc == 0, run.output[-4000:]
    doc = run.json("verify/111111111111/verification.json")
    assert doc["source"] == "trailguard_verify_trails" and doc["check_mode"] is True
    t = doc["trails"][0]
    assert t["verdict"] == "verified", t["message"]
    assert t["polling"]["polls"] >= 2 and t["polling"]["timed_out"] is False
    assert t["evidence"]["first_object_seen_at"] > t["attached_at"]
    assert run.json("verify/verification.json")["summary"]["all_verified"] is True


def test_check_mode_plan_summary_is_refused(estate, tmp_path_factory):
    out = tmp_path_factory.mktemp("verify-plan")
    write_summary(out, [estate.summary_entry("good", status="planned")], check_mode=True)
    run = run_playbook("verify", estate.server, out)
    assert run.rc != 0
    assert "is a check-mode plan" in run.output
    assert not (out / "verify" / "verification.json").exists()
