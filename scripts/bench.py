#!/usr/bin/env python
"""Benchmark the assessment on the lab's ``bench`` estate (``make bench``; issue 3 section 5).

1. Starts the lab with the bench estate (default 10 accounts x 4 regions, 500 trails, shared buckets and keys).
2. Writes an inventory with one host per account (``trailguard_assume_role_arn`` for every account but the
   main one, ``trailguard_regions``) and runs the real ``trailguard.cloudtrail_cmk.assess`` playbook.
3. Prints wall time, each account's inventory time (``summary.duration_seconds``), the API calls the
   inventory made (``assess/<account>/api_calls.json``) in total and per trail, and the budget check
   ``calls <= accounts*regions + 3*trails + 8*buckets + 5*keys`` (exit code 1 when over budget).
4. Runs the same inventory the naive way: a generated playbook with one amazon.aws ``cloudtrail_info`` /
   ``kms_key_info`` / ``s3_bucket_info`` module call per trail, key and bucket, against the same lab, and
   prints its wall time and the ratio. When the naive run would take too long at full size it runs on a
   deterministic subset (the first share of every account's trails, keys and buckets, by name) and
   extrapolates linearly; the output says so, with the subset size.

Quick run: ``.venv/bin/python scripts/bench.py --accounts 2 --regions 2 --trails 40``.
``--json PATH`` writes the figures. Run with the Makefile's environment (``make bench``) or let the script
set PYTHONPATH / ANSIBLE_COLLECTIONS_PATH itself.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

# The budget of issue 3 section 5: (accounts x regions) + 3 per trail + 8 per bucket + 5 per key.
PER_ACCOUNT_REGION = 1
PER_TRAIL = 3
PER_BUCKET = 8
PER_KEY = 5
TARGET_RATIO = 10.0
NAIVE_TARGET_SECONDS = 15 * 60

# Which budget term an inventory call belongs to (for the breakdown when the budget is exceeded).
TERM_OF_OPERATION = {
    ("sts", "GetCallerIdentity"): "account_region",
    ("ec2", "DescribeRegions"): "account_region",
    ("s3", "ListBuckets"): "account_region",
    ("organizations", "DescribeOrganization"): "account_region",
    ("iam", "GetAccountAuthorizationDetails"): "account_region",
    ("sts", "AssumeRole"): "account_region",
    ("cloudtrail", "DescribeTrails"): "account_region",
    ("kms", "ListAliases"): "account_region",
    ("kms", "ListKeys"): "account_region",
    ("cloudtrail", "GetTrailStatus"): "trail",
    ("cloudtrail", "GetEventSelectors"): "trail",
    ("cloudtrail", "GetInsightSelectors"): "trail",
    ("cloudtrail", "ListTags"): "trail",
    ("kms", "DescribeKey"): "key",
    ("kms", "GetKeyPolicy"): "key",
    ("kms", "GetKeyRotationStatus"): "key",
    ("kms", "ListResourceTags"): "key",
}


# --- pure parts (unit-tested) ----------------------------------------------------------------------
def budget(accounts: int, regions: int, trails: int, buckets: int, keys: int) -> dict:
    """The API-call allowance, per term and in total."""
    terms = {
        "account_region": PER_ACCOUNT_REGION * accounts * regions,
        "trail": PER_TRAIL * trails,
        "bucket": PER_BUCKET * buckets,
        "key": PER_KEY * keys,
    }
    return {"terms": terms, "total": sum(terms.values())}


def term_of(service: str, operation: str) -> str:
    if (service, operation) in TERM_OF_OPERATION:
        return TERM_OF_OPERATION[(service, operation)]
    if service == "s3":
        return "bucket"
    return "other"


def calls_by_operation(api_calls: list[dict]) -> dict[str, int]:
    """``{"service:Operation": count}`` of recorded attempts (retries count: AWS sees them)."""
    counts = collections.Counter(f"{c['service']}:{c['operation']}" for c in api_calls)
    return dict(sorted(counts.items()))


def budget_check(by_operation: dict[str, int], accounts: int, regions: int, trails: int, buckets: int,
                 keys: int) -> dict:
    """Total calls vs the budget, plus a per-term breakdown naming the operations of a term over its share."""
    allowance = budget(accounts, regions, trails, buckets, keys)
    used = collections.Counter()
    ops_by_term: dict[str, dict[str, int]] = collections.defaultdict(dict)
    for name, count in by_operation.items():
        service, operation = name.split(":", 1)
        term = term_of(service, operation)
        used[term] += count
        ops_by_term[term][name] = count
    total = sum(by_operation.values())
    terms = {}
    for term in ("account_region", "trail", "bucket", "key", "other"):
        allowed = allowance["terms"].get(term, 0)
        terms[term] = {"calls": used.get(term, 0), "allowance": allowed, "over": used.get(term, 0) > allowed,
                       "operations": dict(sorted(ops_by_term.get(term, {}).items()))}
    return {
        "calls": total,
        "budget": allowance["total"],
        "ok": total <= allowance["total"],
        "formula": f"{accounts}x{regions} + {PER_TRAIL}x{trails} + {PER_BUCKET}x{buckets} + {PER_KEY}x{keys}",
        "terms": terms,
    }


def ratio(naive_seconds: float | None, ours_seconds: float) -> float | None:
    """How many times faster ours is than the naive way (None when the naive way did not run)."""
    if naive_seconds is None or ours_seconds <= 0:
        return None
    return round(naive_seconds / ours_seconds, 2)


def extrapolate(seconds: float, subset_units: int, full_units: int, fixed_seconds: float = 0.0) -> float:
    """Linear extrapolation of a subset's wall time to the full size (units: module calls): the fixed part
    (ansible start, AssumeRole) once, the rest in proportion to the resources."""
    if subset_units <= 0:
        raise ValueError("empty subset")
    fixed = min(max(0.0, fixed_seconds), seconds)
    return fixed + (seconds - fixed) * full_units / subset_units


def fixed_cost(point_a: tuple[int, float], point_b: tuple[int, float]) -> float:
    """The intercept of the line through two (units, seconds) runs; 0 when they do not give a usable line."""
    (u1, t1), (u2, t2) = sorted((point_a, point_b))
    if u2 == u1 or t2 <= t1:
        return 0.0
    slope = (t2 - t1) / (u2 - u1)
    return max(0.0, t1 - slope * u1)


def naive_fraction(full_units: int, seconds_per_unit: float, forks: int, hosts: int,
                   limit_seconds: float = NAIVE_TARGET_SECONDS) -> float:
    """The share of the naive work to run so that it stays under ``limit_seconds`` (1.0 = everything).

    The naive run is hosts in parallel (``forks`` at a time), each host's calls one after the other."""
    parallel = max(1, min(forks, hosts))
    estimate = full_units * seconds_per_unit / parallel
    if estimate <= limit_seconds:
        return 1.0
    return max(0.01, math.floor(100 * limit_seconds / estimate) / 100)


