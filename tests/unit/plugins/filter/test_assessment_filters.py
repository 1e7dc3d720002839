"""Tests for plugins/filter/assessment.py: the document and its rendered outputs (the role's real templates)."""

import hashlib
import json

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.trailguard.cloudtrail_cmk.plugins.filter import assessment as assessment_filters
from paths import ROOT

FILTERS = assessment_filters.FilterModule().filters()
TEMPLATES = ROOT / "roles" / "assess" / "templates"
A = "111111111111"
SIEM = "arn:aws:iam::222222222222:role/Siem"
PIPELINE = f"arn:aws:iam::{A}:role/Pipeline"


def trail(name, compliance="non_compliant", action="create_key", findings=(), readers=None):
    return {
        "name": name, "arn": f"arn:aws:cloudtrail:us-east-1:{A}:trail/{name}", "account_id": A,
        "home_region": "us-east-1", "classification": "owned", "actionable": True,
        "is_multi_region_trail": False, "is_organization_trail": False, "s3_bucket_name": "logs <b>",
        "s3_key_prefix": "", "kms_key_id": None, "kms_key_arn": None, "is_logging": True,
        "compliance": compliance,
        "recommended_action": {"action": action, "key_arn": None, "region": "us-east-1", "reason": "why"},
        "findings": [{"code": c, "severity": "high", "message": f"{c} <msg>", "remediation": "fix it",
                      "statement": None} for c in findings],
        "log_readers": sorted(readers or {}), "log_reader_sources": readers or {},
        "log_readers_need_decrypt": [SIEM] if readers else [],
    }  # fmt: skip


def document(iam_read=True):
    trails = [
        trail("bad trail/1", findings=["TRAIL_NO_KMS_KEY", "READERS_NEED_DECRYPT"],
              readers={SIEM: ["bucket_policy"], PIPELINE: ["iam"]}),
        trail("good", compliance="compliant", action="none"),
    ]  # fmt: skip
    facts = {"account_id": A, "partition": "aws", "trails": trails, "buckets": [], "keys": [], "findings": [],
             "summary": {}, "iam": {"read": iam_read, "principals": 3, "read_errors": [] if iam_read else
                                    [{"code": "AccessDenied"}], "log_readers": [PIPELINE]}}  # fmt: skip
    return FILTERS["assessment_document"]([facts], "2026-11-22T00:00:00Z", [], {"acct": A})


def test_outputs_are_the_exact_document_bytes_and_their_digest():
    doc = document()
    out = FILTERS["assessment_outputs"](doc, str(TEMPLATES))
    assert list(out["files"]) == list(assessment_filters.OUTPUT_FILES)
    text = out["files"]["assessment.json"]
    assert json.loads(text) == doc and text.endswith("}\n")
    assert out["digest"] == hashlib.sha256(text.encode()).hexdigest()
    assert out["files"]["assessment.json.sha256"] == f"{out['digest']}  assessment.json\n"
    assert out["summary"]["trails"] == 2 and out["failed_hosts"] == []


def test_approvals_template_is_valid_yaml_quoting_the_digest_and_defaulting_to_defer():
    out = FILTERS["assessment_outputs"](document(), str(TEMPLATES))
    consent = yaml.safe_load(out["files"]["approvals.template.yml"])["trailguard_consent"]
    assert consent["assessment_digest"] == out["digest"]
    assert [t["action"] for t in consent["trails"]] == ["defer"]  # the compliant trail is not listed
    assert "alias: alias/cloudtrail-bad-trail/1" in out["files"]["approvals.template.yml"]  # regex_replace
    text = out["files"]["approvals.template.yml"]
    # only the readers the recommended key would lock out (the pipeline keeps access through IAM)
    assert f"would lose access without kms:Decrypt (approve them as readers): {SIEM}\n" in text


def test_reports_name_readers_and_escape_html():
    out = FILTERS["assessment_outputs"](document(), str(TEMPLATES))
    md, html = out["files"]["report.md"], out["files"]["report.html"]
    assert f"`{PIPELINE}` (via IAM policy)" in md and f"`{SIEM}` (via bucket policy)" in md
    assert "READERS_NEED_DECRYPT" in md and "IAM not read" not in md
    assert "logs &lt;b&gt;" in html and "logs <b>" not in html
    assert "TRAIL_NO_KMS_KEY &lt;msg&gt;" in html


def test_reports_warn_when_iam_was_not_read():
    out = FILTERS["assessment_outputs"](document(iam_read=False), str(TEMPLATES))
    assert "**IAM not read** (AccessDenied)" in out["files"]["report.md"]
    assert "<strong>IAM not read</strong> (AccessDenied)" in out["files"]["report.html"]


def test_bad_input_and_template_errors_are_named(tmp_path):
    with pytest.raises(AnsibleFilterError, match="expects the document"):
        FILTERS["assessment_outputs"]({"not": "a document"}, str(TEMPLATES))
    with pytest.raises(AnsibleFilterError, match="no templates directory"):
        FILTERS["assessment_outputs"](document(), str(tmp_path / "missing"))
    for name in assessment_filters.TEMPLATES:
        (tmp_path / f"{name}.j2").write_text("{{ __trailguard_assessment.no_such_field.x }}")
    with pytest.raises(AnsibleFilterError, match=r"rendering report.md.j2 failed"):
        FILTERS["assessment_outputs"](document(), str(tmp_path))
