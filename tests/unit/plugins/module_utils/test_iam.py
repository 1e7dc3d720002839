"""_iam.principals: GetAccountAuthorizationDetails -> principals with every policy that applies to them."""

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _iam

A = "111111111111"
DOC = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
DOC2 = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]}
BOUNDARY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}


def managed(arn, doc, default=True):
    return {"Arn": arn, "PolicyVersionList": [{"Document": {"old": True}, "IsDefaultVersion": False},
                                              {"Document": doc, "IsDefaultVersion": default}]}


DETAILS = {
    "RoleDetailList": [
        {"Arn": f"arn:aws:iam::{A}:role/B", "RoleName": "B",
         "RolePolicyList": [{"PolicyName": "inline", "PolicyDocument": DOC}],
         "AttachedManagedPolicies": [{"PolicyArn": f"arn:aws:iam::{A}:policy/decrypt"},
                                     {"PolicyArn": "arn:aws:iam::aws:policy/NotReturned"}],
         "PermissionsBoundary": {"PermissionsBoundaryArn": f"arn:aws:iam::{A}:policy/boundary"}},
        {"Arn": f"arn:aws:iam::{A}:role/A", "RoleName": "A"},
    ],
    "UserDetailList": [
        {"Arn": f"arn:aws:iam::{A}:user/u", "UserName": "u", "GroupList": ["readers", "gone"],
         "PermissionsBoundary": {"PermissionsBoundaryArn": "arn:aws:iam::aws:policy/Missing"}},
    ],
    "GroupDetailList": [
        {"GroupName": "readers", "GroupPolicyList": [{"PolicyName": "g", "PolicyDocument": DOC2}],
         "AttachedManagedPolicies": [{"PolicyArn": f"arn:aws:iam::{A}:policy/decrypt"}]},
    ],
    "Policies": [managed(f"arn:aws:iam::{A}:policy/decrypt", DOC2),
                 managed(f"arn:aws:iam::{A}:policy/boundary", BOUNDARY)],
}


def test_principals_resolve_every_policy_that_applies():
    out = {p["name"]: p for p in _iam.principals(DETAILS)}
    assert [p["arn"] for p in _iam.principals(DETAILS)] == sorted(p["arn"] for p in out.values())
    assert out["B"]["type"] == "role"
    assert out["B"]["policies"] == [DOC, DOC2]  # inline + the attached policy's default version
    assert out["B"]["permissions_boundary"] == BOUNDARY
    assert out["B"]["unresolved"] == ["arn:aws:iam::aws:policy/NotReturned"]
    assert out["A"]["policies"] == [] and out["A"]["permissions_boundary"] is None
    # a user gets its groups' inline and attached policies; an unknown group is ignored
    assert out["u"]["type"] == "user"
    assert out["u"]["policies"] == [DOC2, DOC2]
    # an unreturned boundary is recorded and not applied (may list a reader too many, never one too few)
    assert out["u"]["permissions_boundary"] is None
    assert out["u"]["unresolved"] == ["arn:aws:iam::aws:policy/Missing"]


def test_empty_details():
    assert _iam.principals({}) == []