def _first_share(items: list, fraction: float) -> list:
    if fraction >= 1.0:
        return list(items)
    return list(items[: max(1, math.ceil(len(items) * fraction))]) if items else []


def naive_resources(manifest: dict, fraction: float = 1.0) -> dict[str, dict]:
    """Per account: the trails, keys and buckets the naive playbook reads (each sorted; the first
    ``fraction`` of each list when a subset is wanted; deterministic)."""
    out = {}
    for account in sorted(manifest["accounts"]):
        trails = sorted((t["arn"], t["home_region"]) for t in manifest["trails"] if t["account"] == account)
        keys = sorted((k["arn"], k["region"]) for k in manifest["keys"] if k["account"] == account)
        buckets = sorted((b["name"], b["region"]) for b in manifest["buckets"]
                         if b["account"] == account and b.get("exists", True))
        out[account] = {
            "trails": [{"arn": a, "region": r} for a, r in _first_share(trails, fraction)],
            "keys": [{"arn": a, "region": r} for a, r in _first_share(keys, fraction)],
            "buckets": [{"name": n, "region": r} for n, r in _first_share(buckets, fraction)],
        }
    return out


def resource_units(resources: dict[str, dict]) -> int:
    return sum(len(v["trails"]) + len(v["keys"]) + len(v["buckets"]) for v in resources.values())


