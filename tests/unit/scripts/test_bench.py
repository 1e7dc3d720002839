"""scripts/bench.py's pure parts (budget, ratio, extrapolation, subset, report) and docs/iam/*.json.

No timed tests: speed is shown by ``make bench`` and recorded in docs/benchmark.md.
"""

import fnmatch
import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
IAM = ROOT / "docs" / "iam"
MODULE_UTILS = ROOT / "plugins" / "module_utils"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("_script_bench", ROOT / "scripts" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- budget ------------------------------------------------------------------------------------------
def test_budget_formula_default_estate(bench):
    b = bench.budget(accounts=10, regions=4, trails=500, buckets=120, keys=80)
    assert b["terms"] == {"account_region": 40, "trail": 1500, "bucket": 960, "key": 400}
    assert b["total"] == 40 + 1500 + 960 + 400 == 2900


def test_budget_check_ok_and_breakdown(bench):
    by_op = {"sts:GetCallerIdentity": 2, "cloudtrail:DescribeTrails": 4, "kms:ListAliases": 4, "kms:ListKeys": 4,
             "s3:ListBuckets": 2, "cloudtrail:GetTrailStatus": 40, "cloudtrail:GetEventSelectors": 40,
             "cloudtrail:ListTags": 4, "s3:GetBucketPolicy": 8, "s3:HeadBucket": 8, "kms:DescribeKey": 4}
    check = bench.budget_check(by_op, accounts=2, regions=2, trails=40, buckets=8, keys=4)
    assert check["budget"] == 4 + 120 + 64 + 20
    assert check["calls"] == sum(by_op.values())
    assert check["ok"] is True
    assert check["formula"] == "2x2 + 3x40 + 8x8 + 5x4"
    region = check["terms"]["account_region"]
    assert region["calls"] == 16 and region["allowance"] == 4 and region["over"] is True
    assert region["operations"]["cloudtrail:DescribeTrails"] == 4
    assert check["terms"]["bucket"]["calls"] == 16
    assert check["terms"]["trail"]["calls"] == 84 and not check["terms"]["trail"]["over"]
    assert check["terms"]["key"]["operations"] == {"kms:DescribeKey": 4}


def test_budget_check_over_budget(bench):
    check = bench.budget_check({"kms:DescribeKey": 6, "kms:GetKeyPolicy": 6}, accounts=1, regions=1, trails=0,
                               buckets=0, keys=2)
    assert check["budget"] == 11 and check["calls"] == 12 and check["ok"] is False
    assert check["terms"]["key"]["over"] is True


def test_unknown_operations_count_as_other(bench):
    check = bench.budget_check({"iam:ListRoles": 3}, accounts=1, regions=1, trails=1, buckets=0, keys=0)
    assert check["terms"]["other"] == {"calls": 3, "allowance": 0, "over": True, "operations": {"iam:ListRoles": 3}}


def test_calls_by_operation_counts_every_attempt(bench):
    calls = [{"service": "kms", "operation": "DescribeKey"}, {"service": "kms", "operation": "DescribeKey"},
             {"service": "s3", "operation": "ListBuckets"}]
    assert bench.calls_by_operation(calls) == {"kms:DescribeKey": 2, "s3:ListBuckets": 1}


# --- ratio and extrapolation -----------------------------------------------------------------------------
def test_ratio(bench):
    assert bench.ratio(300.0, 30.0) == 10.0
    assert bench.ratio(100.0, 30.0) == 3.33
    assert bench.ratio(None, 30.0) is None
    assert bench.ratio(10.0, 0.0) is None


def test_extrapolate_linear_with_fixed_part(bench):
    assert bench.extrapolate(60.0, 100, 700) == pytest.approx(420.0)
    assert bench.extrapolate(60.0, 100, 700, fixed_seconds=10.0) == pytest.approx(10.0 + 50.0 * 7)
    with pytest.raises(ValueError):
        bench.extrapolate(1.0, 0, 10)


def test_fixed_cost_from_two_runs(bench):
    assert bench.fixed_cost((100, 60.0), (300, 160.0)) == pytest.approx(10.0)
    assert bench.fixed_cost((300, 160.0), (100, 60.0)) == pytest.approx(10.0)
    assert bench.fixed_cost((100, 60.0), (100, 70.0)) == 0.0  # no line
    assert bench.fixed_cost((100, 60.0), (300, 50.0)) == 0.0  # noise: larger run faster


def test_naive_fraction(bench):
    assert bench.naive_fraction(700, 1.0, forks=10, hosts=10, limit_seconds=900) == 1.0
    # 7000 units * 2 s / 10 parallel = 1400 s > 900 s -> run 64 %
    assert bench.naive_fraction(7000, 2.0, forks=10, hosts=10, limit_seconds=900) == 0.64
    assert bench.naive_fraction(10**7, 5.0, forks=1, hosts=1, limit_seconds=900) == 0.01


# --- naive subset and inventories ---------------------------------------------------------------------------
MANIFEST = {
    "accounts": {"111111111111": {"regions": ["us-east-1", "eu-west-1"]},
                 "222222222222": {"regions": ["us-east-1", "eu-west-1"],
                                  "role_arn": "arn:aws:iam::222222222222:role/TrailGuardAudit"}},
    "trails": [{"arn": f"arn:aws:cloudtrail:us-east-1:{a}:trail/t{i:02d}", "account": a, "home_region": "us-east-1"}
               for a in ("111111111111", "222222222222") for i in range(10)],
    "keys": [{"arn": f"arn:aws:kms:us-east-1:{a}:key/k{i}", "account": a, "region": "us-east-1"}
             for a in ("111111111111", "222222222222") for i in range(2)],
    "buckets": [{"name": f"b-{a}-{i}", "account": a, "region": "us-east-1", "exists": i != 2}
                for a in ("111111111111", "222222222222") for i in range(3)],
}


def test_naive_resources_full_and_subset(bench):
    full = bench.naive_resources(MANIFEST)
    assert bench.resource_units(full) == 20 + 4 + 4  # deleted buckets are not read
    subset = bench.naive_resources(MANIFEST, 0.3)
    for account in ("111111111111", "222222222222"):
        assert [t["arn"].rsplit("/", 1)[1] for t in subset[account]["trails"]] == ["t00", "t01", "t02"]
        assert len(subset[account]["keys"]) == 1 and len(subset[account]["buckets"]) == 1
    assert subset == bench.naive_resources(MANIFEST, 0.3)  # deterministic


def test_inventory_hosts(bench):
    hosts = bench.inventory_hosts(MANIFEST)
    assert hosts["acct-111111111111"] == {"trailguard_expected_account_id": "111111111111",
                                          "trailguard_regions": ["us-east-1", "eu-west-1"]}
    assert hosts["acct-222222222222"]["trailguard_assume_role_arn"] == "arn:aws:iam::222222222222:role/TrailGuardAudit"
    naive = bench.naive_inventory_hosts(MANIFEST, bench.naive_resources(MANIFEST))
    assert "trailguard_assume_role_arn" not in naive["acct-111111111111"]
    assert len(naive["acct-222222222222"]["naive_trails"]) == 10


def test_naive_playbook_uses_only_amazon_aws_info_modules(bench):
    tasks = bench.naive_playbook()[0]["tasks"]
    modules = {k for t in tasks for k in t if "." in k}
    assert modules == {"amazon.aws.sts_assume_role", "ansible.builtin.set_fact", "amazon.aws.cloudtrail_info",
                       "amazon.aws.kms_key_info", "amazon.aws.s3_bucket_info"}
    loops = {next(k for k in t if k.startswith("amazon.aws.")): t.get("loop") for t in tasks if "loop" in t}
    assert loops == {"amazon.aws.cloudtrail_info": "{{ naive_trails }}", "amazon.aws.kms_key_info": "{{ naive_keys }}",
                     "amazon.aws.s3_bucket_info": "{{ naive_buckets }}"}


# --- report ----------------------------------------------------------------------------------------------------
def _figures(bench, naive_extrapolated=False, calls=2500):
    by_op = {"cloudtrail:GetTrailStatus": calls}
    check = bench.budget_check(by_op, 10, 4, 500, 120, 80)
    naive = {"rc": 0, "extrapolated": naive_extrapolated, "fraction": 0.4 if naive_extrapolated else 1.0,
             "subset_units": 280 if naive_extrapolated else 700, "full_units": 700, "measured_seconds": 200.0,
             "wall_seconds": 500.0 if naive_extrapolated else 200.0, "fixed_seconds": 0.0, "units_per_second": 1.4,
             "lab_calls": 3000, "task_profile": [("Read each trail", 150.0)]}
    return {
        "date": "2026-01-01T00:00:00Z", "machine": {"cpus": 2, "load_before": 1.0, "load_after": 2.0},
        "params": {"accounts": 10, "regions": 4}, "forks": 10,
        "estate": {"trails": 500, "buckets": 120, "keys": 80, "build_seconds": 50.0},
        "ours": {"rc": 0, "wall_seconds": 40.0, "inventory_seconds_max": 20.0, "inventory_seconds_mean": 15.0,
                 "overhead_seconds": 20.0, "calls_per_trail": calls / 500, "budget_check": check,
                 "task_profile": [("trailguard.cloudtrail_cmk.assess : Inventory and judge the account", 20.0)]},
        "naive": naive, "ratio": bench.ratio(naive["wall_seconds"], 40.0),
    }


def test_format_report_measured(bench):
    text = bench.format_report(_figures(bench))
    assert "wall time                 40.0 s" in text
    assert "2500 total, 5.00 per trail" in text
    assert "10x4 + 3x500 + 8x120 + 5x80 = 2900 -> OK" in text
    assert "EXTRAPOLATED" not in text
    assert "ours is 5.0x faster than the naive way; MISSES the 10x target" in text
    assert "Inventory and judge the account" in text and "Read each trail" in text


def test_format_report_extrapolated_and_over_budget(bench):
    text = bench.format_report(_figures(bench, naive_extrapolated=True, calls=3000))
    assert "deterministic subset: 280 of 700 resources" in text
    assert "wall time (EXTRAPOLATED)  500.0 s" in text
    assert "12.5x faster than the naive way (extrapolated); meets" in text
    assert "OVER BUDGET" in text
    assert "cloudtrail:GetTrailStatus" in text and "over its share" in text


def test_format_report_target_met(bench):
    fig = _figures(bench)
    fig["naive"]["wall_seconds"] = 400.0
    fig["ratio"] = bench.ratio(400.0, 40.0)
    assert "ours is 10.0x faster than the naive way; meets the 10x target" in bench.format_report(fig)


def test_parse_task_profile(bench):
    log = """PLAY RECAP *********
acct-1 : ok=3 changed=0
Saturday 01 January 2026  00:00:10 +0000 (0:00:01.000)       0:00:10.000 ******
===============================================================================
trailguard.cloudtrail_cmk.assess : Inventory and judge the account ------ 12.34s
Read each trail -------------------------------------------------------- 1.50s
trailguard.cloudtrail_cmk.assess : Write the account's inventory and findings -- 48.93s
"""
    assert bench.parse_task_profile(log) == [
        ("trailguard.cloudtrail_cmk.assess : Inventory and judge the account", 12.34), ("Read each trail", 1.5),
        ("trailguard.cloudtrail_cmk.assess : Write the account's inventory and findings", 48.93)]


# --- IAM policy documents ----------------------------------------------------------------------------------------
# boto3 operation -> the IAM action that authorizes it (where the names differ, AWS's service authorization
# reference decides; e.g. HeadBucket and ListObjectsV2 are authorized by s3:ListBucket, HeadObject by s3:GetObject).
IAM_ACTION = {
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "ListBuckets"): "s3:ListAllMyBuckets",
    ("s3", "GetBucketEncryption"): "s3:GetEncryptionConfiguration",
    ("s3", "PutBucketEncryption"): "s3:PutEncryptionConfiguration",
    ("s3", "GetObjectLockConfiguration"): "s3:GetBucketObjectLockConfiguration",
    ("s3", "GetBucketLifecycleConfiguration"): "s3:GetLifecycleConfiguration",
}


