"""Tests for plugins/filter/consent.py: in Python and through a real ansible-playbook run, which also
runs the signature-verification snippet documented in docs/consent.md."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.trailguard.cloudtrail_cmk.plugins.filter import consent as f
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _consent

ROOT = Path(__file__).resolve().parents[4]
FIXTURES = ROOT / "tests" / "unit" / "plugins" / "module_utils" / "fixtures" / "consent"
RAW = (FIXTURES / "assessment.json").read_text()
NOW = "2025-06-01T00:00:00Z"
T1 = "arn:aws:cloudtrail:us-east-1:111111111111:trail/main"


def load(rel):
    return yaml.safe_load((FIXTURES / rel).read_text())


def test_filters_registered():
    assert set(f.FilterModule().filters()) == {
        "consent_errors", "consent_plan", "consent_canonical_json", "consent_digest", "consent_with_awx"}
    for name in f.FilterModule().filters():
        assert (ROOT / "plugins" / "filter" / f"{name}.yml").is_file(), name


def test_consent_errors_good_and_bad():
    assert f.consent_errors(load("good/full.yml"), RAW, now=NOW) == []
    errors = f.consent_errors(load("bad/key_in_other_region.yml"), RAW, now=NOW)
    assert [e["field"] for e in errors] == [f"trails['{T1}'].key_arn"]


def test_omit_and_empty_optional_arguments_are_ignored():
    vars_ = load("good/minimal.yml")
    omit = "__omit_place_holder__0123456789abcdef"
    assert f.consent_errors(vars_, RAW, now=NOW, assessment_sha256=omit, require_signature=omit,
                            allowed_signers="") == []


def test_parsed_assessment_with_sha256():
    digest = _consent.assessment_sha256(RAW)
    assert f.consent_errors(load("good/minimal.yml"), json.loads(RAW), now=NOW, assessment_sha256=digest) == []


def test_consent_plan():
    plan = f.consent_plan(load("good/minimal.yml"), RAW, now=NOW)
    assert [(p["trail_arn"], p["action"]) for p in plan] == [(T1, "use_existing_key")]


def test_consent_plan_refuses_with_every_error():
    with pytest.raises(AnsibleFilterError) as info:
        f.consent_plan(load("bad/key_policy_change_forbidden.yml"), RAW, now=NOW)
    message = str(info.value)
    assert "2 errors" in message
    assert f"trails['{T1}'].may_change_key_policy" in message and f"trails['{T1}'].key_arn" in message


def test_bad_now_is_a_filter_error():
    with pytest.raises(AnsibleFilterError):
        f.consent_errors(load("good/minimal.yml"), RAW, now="soon")


def test_canonical_json_digest_and_awx():
    vars_ = load("good/minimal.yml")
    text = f.consent_canonical_json(vars_)
    assert text == _consent.canonical_json(vars_["trailguard_consent"])
    assert f.consent_digest(vars_) == _consent.consent_digest(vars_)
    record = f.consent_with_awx(vars_["trailguard_consent"], {"awx_job_id": 5, "tower_password": "x"})
    assert record["awx"] == {"job_id": 5}
    assert f.consent_canonical_json(record) == text
    with pytest.raises(AnsibleFilterError):
        f.consent_canonical_json(["not", "a", "record"])


# ------------------------------------------------------------------------------ real playbook run


def _snippet():
    doc = (ROOT / "docs" / "consent.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", doc, re.S)
    (snippet,) = [b for b in blocks if "trailguard:verify-signature-snippet" in b]
    return snippet


PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  vars:
    __raw: "{{ lookup('ansible.builtin.file', assessment_path, rstrip=false) }}"
  tasks:
    - name: Errors through the filter
      ansible.builtin.set_fact:
        errors: >-
          {{ {'trailguard_consent': trailguard_consent}
             | trailguard.cloudtrail_cmk.consent_errors(__raw, now=test_now,
                 allowed_signers=trailguard_allowed_signers_file | default(omit)) }}
        canonical: "{{ trailguard_consent | trailguard.cloudtrail_cmk.consent_canonical_json }}"
        digest: "{{ trailguard_consent | trailguard.cloudtrail_cmk.consent_digest }}"
        with_awx: "{{ trailguard_consent | trailguard.cloudtrail_cmk.consent_with_awx({'awx_job_id': 9}) }}"
    - name: Plan through the filter
      ansible.builtin.set_fact:
        plan: "{{ trailguard_consent | trailguard.cloudtrail_cmk.consent_plan(__raw, now=test_now) }}"
      when: errors | length == 0
    - name: Verify the signature as the apply role does
      ansible.builtin.include_tasks: verify.yml
    - name: Report
      ansible.builtin.copy:
        content: "{{ {'errors': errors, 'canonical': canonical, 'digest': digest, 'plan': plan | default(None),
                      'awx': with_awx.awx} | to_json }}"
        dest: "{{ out_path }}"
        mode: "0600"
"""