def host_name(account: str) -> str:
    return f"acct-{account}"


def inventory_hosts(manifest: dict, main_account: str = "111111111111") -> dict[str, dict]:
    """One host per account: expected account id, regions, and the role to assume for other accounts."""
    hosts = {}
    for account, spec in sorted(manifest["accounts"].items()):
        host = {"trailguard_expected_account_id": account, "trailguard_regions": list(spec["regions"])}
        if account != main_account:
            host["trailguard_assume_role_arn"] = spec.get("role_arn") or f"arn:aws:iam::{account}:role/TrailGuardAudit"
        hosts[host_name(account)] = host
    return hosts


NAIVE_AUTH = {
    "access_key": "{{ naive_creds.access_key | default(omit) }}",
    "secret_key": "{{ naive_creds.secret_key | default(omit) }}",
    "session_token": "{{ naive_creds.session_token | default(omit) }}",
}
NAIVE_BUCKET_FACTS = {
    "bucket_policy": True, "bucket_acl": True, "bucket_encryption": True, "bucket_versioning": True,
    "bucket_ownership_controls": True, "bucket_request_payment": True, "bucket_lifecycle_configuration": True,
    "bucket_location": True,
}


def naive_playbook() -> list[dict]:
    """The inventory as someone would write it without this collection: one amazon.aws *_info module call
    per trail, key and bucket (loop items over per-host lists), hosts in parallel."""
    return [{
        "name": "Naive CloudTrail encryption inventory (amazon.aws info modules, one call per resource)",
        "hosts": "all",
        "connection": "local",
        "gather_facts": False,
        "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
        "tasks": [
            {"name": "Assume the account role", "amazon.aws.sts_assume_role": {
                "role_arn": "{{ trailguard_assume_role_arn }}", "role_session_name": "naive",
                "region": "us-east-1"},
             "register": "naive_assumed", "when": "trailguard_assume_role_arn is defined", "no_log": True},
            {"name": "Keep the credentials", "ansible.builtin.set_fact": {
                "naive_creds": "{{ naive_assumed.sts_creds if trailguard_assume_role_arn is defined else {} }}"},
             "no_log": True},
            {"name": "Read each trail", "amazon.aws.cloudtrail_info": {
                "trail_names": ["{{ item.arn }}"], "region": "{{ item.region }}", **NAIVE_AUTH},
             "loop": "{{ naive_trails }}", "loop_control": {"label": "{{ item.arn }}"}, "register": "naive_trail_info"},
            {"name": "Read each key", "amazon.aws.kms_key_info": {
                "key_id": "{{ item.arn }}", "region": "{{ item.region }}", "pending_deletion": True, **NAIVE_AUTH},
             "loop": "{{ naive_keys }}", "loop_control": {"label": "{{ item.arn }}"}, "register": "naive_key_info"},
            {"name": "Read each bucket", "amazon.aws.s3_bucket_info": {
                "name": "{{ item.name }}", "region": "{{ item.region }}", "bucket_facts": NAIVE_BUCKET_FACTS,
                **NAIVE_AUTH},
             "loop": "{{ naive_buckets }}", "loop_control": {"label": "{{ item.name }}"},
             "register": "naive_bucket_info"},
        ],
    }]


def naive_inventory_hosts(manifest: dict, resources: dict[str, dict], main_account: str = "111111111111") -> dict:
    hosts = {}
    for account, spec in sorted(manifest["accounts"].items()):
        res = resources.get(account) or {"trails": [], "keys": [], "buckets": []}
        host = {"naive_trails": res["trails"], "naive_keys": res["keys"], "naive_buckets": res["buckets"]}
        if account != main_account:
            host["trailguard_assume_role_arn"] = spec.get("role_arn") or f"arn:aws:iam::{account}:role/TrailGuardAudit"
        hosts[host_name(account)] = host
    return hosts


