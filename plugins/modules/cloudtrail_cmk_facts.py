#!/usr/bin/python
# Copyright: contributors to trailguard.cloudtrail_cmk
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: cloudtrail_cmk_facts
short_description: Inventory CloudTrail trails, their log buckets and KMS keys, and judge their encryption
version_added: 0.1.0
description:
  - Reads, in one invocation and with a thread pool, every CloudTrail trail of the account in the selected
    regions, the S3 bucket each trail delivers to and every KMS key a trail references, plus the
    customer-managed symmetric keys that could serve as the trail's key.
  - Shadow copies of multi-region and organization trails are de-duplicated by ARN and classified as
    C(owned), C(shadow) or C(organization_member_view); only C(owned) trails are actionable.
  - Each bucket and each key is read once however many trails share it. Throttling and 5xx errors are
    retried. An AccessDenied on one bucket or key becomes a C(BUCKET_UNREADABLE) / C(KEY_UNREADABLE)
    finding on that resource, never a failed run.
  - Each trail is judged C(compliant) only when its KMS key exists, is Enabled, is customer-managed, is a
    symmetric encryption key, is in the bucket's region and its key policy lets CloudTrail encrypt for this
    trail. Findings use the codes listed under RV(ansible_facts.cloudtrail_cmk.findings).
  - Every AWS call made (retries included) is returned in RV(ansible_facts.cloudtrail_cmk.api_calls).
  - This module never changes anything.
author:
  - TrailGuard maintainers (@trailguard)
