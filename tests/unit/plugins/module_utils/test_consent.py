"""Unit tests for plugins/module_utils/_consent.py: the consent record.

Bad and good records are data files under fixtures/consent/ (cases.yml says which fields each bad
record must be refused for); the assessment they are checked against is fixtures/consent/assessment.json.
"""

import copy
import datetime
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _consent as c

ROOT = Path(__file__).resolve().parents[4]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "consent"
ASSESSMENT_RAW = (FIXTURES / "assessment.json").read_bytes()
ASSESSMENT = json.loads(ASSESSMENT_RAW)
CASES = yaml.safe_load((FIXTURES / "cases.yml").read_text())
NOW = CASES["now"]
GOOD = sorted(p.name for p in (FIXTURES / "good").glob("*.yml"))
SCHEMA = json.loads((ROOT / "docs" / "schemas" / "approvals.schema.json").read_text())

T1 = "arn:aws:cloudtrail:us-east-1:111111111111:trail/main"
T2 = "arn:aws:cloudtrail:us-east-1:111111111111:trail/org"
K1 = "arn:aws:kms:us-east-1:111111111111:key/1111aaaa-1111-4111-8111-111111111111"

needs_ssh_keygen = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen not installed")


def load(rel):
    return yaml.safe_load((FIXTURES / rel).read_text())


def as_json_data(value):
    """What the schema sees: YAML timestamps (unquoted) as the strings they were written as."""
    if isinstance(value, dict):
        return {k: as_json_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json_data(v) for v in value]
    if isinstance(value, datetime.datetime):
        return c.format_timestamp(value)
    return value


def schema_valid(vars_):
    return jsonschema.Draft202012Validator(SCHEMA).is_valid(as_json_data(vars_))


# ------------------------------------------------------------------------------------ fixtures


def test_fixture_digest_matches_assessment():
    """Every fixture quotes the real digest of assessment.json (regenerate them if it changes)."""
    digest = hashlib.sha256(ASSESSMENT_RAW).hexdigest()
    assert c.assessment_sha256(ASSESSMENT_RAW) == digest
    for rel in [f"good/{g}" for g in GOOD]:
        assert load(rel)["trailguard_consent"]["assessment_digest"] == digest, rel


def test_enough_bad_cases():
    assert len(CASES["cases"]) >= 20
    assert len({case["file"] for case in CASES["cases"]}) == len(CASES["cases"])
    on_disk = {f"bad/{p.name}" for p in (FIXTURES / "bad").glob("*.yml")}
    assert on_disk == {case["file"] for case in CASES["cases"]}


@pytest.mark.parametrize("case", CASES["cases"], ids=[Path(x["file"]).stem for x in CASES["cases"]])
def test_bad_record_names_exact_fields(case):
    vars_ = load(case["file"])
    errors = c.validate_consent(vars_, ASSESSMENT_RAW, now=NOW)
    assert sorted({e["field"] for e in errors}) == sorted(case["fields"]), errors
    for error in errors:
        assert set(error) == {"field", "message"}
        assert isinstance(error["message"], str) and len(error["message"]) > 10
    with pytest.raises(c.ConsentError) as info:
        c.approved_changes(vars_, ASSESSMENT_RAW, now=NOW)
    assert info.value.errors == errors


@pytest.mark.parametrize("name", GOOD)
def test_good_record_validates(name):
    vars_ = load(f"good/{name}")
    assert c.validate_consent(vars_, ASSESSMENT_RAW, now=NOW) == []
    assert c.validate_consent(vars_["trailguard_consent"], ASSESSMENT_RAW, now=NOW) == []


@pytest.mark.parametrize("name", GOOD)
def test_schema_accepts_good_records(name):
    assert schema_valid(load(f"good/{name}"))


@pytest.mark.parametrize("case", CASES["cases"], ids=[Path(x["file"]).stem for x in CASES["cases"]])
def test_schema_agrees_with_validate_consent(case):
    """The schema rejects exactly the structural cases; what it accepts, validate_consent still refuses
    for a reason beyond structure (digest, expiry, assessment cross-checks)."""
    vars_ = load(case["file"])
    assert schema_valid(vars_) is case["schema_valid"]


