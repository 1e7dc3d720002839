#!/usr/bin/env python
"""Fill assess/approvals.template.yml as a named demo approver and sign it (for `make demo` and the tests).

  demo_approvals.py OUT_DIR [--approver demo.approver@example.com] [--create-key TRAIL_NAME ...]
                    [--unsigned] [--output FILE]

Reads OUT_DIR/assess/approvals.template.yml and OUT_DIR/assess/assessment.json. For every listed trail of
accounts 111111111111 and 222222222222 (the demo estate) that is fixable, it approves the recommended action
(``use_existing_key`` with the recommended key, or ``create_key``); with ``--create-key NAME`` that trail gets
a new key ``alias/trailguard-<name>`` instead. Policy changes are approved exactly where the assessment says
they are needed (key not suitable for the trail, log readers that need kms:Decrypt, a bucket policy that blocks
CloudTrail), the constraints allow them, organization trails stay untouched, and the record accepts exactly
the impacts the approved trails imply. Every other trail is deferred with the reason.

Writes OUT_DIR/approvals.yml (signed with a throwaway ed25519 key, OUT_DIR/demo-approver/id_ed25519) and
OUT_DIR/allowed_signers, and prints the ansible-playbook command to apply it. Never for production use: the
key is generated on the spot and kept next to the record.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEMO_ACCOUNTS = ("111111111111", "222222222222")
# Findings a key change cannot fix (the trail cannot deliver either way): defer those trails.
NOT_FIXABLE = {
    "BUCKET_NOT_FOUND": "the trail's bucket does not exist: fix delivery first",
    "BUCKET_REQUESTER_PAYS": "the bucket has Requester Pays on: CloudTrail cannot deliver until it is turned off",
    "BUCKET_CROSS_ACCOUNT": "the bucket belongs to another account: its owner must approve the bucket policy",
    "ORG_TRAIL_NOT_MANAGEABLE_HERE": "organization trail seen from a member account",
}
BUCKET_POLICY_FINDINGS = {"BUCKET_POLICY_DENIES_CLOUDTRAIL", "BUCKET_POLICY_BLOCKS_KMS"}


def _load_consent():
    spec = importlib.util.spec_from_file_location("trailguard_consent_utils", ROOT / "plugins/module_utils/_consent.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _index(assessment):
    trails, keys = {}, {}
    for account in assessment["accounts"].values():
        for trail in account.get("trails") or []:
            if trail.get("classification", "owned") == "owned":
                trails.setdefault(trail["arn"], trail)
        for key in account.get("keys") or []:
            keys[key["arn"]] = key
    return trails, keys


def decide(entry, trail, keys, create_key_for):
    """The approved entry for one template entry (a new dict)."""
    arn = entry["trail_arn"]
    codes = {f.get("code") for f in trail.get("findings") or []}
    recommended = trail.get("recommended_action") or {}
    action = recommended.get("action")
    blocked = sorted(c for c in codes if c in NOT_FIXABLE)
    if trail.get("account_id") not in DEMO_ACCOUNTS:
        return {"trail_arn": arn, "action": "defer", "comment": "not a demo account"}
    if trail.get("is_organization_trail"):
        return {"trail_arn": arn, "action": "defer", "comment": "organization trail: not approved in the demo"}
    if blocked:
        return {"trail_arn": arn, "action": "defer", "comment": NOT_FIXABLE[blocked[0]]}
    if trail.get("name") in create_key_for:
        action = "create_key"
    if action not in ("use_existing_key", "create_key"):
        return {"trail_arn": arn, "action": "defer", "comment": recommended.get("reason") or "no recommendation"}
    need = trail.get("log_readers_need_decrypt", trail.get("log_readers"))
    readers = sorted(need or []) if "READERS_NEED_DECRYPT" in codes else []
    out = {"trail_arn": arn, "action": action}
    if action == "use_existing_key":
        key_arn = recommended.get("key_arn") or entry.get("key_arn")
        key = keys.get(key_arn) or {}
        out["key_arn"] = key_arn
        # The demo approver lets TrailGuard add its own statements to the key policy whenever CloudTrail needs
        # them (the apply role refuses a needed change otherwise); other statements are never touched.
        out["may_change_key_policy"] = bool(key) or bool(readers)
    else:
        name = "".join(c if c.isalnum() or c in "-_" else "-" for c in trail["name"])
        out["create_key"] = {
            "alias": f"alias/trailguard-{name}",
            "description": f"CloudTrail logs of {trail['name']} (TrailGuard demo)",
            "tags": {"owner": "security", "purpose": "cloudtrail"},
            "rotation": True,
            "rotation_period_days": 365,
            "multi_region": False,
        }
    if readers:
        out["readers"] = readers
    out["may_change_bucket_policy"] = bool(codes & BUCKET_POLICY_FINDINGS)
    out["may_resolve_default_encryption"] = False
    out["comment"] = f"demo: {action} ({', '.join(sorted(codes)) or 'no findings'})"
    return out


def build_record(out_dir, approver, create_key_for=(), now=None):
    """The filled (unsigned) approvals vars: {"trailguard_consent": {...}}."""
    consent = _load_consent()
    assess = Path(out_dir) / "assess"
    template = yaml.safe_load((assess / "approvals.template.yml").read_text())
    raw = (assess / "assessment.json").read_bytes()
    assessment = json.loads(raw)
    trails, keys = _index(assessment)
    now = now or dt.datetime.now(dt.UTC).replace(microsecond=0)
    record = dict(template["trailguard_consent"])
    entries = []
    for entry in record.get("trails") or []:
        trail = trails.get(entry["trail_arn"])
        if trail is None:
            entries.append({"trail_arn": entry["trail_arn"], "action": "defer", "comment": "not owned here"})
        else:
            entries.append(decide(entry, trail, keys, set(create_key_for)))
    approved = [e for e in entries if e["action"] != "defer"]
    record.update(
        approved_by=approver,
        approved_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        expires_at=(now + dt.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        change_ticket="DEMO-0001",
        comment="TrailGuard demo: move the demo estate's fixable trails onto customer-managed keys.",
        constraints={
            "modify_organization_trails": False,
            "allow_key_policy_changes": any(e.get("may_change_key_policy") for e in approved),
            "allow_bucket_policy_changes": any(e.get("may_change_bucket_policy") for e in approved),
        },
        accepted_impacts=list(consent.IMPACTS),
        trails=entries,
    )
    data = {"trailguard_consent": record}
    # Accept exactly the impacts the approved trails imply (the plan says which).
    plan = consent.approved_changes(data, raw, now=now + dt.timedelta(seconds=1))
    implied = {impact for item in plan for impact in item["impacts"]}
    record["accepted_impacts"] = [i for i in consent.IMPACTS if i in implied]
    consent.approved_changes(data, raw, now=now + dt.timedelta(seconds=1))  # still valid
    return data


def make_signer(out_dir, approver):
    """A throwaway ed25519 key and the allowed_signers file naming the approver."""
    key_dir = Path(out_dir) / "demo-approver"
    key_dir.mkdir(parents=True, exist_ok=True)
    key = key_dir / "id_ed25519"
    if not key.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", approver, "-f", str(key)],
            check=True,
            capture_output=True,
        )
    public = (key_dir / "id_ed25519.pub").read_text().split()
    allowed = Path(out_dir) / "allowed_signers"
    allowed.write_text(f'{approver} namespaces="trailguard-consent" {public[0]} {public[1]}\n')
    return key, allowed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("out_dir", help="trailguard_output_dir of the assess run")
    parser.add_argument("--approver", default="demo.approver@example.com")
    parser.add_argument(
        "--create-key",
        action="append",
        default=[],
        metavar="TRAIL_NAME",
        help="approve create_key for this trail instead of the recommendation",
    )
    parser.add_argument("--unsigned", action="store_true", help="do not sign")
    parser.add_argument("--output", help="default: OUT_DIR/approvals.yml")
    args = parser.parse_args(argv)
    out_dir = Path(args.out_dir)
    output = Path(args.output) if args.output else out_dir / "approvals.yml"
    data = build_record(out_dir, args.approver, args.create_key)
    output.write_text("---\n" + yaml.safe_dump(data, sort_keys=False, width=200))
    record = data["trailguard_consent"]
    approved = [t for t in record["trails"] if t["action"] != "defer"]
    print(f"{output}: {len(approved)} trail(s) approved, {len(record['trails']) - len(approved)} deferred")
    extra = ""
    if not args.unsigned:
        key, allowed = make_signer(out_dir, args.approver)
        subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "consent_sign.py"), "sign", "-k", str(key), str(output)],
            check=True,
        )
        extra = f" -e trailguard_require_signed_consent=true -e trailguard_allowed_signers_file={allowed.resolve()}"
    print(
        f"apply: ansible-playbook trailguard.cloudtrail_cmk.apply -e @{output} "
        f"-e trailguard_output_dir={out_dir.resolve()}{extra} [-i accounts.yml] [--check --diff]"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
