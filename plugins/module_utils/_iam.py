# Copyright: contributors to trailguard.cloudtrail_cmk
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE to trailguard.cloudtrail_cmk: the account's IAM principals and the policies they carry.

One paginated ``GetAccountAuthorizationDetails`` per account (up to 1,000 entities a page) gives every
role and user with their inline policies, attached managed policies (default version documents),
group memberships and permissions boundaries: enough to tell which of the account's own principals
read the CloudTrail logs through IAM (``READERS_NEED_DECRYPT``) without a call per role.
"""

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils._common import paginate

FILTER = ["Role", "User", "Group", "LocalManagedPolicy", "AWSManagedPolicy"]
PAGE_SIZE = 1000


def account_authorization_details(client):
    """The merged pages of GetAccountAuthorizationDetails (roles, users, groups, managed policies)."""
    return paginate(
        client, "get_account_authorization_details", Filter=FILTER, PaginationConfig={"PageSize": PAGE_SIZE}
    )


def _default_version(policy):
    for version in policy.get("PolicyVersionList") or []:
        if version.get("IsDefaultVersion"):
            return version.get("Document")
    return None


def principals(details):
    """Roles and users as ``{"arn", "type", "name", "policies", "permissions_boundary", "unresolved"}``.

    ``policies``: every identity policy document that applies (inline, attached managed, and for users
    their groups' inline and attached policies). ``unresolved``: attached / boundary policy ARNs whose
    document the response did not carry (the principal is then judged on what is known). Pure: no boto3.
    """
    managed = {p["Arn"]: _default_version(p) for p in details.get("Policies") or [] if p.get("Arn")}
    groups = {}
    for group in details.get("GroupDetailList") or []:
        groups[group.get("GroupName")] = group

    def resolve(entity, unresolved):
        docs = [p.get("PolicyDocument") for p in entity.get("RolePolicyList") or entity.get("UserPolicyList")
                or entity.get("GroupPolicyList") or []]
        for attached in entity.get("AttachedManagedPolicies") or []:
            doc = managed.get(attached.get("PolicyArn"))
            if doc is None:
                unresolved.append(attached.get("PolicyArn"))
            else:
                docs.append(doc)
        return [d for d in docs if d is not None]

    out = []
    for kind, entities in (("role", details.get("RoleDetailList")), ("user", details.get("UserDetailList"))):
        for entity in entities or []:
            unresolved = []
            docs = resolve(entity, unresolved)
            for name in entity.get("GroupList") or []:
                if name in groups:
                    docs += resolve(groups[name], unresolved)
            boundary = None
            boundary_arn = (entity.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
            if boundary_arn:
                boundary = managed.get(boundary_arn)
                if boundary is None:
                    unresolved.append(boundary_arn)  # judged without it: may list a reader too many, never one too few
            out.append(
                {
                    "arn": entity.get("Arn"),
                    "type": kind,
                    "name": entity.get(f"{kind.capitalize()}Name"),
                    "policies": docs,
                    "permissions_boundary": boundary,
                    "unresolved": sorted(set(unresolved)),
                }
            )
    return sorted(out, key=lambda p: p["arn"] or "")