def iam_action(service: str, operation: str) -> str:
    return IAM_ACTION.get((service, operation), f"{service}:{operation}")


def _camel(snake: str) -> str:
    special = {"list_objects_v2": "ListObjectsV2"}
    return special.get(snake) or "".join(part.capitalize() for part in snake.split("_"))


def _policy(name):
    return json.loads((IAM / f"{name}-policy.json").read_text())


def allowed(policy: dict, action: str) -> bool:
    """Allowed by some Allow statement and not by an unconditional Deny (conditions are not evaluated)."""
    def matches(stmt):
        actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
        return any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions)

    statements = policy["Statement"]
    if any(s["Effect"] == "Deny" and "Condition" not in s and matches(s) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and matches(s) for s in statements)


# api_calls.json of a real assess run (bench estate, 2 accounts x 2 regions), one record per distinct operation,
# plus the two calls that estate does not trigger: DescribeRegions (no regions given) and DescribeOrganization
# (an organization trail owned by the account; the demo estate's tg-org-trail).
ASSESS_API_CALLS = [
    {"service": "sts", "operation": "GetCallerIdentity", "region": "us-east-1"},
    {"service": "ec2", "operation": "DescribeRegions", "region": "us-east-1"},
    {"service": "organizations", "operation": "DescribeOrganization", "region": "us-east-1"},
    {"service": "iam", "operation": "GetAccountAuthorizationDetails", "region": "us-east-1"},
    {"service": "cloudtrail", "operation": "DescribeTrails", "region": "eu-west-1"},
    {"service": "cloudtrail", "operation": "GetEventSelectors", "region": "eu-west-1"},
    {"service": "cloudtrail", "operation": "GetInsightSelectors", "region": "eu-west-1"},
    {"service": "cloudtrail", "operation": "GetTrailStatus", "region": "eu-west-1"},
    {"service": "cloudtrail", "operation": "ListTags", "region": "us-east-1"},
    {"service": "kms", "operation": "DescribeKey", "region": "us-east-1"},
    {"service": "kms", "operation": "GetKeyPolicy", "region": "us-east-1"},
    {"service": "kms", "operation": "GetKeyRotationStatus", "region": "us-east-1"},
    {"service": "kms", "operation": "ListAliases", "region": "us-east-1"},
    {"service": "kms", "operation": "ListKeys", "region": "eu-west-1"},
    {"service": "kms", "operation": "ListResourceTags", "region": "us-east-1"},
    {"service": "s3", "operation": "GetBucketAcl", "region": "eu-west-1"},
    {"service": "s3", "operation": "GetBucketEncryption", "region": "eu-west-1"},
    {"service": "s3", "operation": "GetBucketLifecycleConfiguration", "region": "eu-west-1"},
    {"service": "s3", "operation": "GetBucketOwnershipControls", "region": "eu-west-1"},
    {"service": "s3", "operation": "GetBucketPolicy", "region": "eu-west-1"},
    {"service": "s3", "operation": "GetBucketRequestPayment", "region": "eu-west-1"},
    {"service": "s3", "operation": "GetBucketVersioning", "region": "eu-west-1"},
    {"service": "s3", "operation": "GetObjectLockConfiguration", "region": "eu-west-1"},
    {"service": "s3", "operation": "HeadBucket", "region": "us-east-1"},
    {"service": "s3", "operation": "ListBuckets", "region": "us-east-1"},
]


