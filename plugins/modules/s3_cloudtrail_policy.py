#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: s3_cloudtrail_policy
short_description: Let CloudTrail deliver SSE-KMS encrypted logs into its bucket, changing nothing else
version_added: 0.1.0
description:
  - Reads the trail (from its home region) and its bucket, then adds to the bucket policy, only when CloudTrail
    is not already allowed, the statements C(TrailGuardCloudTrailAclCheck) (C(s3:GetBucketAcl) on the bucket)
    and C(TrailGuardCloudTrailWrite) (C(s3:PutObject) on the trail's exact C(AWSLogs/<account>/) path, and the
    organization path for organization trails, with C(s3:x-amz-acl=bucket-owner-full-control) and
    C(aws:SourceArn)/C(aws:SourceAccount) conditions). Every other statement is kept verbatim.
  - A C(Deny) statement that would block CloudTrail's SSE-KMS upload with O(kms_key_arn) makes the module
    refuse (C(BUCKET_POLICY_BLOCKS_KMS)), unless O(amend_blocking_deny=true); then only the blocking
    condition's allowed-value list is extended (C(aws:kms) added to the allowed encryption algorithms, or the
    key ARN to the allowed keys) and each amendment is returned in RV(amendments). A Deny without such a
    condition is always refused (C(BUCKET_POLICY_BLOCKS_CLOUDTRAIL)).
  - A bucket whose default encryption is SSE-KMS with another key is reported
    (C(BUCKET_DEFAULT_ENCRYPTION_CONFLICT) in RV(findings)); default encryption is changed to the trail key
    only with O(resolve_default_encryption=true). CloudTrail names its key on every upload, so the conflict
    does not stop delivery.
  - The bucket policy is read fresh before any write and compared with O(expected_policy_sha256); if it
    drifted the module fails with C(DRIFT_DETECTED) and writes nothing.
author:
  - TrailGuard maintainers (@trailguard)
options:
  trail_arn:
    description: ARN of the trail whose logs go to the bucket.
    type: str
    required: true
  kms_key_arn:
    description: The key the trail will use (ARN preferred; ids and aliases are resolved to the ARN).
    type: str
    required: true
  s3_bucket_name:
    description: The trail's bucket; read from the trail when omitted.
    type: str
  s3_key_prefix:
    description: The trail's S3 key prefix; read from the trail when omitted.
    type: str
  is_organization_trail:
    description: Whether the trail is an organization trail; read from the trail when omitted.
    type: bool
  organization_id:
    description: Organization id (C(o-...)); needed to allow the organization log path.
    type: str
  amend_blocking_deny:
    description: Minimally amend a Deny condition that blocks SSE-KMS uploads with the key (approved change only).
    type: bool
    default: false
  resolve_default_encryption:
    description: Set the bucket's default encryption to SSE-KMS with O(kms_key_arn) when it uses another key.
    type: bool
    default: false
  expected_policy_sha256:
    description:
      - sha256 of the canonical bucket policy recorded by the assessment (sha256 of the empty string when the
        bucket had no policy). When omitted no drift check is made.
    type: str
  account_id:
    description: Account id of the trail; by default from O(trail_arn).
    type: str
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - trailguard.cloudtrail_cmk.attributes
  - trailguard.cloudtrail_cmk.attributes.CHANGE_MODULE
"""

EXAMPLES = r"""
- name: Let the trail write SSE-KMS logs into its bucket
  trailguard.cloudtrail_cmk.s3_cloudtrail_policy:
    trail_arn: arn:aws:cloudtrail:eu-west-1:111111111111:trail/management-events
    kms_key_arn: arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab
    expected_policy_sha256: "{{ assessment.buckets[0].policy_sha256 }}"

- name: Show what would change, including the minimal amendment of a blocking Deny
  trailguard.cloudtrail_cmk.s3_cloudtrail_policy:
    trail_arn: arn:aws:cloudtrail:eu-west-1:111111111111:trail/management-events
    kms_key_arn: arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab
    amend_blocking_deny: true
  check_mode: true
  diff: true
"""

RETURN = r"""
bucket:
  description: The bucket.
  returned: always
  type: str
policy_before:
  description: The bucket policy before (empty policy when the bucket had none).
  returned: always
  type: dict
policy_after:
  description: The bucket policy after (in check mode, the one that would be written).
  returned: always
  type: dict
amendments:
  description: Changes made to Deny statements TrailGuard does not own (only with O(amend_blocking_deny)).
  returned: always
  type: list
  elements: dict
  contains:
    statement:
      description: Sid or C(#index) of the amended statement.
      type: str
    operator:
      description: Condition operator, e.g. C(StringNotEquals).
      type: str
    key:
      description: Condition key, e.g. C(s3:x-amz-server-side-encryption).
      type: str
    added:
      description: The value added to the allowed list.
      type: str
    before:
      description: The condition value before.
      type: raw
    after:
      description: The condition value after.
      type: list
default_encryption_change:
  description: Default encryption rule before and after, when changed.
  returned: always
  type: dict
planned_calls:
  description: The write calls made (or that would be made), in order.
  returned: success
  type: list
  elements: dict
findings:
  description: Refusals (on failure) and warnings (e.g. C(BUCKET_DEFAULT_ENCRYPTION_CONFLICT)).
  returned: always
  type: list
  elements: dict
audit:
  description: Entries with resource, action, status, before, after, request_ids and timestamps.
  returned: always
  type: list
  elements: dict
diff:
  description: Pretty JSON of the bucket policy before and after.
  returned: when diff mode is on
  type: dict
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils._apply_runner import run_bucket, run_module

ARGUMENT_SPEC = dict(
    trail_arn=dict(type="str", required=True),
    kms_key_arn=dict(type="str", required=True, no_log=False),
    s3_bucket_name=dict(type="str"),
    s3_key_prefix=dict(type="str", no_log=False),
    is_organization_trail=dict(type="bool"),
    organization_id=dict(type="str"),
    amend_blocking_deny=dict(type="bool", default=False),
    resolve_default_encryption=dict(type="bool", default=False),
    expected_policy_sha256=dict(type="str"),
    account_id=dict(type="str"),
)


def main():
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, run_bucket)


if __name__ == "__main__":
    main()