def test_schema_is_valid_2020_12():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_schema_enums_match_code():
    record = SCHEMA["$defs"]["record"]
    assert set(record["properties"]) == set(c.RECORD_KEYS)
    assert record["properties"]["accepted_impacts"]["items"]["enum"] == list(c.IMPACTS)
    assert set(record["properties"]["constraints"]["properties"]) == set(c.CONSTRAINTS)
    trail = SCHEMA["$defs"]["trail"]
    assert set(trail["properties"]) == set(c.TRAIL_KEYS)
    assert trail["properties"]["action"]["enum"] == list(c.ACTIONS)
    assert set(SCHEMA["$defs"]["create_key"]["properties"]) == set(c.CREATE_KEY_KEYS)


# ------------------------------------------------------------------------------------ digest & input


def test_digest_is_over_file_bytes():
    vars_ = load("good/minimal.yml")
    assert c.validate_consent(vars_, ASSESSMENT_RAW.decode("utf-8"), now=NOW) == []
    # Same JSON, different bytes: another assessment.
    reformatted = json.dumps(ASSESSMENT, indent=1)
    errors = c.validate_consent(vars_, reformatted, now=NOW)
    assert [e["field"] for e in errors] == ["assessment_digest"]


def test_parsed_assessment_needs_its_sha256():
    vars_ = load("good/minimal.yml")
    errors = c.validate_consent(vars_, ASSESSMENT, now=NOW)
    assert [e["field"] for e in errors] == ["assessment_digest"]
    assert "raw content" in errors[0]["message"]
    digest = hashlib.sha256(ASSESSMENT_RAW).hexdigest()
    assert c.validate_consent(vars_, ASSESSMENT, now=NOW, assessment_sha256_hex=digest) == []


@pytest.mark.parametrize("assessment", [b"{not json", json.dumps({"accounts": []}), json.dumps([1])])
def test_malformed_assessment(assessment):
    vars_ = load("good/minimal.yml")
    fields = {e["field"] for e in c.validate_consent(vars_, assessment, now=NOW)}
    assert "assessment" in fields


def test_expiry_uses_now():
    vars_ = load("good/full.yml")  # expires 2025-06-06T10:00:00Z
    assert c.validate_consent(vars_, ASSESSMENT_RAW, now="2025-06-06T09:59:59Z") == []
    errors = c.validate_consent(vars_, ASSESSMENT_RAW, now=datetime.datetime(2025, 6, 6, 10, tzinfo=datetime.UTC))
    assert [e["field"] for e in errors] == ["expires_at"]
    # Default now is the real clock: long expired.
    assert [e["field"] for e in c.validate_consent(vars_, ASSESSMENT_RAW)] == ["expires_at"]
    with pytest.raises(ValueError):
        c.validate_consent(vars_, ASSESSMENT_RAW, now="tomorrow")


def test_require_signature_argument_overrides_vars():
    vars_ = load("good/minimal.yml")
    errors = c.validate_consent(vars_, ASSESSMENT_RAW, now=NOW, require_signature=True)
    assert [e["field"] for e in errors] == ["signature"]
    vars_["trailguard_require_signed_consent"] = True
    assert c.validate_consent(vars_, ASSESSMENT_RAW, now=NOW, require_signature=False) == []


def test_shared_alias_needs_identical_settings():
    vars_ = load("good/full.yml")
    trails = vars_["trailguard_consent"]["trails"]
    trails[3]["create_key"] = {"alias": "alias/trailguard-org", "description": "other"}
    errors = c.validate_consent(vars_, ASSESSMENT_RAW, now=NOW)
    assert [e["field"] for e in errors] == [
        "trails['arn:aws:cloudtrail:us-east-1:111111111111:trail/readers'].create_key.alias"]
    trails[3]["create_key"] = copy.deepcopy(trails[1]["create_key"])
    assert c.validate_consent(vars_, ASSESSMENT_RAW, now=NOW) == []


def test_readers_on_existing_key_need_policy_or_grant():
    vars_ = load("good/minimal.yml")
    vars_["trailguard_consent"]["trails"][0]["readers"] = ["arn:aws:iam::111111111111:role/Siem"]
    errors = c.validate_consent(vars_, ASSESSMENT_RAW, now=NOW)
    assert [e["field"] for e in errors] == [f"trails['{T1}'].readers"]
    vars_["trailguard_consent"]["trails"][0]["use_grant"] = True
    assert c.validate_consent(vars_, ASSESSMENT_RAW, now=NOW) == []