PROFILE_LINE = re.compile(r"^(?P<task>\S.*?) -{2,} (?P<seconds>\d+(?:\.\d+)?)s\s*$")


def parse_task_profile(log_text: str) -> list[tuple[str, float]]:
    """``[(task, seconds)]`` from ansible.posix.profile_tasks' summary at the end of a playbook log
    (slowest first, as printed; the per-task timestamps printed during the run are ignored)."""
    out = []
    for line in log_text.splitlines():
        m = PROFILE_LINE.match(line.rstrip())
        if m and not line.startswith("="):
            out.append((m.group("task").strip(), float(m.group("seconds"))))
    return out


def _fmt_s(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds:.1f} s"


def _profile_lines(profile, top: int = 5) -> list[str]:
    if not profile:
        return []
    lines = ["  slowest tasks (profile_tasks):"]
    for task, seconds in profile[:top]:
        lines.append(f"    {seconds:>8.2f} s  {task[:90]}")
    return lines


def format_report(fig: dict) -> str:
    """The human summary printed at the end (every number also in ``--json``)."""
    p = fig["params"]
    ours = fig["ours"]
    check = ours["budget_check"]
    lines = [
        f"TrailGuard assess benchmark ({fig['date']}, {fig['machine']['cpus']} CPUs, "
        f"load average before/after {fig['machine']['load_before']}/{fig['machine']['load_after']})",
        f"Estate: {p['accounts']} accounts x {p['regions']} regions, {fig['estate']['trails']} trails, "
        f"{fig['estate']['buckets']} buckets, {fig['estate']['keys']} keys "
        f"(built in {_fmt_s(fig['estate']['build_seconds'])})",
        f"Simulated AWS round trip: {fig.get('aws_latency_ms', 0):g} ms per call, for both runs",
        "",
        "Ours (trailguard.cloudtrail_cmk.assess playbook):",
        f"  wall time                 {_fmt_s(ours['wall_seconds'])} (rc {ours['rc']}, forks {fig['forks']})",
        f"  inventory per account     max {_fmt_s(ours['inventory_seconds_max'])}, "
        f"mean {_fmt_s(ours['inventory_seconds_mean'])}",
        f"  ansible + report overhead {_fmt_s(ours['overhead_seconds'])} (wall - slowest account's inventory)",
        f"  API calls                 {check['calls']} total, {ours['calls_per_trail']:.2f} per trail",
        f"  budget                    {check['formula']} = {check['budget']} -> "
        + ("OK" if check["ok"] else "OVER BUDGET"),
    ]
    for term, t in check["terms"].items():
        if not t["calls"] and not t["allowance"]:
            continue
        mark = "  <- over its share" if t["over"] else ""
        lines.append(f"    {term:<15} {t['calls']:>6} calls / {t['allowance']:>6} allowed{mark}")
        if t["over"]:
            for name, count in sorted(t["operations"].items(), key=lambda kv: -kv[1]):
                lines.append(f"      {name:<40} {count}")
    lines += _profile_lines(ours.get("task_profile"))
    naive = fig.get("naive")
    lines.append("")
    if not naive:
        lines.append("Naive way: not run (--no-naive)")
    else:
        lines.append("Naive way (amazon.aws cloudtrail_info / kms_key_info / s3_bucket_info, one call per resource):")
        if naive["extrapolated"]:
            lines.append(
                f"  measured on a deterministic subset: {naive['subset_units']} of {naive['full_units']} resources "
                f"(first {naive['fraction']:.0%} of each account's trails, keys, buckets by name)")
            lines.append(f"  subset wall time          {_fmt_s(naive['measured_seconds'])}")
            lines.append(f"  wall time (EXTRAPOLATED)  {_fmt_s(naive['wall_seconds'])} (linear in resources; "
                         f"fixed part {_fmt_s(naive['fixed_seconds'])} counted once)")
        else:
            lines.append(f"  wall time                 {_fmt_s(naive['wall_seconds'])} "
                         f"({naive['full_units']} resources)")
        lines.append(f"  module calls per second   {naive['units_per_second']:.2f}; "
                     f"AWS calls served {naive['lab_calls']}")
        lines.append(f"  rc                        {naive['rc']}")
        lines += _profile_lines(naive.get("task_profile"))
        r = fig.get("ratio")
        verdict = "meets" if r is not None and r >= TARGET_RATIO else "MISSES"
        lines.append("")
        lines.append(f"Ratio: ours is {r}x faster than the naive way"
                     f"{' (extrapolated)' if naive['extrapolated'] else ''}; {verdict} the {TARGET_RATIO:g}x target")
    return "\n".join(lines)