@pytest.mark.parametrize("name", ["assess", "apply", "verify"])
def test_policy_documents_are_valid(name):
    policy = _policy(name)
    assert policy["Version"] == "2012-10-17"
    sids = [s["Sid"] for s in policy["Statement"]]
    assert len(sids) == len(set(sids)), "Sids must be unique"
    for stmt in policy["Statement"]:
        assert re.fullmatch(r"TrailGuard[A-Za-z0-9]+", stmt["Sid"]), stmt["Sid"]
        assert stmt["Effect"] in ("Allow", "Deny")
        assert set(stmt) <= {"Sid", "Effect", "Action", "Resource", "Condition"}
        assert stmt["Action"] and stmt["Resource"]
        actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
        for action in actions:
            assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9*]+", action), action
    assert len(json.dumps(policy, separators=(",", ":"))) <= 6144, "managed policy size limit"


@pytest.mark.parametrize("call", ASSESS_API_CALLS, ids=lambda c: f"{c['service']}:{c['operation']}")
def test_assess_policy_covers_every_recorded_call(call):
    assert allowed(_policy("assess"), iam_action(call["service"], call["operation"]))


def test_assess_policy_is_read_only():
    for stmt in _policy("assess")["Statement"]:
        actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
        for action in actions:
            verb = action.split(":", 1)[1]
            assert re.match(r"(Get|List|Describe)", verb), action


