"""The apply playbook on the demo estate with the demo approvals (scripts/demo_approvals.py), two accounts.

One module-scoped sequence of real ansible-playbook runs against one lab, shared by every test:
  assess -> demo approvals (signed) -> apply --check --diff -> apply with kms:PutKeyPolicy failing once
  -> apply again (completes the interrupted trail) -> apply again (must change nothing).
"""

from __future__ import annotations

import json
import subprocess
import sys

import boto3
import pytest
import yaml

import lab as labpkg
from integration.playbooks import run_playbook, two_account_inventory
from paths import ROOT

pytestmark = pytest.mark.playbook
ROLE_ARN = "arn:aws:iam::222222222222:role/TrailGuardAudit"
SIGNED = {"trailguard_require_signed_consent": True}


def _session(lab, account):
    env = labpkg.environment(lab.endpoint_url)
    base = boto3.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    if account == "111111111111":
        return base
    creds = base.client("sts", endpoint_url=lab.endpoint_url, region_name="us-east-1").assume_role(
        RoleArn=ROLE_ARN.replace("222222222222", account), RoleSessionName="test"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def snapshot(lab, manifest):
    """Whole configurations: every demo trail (describe_trails + logging), key policy and bucket policy."""
    trails, keys, buckets = {}, {}, {}
    for account in ("111111111111", "222222222222"):
        session = _session(lab, account)
        for region in ("us-east-1", "eu-west-1"):
            ct = session.client("cloudtrail", endpoint_url=lab.endpoint_url, region_name=region)
            for trail in ct.describe_trails(includeShadowTrails=False)["trailList"]:
                if trail.get("HomeRegion") == region:
                    status = ct.get_trail_status(Name=trail["TrailARN"])
                    trails[trail["TrailARN"]] = dict(trail, IsLogging=status.get("IsLogging"))
            kms = session.client("kms", endpoint_url=lab.endpoint_url, region_name=region)
            for key in kms.list_keys()["Keys"]:
                try:
                    keys[key["KeyArn"]] = json.loads(
                        kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"]
                    )
                except kms.exceptions.ClientError:
                    keys[key["KeyArn"]] = None
        s3 = session.client("s3", endpoint_url=lab.endpoint_url, region_name="us-east-1")
        for bucket in s3.list_buckets()["Buckets"]:
            try:
                buckets[bucket["Name"]] = json.loads(s3.get_bucket_policy(Bucket=bucket["Name"])["Policy"])
            except s3.exceptions.ClientError:
                buckets[bucket["Name"]] = None
    return {"trails": trails, "keys": keys, "buckets": buckets}


def _statements(policy):
    if not policy:
        return []
    statements = policy.get("Statement") or []
    return statements if isinstance(statements, list) else [statements]


@pytest.fixture(scope="module")
def story(demo_lab, manifest, tmp_path_factory):
    out = tmp_path_factory.mktemp("apply")
    inventory = two_account_inventory(out)
    runs = {}
    assess = run_playbook("assess", demo_lab, out, inventory=inventory)
    assert assess.rc == 0, assess.output[-3000:]
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo_approvals.py"), str(out), "--create-key", "tg-no-key-b"],
        check=True,
        capture_output=True,
    )
    approvals = ["-e", f"@{out / 'approvals.yml'}"]
    extra = dict(SIGNED, trailguard_allowed_signers_file=str(out / "allowed_signers"))
    before = snapshot(demo_lab, manifest)

    def apply(name, check=False):
        demo_lab.control.reset_counters()
        run = run_playbook(
            "apply", demo_lab, out, extra_vars=extra, inventory=inventory, check=check, diff=check, extra_args=approvals
        )
        (out / f"{name}.log").write_text(run.output)
        summary = out / "apply" / ("plan-summary.json" if check else "summary.json")
        assert summary.is_file(), f"{name}: no {summary.name}:\n{run.output[-5000:]}"
        runs[name] = (run, demo_lab.control.writes(), json.loads(summary.read_text()))

    apply("check", check=True)
    demo_lab.control.inject("kms", "PutKeyPolicy", "AccessDeniedException", 400, count=1)
    try:
        apply("faulty")
    finally:
        demo_lab.control.clear_faults()
    apply("resume")
    apply("again")
    after = snapshot(demo_lab, manifest)
    record = yaml.safe_load((out / "approvals.yml").read_text())["trailguard_consent"]
    return {"out": out, "runs": runs, "before": before, "after": after, "record": record}