options:
  regions:
    description:
      - Regions to inventory.
      - Default is every region enabled for the account (C(ec2:DescribeRegions)).
    type: list
    elements: str
  trails:
    description:
      - Only report trails whose name or ARN is in this list. Default is every trail.
    type: list
    elements: str
  candidate_key_aliases:
    description:
      - Only consider customer-managed keys with an alias matching one of these shell-style patterns
        (C(alias/) is optional, for example C(cloudtrail-*)) as candidate keys.
      - Keys a trail already references are always read.
    type: list
    elements: str
  candidate_key_tags:
    description:
      - Only consider customer-managed keys carrying all these tags as candidate keys.
      - A tag whose value is null matches any value.
    type: dict
  max_workers:
    description:
      - Size of the thread pool reading regions, trails, buckets and keys in parallel.
    type: int
    default: 10
  expected_account_id:
    description:
      - When set, the module fails before reading anything else if the credentials belong to another account
        (one inventory host per account, so this catches a wrong role or profile).
    type: str
    version_added: 0.1.0
  assume_role_arn:
    description:
      - Inventory the account of this role. The module calls C(sts:AssumeRole) once with its own credentials
        (the standard connection options) and reads everything with the temporary credentials; the call is
        recorded in RV(ansible_facts.cloudtrail_cmk.api_calls).
      - Saves a separate M(amazon.aws.sts_assume_role) task per account; the assess role uses it for
        C(trailguard_assume_role_arn).
      - A refused AssumeRole fails the module with the role named; nothing else is read.
    type: str
    version_added: 0.1.0
  assume_role_external_id:
    description: External id for O(assume_role_arn), when the role's trust policy requires one.
    type: str
    version_added: 0.1.0
  role_session_name:
    description: Session name for O(assume_role_arn) (it appears in the account's CloudTrail events).
    type: str
    default: trailguard
    version_added: 0.1.0
  output_dir:
    description:
      - When set, also write the account's inventory as JSON files under O(output_dir)/<account_id>/
        (C(trails.json), C(buckets.json), C(keys.json), C(trail_bucket_map.json), C(findings.json),
        C(summary.json), C(api_calls.json)), sorted keys, 2-space indent.
      - The files are written on the host that runs the module (the control node with C(connection=local),
        as the assess role runs it). Nothing is written to AWS; the files are written in check mode too,
        since they are the assessment's output.
      - One module run instead of seven file tasks per account is what keeps large inventories fast.
    type: path
    version_added: 0.1.0
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - trailguard.cloudtrail_cmk.attributes
  - trailguard.cloudtrail_cmk.attributes.INFO_MODULE
  - trailguard.cloudtrail_cmk.attributes.FACTS
notes:
  - Needs read-only permissions only, for example C(cloudtrail:DescribeTrails), C(cloudtrail:GetTrailStatus),
    C(cloudtrail:GetEventSelectors), C(cloudtrail:GetInsightSelectors), C(cloudtrail:ListTags),
    C(kms:ListKeys), C(kms:ListAliases), C(kms:DescribeKey), C(kms:GetKeyPolicy),
    C(kms:GetKeyRotationStatus), C(kms:ListResourceTags), C(s3:ListAllMyBuckets), C(s3:GetBucket*),
    C(s3:GetEncryptionConfiguration), C(s3:GetLifecycleConfiguration), C(ec2:DescribeRegions),
    C(sts:GetCallerIdentity) and C(organizations:DescribeOrganization).
"""

EXAMPLES = r"""
- name: Assess every enabled region of the current account
  trailguard.cloudtrail_cmk.cloudtrail_cmk_facts:

- name: Assess two regions, one trail, candidate keys tagged for CloudTrail (works in check mode too)
  trailguard.cloudtrail_cmk.cloudtrail_cmk_facts:
    regions: [eu-west-1, us-east-1]
    trails: [org-audit]
    candidate_key_tags:
      purpose: cloudtrail
    max_workers: 20
  check_mode: true

- name: Assess another account through its audit role (one module run, AssumeRole included)
  trailguard.cloudtrail_cmk.cloudtrail_cmk_facts:
    assume_role_arn: arn:aws:iam::222222222222:role/TrailGuardAudit
    expected_account_id: "222222222222"
    output_dir: ./trailguard-out/assess

- name: Fail when any owned trail is not compliant
  ansible.builtin.assert:
    that: ansible_facts.cloudtrail_cmk.trails | selectattr('classification', 'eq', 'owned')
          | selectattr('compliance', 'ne', 'compliant') | list | length == 0
    fail_msg: "{{ ansible_facts.cloudtrail_cmk.findings | map(attribute='code') | unique | list }}"
"""

RETURN = r"""
files:
  description: The files written under O(output_dir) (empty when O(output_dir) is not set).
  returned: always
  type: list
  elements: str
  sample: ["/srv/trailguard-out/assess/111111111111/trails.json"]
ansible_facts:
  description: Facts about the account's trails.
  returned: always
  type: dict
  contains:
    cloudtrail_cmk:
      description: The inventory and its verdicts.
      returned: always
      type: dict
      contains:
        account_id:
          description: Account of the credentials used.
          type: str
          returned: always
          sample: "111111111111"
        partition:
          description: AWS partition of the account.
          type: str
          returned: always
          sample: aws
        organization_id:
          description: Organization id when an organization trail is owned here and it could be read, else null.
          type: str
          returned: always
          sample: o-trailguard1
        regions:
          description: Regions inventoried.
          type: list
          elements: str
          returned: always
          sample: [eu-west-1, us-east-1]
        trails:
          description:
            - One item per trail ARN (shadow copies merged), sorted by ARN.
            - Fields read from AWS use snake_case names of the CloudTrail API fields; C(status) is the raw
              GetTrailStatus answer.
          type: list
          elements: dict
          returned: always
          contains:
            name:
              description: "Trail name."
              type: str
              returned: always
              sample: main
            arn:
              description: "Trail ARN (home region)."
              type: str
              returned: always
              sample: "arn:aws:cloudtrail:us-east-1:111111111111:trail/main"
            account_id:
              description: "Owner account of the trail."
              type: str
              returned: always
            home_region:
              description: "The trail's home region."
              type: str
              returned: always
            classification:
              description: C(owned) (seen in its home region, ours), C(shadow) (ours, only seen outside its home
                region) or C(organization_member_view) (an organization trail of another account).
              type: str
              returned: always
            actionable:
              description: "True only for C(owned) trails."
              type: bool
              returned: always
            seen_in_regions:
              description: "Regions whose DescribeTrails listed the trail."
              type: list
              elements: str
              returned: always
            is_multi_region_trail:
              description: "Multi-region trail."
              type: bool
              returned: always
            is_organization_trail:
              description: "Organization trail."
              type: bool
              returned: always
            include_global_service_events:
              description: "Includes global service events."
              type: bool
              returned: always
            s3_bucket_name:
              description: "Log bucket."
              type: str
              returned: always
            s3_key_prefix:
              description: "Key prefix (\"\" when none)."
              type: str
              returned: always
            kms_key_id:
              description: "KmsKeyId as the trail reports it."
              type: str
              returned: always
            kms_key_arn:
              description: "KmsKeyId resolved to a key ARN (aliases and ids resolved), null when none or unresolvable."
              type: str
              returned: always
            sns_topic_arn:
              description: "SNS topic."
              type: str
              returned: always
            cloud_watch_logs_log_group_arn:
              description: "CloudWatch Logs group."
              type: str
              returned: always
            cloud_watch_logs_role_arn:
              description: "CloudWatch Logs role."
              type: str
              returned: always
            log_file_validation_enabled:
              description: "Log file validation."
              type: bool
              returned: always
            has_custom_event_selectors:
              description: "From DescribeTrails."
              type: bool
              returned: always
            has_insight_selectors:
              description: "From DescribeTrails."
              type: bool
              returned: always
            event_selectors:
              description:
                - "EventSelectors (null when unread)."
                - Read with GetEventSelectors only when C(has_custom_event_selectors) is true; otherwise AWS's
                  default selector (all read and write management events, no data events), see
                  C(event_selectors_source).
              type: list
              elements: dict
              returned: always
            event_selectors_source:
              description: C(api) (read with GetEventSelectors), C(default) (the trail has no custom selectors,
                so it has AWS's default one; no call made) or null (unread).
              type: str
              returned: always
            advanced_event_selectors:
              description: "AdvancedEventSelectors (null when unread)."
              type: list
              elements: dict
              returned: always
            insight_selectors:
              description: "InsightSelectors ([] when Insights are off)."
              type: list
              elements: dict
              returned: always
            tags:
              description: "Trail tags."
              type: dict
              returned: always
            status:
              description: "Raw GetTrailStatus answer (timestamps ISO 8601)."
              type: dict
              returned: always
            is_logging:
              description: "Logging on."
              type: bool
              returned: always
            latest_delivery_time:
              description: "Last successful delivery."
              type: str
              returned: always
            latest_delivery_error:
              description: "Last delivery error."
              type: str
              returned: always
            read_errors:
              description: Calls that failed for this trail (C(operation), C(code), C(access_denied), C(message)).
              type: list
              elements: dict
              returned: always
            compliance:
              description: "C(compliant) or C(non_compliant)."
              type: str
              returned: always
            blocking:
              description: "Finding codes that made the trail non-compliant."
              type: list
              elements: str
              returned: always
              sample: [KEY_DISABLED]
            findings:
              description: Findings C({code, severity, resource, message, remediation, statement}).
              type: list
              elements: dict
              returned: always
            recommended_action:
              description: C({action, key_arn, region, reason}); action is C(none) (compliant), C(use_existing_key)
                (key_arn is the best suitable key in the bucket's region), C(create_key) or C(defer).
              type: dict
              returned: always
              sample: {action: use_existing_key, key_arn: "arn:aws:kms:us-east-1:111111111111:key/1234",
                       region: us-east-1, reason: suitable customer-managed key in the bucket's region}
            log_readers:
              description:
                - "Principals that read the trail's logs today: those the bucket policy grants s3:GetObject on
                  the log path, and the account's own roles and users whose IAM policies allow it (bucket of
                  this account only)."
                - Each is checked for kms:Decrypt under the recommended key (READERS_NEED_DECRYPT).
              type: list
              elements: str
              returned: always
            log_readers_need_decrypt:
              description:
                - The log readers that would lose access under the key the trail will use (its own key when
                  compliant, else the recommended key or a new key) because they may not kms:Decrypt.
                - The approvals template suggests exactly these as C(readers).
              type: list
              elements: str
              returned: always
            log_reader_sources:
              description: Each log reader and how it reads today, C(bucket_policy) and/or C(iam).
              type: dict
              returned: always
              sample: {"arn:aws:iam::111111111111:role/LogPipelineReader": [iam],
                       "arn:aws:iam::222222222222:role/SiemLogReader": [bucket_policy]}
        buckets:
          description: One item per bucket used by the trails (read once), sorted by name.
          type: list
          elements: dict
          returned: always
          contains:
            name:
              description: "Bucket name."
              type: str
              returned: always
            arn:
              description: "Bucket ARN."
              type: str
              returned: always
            exists:
              description: "False when the bucket does not exist."
              type: bool
              returned: always
            region:
              description: "Bucket region (null when unknown)."
              type: str
              returned: always
            owned_by_account:
              description: "Listed by ListBuckets of this account."
              type: bool
              returned: always
            owner_account:
              description: "Owner account id when it is this account, else null."
              type: str
              returned: always
            cross_account:
              description: "The bucket belongs to another account."
              type: bool
              returned: always
            policy:
              description: "Full bucket policy (null when none or unreadable)."
              type: dict
              returned: always
            policy_sha256:
              description: "sha256 of the canonical policy JSON."
              type: str
              returned: always
            acl:
              description: "C({Owner, Grants})."
              type: dict
              returned: always
            encryption:
              description: C({rules, sse_algorithm, kms_key_id, kms_key_arn, bucket_key_enabled}) of the default
                encryption.
              type: dict
              returned: always
            versioning:
              description: "C({Status, MFADelete})."
              type: dict
              returned: always
            object_lock:
              description: "ObjectLockConfiguration or null."
              type: dict
              returned: always
            lifecycle_rules:
              description: "Lifecycle rules."
              type: list
              elements: dict
              returned: always
            ownership_controls:
              description: "Ownership controls rules or null."
              type: list
              elements: dict
              returned: always
            request_payer:
              description: "C(BucketOwner) or C(Requester)."
              type: str
              returned: always
            requester_pays:
              description: "Requester Pays is on."
              type: bool
              returned: always
            readable:
              description: "Every read succeeded."
              type: bool
              returned: always
            read_errors:
              description: "Failed reads."
              type: list
              elements: dict
              returned: always
            trails:
              description: "ARNs of the trails delivering here."
              type: list
              elements: str
              returned: always
        keys:
          description: Keys referenced by a trail plus candidate keys (read once), sorted by ARN.
          type: list
          elements: dict
          returned: always
          contains:
            arn:
              description: "Key ARN."
              type: str
              returned: always
            key_id:
              description: "Key id."
              type: str
              returned: always
            account_id:
              description: "Key account."
              type: str
              returned: always
            region:
              description: "Key region."
              type: str
              returned: always
            aliases:
              description: "Alias names."
              type: list
              elements: str
              returned: always
            exists:
              description: "False when the key does not exist."
              type: bool
              returned: always
            readable:
              description: "Every read succeeded."
              type: bool
              returned: always
            state:
              description: "KeyState."
              type: str
              returned: when readable
            enabled:
              description: "Enabled."
              type: bool
              returned: when readable
            manager:
              description: "C(CUSTOMER) or C(AWS)."
              type: str
              returned: when readable
            spec:
              description: "KeySpec."
              type: str
              returned: when readable
            usage:
              description: "KeyUsage."
              type: str
              returned: when readable
            origin:
              description: "Origin."
              type: str
              returned: when readable
            description:
              description: "Description."
              type: str
              returned: when readable
            multi_region:
              description: "Multi-Region key."
              type: bool
              returned: when readable
            multi_region_configuration:
              description: "MultiRegionConfiguration."
              type: dict
              returned: when readable
            creation_date:
              description: "CreationDate."
              type: str
              returned: when readable
            deletion_date:
              description: "DeletionDate."
              type: str
              returned: when readable
            rotation_enabled:
              description: "Automatic rotation (customer-managed keys)."
              type: bool
              returned: when readable
            rotation_period_in_days:
              description: "Rotation period."
              type: int
              returned: when readable
            tags:
              description: "Key tags (customer-managed keys)."
              type: dict
              returned: when readable
            policy:
              description: "Full key policy."
              type: dict
              returned: when readable
            policy_sha256:
              description: "sha256 of the canonical policy JSON."
              type: str
              returned: when readable
            referenced:
              description: "A trail names this key."
              type: bool
              returned: always
            candidate:
              description: "Customer-managed, Enabled, symmetric and matching the candidate filters."
              type: bool
              returned: always
            referenced_by:
              description: "Trails using the key."
              type: list
              elements: str
              returned: always
            suitable_for:
              description: "Trails the key could serve."
              type: list
              elements: str
              returned: always
            suitability:
              description: Per trail ARN C({suitable, ready, reasons}); ready means the policy already allows
                CloudTrail; reasons are finding codes.
              type: dict
              returned: always
            read_errors:
              description: "Failed reads."
              type: list
              elements: dict
              returned: always
        trail_bucket_map:
          description: Trail ARN to C({bucket, bucket_region, s3_key_prefix, key_arn, cross_account,
            policy_excerpts}); policy_excerpts maps each request CloudTrail makes (acl, write, ...) to its
            decision and the statements that decide it.
          type: dict
          returned: always
        findings:
          description:
            - Every finding of every trail, with C(trail) and C(account_id) added.
            - Codes TRAIL_NO_KMS_KEY, KEY_NOT_FOUND, KEY_DISABLED, KEY_PENDING_DELETION, KEY_AWS_MANAGED,
              KEY_NOT_SYMMETRIC, KEY_REGION_MISMATCH, KEY_POLICY_DENIES_CLOUDTRAIL, KEY_POLICY_NO_DESCRIBE,
              KEY_ROTATION_DISABLED, KEY_UNREADABLE, BUCKET_NOT_FOUND, BUCKET_POLICY_DENIES_CLOUDTRAIL,
              BUCKET_POLICY_BLOCKS_KMS, BUCKET_DEFAULT_ENCRYPTION_OTHER_KEY, BUCKET_UNREADABLE,
              BUCKET_CROSS_ACCOUNT, TRAIL_NOT_LOGGING, TRAIL_DELIVERY_ERROR, TRAIL_LOG_VALIDATION_DISABLED,
              ORG_TRAIL_NOT_MANAGEABLE_HERE, KEY_POLICY_NO_DECRYPT_FOR_BUCKET_KEY, BUCKET_REQUESTER_PAYS,
              READERS_NEED_DECRYPT.
          type: list
          elements: dict
          returned: always
          sample:
            - code: KEY_DISABLED
              severity: critical
              resource: "arn:aws:kms:us-east-1:111111111111:key/1234"
              message: "Key ... is Disabled; CloudTrail cannot encrypt with it and delivery fails."
              remediation: "Enable the key (kms:EnableKey) or move the trail to an enabled key."
              statement: null
              trail: "arn:aws:cloudtrail:us-east-1:111111111111:trail/main"
              account_id: "111111111111"
        iam:
          description:
            - What the reader analysis knew of the account's IAM, from one paginated
              GetAccountAuthorizationDetails (roles, users, groups, managed policies).
            - C(read) is false when IAM could not be read (C(read_errors) says why); readers through IAM are
              then unknown and only the bucket policy's readers are checked.
            - C(log_readers) lists the roles and users that read some trail's logs through their IAM policies;
              C(unresolved_policies) the attached policies whose document was not returned (judged without them).
          type: dict
          returned: always
          sample: {read: true, principals: 42, read_errors: [], log_readers: ["arn:aws:iam::111111111111:role/Siem"],
                   unresolved_policies: []}
        summary:
          description: Counts (trails, by classification, compliant, non_compliant, recommended_actions,
            findings_by_code, findings_by_severity, buckets, keys, candidate_keys, regions, iam_read,
            iam_principals), region_errors, api_calls C({total, errors, retried, by_operation}) and
            duration_seconds.
          type: dict
          returned: always
        api_calls:
          description: Every AWS HTTP attempt, retries included.
          type: list
          elements: dict
          returned: always
          sample:
            - {service: kms, operation: DescribeKey, region: us-east-1, account: "111111111111",
               request_id: "4d5c...", timestamp: "2025-01-01T00:00:00.000Z", error_code: null,
               http_status: 200, attempt: 1}
        generated_at:
          description: UTC time the facts were produced.
          type: str
          returned: always
          sample: "2025-01-01T00:00:00.000Z"
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils._inventory import run_module

ARGUMENT_SPEC = dict(
    regions=dict(type="list", elements="str"),
    trails=dict(type="list", elements="str"),
    candidate_key_aliases=dict(type="list", elements="str", no_log=False),
    candidate_key_tags=dict(type="dict", no_log=False),
    max_workers=dict(type="int", default=10),
    expected_account_id=dict(type="str"),
    output_dir=dict(type="path"),
    assume_role_arn=dict(type="str"),
    assume_role_external_id=dict(type="str", no_log=True),
    role_session_name=dict(type="str", default="trailguard"),
)


def main():
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module)


if __name__ == "__main__":
    main()