# --- the run -------------------------------------------------------------------------------------------
def _setup_paths() -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "tests"), os.environ.get("PYTHONPATH")) if p)
    from paths import collections_dir

    base = collections_dir()
    os.environ["ANSIBLE_COLLECTIONS_PATH"] = str(base)
    return base


def _ansible_env(endpoint_url: str, collections: Path, tmp: Path, forks: int) -> dict:
    from lab.server import environment

    env = dict(os.environ)
    env.update(environment(endpoint_url))
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": str(collections),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_LOCAL_TEMP": str(tmp / ".ansible-tmp"),
        "ANSIBLE_REMOTE_TEMP": str(tmp / ".ansible-tmp"),
        "ANSIBLE_FORKS": str(forks),
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
        # Per-task times at the end of each log: where the wall time goes.
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
        "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "12",
        "PATH": f"{VENV_BIN}:{env.get('PATH', '')}",
    })
    return env


def _run(cmd: list[str], env: dict, log: Path) -> tuple[int, float]:
    started = time.monotonic()
    with log.open("w") as fh:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, check=False)
    return proc.returncode, time.monotonic() - started


def _write_yaml(path: Path, data) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(data, sort_keys=False, width=200))
    return path


def run_ours(server, manifest: dict, work: Path, env: dict) -> dict:
    out = work / "ours"
    out.mkdir(parents=True, exist_ok=True)
    inventory = _write_yaml(work / "inventory.yml", {"all": {"hosts": inventory_hosts(manifest)}})
    vars_file = work / "ours-vars.json"
    vars_file.write_text(json.dumps({"trailguard_output_dir": str(out)}))
    server.control.reset_counters()
    rc, wall = _run([str(VENV_BIN / "ansible-playbook"), "trailguard.cloudtrail_cmk.assess", "-i", str(inventory),
                     "-e", f"@{vars_file}"], env, work / "ours.log")
    lab_calls = sum(server.control.calls().values())
    api_calls, durations, per_account = [], {}, {}
    for account in sorted(manifest["accounts"]):
        adir = out / "assess" / account
        if not (adir / "summary.json").exists():
            continue
        summary = json.loads((adir / "summary.json").read_text())
        calls = json.loads((adir / "api_calls.json").read_text())
        api_calls += calls
        durations[account] = summary.get("duration_seconds")
        per_account[account] = {"duration_seconds": summary.get("duration_seconds"), "api_calls": len(calls),
                                "trails": summary.get("trails")}
    return {"rc": rc, "wall_seconds": round(wall, 2), "out_dir": str(out), "api_calls": api_calls,
            "task_profile": parse_task_profile((work / "ours.log").read_text(errors="replace")),
            "durations": durations, "per_account": per_account, "lab_calls": lab_calls,
            "accounts_assessed": len(durations)}