def test_assess_policy_has_nothing_unused():
    used = {iam_action(c["service"], c["operation"]) for c in ASSESS_API_CALLS}
    granted = set()
    for stmt in _policy("assess")["Statement"]:
        granted |= set(stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]])
    # GetBucketLocation: the region of a bucket the caller does not own (apply and verify use it too).
    assert granted - used == {"s3:GetBucketLocation"}


def _access_layer_operations():
    """``{function_name: (service, Operation)}`` of the access layer (_cloudtrail, _kms, _s3)."""
    ops = {}
    for module, service in (("_cloudtrail", "cloudtrail"), ("_kms", "kms"), ("_s3", "s3")):
        source = (MODULE_UTILS / f"{module}.py").read_text()
        for match in re.finditer(r"^def (\w+)\(.*?(?=^def |\Z)", source, re.S | re.M):
            body = match.group(0)
            called = re.search(r"(?:call|paginate|_get)\(\s*client,\s*\"(\w+)\"", body)
            if called:
                ops[f"{module}.{match.group(1)}"] = (service, _camel(called.group(1)))
    return ops


def test_apply_policy_covers_reads_and_writes():
    apply = _policy("apply")
    for stmt in _policy("assess")["Statement"]:
        for action in stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]:
            assert allowed(apply, action), f"apply must keep assess's read {action}"
    runner = (MODULE_UTILS / "_apply_runner.py").read_text()
    writes = re.search(r"_WRITE_METHODS = \{(.*?)\}", runner, re.S).group(1)
    services = {"PutKeyPolicy": "kms", "CreateGrant": "kms", "CreateKey": "kms", "CreateAlias": "kms",
                "EnableKeyRotation": "kms", "PutBucketPolicy": "s3", "PutBucketEncryption": "s3",
                "UpdateTrail": "cloudtrail"}
    names = re.findall(r"\"(\w+)\":", writes)
    assert names, "could not read _WRITE_METHODS"
    for op in names:
        assert allowed(apply, iam_action(services[op], op)), op
    for service, op in [("kms", "ListGrants"), ("kms", "TagResource")]:
        assert allowed(apply, iam_action(service, op)), op
    layer = _access_layer_operations()
    for fn in set(re.findall(r"(_kms|_s3|_cloudtrail)\.(\w+)\(", runner)):
        service, op = layer[f"{fn[0]}.{fn[1]}"]
        assert allowed(apply, iam_action(service, op)), f"{fn}: {op}"


