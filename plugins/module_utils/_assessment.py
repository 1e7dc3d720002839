# -*- coding: utf-8 -*-
# Copyright: trailguard.cloudtrail_cmk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private: build ``assess/assessment.json`` from the per-account facts. May change without notice.

Pure Python: the assess role calls it through the ``assessment_document`` filter once per run, with the
``cloudtrail_cmk`` facts of every account (inventory host) that was assessed.
"""

from __future__ import annotations

import json
import os

SCHEMA_VERSION = 1

# Per-account keys that go into the combined document. ``api_calls`` stays in the per-account file:
# it is evidence of how the inventory was made, not part of what an approver approves.
ACCOUNT_KEYS = (
    "account_id",
    "partition",
    "organization_id",
    "regions",
    "generated_at",
    "trails",
    "buckets",
    "keys",
    "trail_bucket_map",
    "findings",
    "iam",
    "summary",
)


# The per-account files of ``assess/<account_id>/`` (each a key of the cloudtrail_cmk facts).
ACCOUNT_FILES = ("trails", "buckets", "keys", "trail_bucket_map", "findings", "summary", "api_calls")


def account_file_text(value):
    """The bytes the assess outputs are made of: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_account_files(facts, output_dir):
    """Write ``<output_dir>/<account_id>/<name>.json`` for every ACCOUNT_FILES entry; return the paths.

    Each file is written to a temporary name and renamed, so a reader never sees half a file.
    """
    directory = os.path.join(output_dir, str(facts["account_id"]))
    os.makedirs(directory, mode=0o750, exist_ok=True)
    paths = []
    for name in ACCOUNT_FILES:
        path = os.path.join(directory, name + ".json")
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(account_file_text(facts.get(name)))
        os.chmod(tmp, 0o640)
        os.replace(tmp, path)
        paths.append(path)
    return paths


class AssessmentError(ValueError):
    """The per-account facts cannot be combined (for example two hosts assessed the same account)."""


def _count(values):
    out = {}
    for value in values:
        out[value] = out.get(value, 0) + 1
    return dict(sorted(out.items()))


def build_document(facts_list, generated_at, failed_hosts=(), host_accounts=None):
    """Combine the facts of every assessed account.

    ``host_accounts`` maps inventory host names to account ids (for the report); ``failed_hosts`` names
    the hosts whose assessment did not finish, so the document says which accounts it does not cover.
    """
    accounts = {}
    for facts in facts_list:
        if not isinstance(facts, dict) or not facts.get("account_id"):
            raise AssessmentError("every host must provide the cloudtrail_cmk facts with an account_id")
        account_id = str(facts["account_id"])
        if account_id in accounts:
            raise AssessmentError(
                f"account {account_id} was assessed by more than one inventory host: give each account exactly one host"
            )
        accounts[account_id] = {k: facts.get(k) for k in ACCOUNT_KEYS}
    trails = [t for a in accounts.values() for t in a.get("trails") or []]
    findings = [f for a in accounts.values() for f in a.get("findings") or []]
    actionable = [t for t in trails if t.get("actionable")]
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": generated_at,
        "generator": "trailguard.cloudtrail_cmk.assess",
        "hosts": dict(sorted((host_accounts or {}).items())),
        "failed_hosts": sorted(failed_hosts),
        "accounts": dict(sorted(accounts.items())),
        "summary": {
            "accounts": len(accounts),
            "trails": len(trails),
            "actionable_trails": len(actionable),
            "compliant": sum(1 for t in trails if t.get("compliance") == "compliant"),
            "non_compliant": sum(1 for t in trails if t.get("compliance") == "non_compliant"),
            "recommended_actions": _count(
                (t.get("recommended_action") or {}).get("action", "defer")
                for t in trails
                if t.get("compliance") != "compliant"
            ),
            "findings_by_code": _count(f.get("code") for f in findings),
            "findings_by_severity": _count(f.get("severity") for f in findings),
        },
    }


def approval_candidates(document):
    """The trails an approvals template lists: non-compliant ones, each with its recommended action."""
    out = []
    for account_id, account in sorted((document.get("accounts") or {}).items()):
        for trail in account.get("trails") or []:
            if trail.get("compliance") == "compliant" or trail.get("classification", "owned") != "owned":
                continue
            action = trail.get("recommended_action") or {}
            out.append(
                {
                    "account_id": account_id,
                    "trail_arn": trail["arn"],
                    "trail_name": trail.get("name"),
                    "is_organization_trail": bool(trail.get("is_organization_trail")),
                    "recommended_action": action.get("action", "defer"),
                    "recommended_key_arn": action.get("key_arn"),
                    "recommended_region": action.get("region"),
                    "reason": action.get("reason", ""),
                    "finding_codes": sorted({f.get("code") for f in trail.get("findings") or []}),
                    "log_readers": trail.get("log_readers") or [],
                    "readers_need_decrypt": trail.get("log_readers_need_decrypt", trail.get("log_readers")) or [],
                }
            )
    return out