def _approved(story_):
    return [t for t in story_["record"]["trails"] if t["action"] != "defer"]


def test_demo_approvals_cover_both_accounts_and_are_signed(story):
    record = story["record"]
    approved = _approved(story)
    assert record["signature"].startswith("-----BEGIN SSH SIGNATURE-----")
    assert {t["trail_arn"].split(":")[4] for t in approved} == {"111111111111", "222222222222"}
    assert any(t["action"] == "defer" for t in record["trails"])


def test_check_mode_writes_nothing_and_shows_the_diff(story):
    run, writes, plan = story["runs"]["check"]
    assert run.rc == 0, run.output[-4000:]
    assert writes == {}
    assert plan["check_mode"] is True
    assert plan["counts"]["planned"] == len(_approved(story))
    assert "TrailGuardCloudTrail" in run.stdout  # the exact policy statements to be added
    assert "KmsKeyId:" in run.stdout  # the trail attachment diff
    journal = story["out"] / "apply" / "111111111111" / "plan.jsonl"
    entries = [json.loads(line) for line in journal.read_text().splitlines()]
    assert entries and all(e["check_mode"] for e in entries)
    assert {e["status"] for e in entries if e["step"] != "consent"} <= {"planned", "unchanged"}


def test_step_failure_stops_only_that_trail(story):
    run, writes, summary = story["runs"]["faulty"]
    assert run.rc != 0
    failed = [t for t in summary["trails"] if t["status"] == "failed"]
    assert len(failed) == 1, failed
    assert failed[0]["failed_step"] == "key"
    assert "AccessDenied" in json.dumps(failed[0]["error"])
    assert failed[0]["error"]["remediation"]
    others = [t for t in summary["trails"] if t["status"] not in ("failed", "deferred")]
    assert len(others) == len(_approved(story)) - 1
    assert {t["status"] for t in others} <= {"changed", "unchanged"}
    journal = [
        json.loads(x) for x in (story["out"] / "apply" / "111111111111" / "audit.jsonl").read_text().splitlines()
    ]
    mine = [e for e in journal if e["trail_arn"] == failed[0]["trail_arn"] and e["run_id"] == summary["run_id"]]
    assert [(e["step"], e["status"]) for e in mine] == [("key", "failed"), ("bucket", "skipped"), ("attach", "skipped")]
    assert writes.get("cloudtrail:UpdateTrail", 0) >= 1


def test_rerun_after_interruption_completes_the_rest(story):
    run, _writes, summary = story["runs"]["resume"]
    assert run.rc == 0, run.output[-4000:]
    assert summary["counts"]["failed"] == 0
    failed_before = [t["trail_arn"] for t in story["runs"]["faulty"][2]["trails"] if t["status"] == "failed"]
    resumed = {t["trail_arn"]: t for t in summary["trails"]}
    assert all(resumed[arn]["status"] == "changed" for arn in failed_before)


def test_every_approved_trail_ends_on_its_key(story):
    _run, _writes, summary = story["runs"]["again"]
    trails = story["after"]["trails"]
    for item in summary["trails"]:
        if item["status"] == "deferred":
            continue
        live = trails[item["trail_arn"]]
        assert live.get("KmsKeyId") == item["key_arn"] == item["kms_key_id"], item["trail_arn"]
    created = [t for t in summary["trails"] if t["action"] == "create_key"]
    assert created and all(t["key_arn"].startswith("arn:aws:kms:eu-west-1:222222222222:key/") for t in created)


def test_second_run_changes_nothing(story):
    run, writes, summary = story["runs"]["again"]
    assert run.rc == 0, run.output[-4000:]
    assert writes == {}
    assert summary["counts"]["changed"] == 0 and summary["counts"]["failed"] == 0
    assert {t["status"] for t in summary["trails"]} <= {"unchanged", "deferred"}
    # No AWS task of the role reports a change (bookkeeping of the signature snippet aside).
    for line in run.stdout.splitlines():
        assert not (line.startswith("changed:") and "Key -" in line), line
    aws_tasks = [
        b
        for b in run.stdout.split("TASK [")
        if b.split("]")[0].split(" : ")[-1].startswith(("Key -", "Bucket -", "Attach -"))
    ]
    assert aws_tasks and not any("\nchanged:" in b for b in aws_tasks)


