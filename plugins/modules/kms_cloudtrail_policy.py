#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: kms_cloudtrail_policy
short_description: Give CloudTrail (and approved log readers) exactly the KMS permissions it needs
version_added: 0.1.0
description:
  - Either creates a symmetric customer-managed KMS key for CloudTrail (O(mode=create_key)), or patches the
    policy of an existing key (O(mode=use_existing_key)) by adding only statements whose C(Sid) starts with
    C(TrailGuard) (C(TrailGuardCloudTrailEncrypt), C(TrailGuardCloudTrailDescribeKey),
    C(TrailGuardCloudTrailDecryptBucketKey), C(TrailGuardLogReadersDecrypt)).
  - Every other statement is kept verbatim (checked after the merge); the resulting policy must stay under
    KMS's 32 KB limit and keep the account's administrative access, otherwise the module refuses.
  - Never sends C(BypassPolicyLockoutSafetyCheck), never enables a key and never cancels a key deletion
    (unlike M(amazon.aws.kms_key) with O(amazon.aws.kms_key#module:state=present)).
  - Refuses AWS-managed, disabled, pending-deletion, asymmetric and wrong-region keys, naming the reason.
  - The key policy is read fresh before any write and compared with O(expected_policy_sha256) from the
    assessment; if it drifted, the module fails with C(DRIFT_DETECTED) and writes nothing.
  - "Grants: KMS C(CreateGrant) accepts only IAM principal ARNs as grantee (accounts, users, roles, federated
    and assumed-role users), so a grant cannot serve C(cloudtrail.amazonaws.com). With O(use_grant=true)
    grants (C(Decrypt), C(DescribeKey)) are created for O(readers) only; if CloudTrail's own permission is
    missing from the key policy the module refuses with C(GRANT_CANNOT_SERVE_CLOUDTRAIL)."
author:
  - TrailGuard maintainers (@trailguard)
options:
  mode:
    description:
      - V(use_existing_key) patches the policy of O(key_id).
      - V(create_key) creates a new key with O(alias). If O(alias) already names a key this module created
        (tag C(trailguard:created-by)), that key is patched instead (idempotent re-run); if it names another
        key, the module refuses with C(ALIAS_IN_USE).
    type: str
    choices: [use_existing_key, create_key]
    default: use_existing_key
  key_id:
    description: Key ARN, key id, alias name or alias ARN of the existing key. Required with O(mode=use_existing_key).
    type: str
  trail_arns:
    description: ARNs of the trails that will use the key; the statements are conditioned on them.
    type: list
    elements: str
    required: true
  readers:
    description: IAM principal ARNs approved to decrypt the logs (C(kms:Decrypt)).
    type: list
    elements: str
    default: []
  use_grant:
    description: Give O(readers) C(Decrypt)/C(DescribeKey) through KMS grants instead of key policy statements.
    type: bool
    default: false
  bucket_key_enabled:
    description: The trails' bucket uses an S3 Bucket Key, so CloudTrail also needs C(kms:Decrypt).
    type: bool
    default: false
  bucket_region:
    description: Region of the trails' S3 bucket; a key in another region is refused (C(KEY_REGION_MISMATCH)).
    type: str
  is_organization_trail:
    description: The trails are organization trails.
    type: bool
    default: false
  organization_id:
    description: Organization id (C(o-...)) for organization trails.
    type: str
  expected_policy_sha256:
    description:
      - sha256 of the canonical key policy recorded by the assessment (concurrency token).
      - When omitted no drift check is made.
    type: str
  account_id:
    description: Account id of the key; by default taken from the key or trail ARNs (or STS).
    type: str
  alias:
    description: Alias of the key to create (with or without C(alias/)). Required with O(mode=create_key).
    type: str
  description:
    description: Description of the key to create.
    type: str
    default: ""
  tags:
    description: Tags of the key to create (C(trailguard:created-by) is always added).
    type: dict
    default: {}
  enable_rotation:
    description:
      - Enable automatic rotation of a created key. When false, rotation is never disabled on an existing key.
    type: bool
    default: true
  rotation_period_days:
    description: Rotation period (90-2560 days) for O(enable_rotation).
    type: int
  multi_region:
    description: Create a multi-Region primary key.
    type: bool
    default: false
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - trailguard.cloudtrail_cmk.attributes
  - trailguard.cloudtrail_cmk.attributes.CHANGE_MODULE
attributes:
  check_mode:
    support: full
    details: Check mode returns the exact policy and calls the real run makes (the new key's ARN is unknown).
notes:
  - Only statements with C(TrailGuard) Sids are ever added or merged; no statement is removed or narrowed.
"""

EXAMPLES = r"""
- name: Let CloudTrail use an existing key (patch only TrailGuard statements)
  trailguard.cloudtrail_cmk.kms_cloudtrail_policy:
    key_id: arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab
    trail_arns:
      - arn:aws:cloudtrail:eu-west-1:111111111111:trail/management-events
    readers:
      - arn:aws:iam::111111111111:role/SecurityAudit
    expected_policy_sha256: "{{ assessment.keys[0].policy_sha256 }}"

- name: Preview the change with its policy diff
  trailguard.cloudtrail_cmk.kms_cloudtrail_policy:
    key_id: alias/cloudtrail
    trail_arns: [arn:aws:cloudtrail:eu-west-1:111111111111:trail/management-events]
  check_mode: true
  diff: true
  register: preview

- name: Create a new CloudTrail key with rotation every 180 days
  trailguard.cloudtrail_cmk.kms_cloudtrail_policy:
    mode: create_key
    alias: trailguard/management-events
    description: CloudTrail logs of management-events
    rotation_period_days: 180
    tags:
      owner: security
    trail_arns: [arn:aws:cloudtrail:eu-west-1:111111111111:trail/management-events]
    region: eu-west-1
"""

RETURN = r"""
key_arn:
  description: ARN of the key (null for a key to be created in check mode).
  returned: always
  type: str
  sample: arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab
created:
  description: Whether a key is (or in check mode would be) created.
  returned: always
  type: bool
alias:
  description: Alias of the created key.
  returned: when O(mode=create_key) creates a key
  type: str
grant_ids:
  description: Ids of the reader grants (existing and created).
  returned: always
  type: list
  elements: str
readers_added:
  description: Readers given C(kms:Decrypt) by this run (statement or grant).
  returned: success
  type: list
  elements: str
policy_before:
  description: The key policy read before the change (null when a key is created).
  returned: always
  type: dict
policy_after:
  description: The key policy after the change (in check mode, the policy that would be written).
  returned: always
  type: dict
planned_calls:
  description: The write calls made (or in check mode, that would be made), in order.
  returned: success
  type: list
  elements: dict
  sample: [{"service": "kms", "operation": "PutKeyPolicy"}]
findings:
  description: Refusals (on failure) and warnings, in the collection's finding format.
  returned: always
  type: list
  elements: dict
  contains:
    code:
      description: Finding code, e.g. C(DRIFT_DETECTED), C(KEY_DISABLED), C(ADMIN_ACCESS_WOULD_BE_LOST).
      type: str
    severity:
      description: critical, high, medium, low or info.
      type: str
    resource:
      description: The key ARN.
      type: str
    message:
      description: What is wrong.
      type: str
    remediation:
      description: What to do about it.
      type: str
    statement:
      description: Sid or C(#index) of the statement concerned.
      type: str
audit:
  description: One entry per changed (or refused / failed) resource.
  returned: always
  type: list
  elements: dict
  contains:
    resource:
      description: Key ARN (or alias for a key to be created).
      type: str
    action:
      description: e.g. C(put_key_policy), C(create_key+create_alias+enable_key_rotation), C(create_grant).
      type: str
    status:
      description: planned (check mode), done, refused or failed.
      type: str
    before:
      description: Policy before.
      type: dict
    after:
      description: Policy after.
      type: dict
    request_ids:
      description: AWS request ids of the write calls.
      type: list
      elements: str
    timestamps:
      description: UTC timestamps of the write calls.
      type: list
      elements: str
diff:
  description: Pretty JSON of the key policy before and after.
  returned: when diff mode is on
  type: dict
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils._apply_runner import run_key, run_module

ARGUMENT_SPEC = dict(
    mode=dict(type="str", choices=["use_existing_key", "create_key"], default="use_existing_key"),
    key_id=dict(type="str"),
    trail_arns=dict(type="list", elements="str", required=True),
    readers=dict(type="list", elements="str", default=[]),
    use_grant=dict(type="bool", default=False),
    bucket_key_enabled=dict(type="bool", default=False),
    bucket_region=dict(type="str"),
    is_organization_trail=dict(type="bool", default=False),
    organization_id=dict(type="str"),
    expected_policy_sha256=dict(type="str"),
    account_id=dict(type="str"),
    alias=dict(type="str"),
    description=dict(type="str", default=""),
    tags=dict(type="dict", default={}),
    enable_rotation=dict(type="bool", default=True),
    rotation_period_days=dict(type="int"),
    multi_region=dict(type="bool", default=False),
)


def main():
    module = AnsibleAWSModule(
        argument_spec=ARGUMENT_SPEC,
        required_if=[("mode", "use_existing_key", ["key_id"]), ("mode", "create_key", ["alias"])],
        supports_check_mode=True,
    )
    run_module(module, run_key)


if __name__ == "__main__":
    main()
