"""Estates: the manifest says what was built, and the lab's live state (read through boto3) agrees.

The demo estate is built once per pytest worker on the session's LabServer and rebuilt when another
test reset the lab in between (tests of other modules reset the lab before each test).
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from lab import estates

pytestmark = pytest.mark.lab

A, B = estates.MAIN_ACCOUNT, estates.SECOND_ACCOUNT
RETRY = Config(retries={"max_attempts": 3, "mode": "standard"})
_CACHE: dict = {}


class Live:
    """boto3 clients per account against the lab (B through AssumeRole)."""

    def __init__(self, endpoint_url: str, manifest: dict):
        self.endpoint_url = endpoint_url
        self.manifest = manifest
        self._sessions: dict[str, boto3.Session] = {}

    def session(self, account: str) -> boto3.Session:
        if account not in self._sessions:
            if account == A:
                self._sessions[account] = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
            else:
                role = self.manifest["accounts"][account]["role_arn"]
                creds = self.client(A, "sts").assume_role(RoleArn=role, RoleSessionName="estate-tests")["Credentials"]
                self._sessions[account] = boto3.Session(aws_access_key_id=creds["AccessKeyId"],
                                                        aws_secret_access_key=creds["SecretAccessKey"],
                                                        aws_session_token=creds["SessionToken"])
        return self._sessions[account]

    def client(self, account: str, service: str, region: str = "us-east-1"):
        return self.session(account).client(service, region_name=region, endpoint_url=self.endpoint_url,
                                            config=RETRY)

    # manifest lookups
    def trail(self, name: str) -> dict:
        return next(t for t in self.manifest["trails"] if t["name"] == name)

    def key(self, arn: str) -> dict:
        return next(k for k in self.manifest["keys"] if k["arn"] == arn)

    def bucket(self, name: str) -> dict:
        return next(b for b in self.manifest["buckets"] if b["name"] == name)

    def describe_trail(self, t: dict) -> dict:
        ct = self.client(t["account"], "cloudtrail", t["home_region"])
        found = ct.describe_trails(trailNameList=[t["arn"]], includeShadowTrails=False)["trailList"]
        assert len(found) == 1, (t["name"], found)
        return found[0]

    def key_policy(self, arn: str) -> dict:
        k = self.key(arn)
        kms = self.client(k["account"], "kms", k["region"])
        return json.loads(kms.get_key_policy(KeyId=arn, PolicyName="default")["Policy"])

    def bucket_policy(self, name: str) -> dict:
        b = self.bucket(name)
        return json.loads(self.client(b["account"], "s3", b["region"]).get_bucket_policy(Bucket=name)["Policy"])


def _alive(live: Live) -> bool:
    try:
        t = live.trail("tg-good")
        return live.describe_trail(t).get("KmsKeyId") == t["kms_key_id"]
    except (ClientError, AssertionError, StopIteration):
        return False


@pytest.fixture
def demo(lab_server) -> Live:
    live = _CACHE.get("demo")
    if live is None or live.endpoint_url != lab_server.endpoint_url or not _alive(live):
        lab_server.control.reset()
        manifest = lab_server.control.build_estate("demo")
        live = _CACHE["demo"] = Live(lab_server.endpoint_url, manifest)
    return live


def _statements_for(policy: dict, service: str = "cloudtrail.amazonaws.com") -> list[dict]:
    return [s for s in policy["Statement"] if (s.get("Principal") or {}) == {"Service": service}]


def _actions(statements) -> set[str]:
    out = set()
    for s in statements:
        acts = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        out.update(a.lower() for a in acts)
    return out


# -- the manifest on its own -------------------------------------------------------------------------
def test_demo_manifest_shape_and_coverage(demo):
    m = demo.manifest
    assert m["name"] == "demo"
    assert set(m["accounts"]) == {A, B}
    assert m["accounts"][B]["role_arn"] == f"arn:aws:iam::{B}:role/TrailGuardAudit"
    assert "role_arn" not in m["accounts"][A]
    assert m["organization_id"] == estates.ORGANIZATION_ID == "o-trailguard1"
    for region in ("us-east-1", "eu-west-1"):
        assert region in m["accounts"][A]["regions"]
    names = [t["name"] for t in m["trails"]]
    assert len(names) == len(set(names))
    required = {"tg-no-key", "tg-good", "tg-key-disabled", "tg-key-pending-deletion", "tg-aws-managed-key",
                "tg-key-policy-no-cloudtrail", "tg-key-policy-no-describe", "tg-key-other-region",
                "tg-bucket-denies-kms", "tg-bucket-default-other-key", "tg-multi-region", "tg-org-trail",
                "tg-not-logging", "tg-rotation-off", "tg-key-missing", "tg-bucket-key-no-decrypt", "tg-readers",
                "tg-log-validation-off", "tg-requester-pays", "tg-cross-account-bucket"}
    assert required <= set(names)
    for t in m["trails"]:
        assert set(t) >= {"name", "arn", "account", "home_region", "bucket", "kms_key_id", "problems", "compliant"}
        assert set(t["problems"]) <= set(estates.FINDING_CODES), t
        assert t["compliant"] == (not set(t["problems"]) & estates.NON_COMPLIANT_CODES), t
    # every finding code has a trail built for it, except those that only lab behaviour produces
    covered = {c for t in m["trails"] for c in t["problems"]}
    covered |= {c for views in m["member_views"].values() for v in views for c in v["problems"]}
    assert covered == set(estates.FINDING_CODES) - estates.DYNAMIC_CODES
    # account B: compliant trails and one no-key trail
    b_trails = [t for t in m["trails"] if t["account"] == B]
    assert sum(t["compliant"] for t in b_trails) >= 2
    assert [t["name"] for t in b_trails if t["problems"] == ["TRAIL_NO_KMS_KEY"]] == ["tg-no-key-b"]
    for k in m["keys"]:
        assert set(k) >= {"arn", "account", "region", "state", "purpose"}
    for b in m["buckets"]:
        assert set(b) >= {"name", "account", "region", "purpose"}
    json.dumps(m)  # serialisable as is


def test_demo_shares_buckets_and_keys_and_has_spare_keys(demo):
    m = demo.manifest
    per_bucket, per_key = {}, {}
    for t in m["trails"]:
        per_bucket.setdefault(t["bucket"], []).append(t["name"])
        if t["kms_key_id"]:
            per_key.setdefault(t["kms_key_id"], []).append(t["name"])
    assert max(len(v) for v in per_bucket.values()) >= 5
    assert max(len(v) for v in per_key.values()) >= 5
    assert any(t["s3_key_prefix"] for t in m["trails"]) and any(not t["s3_key_prefix"] for t in m["trails"])
    used = set(per_key)
    for account in (A, B):
        for region in ("us-east-1", "eu-west-1"):
            spare = [k for k in m["keys"] if k["account"] == account and k["region"] == region
                     and k["alias"] == "alias/tg-demo-spare"]
            assert len(spare) == 1
            assert spare[0]["arn"] not in used and spare[0]["state"] == "Enabled"
            kms = demo.client(account, "kms", region)
            meta = kms.describe_key(KeyId="alias/tg-demo-spare")["KeyMetadata"]
            assert meta["Arn"] == spare[0]["arn"] and meta["KeyState"] == "Enabled"
            assert kms.get_key_rotation_status(KeyId=meta["KeyId"])["KeyRotationEnabled"] is True


# -- live state agrees with the manifest -------------------------------------------------------------
def test_every_demo_trail_exists_as_stated(demo):
    for t in demo.manifest["trails"]:
        live = demo.describe_trail(t)
        assert live["TrailARN"] == t["arn"]
        assert live["S3BucketName"] == t["bucket"], t["name"]
        assert live.get("S3KeyPrefix", "") == t["s3_key_prefix"], t["name"]
        assert live.get("KmsKeyId") == t["kms_key_id"], t["name"]
        assert live["IsMultiRegionTrail"] is t["multi_region"], t["name"]
        assert live["IsOrganizationTrail"] is t["organization"], t["name"]
        assert live["LogFileValidationEnabled"] is t["log_validation"], t["name"]
        assert live["HomeRegion"] == t["home_region"]
        status = demo.client(t["account"], "cloudtrail", t["home_region"]).get_trail_status(Name=t["arn"])
        assert status["IsLogging"] is t["logging"], t["name"]
    assert demo.trail("tg-not-logging")["logging"] is False
    assert all(t["logging"] for t in demo.manifest["trails"] if t["name"] != "tg-not-logging")
    assert [t["name"] for t in demo.manifest["trails"] if not t["log_validation"]] == ["tg-log-validation-off"]
    assert demo.trail("tg-multi-region")["multi_region"] is True
    assert demo.trail("tg-org-trail")["organization"] is True


def test_every_demo_key_is_in_its_stated_state(demo):
    for k in demo.manifest["keys"]:
        kms = demo.client(k["account"], "kms", k["region"])
        if k["state"] == "Deleted":
            with pytest.raises(ClientError) as err:
                kms.describe_key(KeyId=k["arn"])
            assert err.value.response["Error"]["Code"] == "NotFoundException"
            continue
        meta = kms.describe_key(KeyId=k["arn"])["KeyMetadata"]
        assert meta["KeyState"] == k["state"], k
        assert meta["KeyManager"] == k["manager"], k
        assert meta["KeySpec"] == k["spec"], k
        if k["manager"] == "CUSTOMER" and k["spec"] == "SYMMETRIC_DEFAULT":
            assert kms.get_key_rotation_status(KeyId=k["arn"])["KeyRotationEnabled"] is k["rotation"], k
    rotation_off = [k for k in demo.manifest["keys"] if k["rotation"] is False]
    assert [k["alias"] for k in rotation_off] == ["alias/tg-demo-rotation-off"]


def test_every_demo_bucket_is_in_its_stated_state(demo):
    for b in demo.manifest["buckets"]:
        s3 = demo.client(b["account"], "s3", b["region"])
        if not b["exists"]:
            with pytest.raises(ClientError) as err:
                s3.head_bucket(Bucket=b["name"])
            assert err.value.response["Error"]["Code"] in ("404", "NoSuchBucket")
            continue
        loc = s3.get_bucket_location(Bucket=b["name"])["LocationConstraint"] or "us-east-1"
        assert loc == b["region"]
        rule = s3.get_bucket_encryption(Bucket=b["name"])["ServerSideEncryptionConfiguration"]["Rules"][0]
        default = rule["ApplyServerSideEncryptionByDefault"]
        assert default["SSEAlgorithm"] == b["default_encryption"]
        assert default.get("KMSMasterKeyID") == b["default_kms_key_id"]
        assert bool(rule.get("BucketKeyEnabled")) is b["bucket_key"]


def test_requester_pays_bucket(demo):
    b = demo.bucket(demo.trail("tg-requester-pays")["bucket"])
    assert b["requester_pays"] is True
    assert [x["name"] for x in demo.manifest["buckets"] if x["requester_pays"]] == [b["name"]]
    s3 = demo.client(b["account"], "s3", b["region"])
    assert s3.get_bucket_request_payment(Bucket=b["name"])["Payer"] == "Requester"  # served by the lab
    other = next(x for x in demo.manifest["buckets"] if x["exists"] and not x["requester_pays"])
    assert demo.client(other["account"], "s3", other["region"]).get_bucket_request_payment(
        Bucket=other["name"])["Payer"] == "BucketOwner"


# -- each problem is really there ---------------------------------------------------------------------
def test_key_state_problems(demo):
    assert demo.key(demo.trail("tg-key-disabled")["kms_key_id"])["state"] == "Disabled"
    assert demo.key(demo.trail("tg-key-pending-deletion")["kms_key_id"])["state"] == "PendingDeletion"
    assert demo.key(demo.trail("tg-key-missing")["kms_key_id"])["state"] == "Deleted"
    t = demo.trail("tg-aws-managed-key")
    assert demo.key(t["kms_key_id"])["manager"] == "AWS"
    assert demo.key(t["kms_key_id"])["alias"] == "alias/aws/s3"
    assert demo.key(demo.trail("tg-key-not-symmetric")["kms_key_id"])["spec"] == "RSA_2048"
    t = demo.trail("tg-key-other-region")
    assert demo.key(t["kms_key_id"])["region"] == "eu-west-1" != demo.bucket(t["bucket"])["region"]
    for t in demo.manifest["trails"]:
        if t["kms_key_id"] and t["name"] != "tg-key-other-region":
            assert t["kms_key_id"].split(":")[3] == demo.bucket(t["bucket"])["region"], t["name"]


def test_key_policy_problems(demo):
    no_ct = demo.key_policy(demo.trail("tg-key-policy-no-cloudtrail")["kms_key_id"])
    assert _statements_for(no_ct) == []
    no_describe = _statements_for(demo.key_policy(demo.trail("tg-key-policy-no-describe")["kms_key_id"]))
    assert "kms:generatedatakey*" in _actions(no_describe) and "kms:describekey" not in _actions(no_describe)
    t = demo.trail("tg-bucket-key-no-decrypt")
    bk = _statements_for(demo.key_policy(t["kms_key_id"]))
    assert {"kms:generatedatakey*", "kms:describekey"} <= _actions(bk) and "kms:decrypt" not in _actions(bk)
    assert demo.bucket(t["bucket"])["bucket_key"] is True
    assert demo.bucket(t["bucket"])["default_kms_key_id"] == t["kms_key_id"]
    good = demo.key_policy(demo.trail("tg-good")["kms_key_id"])
    ct = _statements_for(good)
    assert {"kms:generatedatakey*", "kms:describekey"} <= _actions(ct)
    source_arns = ct[0]["Condition"]["StringEquals"]["aws:SourceArn"]
    users = [t["arn"] for t in demo.manifest["trails"] if t["kms_key_id"] == demo.trail("tg-good")["kms_key_id"]]
    assert set(users) <= set(source_arns if isinstance(source_arns, list) else [source_arns])
    assert not any(s.get("Sid", "").startswith("TrailGuard") for s in good["Statement"])


def test_bucket_policy_problems(demo):
    aes = demo.bucket_policy(demo.trail("tg-bucket-denies-kms")["bucket"])
    deny = [s for s in aes["Statement"] if s["Effect"] == "Deny"]
    assert deny and deny[0]["Condition"]["StringNotEquals"]["s3:x-amz-server-side-encryption"] == "AES256"
    locked = demo.bucket_policy(demo.trail("tg-bucket-policy-no-cloudtrail")["bucket"])
    assert _statements_for(locked) == []
    t = demo.trail("tg-bucket-default-other-key")
    b = demo.bucket(t["bucket"])
    assert b["default_encryption"] == "aws:kms" and b["default_kms_key_id"] not in (None, t["kms_key_id"])
    assert demo.bucket(demo.trail("tg-requester-pays")["bucket"])["requester_pays"] is True
    assert demo.bucket(demo.trail("tg-bucket-missing")["bucket"])["exists"] is False
    t = demo.trail("tg-cross-account-bucket")
    assert t["account"] == B and demo.bucket(t["bucket"])["account"] == A
    xacct = demo.bucket_policy(t["bucket"])
    write = next(s for s in xacct["Statement"] if s["Sid"] == "AWSCloudTrailWrite20150319")
    assert f"AWSLogs/{B}/*" in json.dumps(write["Resource"])


def test_readers_problem(demo):
    t = demo.trail("tg-readers")
    policy = demo.bucket_policy(t["bucket"])
    readers = [s for s in policy["Statement"] if "s3:GetObject" in json.dumps(s.get("Action"))]
    principals = {s["Principal"]["AWS"] for s in readers}
    assert principals == {f"arn:aws:iam::{B}:role/SiemLogReader"}
    assert "SiemLogReader" not in json.dumps(demo.key_policy(t["kms_key_id"]))


def test_organization_and_org_trail(demo):
    org = demo.client(A, "organizations").describe_organization()["Organization"]
    assert org["Id"] == demo.manifest["organization_id"] == "o-trailguard1"
    assert org["MasterAccountId"] == A
    ids = {a["Id"] for a in demo.client(A, "organizations").list_accounts()["Accounts"]}
    assert {A, B} <= ids
    t = demo.trail("tg-org-trail")
    live = demo.describe_trail(t)
    assert live["IsOrganizationTrail"] is True and live["IsMultiRegionTrail"] is True
    policy = json.dumps(demo.bucket_policy(t["bucket"]))
    assert f"AWSLogs/{demo.manifest['organization_id']}/*" in policy
    assert demo.manifest["member_views"][B][0]["trail"] == t["arn"]


def test_audit_role_exists_in_second_account(demo):
    role = demo.client(B, "iam").get_role(RoleName="TrailGuardAudit")["Role"]
    assert role["Arn"] == demo.manifest["accounts"][B]["role_arn"]
    assert demo.client(B, "sts").get_caller_identity()["Account"] == B


def test_backdoors_are_recorded(demo):
    what = " ".join(b["what"] for b in demo.manifest["backdoors"])
    for name in ("tg-key-missing", "tg-aws-managed-key", "tg-key-not-symmetric", "tg-key-other-region",
                 "organizations"):
        assert name in what
    assert all(b["why"] for b in demo.manifest["backdoors"])


def test_policy_problems_agree_with_the_collections_policy_evaluator(demo):
    """Cross-check: the collection's pure evaluator finds exactly the key/bucket policy problems the
    estate built (for usable customer keys and existing buckets)."""
    policy_mod = pytest.importorskip("ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils._policy")
    key_codes = {"KEY_POLICY_DENIES_CLOUDTRAIL", "KEY_POLICY_NO_DESCRIBE", "KEY_POLICY_NO_DECRYPT_FOR_BUCKET_KEY"}
    bucket_codes = {"BUCKET_POLICY_DENIES_CLOUDTRAIL", "BUCKET_POLICY_BLOCKS_KMS"}
    org_id = demo.manifest["organization_id"]
    mismatches = []
    for t in demo.manifest["trails"]:
        key = demo.key(t["kms_key_id"]) if t["kms_key_id"] else None
        bucket = demo.bucket(t["bucket"])
        org = dict(is_organization_trail=t["organization"], organization_id=org_id if t["organization"] else None)
        if key and key["manager"] == "CUSTOMER" and key["state"] != "Deleted":
            found = policy_mod.key_policy_findings(demo.key_policy(key["arn"]), t["arn"], key["arn"],
                                                   bucket_key_enabled=bucket["bucket_key"], **org)
            got = {f["code"] for f in found} & key_codes
            if got != set(t["problems"]) & key_codes:
                mismatches.append((t["name"], "key", sorted(got)))
        if bucket["exists"] and bucket["account"] == t["account"]:
            found = policy_mod.bucket_policy_findings(demo.bucket_policy(bucket["name"]), bucket["name"], t["arn"],
                                                      t["s3_key_prefix"], key["arn"] if key else None, **org)
            got = {f["code"] for f in found} & bucket_codes
            if got != set(t["problems"]) & bucket_codes:
                mismatches.append((t["name"], "bucket", sorted(got)))
    assert mismatches == []


def test_delivery_fails_exactly_where_the_manifest_says(demo, lab_server):
    lab_server.control.deliver()
    wrong = []
    for t in demo.manifest["trails"]:
        if not t["logging"]:
            continue
        status = demo.client(t["account"], "cloudtrail", t["home_region"]).get_trail_status(Name=t["arn"])
        failed = bool(status.get("LatestDeliveryError"))
        if failed is not t["delivery_blocked"]:
            wrong.append((t["name"], status.get("LatestDeliveryError")))
        elif not failed:
            assert status.get("LatestDeliveryTime"), t["name"]
    assert wrong == [], "\n".join(map(str, wrong))
    # Both of these fail in AWS and, since the lab implements them, in the lab too.
    for name in ("tg-key-not-symmetric", "tg-requester-pays"):
        t = demo.trail(name)
        assert t["delivery_blocked"] and t["logging"], name


# -- bench and none ----------------------------------------------------------------------------------
def test_bench_plan_is_deterministic_and_shares_resources():
    a = estates.bench_plan(accounts=3, regions=2, trails=40, trails_per_bucket=4, trails_per_key=8, seed=7)
    b = estates.bench_plan(accounts=3, regions=2, trails=40, trails_per_bucket=4, trails_per_key=8, seed=7)
    c = estates.bench_plan(accounts=3, regions=2, trails=40, trails_per_bucket=4, trails_per_key=8, seed=8)
    assert a == b and a != c
    assert len(a["trails"]) == 40 and len({t["name"] for t in a["trails"]}) == 40
    assert {t["account"] for t in a["trails"]} == set(a["accounts"]) and len(a["accounts"]) == 3
    assert max(len(bk["writers"]) for bk in a["buckets"]) >= 2
    assert max(len(k["users"]) for k in a["keys"]) >= 2
    assert estates.bench_plan()["trails"][499]["name"] == "tg-bench-0499"


def _strip(manifest: dict) -> dict:
    """The manifest without what moto randomises (key ids) and wall-clock timings."""
    text = json.dumps({k: v for k, v in manifest.items() if k != "timings"}, sort_keys=True)
    for k in manifest["keys"]:
        text = text.replace(k["key_id"], k["alias"].replace("/", "_"))
    return json.loads(text)


def test_bench_small_builds_deterministically(lab_server):
    params = dict(accounts=3, regions=2, trails=24, trails_per_bucket=3, trails_per_key=6, seed=11)
    manifests = []
    for _build in range(2):
        lab_server.control.reset()
        manifests.append(lab_server.control.build_estate("bench", **params))
    _CACHE.pop("demo", None)
    first, second = manifests
    assert _strip(first) == _strip(second)
    m = second  # the live state is the second build
    assert len(m["trails"]) == 24 and len(m["accounts"]) == 3
    assert all("role_arn" in v for k, v in m["accounts"].items() if k != A)
    assert any(t["compliant"] for t in m["trails"]) and any(not t["compliant"] for t in m["trails"])
    per_bucket, per_key = {}, {}
    for t in m["trails"]:
        per_bucket.setdefault(t["bucket"], 0)
        per_bucket[t["bucket"]] += 1
        if t["kms_key_id"]:
            per_key.setdefault(t["kms_key_id"], 0)
            per_key[t["kms_key_id"]] += 1
    assert max(per_bucket.values()) >= 2 and max(per_key.values()) >= 2
    # live spot check: every trail exists with the stated key
    live = Live(lab_server.endpoint_url, m)
    for t in m["trails"]:
        assert live.describe_trail(t).get("KmsKeyId") == t["kms_key_id"]
    for k in m["keys"]:
        meta = live.client(k["account"], "kms", k["region"]).describe_key(KeyId=k["arn"])["KeyMetadata"]
        assert meta["KeyState"] == k["state"]


def test_none_estate_and_unknown_name(lab_server):
    m = estates.build("none", lab_server.endpoint_url)
    assert m["trails"] == [] and m["keys"] == [] and m["buckets"] == []
    with pytest.raises(ValueError, match="unknown estate"):
        estates.build("nope", lab_server.endpoint_url)