def test_deferred_trails_untouched(story):
    before, after = story["before"], story["after"]
    deferred = [t["trail_arn"] for t in story["record"]["trails"] if t["action"] == "defer"]
    approved = {t["trail_arn"] for t in _approved(story)}
    assert deferred
    for arn, trail in before["trails"].items():
        if arn not in approved:
            assert after["trails"][arn] == trail, arn


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _amended(original, kept):
    """``kept`` has a statement equal to ``original`` except that condition values were only added to (the
    approved minimal amendment of a Deny that blocked SSE-KMS delivery)."""
    for candidate in kept:
        if candidate.get("Sid") != original.get("Sid") or candidate.get("Effect") != original.get("Effect"):
            continue
        if {k: v for k, v in candidate.items() if k != "Condition"} != {
            k: v for k, v in original.items() if k != "Condition"
        }:
            continue
        before, after = original.get("Condition") or {}, candidate.get("Condition") or {}
        if set(before) == set(after) and all(
            set(before[op]) == set(after[op])
            and all(set(_as_list(before[op][key])) <= set(_as_list(after[op][key])) for key in before[op])
            for op in before
        ):
            return True
    return False


def test_policies_keep_every_statement_verbatim(story):
    before, after = story["before"], story["after"]
    amendable = {t["trail_arn"] for t in _approved(story) if t.get("may_change_bucket_policy")}
    amended_buckets = {t["S3BucketName"] for arn, t in story["before"]["trails"].items() if arn in amendable}
    for kind in ("keys", "buckets"):
        for name, policy in before[kind].items():
            kept = _statements(after[kind].get(name))
            for statement in _statements(policy):
                if statement in kept:
                    continue
                # Only an approved bucket may have a blocking Deny amended, and only by extending its condition.
                assert kind == "buckets" and name in amended_buckets, f"{kind} {name} lost {statement.get('Sid')}"
                assert statement.get("Effect") == "Deny" and _amended(statement, kept), (name, statement)
            added = [s for s in kept if s not in _statements(policy) and not _amended_any(s, policy)]
            assert all(str(s.get("Sid", "")).startswith("TrailGuard") for s in added), (name, added)


def _amended_any(statement, policy):
    return any(_amended(original, [statement]) for original in _statements(policy))


def test_multi_region_trail_still_multi_region(story, manifest):
    multi = [t["arn"] for t in manifest["trails"] if t["multi_region"]]
    assert multi
    for arn in multi:
        b, a = story["before"]["trails"][arn], story["after"]["trails"][arn]
        assert a["IsMultiRegionTrail"] is True and b["IsMultiRegionTrail"] is True
        assert a["IncludeGlobalServiceEvents"] == b["IncludeGlobalServiceEvents"]
        assert a["IsLogging"] == b["IsLogging"]


def test_outputs_follow_the_contract(story):
    out = story["out"]
    _run, _w, summary = story["runs"]["again"]
    assert summary["schema_version"] == 1 and summary["check_mode"] is False
    assert summary["consent"]["approved_by"] == story["record"]["approved_by"]
    keys = {
        "account_id",
        "trail_arn",
        "home_region",
        "action",
        "status",
        "key_arn",
        "previous_kms_key_id",
        "kms_key_id",
        "attached_at",
        "was_logging",
        "bucket",
        "s3_key_prefix",
        "is_organization_trail",
        "is_multi_region_trail",
        "failed_step",
        "error",
    }
    for item in summary["trails"]:
        assert keys <= set(item), keys - set(item)
    for account in ("111111111111", "222222222222"):
        lines = [json.loads(x) for x in (out / "apply" / account / "audit.jsonl").read_text().splitlines()]
        assert json.loads((out / "apply" / account / "audit.json").read_text()) == lines
        for entry in lines:
            assert {
                "timestamp",
                "run_id",
                "account_id",
                "trail_arn",
                "step",
                "status",
                "resource",
                "action",
                "before",
                "after",
                "diff",
                "request_ids",
                "error",
                "check_mode",
            } <= set(entry)
        assert any(e["step"] == "attach" and e["status"] == "changed" and e["request_ids"] for e in lines)