# ------------------------------------------------------------------------------------ plan


def test_plan_of_full_record():
    plan = c.approved_changes(load("good/full.yml"), ASSESSMENT_RAW, now=NOW)
    assert [p["trail_arn"].rsplit("/", 1)[1] for p in plan] == ["main", "org", "eu", "readers", "second"]
    main, org, eu, readers, second = plan
    assert main == {
        "account_id": "111111111111",
        "trail_arn": T1,
        "trail_name": "main",
        "home_region": "us-east-1",
        "is_organization_trail": False,
        "action": "use_existing_key",
        "key_arn": K1,
        "key_account_id": "111111111111",
        "key_region": "us-east-1",
        "create_key": None,
        "may_change_key_policy": False,
        "use_grant": False,
        "may_change_bucket_policy": False,
        "may_resolve_default_encryption": False,
        "readers": [],
        "s3_bucket_name": "tg-logs-111",
        "s3_key_prefix": "",
        "bucket_region": "us-east-1",
        "tokens": {
            "trail_kms_key_id": None,
            "key_policy_sha256": "a1" * 32,
            "bucket_policy_sha256": "e5" * 32,
        },
        "impacts": ["kms_request_costs", "possible_delivery_interruption"],
    }
    assert org["account_id"] == "111111111111"  # the owner's entry, not the member account's view
    assert org["is_organization_trail"] is True
    assert org["create_key"] == {"alias": "alias/trailguard-org", "description": "CloudTrail organization trail logs",
                                 "tags": {"owner": "security", "purpose": "cloudtrail"}, "rotation": True,
                                 "rotation_period_days": 365, "multi_region": False}
    assert org["tokens"] == {"trail_kms_key_id": None, "key_policy_sha256": None, "bucket_policy_sha256": "f6" * 32}
    assert org["impacts"] == ["kms_request_costs", "possible_delivery_interruption", "new_key_cost"]
    assert eu["key_region"] == "eu-west-1" and eu["may_change_key_policy"] is True
    assert readers["readers"] == ["arn:aws:iam::111111111111:role/Siem"]
    assert readers["create_key"]["rotation"] is True and readers["create_key"]["description"] == ""
    assert second["account_id"] == "222222222222"
    old_key = "arn:aws:kms:us-west-2:222222222222:key/5555eeee-5555-4555-8555-555555555555"
    assert second["tokens"]["trail_kms_key_id"] == old_key
    assert second["tokens"]["key_policy_sha256"] == "3a" * 32


def test_plan_of_deferred_trails_is_empty():
    assert c.approved_changes(load("good/all_defer.yml"), ASSESSMENT_RAW, now=NOW) == []


def test_plan_with_grant():
    (item,) = c.approved_changes(load("good/grant_instead_of_policy.yml"), ASSESSMENT_RAW, now=NOW)
    assert item["use_grant"] is True and item["may_change_key_policy"] is False


# ------------------------------------------------------------------------------------ canonical form


def test_canonical_json_shape():
    vars_ = load("good/minimal.yml")
    text = c.canonical_json(vars_)
    assert text == c.canonical_json(vars_["trailguard_consent"])
    assert " " not in text.replace("alice@example.com", "") and "\n" not in text
    assert json.loads(text) == vars_["trailguard_consent"]
    assert list(json.loads(text)) == sorted(json.loads(text))
    assert c.consent_digest(vars_) == hashlib.sha256(text.encode()).hexdigest()


def test_canonical_json_ignores_signature_and_awx_and_escapes_unicode():
    vars_ = load("good/minimal.yml")
    before = c.canonical_json(vars_)
    record = vars_["trailguard_consent"]
    record["signature"] = "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n"
    record["awx"] = {"job_id": 7}
    assert c.canonical_json(vars_) == before
    record["comment"] = "Zoë's ✓"
    assert c.canonical_json(vars_).isascii()


def test_canonical_json_normalises_timestamps():
    quoted = yaml.safe_load('trailguard_consent: {approved_at: "2025-05-30T12:00:00+02:00", trails: []}')
    unquoted = yaml.safe_load("trailguard_consent: {approved_at: 2025-05-30T10:00:00Z, trails: []}")
    assert isinstance(unquoted["trailguard_consent"]["approved_at"], datetime.datetime)
    expected = '{"approved_at":"2025-05-30T10:00:00Z","trails":[]}'
    assert c.canonical_json(quoted) == c.canonical_json(unquoted) == expected