def test_apply_policy_guards_key_creation():
    by_sid = {s["Sid"]: s for s in _policy("apply")["Statement"]}
    create = by_sid["TrailGuardApplyCreateKey"]["Condition"]["StringEquals"]
    assert create["aws:RequestTag/trailguard:created-by"] == "trailguard.cloudtrail_cmk"
    assert create["kms:KeySpec"] == "SYMMETRIC_DEFAULT"
    plan_key = (MODULE_UTILS / "_plan_key.py").read_text()
    assert 'CREATED_BY_TAG_KEY = "trailguard:created-by"' in plan_key
    assert 'CREATED_BY_TAG_VALUE = "trailguard.cloudtrail_cmk"' in plan_key
    deny = by_sid["TrailGuardApplyNeverBypassLockoutCheck"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"kms:BypassPolicyLockoutSafetyCheck": "true"}}
    grant_ops = by_sid["TrailGuardApplyReaderGrants"]["Condition"]["ForAllValues:StringEquals"]["kms:GrantOperations"]
    assert sorted(grant_ops) == ["Decrypt", "DescribeKey"]


def test_verify_policy_covers_the_verify_runner():
    verify = _policy("verify")
    path = MODULE_UTILS / "_verify_runner.py"
    if not path.exists():
        pytest.skip("no verify runner yet")
    layer = _access_layer_operations()
    used = set(re.findall(r"(_kms|_s3|_cloudtrail)\.(\w+)\(", path.read_text()))
    assert used
    for module, fn in used:
        key = f"{module}.{fn}"
        if key not in layer:  # a reader the access layer does not have in this checkout
            pytest.fail(f"{key} is not an access-layer function")
        service, op = layer[key]
        assert allowed(verify, iam_action(service, op)), f"{key}: {op}"
    for action in ("s3:ListBucket", "s3:GetObject"):
        assert allowed(verify, action)
    assert not any(allowed(verify, a) for a in ("s3:PutObject", "kms:Decrypt", "cloudtrail:UpdateTrail"))
