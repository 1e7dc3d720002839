#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: trail_kms_attach
short_description: Point a CloudTrail trail at a KMS key, changing nothing else
version_added: 0.1.0
description:
  - Calls C(UpdateTrail) with exactly two parameters, C(Name=<trail ARN>) and C(KmsKeyId=<key ARN>), from the
    trail's home region (the region in O(trail_arn)). No other trail setting is restated, so a multi-region
    trail stays multi-region (M(amazon.aws.cloudtrail) restates C(IsMultiRegionTrail) and
    C(IncludeGlobalServiceEvents) on every update).
  - The trail is read fresh first; its current C(KmsKeyId) is compared with O(expected_kms_key_id) from the
    assessment and the module fails with C(DRIFT_DETECTED), writing nothing, if it changed. A trail already
    on the key is left alone (C(changed=false)).
  - AWS errors are mapped to findings with remediation. For C(InsufficientEncryptionPolicyException), whose AWS
    message names both the bucket and the key, the key and bucket policies are re-read and evaluated to say
    which one is at fault and which C(TrailGuard) statement is missing (RV(findings[].culprit), RV(findings[].missing)).
  - The trail's logging status is read before and after; the module fails with C(LOGGING_STATUS_CHANGED) if
    the update changed it.
author:
  - TrailGuard maintainers (@trailguard)
options:
  trail_arn:
    description: ARN of the trail. Its region is the home region the update is sent to.
    type: str
    required: true
  kms_key_arn:
    description: The key (ARN preferred; ids and aliases are resolved to the ARN in the trail's region).
    type: str
    required: true
  expected_kms_key_id:
    description:
      - The trail's C(KmsKeyId) recorded by the assessment (empty string when it had none).
      - When omitted no drift check is made.
    type: str
  organization_id:
    description: Organization id, used to diagnose policy errors of organization trails.
    type: str
  account_id:
    description: Caller's account id; when given, organization trails of another account are refused.
    type: str
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - trailguard.cloudtrail_cmk.attributes
  - trailguard.cloudtrail_cmk.attributes.CHANGE_MODULE
"""

EXAMPLES = r"""
- name: Attach the key to the trail (fails with DRIFT_DETECTED if someone changed the key meanwhile)
  trailguard.cloudtrail_cmk.trail_kms_attach:
    trail_arn: arn:aws:cloudtrail:eu-west-1:111111111111:trail/management-events
    kms_key_arn: arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab
    expected_kms_key_id: ""

- name: Preview
  trailguard.cloudtrail_cmk.trail_kms_attach:
    trail_arn: arn:aws:cloudtrail:eu-west-1:111111111111:trail/management-events
    kms_key_arn: arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab
  check_mode: true
  diff: true
"""

RETURN = r"""
trail_arn:
  description: The trail.
  returned: always
  type: str
previous_kms_key_id:
  description: The trail's KmsKeyId before (null when it had none).
  returned: always
  type: str
kms_key_id:
  description: The trail's KmsKeyId after (read back; in check mode the one that would be set).
  returned: always
  type: str
is_logging:
  description: Logging status, confirmed unchanged by the update.
  returned: success
  type: bool
planned_calls:
  description: The write calls made (or that would be made) - at most one UpdateTrail.
  returned: success
  type: list
  elements: dict
findings:
  description: Refusals and mapped AWS errors (codes e.g. C(DRIFT_DETECTED), C(INSUFFICIENT_ENCRYPTION_POLICY),
    C(KMS_KEY_NOT_FOUND), C(KMS_EXCEPTION), C(INVALID_HOME_REGION), C(TRAIL_NOT_FOUND)).
  returned: always
  type: list
  elements: dict
  contains:
    culprit:
      description: For C(INSUFFICIENT_ENCRYPTION_POLICY) - key, bucket, both or unknown.
      type: str
    missing:
      description: For C(INSUFFICIENT_ENCRYPTION_POLICY) - the requests denied, with the policy, the action,
        the TrailGuard Sid that would allow it and any explicitly denying statements.
      type: list
      elements: dict
audit:
  description: Entries with resource, action, status, before, after, request_ids and timestamps.
  returned: always
  type: list
  elements: dict
diff:
  description: KmsKeyId before and after.
  returned: when diff mode is on
  type: dict
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils._apply_runner import run_attach, run_module

ARGUMENT_SPEC = dict(
    trail_arn=dict(type="str", required=True),
    kms_key_arn=dict(type="str", required=True, no_log=False),
    expected_kms_key_id=dict(type="str"),
    organization_id=dict(type="str"),
    account_id=dict(type="str"),
)


def main():
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, run_attach)


if __name__ == "__main__":
    main()
