"""`make demo`: the whole flow against the local AWS lab, no AWS account needed.

Starts the lab with the demo estate (two accounts, two regions, a trail for every problem the
assessment reports) and its log-delivery loop, then runs the collection's real playbooks:
assess -> approvals (filled and signed as a named demo approver) -> apply -> verify, prints a short
summary and the report paths under out/, and stops the lab (unless --keep-lab).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from paths import setup_sys_path  # noqa: E402

setup_sys_path()

import lab  # noqa: E402
from integration.playbooks import run_playbook, two_account_inventory  # noqa: E402


def step(title: str) -> float:
    print(f"\n== {title}", flush=True)
    return time.monotonic()


def done(started: float, run=None) -> None:
    if run is not None and run.rc != 0:
        print(run.output[-6000:])
        print(f"   failed (exit {run.rc}) after {time.monotonic() - started:.0f}s")
    else:
        print(f"   done in {time.monotonic() - started:.0f}s", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "out"), help="output directory (default: out/)")
    parser.add_argument("--keep-lab", action="store_true", help="leave the lab running at the end (Ctrl-C stops it)")
    parser.add_argument("--delivery-interval", type=float, default=3.0, help="seconds between lab log deliveries")
    parser.add_argument("--list-only", action="store_true", help="only start the lab, list its trails and stop")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)

    started = step("Starting the local AWS lab with the demo estate")
    with lab.LabServer(estate="demo", delivery_interval=args.delivery_interval) as server:
        done(started)
        manifest = server.manifest
        counts = f"{len(manifest['trails'])} trails in {len(manifest['accounts'])} accounts"
        print(f"   endpoint {server.endpoint_url}; {counts}")
        for trail in manifest["trails"]:
            problems = ", ".join(trail["problems"]) or "no problem"
            print(f"   - {trail['account']} {trail['home_region']:<10} {trail['name']:<32} {problems}")
        if args.list_only:
            return 0
        inventory = two_account_inventory(out)
        wait = {"trailguard_verify_wait_timeout": 90, "trailguard_verify_poll_interval": 3}

        started = step("assess: ansible-playbook trailguard.cloudtrail_cmk.assess")
        run = run_playbook("assess", server, out, inventory=inventory)
        done(started, run)
        if run.rc != 0:
            return run.rc

        started = step("approvals: the demo approver fills and signs the approvals template")
        proc = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "demo_approvals.py"), str(out)],
            capture_output=True, text=True, check=False,
        )
        print("   " + (proc.stdout.strip() or proc.stderr.strip()).replace("\n", "\n   "))
        done(started)
        if proc.returncode != 0:
            return proc.returncode
        consent = {
            "trailguard_require_signed_consent": True,
            "trailguard_allowed_signers_file": str(out / "allowed_signers"),
        }
        approvals = ["-e", f"@{out / 'approvals.yml'}"]

        started = step("apply: ansible-playbook trailguard.cloudtrail_cmk.apply -e @approvals.yml")
        run = run_playbook("apply", server, out, inventory=inventory, extra_vars=consent, extra_args=approvals)
        done(started, run)
        apply_rc = run.rc

        started = step("verify: ansible-playbook trailguard.cloudtrail_cmk.verify")
        run = run_playbook("verify", server, out, inventory=inventory, extra_vars=wait)
        done(started, run)
        verify_rc = run.rc

        assessment = json.loads((out / "assess" / "assessment.json").read_text())
        applied = json.loads((out / "apply" / "summary.json").read_text())
        verified = json.loads((out / "verify" / "verification.json").read_text())
        print("\n== Summary")
        print(f"   trails assessed:       {assessment['summary']['trails']}")
        print(f"   non-compliant:         {assessment['summary']['non_compliant']}")
        print(f"   approved and changed:  {applied['counts'].get('changed', 0)}"
              f" (unchanged {applied['counts'].get('unchanged', 0)}, failed {applied['counts'].get('failed', 0)})")
        print(f"   deferred:              {applied['counts'].get('deferred', 0)}")
        print(f"   verified:              {verified['summary'].get('verified', 0)}"
              f" (failed {verified['summary'].get('failed', 0)}, pending {verified['summary'].get('pending', 0)})")
        print("\n   Reports:")
        for phase in ("assess", "apply", "verify"):
            print(f"   - {out / phase / 'report.html'}")
        if args.keep_lab:
            print(f"\n   The lab keeps running at {server.endpoint_url} (Ctrl-C stops it).")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    return apply_rc or verify_rc


if __name__ == "__main__":
    sys.exit(main())