@pytest.fixture
def playbook_dir(tmp_path):
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen not installed")
    (tmp_path / "verify.yml").write_text(_snippet())
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "t", "-f", str(tmp_path / "key")], check=True)
    (tmp_path / "allowed_signers").write_text(f"alice@example.com {(tmp_path / 'key.pub').read_text().strip()}\n")
    return tmp_path


def _run(playbook_dir, approvals, *extra):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    out = playbook_dir / "out.json"
    out.unlink(missing_ok=True)
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), str(playbook_dir / "play.yml"),
           "-e", f"@{approvals}", "-e", f"assessment_path={FIXTURES / 'assessment.json'}",
           "-e", f"test_now={NOW}", "-e", f"out_path={out}", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=playbook_dir, check=False)
    result = json.loads(out.read_text()) if out.exists() else None
    return proc, result


def _signed(playbook_dir, source, **changes):
    vars_ = load(source)
    vars_["trailguard_consent"].update(changes)
    vars_["trailguard_consent"]["signature"] = _consent.sign_record(vars_, playbook_dir / "key")
    path = playbook_dir / "approvals.yml"
    path.write_text(yaml.safe_dump(vars_, sort_keys=False))
    return path


@pytest.mark.playbook
def test_playbook_signed_record(playbook_dir):
    approvals = _signed(playbook_dir, "good/full.yml")
    proc, result = _run(playbook_dir, approvals, "-e", "trailguard_require_signed_consent=true",
                        "-e", f"trailguard_allowed_signers_file={playbook_dir / 'allowed_signers'}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    vars_ = yaml.safe_load(approvals.read_text())
    assert result["errors"] == []
    assert result["canonical"] == _consent.canonical_json(vars_)
    assert result["digest"] == _consent.consent_digest(vars_)
    assert result["plan"] == _consent.approved_changes(vars_, RAW, now=NOW)
    assert result["awx"] == {"job_id": 9}


@pytest.mark.playbook
def test_playbook_unquoted_timestamps_verify(playbook_dir):
    """Ansible reads unquoted timestamps as datetimes; the canonical form (and signature) still match."""
    vars_ = load("good/grant_instead_of_policy.yml")
    vars_["trailguard_consent"]["approved_by"] = "alice@example.com"
    vars_["trailguard_consent"]["signature"] = _consent.sign_record(vars_, playbook_dir / "key")
    text = yaml.safe_dump(vars_, sort_keys=False)
    assert "approved_at: 2025-05-30 10:00:00+00:00" in text  # a YAML timestamp, not a string
    approvals = playbook_dir / "approvals.yml"
    approvals.write_text(text)
    proc, result = _run(playbook_dir, approvals, "-e", "trailguard_require_signed_consent=true",
                        "-e", f"trailguard_allowed_signers_file={playbook_dir / 'allowed_signers'}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert result["errors"] == []


@pytest.mark.playbook
def test_playbook_tampered_record_fails_in_snippet(playbook_dir):
    approvals = _signed(playbook_dir, "good/minimal.yml")
    vars_ = yaml.safe_load(approvals.read_text())
    vars_["trailguard_consent"]["approved_at"] = "2025-05-30T11:00:00Z"
    approvals.write_text(yaml.safe_dump(vars_, sort_keys=False))
    proc, result = _run(playbook_dir, approvals, "-e", "trailguard_require_signed_consent=true",
                        "-e", f"trailguard_allowed_signers_file={playbook_dir / 'allowed_signers'}")
    assert proc.returncode != 0
    assert "signature: verification failed for approved_by alice@example.com" in proc.stdout
    assert result is None


@pytest.mark.playbook
def test_playbook_unsigned_required_fails_in_snippet(playbook_dir):
    proc, result = _run(playbook_dir, FIXTURES / "good" / "minimal.yml", "-e", "trailguard_require_signed_consent=true",
                        "--check")
    assert proc.returncode != 0
    assert "signature: a signed consent record is required" in proc.stdout
    assert result is None


@pytest.mark.playbook
def test_playbook_unsigned_not_required_and_bad_record(playbook_dir):
    proc, result = _run(playbook_dir, FIXTURES / "good" / "minimal.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert result["errors"] == [] and len(result["plan"]) == 1
    proc, result = _run(playbook_dir, FIXTURES / "bad" / "duplicate_trail_case_variant.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [e["field"] for e in result["errors"]] == [
        "trails['arn:aws:cloudtrail:us-east-1:111111111111:trail/MAIN']"]
    assert result["plan"] is None