def test_canonical_json_refuses_non_data():
    with pytest.raises(TypeError):
        c.canonical_json({"trailguard_consent": {"x": object()}})
    with pytest.raises(TypeError):
        c.canonical_json("nope")


# ------------------------------------------------------------------------------------ AWX


def test_awx_metadata_whitelist():
    extra = {"awx_job_id": 42, "tower_job_id": 1, "tower_workflow_job_id": 40, "awx_user_name": "admin",
             "awx_approval_user": "alice", "tower_password": "secret", "tower_host": "https://awx",
             "awx_token": "t", "awx_inventory_name": "", "other": 1}
    assert c.awx_metadata(extra) == {"job_id": 42, "user_name": "admin", "workflow_job_id": 40,
                                     "approval_user": "alice"}


def test_record_awx_metadata_keeps_signature_valid_form():
    vars_ = load("good/minimal.yml")
    before = c.canonical_json(vars_)
    record = c.record_awx_metadata(vars_, {"awx_job_id": 42, "awx_workflow_job_id": 40})
    assert record["awx"] == {"job_id": 42, "workflow_job_id": 40}
    assert "awx" not in vars_["trailguard_consent"]  # a copy
    assert c.canonical_json(record) == before
    assert c.validate_consent(record, ASSESSMENT_RAW, now=NOW) == []
    assert c.record_awx_metadata(vars_, {}) == vars_["trailguard_consent"]


# ------------------------------------------------------------------------------------ signatures


@pytest.fixture
def signer(tmp_path):
    """A throwaway ed25519 key and an allowed_signers file naming alice@example.com."""
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", str(key)], check=True)
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"alice@example.com {(tmp_path / 'id_ed25519.pub').read_text().strip()}\n")
    return key, allowed


@needs_ssh_keygen
def test_sign_verify_round_trip(signer):
    key, allowed = signer
    vars_ = load("good/full.yml")
    record = vars_["trailguard_consent"]
    record["signature"] = c.sign_record(record, key)
    assert record["signature"].startswith("-----BEGIN SSH SIGNATURE-----")
    ok, message = c.verify_signature(vars_, allowed)
    assert ok, message
    # Signed and required: valid, also with the signature checked through validate_consent.
    vars_["trailguard_require_signed_consent"] = True
    assert c.validate_consent(vars_, ASSESSMENT_RAW, now=NOW, allowed_signers=str(allowed)) == []
    # AWX metadata added afterwards does not break it.
    assert c.verify_signature(c.record_awx_metadata(vars_, {"awx_job_id": 3}), allowed)[0]


@needs_ssh_keygen
def test_tampered_record_fails_verification(signer):
    key, allowed = signer
    vars_ = load("good/full.yml")
    record = vars_["trailguard_consent"]
    record["signature"] = c.sign_record(record, key)
    record["constraints"]["allow_bucket_policy_changes"] = False
    record["trails"][2]["may_change_bucket_policy"] = False
    record["trails"][2]["may_resolve_default_encryption"] = False
    ok, message = c.verify_signature(vars_, allowed)
    assert not ok and "alice@example.com" in message
    errors = c.validate_consent(vars_, ASSESSMENT_RAW, now=NOW, allowed_signers=str(allowed))
    assert "signature" in {e["field"] for e in errors}


@needs_ssh_keygen
def test_signature_of_another_principal_fails(signer):
    key, allowed = signer
    vars_ = load("good/minimal.yml")
    record = vars_["trailguard_consent"]
    record["approved_by"] = "mallory@example.com"
    record["signature"] = c.sign_record(record, key)
    ok, message = c.verify_signature(vars_, allowed)
    assert not ok and "mallory@example.com" in message
    errors = c.validate_consent(vars_, ASSESSMENT_RAW, now=NOW, allowed_signers=str(allowed))
    assert [e["field"] for e in errors] == ["signature"]