def run_naive(server, manifest: dict, resources: dict, work: Path, env: dict, tag: str) -> dict:
    inventory = _write_yaml(work / f"naive-{tag}-inventory.yml",
                            {"all": {"hosts": naive_inventory_hosts(manifest, resources)}})
    playbook = _write_yaml(work / "naive.yml", naive_playbook())
    server.control.reset_counters()
    rc, wall = _run([str(VENV_BIN / "ansible-playbook"), str(playbook), "-i", str(inventory)], env,
                    work / f"naive-{tag}.log")
    return {"rc": rc, "wall_seconds": round(wall, 2), "units": resource_units(resources),
            "task_profile": parse_task_profile((work / f"naive-{tag}.log").read_text(errors="replace")),
            "lab_calls": sum(server.control.calls().values())}


def naive_phase(server, manifest, work, env, forks, fraction, limit) -> dict:
    full = naive_resources(manifest)
    full_units = resource_units(full)
    calibration = None
    if not fraction:
        # Calibrate on a small deterministic subset, then decide whether the full run fits the limit.
        cal_fraction = min(1.0, max(0.02, 10 * len(full) / max(1, full_units)))
        cal_res = naive_resources(manifest, cal_fraction)
        tag = "full" if cal_fraction >= 1.0 else "calibration"
        print(f"Naive way: {'running' if tag == 'full' else 'calibrating'} on {resource_units(cal_res)} "
              f"of {full_units} resources ...", flush=True)
        calibration = run_naive(server, manifest, cal_res, work, env, tag)
        calibration["fraction"] = cal_fraction
        if cal_fraction >= 1.0:
            fraction = 1.0
        else:
            per_unit = calibration["wall_seconds"] * min(forks, len(full)) / max(1, calibration["units"])
            fraction = naive_fraction(full_units, per_unit, forks, len(full), limit)
    resources = naive_resources(manifest, fraction)
    units = resource_units(resources)
    if calibration is not None and calibration["units"] == units:
        naive = calibration
    else:
        print(f"Naive way: running on {units} of {full_units} resources ...", flush=True)
        naive = run_naive(server, manifest, resources, work, env, "full" if units == full_units else "subset")
    extrapolated = units != full_units
    fixed = 0.0
    if extrapolated and calibration is not None and calibration["units"] != units:
        fixed = fixed_cost((calibration["units"], calibration["wall_seconds"]), (units, naive["wall_seconds"]))
    wall = extrapolate(naive["wall_seconds"], units, full_units, fixed) if extrapolated else naive["wall_seconds"]
    return {
        "rc": naive["rc"], "extrapolated": extrapolated, "fraction": fraction, "subset_units": units,
        "full_units": full_units, "measured_seconds": naive["wall_seconds"], "wall_seconds": round(wall, 2),
        "fixed_seconds": round(fixed, 2), "units_per_second": units / max(naive["wall_seconds"], 1e-9),
        "lab_calls": naive["lab_calls"], "calibration": calibration if calibration is not naive else None,
        "task_profile": naive["task_profile"],
        "logs": str(work / "naive-*.log"),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=10)
    ap.add_argument("--regions", type=int, default=4)
    ap.add_argument("--trails", type=int, default=500)
    ap.add_argument("--trails-per-bucket", type=int, default=5)
    ap.add_argument("--trails-per-key", type=int, default=10)
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--roles-per-account", type=int, default=20,
                    help="IAM roles per account (log readers with and without kms:Decrypt, admins, applications)")
    ap.add_argument("--forks", type=int, default=0,
                    help="ansible forks for both runs (default: one per account, max 10)")
    ap.add_argument("--no-naive", action="store_true", help="skip the naive playbook")
    ap.add_argument("--aws-latency-ms", type=float, default=50.0,
                    help="round-trip time the lab adds to every AWS call for both runs, as a real endpoint has "
                         "(default 50 ms; 0 measures the lab's own speed, which serialises every request)")
    ap.add_argument("--naive-fraction", type=float, default=0.0,
                    help="run the naive way on this share of each account's resources and extrapolate "
                         "(default: decided from a calibration run so the naive run stays under ~15 min)")
    ap.add_argument("--naive-limit", type=float, default=NAIVE_TARGET_SECONDS,
                    help="seconds the naive run may take before a subset is used (default 900)")
    ap.add_argument("--work-dir", type=Path, default=None, help="keep logs and outputs here (default: a temp dir)")
    ap.add_argument("--json", type=Path, default=None, help="write the figures to this file")
    args = ap.parse_args(argv)

    collections = _setup_paths()
    import lab

    forks = args.forks or max(1, min(10, args.accounts))
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="trailguard-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    load_before = round(os.getloadavg()[0], 2)
    params = {"accounts": args.accounts, "regions": args.regions, "trails": args.trails,
              "trails_per_bucket": args.trails_per_bucket, "trails_per_key": args.trails_per_key, "seed": args.seed,
              "roles_per_account": args.roles_per_account}
    print(f"Building the bench estate {params} ...", flush=True)
    t0 = time.monotonic()
    with lab.LabServer(estate="bench", estate_params=params) as server:
        build_seconds = round(time.monotonic() - t0, 2)
        manifest = server.manifest
        env = _ansible_env(server.endpoint_url, collections, work, forks)
        if args.aws_latency_ms > 0:
            # Outside the lab's global lock: parallel callers overlap their waits, as they do against AWS.
            server.control.inject("*", "*", latency=args.aws_latency_ms / 1000.0, count=-1)
        n_trails, n_buckets, n_keys = len(manifest["trails"]), len(manifest["buckets"]), len(manifest["keys"])
        n_regions = len(next(iter(manifest["accounts"].values()))["regions"])
        print(f"Estate built in {build_seconds} s: {n_trails} trails, {n_buckets} buckets, {n_keys} keys. "
              "Running the assess playbook ...", flush=True)
        ours = run_ours(server, manifest, work, env)
        by_op = calls_by_operation(ours["api_calls"])
        check = budget_check(by_op, len(manifest["accounts"]), n_regions, n_trails, n_buckets, n_keys)
        durations = [d for d in ours["durations"].values() if d is not None]
        slowest = max(durations) if durations else 0.0
        ours_fig = {
            "rc": ours["rc"], "wall_seconds": ours["wall_seconds"], "accounts_assessed": ours["accounts_assessed"],
            "inventory_seconds": ours["durations"],
            "inventory_seconds_max": slowest,
            "inventory_seconds_mean": round(sum(durations) / len(durations), 3) if durations else None,
            "overhead_seconds": round(ours["wall_seconds"] - slowest, 2),
            "calls_per_trail": check["calls"] / max(1, n_trails),
            "calls_by_operation": by_op, "budget_check": check, "per_account": ours["per_account"],
            "lab_calls_including_session": ours["lab_calls"], "log": str(work / "ours.log"),
            "task_profile": ours["task_profile"],
            "out_dir": ours["out_dir"],
        }
        print(f"Ours: {ours['wall_seconds']} s, {check['calls']} API calls (budget {check['budget']}).", flush=True)

        naive_fig = None
        if not args.no_naive:
            naive_fig = naive_phase(server, manifest, work, env, forks, args.naive_fraction, args.naive_limit)
    load_after = round(os.getloadavg()[0], 2)
    figures = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_before": load_before, "load_after": load_after},
        "params": params, "forks": forks, "work_dir": str(work), "aws_latency_ms": args.aws_latency_ms,
        "estate": {"trails": n_trails, "buckets": n_buckets, "keys": n_keys, "build_seconds": build_seconds,
                   "accounts": len(manifest["accounts"]), "regions": n_regions},
        "ours": ours_fig, "naive": naive_fig,
        "ratio": ratio(naive_fig["wall_seconds"], ours_fig["wall_seconds"]) if naive_fig else None,
    }
    print()
    print(format_report(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
        print(f"\nFigures written to {args.json}")
    print(f"Logs and outputs: {work}")
    if ours["rc"] != 0 or ours["accounts_assessed"] != len(manifest["accounts"]):
        print(f"ERROR: the assess playbook failed (rc {ours['rc']}); see {work / 'ours.log'}", file=sys.stderr)
        return 2
    if not check["ok"]:
        print("ERROR: API calls over budget", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
