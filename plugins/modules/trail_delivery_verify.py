#!/usr/bin/python
# Copyright: contributors to trailguard.cloudtrail_cmk
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: trail_delivery_verify
short_description: Prove that CloudTrail trails deliver new log files encrypted with their intended KMS key
version_added: 0.1.0
description:
  - For each trail given, re-reads the trail by ARN in its home region and checks that C(KmsKeyId) is the
    expected key ARN and that the trail logs as it did before the change.
  - Re-checks the key (exists, C(Enabled), customer-managed, and its key policy lets CloudTrail call
    C(kms:GenerateDataKey*) and C(kms:DescribeKey) for this trail) and the bucket policy (CloudTrail's
    C(s3:GetBucketAcl) and SSE-KMS C(s3:PutObject) with this key at the trail's path), with the same policy
    evaluation as the assessment.
  - Lists log objects under C([prefix/]AWSLogs/<account>/CloudTrail/<region>/) (and
    C(AWSLogs/<org-id>/<account>/...) for organization trails) delivered after O(trails[].attached_at), heads a
    sample of them and requires C(ServerSideEncryption=aws:kms) with C(SSEKMSKeyId) equal to the expected key ARN.
  - Digest files (C(CloudTrail-Digest/)) and log files delivered before the change (or within the same second)
    are reported, never judged.
  - A C(LatestDeliveryError) from GetTrailStatus whose attempt came after the change fails the trail; the
    error is quoted verbatim with its likely cause. A C(LatestDeliveryTime) after the change supports the
    verdict but never replaces object evidence.
  - Polls every O(poll_interval) seconds up to O(wait_timeout) seconds for the first new log object. Trails
    whose configuration already fails, and trails that do not log, are decided without waiting.
  - Each trail gets a verdict C(verified), C(failed) or C(pending) with its evidence (object keys with their
    encryption headers, request ids, timestamps) and, short of C(verified), the exact error and remediation.
  - The module never changes anything and never fails because a trail is not verified; the verify role
    turns unverified trails into a failed run.
author:
  - TrailGuard maintainers (@trailguard)
options:
  trails:
    description:
      - The trails to verify, usually the changed and unchanged trails of C(apply/summary.json).
    type: list
    elements: dict
    required: true
    suboptions:
      trail_arn:
        description: ARN of the trail (its home region is read from the ARN).
        type: str
        required: true
      expected_key_arn:
        description: ARN of the KMS key the trail must use (aliases are refused).
        type: str
        required: true
      attached_at:
        description:
          - UTC ISO 8601 time the key was attached (or found attached). Only log files delivered after it are
            judged.
        type: str
        required: true
      was_logging:
        description: Whether the trail was logging before the change; it must still be.
        type: bool
        default: true
      previous_kms_key_id:
        description: The trail's key before the change, copied to the result for the report.
        type: str
  wait_timeout:
    description:
      - Seconds to wait for the first log file delivered after the change. CloudTrail delivers about every
        5 minutes. C(0) looks once.
    type: int
    default: 600
  poll_interval:
    description: Seconds between two looks at the bucket while waiting.
    type: int
    default: 30
  sample_size:
    description: Log objects delivered after the change to head per trail (the newest, spread over regions).
    type: int
    default: 5
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - trailguard.cloudtrail_cmk.attributes
  - trailguard.cloudtrail_cmk.attributes.INFO_MODULE
notes:
  - Needs read-only permissions only - C(cloudtrail:DescribeTrails), C(cloudtrail:GetTrailStatus),
    C(kms:DescribeKey), C(kms:GetKeyPolicy), C(s3:GetBucketLocation), C(s3:GetBucketPolicy),
    C(s3:GetEncryptionConfiguration), C(s3:ListBucket) and C(s3:GetObject) (for HeadObject; no C(kms:Decrypt)
    is needed).
  - Log paths shared with other trails (same bucket and prefix) cannot tell whose object is whose; objects
    encrypted with another key there are attributed to the other trails, and when another trail in the path
    uses the same key a C(LatestDeliveryTime) after the change is also required.
"""

EXAMPLES = r"""
- name: Verify a trail moved onto its key ten minutes ago (read-only, also in check mode)
  trailguard.cloudtrail_cmk.trail_delivery_verify:
    trails:
      - trail_arn: arn:aws:cloudtrail:us-east-1:111111111111:trail/main
        expected_key_arn: arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab
        attached_at: "2026-01-01T10:00:00Z"
        was_logging: true
    wait_timeout: 900
    poll_interval: 60
  check_mode: true
  register: verification

- name: Fail unless every trail is verified
  ansible.builtin.assert:
    that: verification.summary.all_verified
    fail_msg: "{{ verification.trails | rejectattr('verdict', 'eq', 'verified') | map(attribute='message') | list }}"
"""

RETURN = r"""
trails:
  description: One result per trail, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    trail_arn:
      description: The trail.
      type: str
      returned: always
      sample: "arn:aws:cloudtrail:us-east-1:111111111111:trail/main"
    name:
      description: Trail name.
      type: str
      returned: always
    account_id:
      description: Account of the trail.
      type: str
      returned: always
    home_region:
      description: Home region of the trail.
      type: str
      returned: always
    expected_key_arn:
      description: The key the trail must use.
      type: str
      returned: always
    previous_kms_key_id:
      description: The key before the change, as given (null when none).
      type: str
      returned: always
    attached_at:
      description: Attach time (UTC ISO 8601, milliseconds).
      type: str
      returned: always
    was_logging:
      description: Logging state before the change.
      type: bool
      returned: always
    verdict:
      description: C(verified), C(failed) or C(pending).
      type: str
      returned: always
      sample: verified
    message:
      description: One plain sentence explaining the verdict (every failure's code and message when failed).
      type: str
      returned: always
    checks:
      description:
        - Every check made, C({name, status, code, severity, resource, message, remediation, statement}); status is
          C(pass), C(fail), C(unknown) or C(info).
      type: list
      elements: dict
      returned: always
    errors:
      description:
        - Findings C({code, severity, resource, message, remediation, statement}) for the checks that failed or
          could not be made. Codes include TRAIL_NOT_FOUND, TRAIL_KEY_MISMATCH, TRAIL_LOGGING_STOPPED,
          KEY_NOT_FOUND, KEY_DISABLED, KEY_PENDING_DELETION, KEY_AWS_MANAGED, KEY_POLICY_DENIES_CLOUDTRAIL,
          KEY_POLICY_NO_DESCRIBE, BUCKET_NOT_FOUND, BUCKET_POLICY_DENIES_CLOUDTRAIL, BUCKET_POLICY_BLOCKS_KMS,
          DELIVERY_ERROR, OBJECT_NOT_ENCRYPTED_WITH_KEY, NO_NEW_LOG_OBJECT, READ_ERROR and the *_UNREADABLE codes.
      type: list
      elements: dict
      returned: always
      sample:
        - code: DELIVERY_ERROR
          severity: critical
          resource: "arn:aws:cloudtrail:us-east-1:111111111111:trail/main"
          message: "CloudTrail reports LatestDeliveryError: KMS.DisabledException (...). Likely cause: ..."
          remediation: "Enable the key (kms:EnableKey) or move the trail to an enabled customer-managed key."
          statement: null
    trail:
      description: The trail as re-read (found, kms_key_id, is_logging, bucket, bucket_region, s3_key_prefix,
        is_multi_region_trail, is_organization_trail).
      type: dict
      returned: always
    key:
      description: The expected key as re-read (key_state, key_manager, key_spec).
      type: dict
      returned: always
    delivery:
      description: GetTrailStatus delivery fields (latest_delivery_time, latest_delivery_error,
        latest_delivery_attempt_time, latest_delivery_attempt_succeeded).
      type: dict
      returned: always
    evidence:
      description:
        - C(objects) (headed log objects, C({bucket, key, region, last_modified, position, judged,
          server_side_encryption, sse_kms_key_id, bucket_key_enabled, matches, request_id, headed_at})),
          C(objects_after_attach), C(objects_sampled), C(ignored_before_attach) and C(ignored_at_attach_second)
          (C({count, examples})), C(digests) (C({count, objects, judged=false})), C(roots) (log paths listed),
          C(bucket), C(s3_key_prefix), C(shared_path_with), C(shared_same_key), C(first_object_seen_at).
      type: dict
      returned: always
    polling:
      description: C({polls, waited_seconds, wait_timeout, poll_interval, timed_out}).
      type: dict
      returned: always
    checked_at:
      description: UTC time of the final look.
      type: str
      returned: always
    api_calls:
      description: The AWS calls made for this trail (request ids, timestamps, error codes).
      type: list
      elements: dict
      returned: always
summary:
  description: Counts C({trails, verified, failed, pending, all_verified}), C(api_calls) C({total, errors, retried,
    by_operation}) and C(duration_seconds).
  returned: always
  type: dict
  sample: {trails: 2, verified: 1, failed: 1, pending: 0, all_verified: false}
api_calls:
  description: Every AWS HTTP attempt, retries included.
  returned: always
  type: list
  elements: dict
generated_at:
  description: UTC time the result was produced.
  returned: always
  type: str
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils._verify_runner import run_module

TRAIL_SPEC = dict(
    trail_arn=dict(type="str", required=True),
    expected_key_arn=dict(type="str", required=True, no_log=False),
    attached_at=dict(type="str", required=True),
    was_logging=dict(type="bool", default=True),
    previous_kms_key_id=dict(type="str", no_log=False),
)
ARGUMENT_SPEC = dict(
    trails=dict(type="list", elements="dict", required=True, options=TRAIL_SPEC),
    wait_timeout=dict(type="int", default=600),
    poll_interval=dict(type="int", default=30),
    sample_size=dict(type="int", default=5),
)


def main():
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module)


if __name__ == "__main__":
    main()