def test_verify_without_signature_or_binary():
    vars_ = load("good/minimal.yml")
    assert c.verify_signature(vars_, "/nonexistent") == (False, "the record has no signature")
    vars_["trailguard_consent"]["signature"] = "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n"
    ok, message = c.verify_signature(vars_, "/nonexistent", ssh_keygen="/nonexistent/ssh-keygen")
    assert not ok and "cannot run" in message


@needs_ssh_keygen
def test_signing_script_round_trip(signer, tmp_path):
    key, allowed = signer
    allowed.write_text(allowed.read_text().replace("alice@example.com", "carol@example.com"))  # the approver
    path = tmp_path / "approvals.yml"
    shutil.copy(FIXTURES / "good" / "grant_instead_of_policy.yml", path)  # unquoted YAML timestamps
    script = [sys.executable, str(ROOT / "scripts" / "consent_sign.py")]
    subprocess.run([*script, "sign", "-k", str(key), str(path)], check=True, capture_output=True)
    signed = yaml.safe_load(path.read_text())
    assert c.verify_signature(signed, allowed)[0]
    assert c.validate_consent(signed, ASSESSMENT_RAW, now=NOW, require_signature=True,
                              allowed_signers=str(allowed)) == []
    verify = subprocess.run([*script, "verify", "-a", str(allowed), str(path)], capture_output=True, text=True,
                            check=False)
    assert verify.returncode == 0, verify.stderr
    canonical = subprocess.run([*script, "canonical", str(path)], capture_output=True, text=True, check=True)
    assert canonical.stdout == c.canonical_json(signed)
    # The exact command the apply role runs.
    sig = tmp_path / "consent.sig"
    sig.write_text(signed["trailguard_consent"]["signature"])
    role = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", "carol@example.com",
                           "-n", "trailguard-consent", "-s", str(sig)], input=canonical.stdout,
                          capture_output=True, text=True, check=False)
    assert role.returncode == 0, role.stderr
    for principal, namespace in (("alice@example.com", "trailguard-consent"), ("carol@example.com", "file")):
        role = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", principal,
                               "-n", namespace, "-s", str(sig)], input=canonical.stdout,
                              capture_output=True, text=True, check=False)
        assert role.returncode != 0


OTHER_KEY = "arn:aws:kms:us-east-1:111111111111:key/1111aaaa-1111-4111-8111-111111111111"


def _with_readers(log_readers, need_decrypt=None):
    """The fixture assessment with the readers trail's readers replaced, and its digest."""
    doc = json.loads(ASSESSMENT_RAW)
    trail = next(t for a in doc["accounts"].values() for t in a["trails"] if t["arn"].endswith(":trail/readers"))
    trail["log_readers"] = log_readers
    if need_decrypt is not None:
        trail["log_readers_need_decrypt"] = need_decrypt
    raw = json.dumps(doc).encode()
    return raw, hashlib.sha256(raw).hexdigest()


@pytest.mark.parametrize(
    ("need_decrypt", "entry", "lose_access"),
    [
        # the assessment checked the recommended key: the admin keeps access through IAM
        pytest.param(["arn:aws:iam::111111111111:role/Siem"], {}, False, id="need-decrypt-approved"),
        # an assessment without the field: every reader must be approved (or the impact accepted)
        pytest.param(None, {}, True, id="old-assessment-all-readers"),
        # another action than recommended: the checked set does not apply, every reader counts
        pytest.param(["arn:aws:iam::111111111111:role/Siem"],
                     {"action": "use_existing_key", "key_arn": OTHER_KEY, "may_change_key_policy": True}, True,
                     id="other-action"),
    ],
)
def test_readers_impact_uses_the_readers_the_recommended_key_locks_out(need_decrypt, entry, lose_access):
    raw, digest = _with_readers(
        ["arn:aws:iam::111111111111:role/Admin", "arn:aws:iam::111111111111:role/Siem"], need_decrypt)
    vars_ = load("good/full.yml")
    vars_["trailguard_consent"]["assessment_digest"] = digest
    readers_entry = next(t for t in vars_["trailguard_consent"]["trails"] if t["trail_arn"].endswith(":trail/readers"))
    if entry:
        readers_entry.pop("create_key", None)
        readers_entry.update(entry)
    errors = c.validate_consent(vars_, raw, now=NOW)
    impacts = [e for e in errors if "log_readers_lose_access" in e["message"]]
    assert bool(impacts) is lose_access, errors
