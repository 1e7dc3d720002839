# Copyright: contributors to trailguard.cloudtrail_cmk
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE to trailguard.cloudtrail_cmk: verdicts on an inventory (pure: no boto3, no ansible).

``assess(inventory)`` takes what ``_inventory`` read (plain dicts, see there) and returns per trail
``compliance``, ``blocking``, ``findings``, ``recommended_action`` and ``log_readers``, per candidate key
``suitable_for`` / ``suitability``, the ``trail_bucket_map`` and the flat ``findings`` list.

Compliance (issue 3 section 2): a trail is ``compliant`` only when its KMS key exists, is Enabled,
customer-managed, SYMMETRIC_DEFAULT / ENCRYPT_DECRYPT, in the bucket's region, and its policy lets
CloudTrail encrypt for this trail. So these codes are *blocking* (each flips the verdict):
``BLOCKING_CODES``. So are ``DELIVERY_BLOCKING_CODES``: the key is fine but CloudTrail still cannot
deliver encrypted log files (DescribeKey or bucket-key Decrypt missing, bucket gone, bucket policy
denying the write or the SSE-KMS upload, Requester Pays); a verdict of compliant there would hide the
trail from the approvals template and so from the fix. Some others block only when they make a condition unverifiable:
``BUCKET_NOT_FOUND`` / ``BUCKET_UNREADABLE`` when the bucket's region is unknown,
``KEY_UNREADABLE`` when DescribeKey or GetKeyPolicy was refused, ``ORG_TRAIL_NOT_MANAGEABLE_HERE``
(the key of an organization trail cannot be verified from a member account). Every other code is
reported but does not by itself make a trail non-compliant. Each trail's ``blocking`` lists the codes
that did.
"""

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _policy

COMPLIANT = "compliant"
NON_COMPLIANT = "non_compliant"

BLOCKING_CODES = frozenset(
    {
        "TRAIL_NO_KMS_KEY",
        "KEY_NOT_FOUND",
        "KEY_DISABLED",
        "KEY_PENDING_DELETION",
        "KEY_AWS_MANAGED",
        "KEY_NOT_SYMMETRIC",
        "KEY_REGION_MISMATCH",
        "KEY_POLICY_DENIES_CLOUDTRAIL",
    }
)
# Codes that mean CloudTrail cannot deliver log files encrypted with the trail's key even though the
# key itself is fine: a trail carrying one is non-compliant too, so that it is listed for approval and
# the fix (a key or bucket policy statement) can be applied. Scanners pass these trails.
DELIVERY_BLOCKING_CODES = frozenset(
    {
        "KEY_POLICY_NO_DESCRIBE",
        "KEY_POLICY_NO_DECRYPT_FOR_BUCKET_KEY",
        "BUCKET_NOT_FOUND",
        "BUCKET_POLICY_DENIES_CLOUDTRAIL",
        "BUCKET_POLICY_BLOCKS_KMS",
        "BUCKET_REQUESTER_PAYS",
    }
)
CONDITIONALLY_BLOCKING_CODES = frozenset(
    {"KEY_UNREADABLE", "BUCKET_NOT_FOUND", "BUCKET_UNREADABLE", "ORG_TRAIL_NOT_MANAGEABLE_HERE"}
)

SEVERITY = {
    "TRAIL_NO_KMS_KEY": "high",
    "KEY_NOT_FOUND": "critical",
    "KEY_DISABLED": "critical",
    "KEY_PENDING_DELETION": "critical",
    "KEY_AWS_MANAGED": "high",
    "KEY_NOT_SYMMETRIC": "critical",
    "KEY_REGION_MISMATCH": "critical",
    "KEY_POLICY_DENIES_CLOUDTRAIL": "critical",
    "KEY_POLICY_NO_DESCRIBE": "high",
    "KEY_ROTATION_DISABLED": "low",
    "KEY_UNREADABLE": "high",
    "BUCKET_NOT_FOUND": "critical",
    "BUCKET_POLICY_DENIES_CLOUDTRAIL": "critical",
    "BUCKET_POLICY_BLOCKS_KMS": "high",
    "BUCKET_DEFAULT_ENCRYPTION_OTHER_KEY": "low",
    "BUCKET_UNREADABLE": "medium",
    "BUCKET_CROSS_ACCOUNT": "info",
    "TRAIL_NOT_LOGGING": "high",
    "TRAIL_DELIVERY_ERROR": "high",
    "TRAIL_LOG_VALIDATION_DISABLED": "medium",
    "ORG_TRAIL_NOT_MANAGEABLE_HERE": "info",
    "KEY_POLICY_NO_DECRYPT_FOR_BUCKET_KEY": "high",
    "BUCKET_REQUESTER_PAYS": "high",
    "READERS_NEED_DECRYPT": "high",
}
ALL_CODES = tuple(SEVERITY)

ACTION_NONE = "none"
ACTION_USE_EXISTING = "use_existing_key"
ACTION_CREATE = "create_key"
ACTION_DEFER = "defer"

PENDING_DELETION_STATES = ("PendingDeletion", "PendingReplicaDeletion")


def finding(code, resource, message, remediation, statement=None, severity=None):
    return {
        "code": code,
        "severity": severity or SEVERITY.get(code, "medium"),
        "resource": resource,
        "message": message,
        "remediation": remediation,
        "statement": statement,
    }


def _normalise(found, resource):
    """A finding from ``_policy`` with every contract field present."""
    out = finding(found.get("code"), found.get("resource") or resource, found.get("message", ""), "")
    out.update({k: v for k, v in found.items() if v is not None})
    out.setdefault("statement", None)
    return out


# --- per-resource judgements ---------------------------------------------------------------------------


def _denied_operations(resource):
    return sorted({e.get("operation") or "?" for e in resource.get("read_errors") or [] if e.get("access_denied")})


def key_findings(trail, key, bucket, organization_id=None):
    """Findings on the trail's current key; returns (findings, blocking codes)."""
    out, blocking = [], []
    arn = trail.get("kms_key_arn")
    if not trail.get("kms_key_id"):
        out.append(
            finding(
                "TRAIL_NO_KMS_KEY",
                trail["arn"],
                f"Trail {trail['name']} delivers log files with SSE-S3 only; no customer-managed KMS key is set.",
                "Set KmsKeyId to a customer-managed symmetric key in the bucket's region whose policy allows "
                "cloudtrail.amazonaws.com kms:GenerateDataKey* for this trail (trailguard apply does this).",
            )
        )
        return out, ["TRAIL_NO_KMS_KEY"]
    if arn is None or key is None or key.get("exists") is False:
        out.append(
            finding(
                "KEY_NOT_FOUND",
                arn or trail["kms_key_id"],
                f"Trail {trail['name']} names KMS key {trail['kms_key_id']}, which does not exist; CloudTrail "
                "cannot encrypt and delivery fails.",
                "Point the trail at an existing customer-managed key in the bucket's region (use_existing_key) or "
                "create one (create_key).",
            )
        )
        return out, ["KEY_NOT_FOUND"]
    denied = _denied_operations(key)
    unverifiable = key.get("state") is None or (key.get("policy") is None and key.get("manager") != "AWS")
    if key.get("read_errors"):
        out.append(
            finding(
                "KEY_UNREADABLE",
                arn,
                f"Key {arn} could not be read ({', '.join(denied) or 'errors'}): "
                + "; ".join(f"{e.get('operation')}: {e.get('code')}" for e in key["read_errors"]),
                "Allow the assessing role kms:DescribeKey, kms:GetKeyPolicy, kms:GetKeyRotationStatus and "
                "kms:ListResourceTags on this key (key policy or IAM), then re-run the assessment.",
            )
        )
        if unverifiable:
            blocking.append("KEY_UNREADABLE")
    state = key.get("state")
    if state in PENDING_DELETION_STATES:
        out.append(
            finding(
                "KEY_PENDING_DELETION",
                arn,
                f"Key {arn} is {state} (deletion date {key.get('deletion_date')}); once deleted, the logs it "
                "encrypted are unreadable and delivery stops.",
                "Cancel the key deletion (kms:CancelKeyDeletion, then enable it) if it is still wanted, or move the "
                "trail to another key.",
            )
        )
        blocking.append("KEY_PENDING_DELETION")
    elif state is not None and state != "Enabled":
        out.append(
            finding(
                "KEY_DISABLED",
                arn,
                f"Key {arn} is {state}; CloudTrail cannot encrypt with it and delivery fails.",
                "Enable the key (kms:EnableKey) or move the trail to an enabled key.",
            )
        )
        blocking.append("KEY_DISABLED")
    if key.get("manager") == "AWS":
        out.append(
            finding(
                "KEY_AWS_MANAGED",
                arn,
                f"Key {arn} is AWS-managed; its policy cannot be changed to serve CloudTrail and it is not a "
                "customer-managed key.",
                "Move the trail to a customer-managed symmetric key (use_existing_key / create_key).",
            )
        )
        blocking.append("KEY_AWS_MANAGED")
    if key.get("spec") is not None and (
        key.get("spec") != "SYMMETRIC_DEFAULT" or key.get("usage") != "ENCRYPT_DECRYPT"
    ):
        out.append(
            finding(
                "KEY_NOT_SYMMETRIC",
                arn,
                f"Key {arn} is {key.get('spec')} / {key.get('usage')}; CloudTrail needs SYMMETRIC_DEFAULT / "
                "ENCRYPT_DECRYPT.",
                "Move the trail to a symmetric encryption key (KeySpec SYMMETRIC_DEFAULT, KeyUsage ENCRYPT_DECRYPT).",
            )
        )
        blocking.append("KEY_NOT_SYMMETRIC")
    bucket_region = (bucket or {}).get("region")
    if bucket_region and key.get("region") and key["region"] != bucket_region:
        out.append(
            finding(
                "KEY_REGION_MISMATCH",
                arn,
                f"Key {arn} is in {key['region']} but bucket {bucket.get('name')} is in {bucket_region}; CloudTrail "
                "requires the key in the bucket's region.",
                f"Use a key (or a multi-Region replica) in {bucket_region}.",
            )
        )
        blocking.append("KEY_REGION_MISMATCH")
    if key.get("policy") is not None and key.get("manager") != "AWS":
        for found in _key_policy(key, trail, bucket, organization_id):
            out.append(_normalise(found, arn))
            if found.get("code") == "KEY_POLICY_DENIES_CLOUDTRAIL":
                blocking.append("KEY_POLICY_DENIES_CLOUDTRAIL")
    if key.get("manager") == "CUSTOMER" and key.get("rotation_enabled") is False:
        out.append(
            finding(
                "KEY_ROTATION_DISABLED",
                arn,
                f"Automatic rotation is off for key {arn}.",
                "Enable automatic key rotation (kms:EnableKeyRotation).",
            )
        )
    return out, blocking


def _bucket_key_enabled(bucket):
    return bool(((bucket or {}).get("encryption") or {}).get("bucket_key_enabled"))


def _key_policy(key, trail, bucket, organization_id):
    try:
        return _policy.key_policy_findings(
            key["policy"],
            trail["arn"],
            key["arn"],
            is_organization_trail=bool(trail.get("is_organization_trail")),
            organization_id=organization_id,
            bucket_key_enabled=_bucket_key_enabled(bucket),
        )
    except _policy.PolicyError as exc:
        return [
            finding(
                "KEY_POLICY_DENIES_CLOUDTRAIL",
                key["arn"],
                f"The policy of key {key['arn']} could not be evaluated: {exc}",
                "Fix the key policy document so that it parses, then add the TrailGuardCloudTrailEncrypt statement.",
            )
        ]


def bucket_findings(trail, bucket, key_arn, account_id, organization_id=None):
    """Findings on the trail's bucket; returns (findings, blocking codes)."""
    name = trail.get("s3_bucket_name")
    if bucket is None or bucket.get("exists") is False:
        return [
            finding(
                "BUCKET_NOT_FOUND",
                name,
                f"Bucket {name} of trail {trail['name']} does not exist; CloudTrail cannot deliver log files.",
                "Create the bucket with a CloudTrail bucket policy or point the trail at an existing log bucket.",
            )
        ], ["BUCKET_NOT_FOUND"]
    out, blocking = [], []
    if bucket.get("read_errors"):
        out.append(
            finding(
                "BUCKET_UNREADABLE",
                name,
                f"Bucket {name} could not be fully read: "
                + "; ".join(f"{e.get('operation')}: {e.get('code')}" for e in bucket["read_errors"]),
                "Allow the assessing role s3:GetBucketPolicy, s3:GetBucketAcl, s3:GetEncryptionConfiguration, "
                "s3:GetBucketVersioning, s3:GetBucketObjectLockConfiguration, s3:GetLifecycleConfiguration, "
                "s3:GetBucketOwnershipControls and s3:GetBucketRequestPayment (or assess from the bucket owner).",
            )
        )
        if not bucket.get("region"):
            blocking.append("BUCKET_UNREADABLE")
    if bucket.get("cross_account"):
        out.append(
            finding(
                "BUCKET_CROSS_ACCOUNT",
                name,
                f"Bucket {name} belongs to another account ({bucket.get('owner_account') or 'unknown'}); its policy "
                "and default encryption are changed there, not here.",
                "Have the bucket owner apply the TrailGuard bucket statements, or assess that account too.",
            )
        )
    if bucket.get("policy") is not None or not _policy_unread(bucket):
        try:
            found = _policy.bucket_policy_findings(
                bucket.get("policy"),
                name,
                trail["arn"],
                s3_key_prefix=trail.get("s3_key_prefix") or "",
                key_arn=key_arn,
                is_organization_trail=bool(trail.get("is_organization_trail")),
                organization_id=organization_id,
            )
        except _policy.PolicyError as exc:
            found = [
                finding(
                    "BUCKET_POLICY_DENIES_CLOUDTRAIL",
                    name,
                    f"The policy of bucket {name} could not be evaluated: {exc}",
                    "Fix the bucket policy document, then add the TrailGuardCloudTrailAclCheck / Write statements.",
                )
            ]
        out.extend(_normalise(f, name) for f in found)
    encryption = bucket.get("encryption") or {}
    other = encryption.get("kms_key_arn") or encryption.get("kms_key_id")
    kms_default = encryption.get("sse_algorithm") in ("aws:kms", "aws:kms:dsse")
    if trail.get("kms_key_arn") and kms_default and other and other != trail["kms_key_arn"]:
        out.append(
            finding(
                "BUCKET_DEFAULT_ENCRYPTION_OTHER_KEY",
                name,
                f"Bucket {name} encrypts by default with {other}, not the trail's key {trail['kms_key_arn']}; "
                "objects written without KMS headers (digests, other writers) use another key.",
                f"Set the bucket default encryption to SSE-KMS with {trail['kms_key_arn']} (and BucketKeyEnabled "
                "if wanted), or accept the difference.",
            )
        )
    if bucket.get("requester_pays"):
        out.append(
            finding(
                "BUCKET_REQUESTER_PAYS",
                name,
                f"Bucket {name} has Requester Pays enabled; CloudTrail cannot deliver to it.",
                "Disable Requester Pays on the bucket (s3:PutBucketRequestPayment Payer=BucketOwner).",
            )
        )
    return out, blocking


def _policy_unread(bucket):
    return any(e.get("operation") == "get_bucket_policy" for e in bucket.get("read_errors") or [])


def trail_status_findings(trail):
    out = []
    arn = trail["arn"]
    if trail.get("is_logging") is False:
        out.append(
            finding(
                "TRAIL_NOT_LOGGING",
                arn,
                f"Trail {trail['name']} is not logging.",
                "Start logging (cloudtrail:StartLogging) once the key and bucket are ready.",
            )
        )
    if trail.get("latest_delivery_error"):
        out.append(
            finding(
                "TRAIL_DELIVERY_ERROR",
                arn,
                f"Trail {trail['name']} reports delivery error {trail['latest_delivery_error']!r} "
                f"(last delivery {trail.get('latest_delivery_time')}).",
                "Fix the bucket policy / key policy named by the other findings; the error clears on the next "
                "successful delivery.",
            )
        )
    if trail.get("log_file_validation_enabled") is False:
        out.append(
            finding(
                "TRAIL_LOG_VALIDATION_DISABLED",
                arn,
                f"Log file integrity validation is off for trail {trail['name']}.",
                "Enable log file validation (UpdateTrail EnableLogFileValidation=true).",
            )
        )
    return out


# --- candidate keys ------------------------------------------------------------------------------------


def key_suitability(key, trail, bucket, account_id, organization_id=None):
    """Can ``key`` serve ``trail``? ``{"suitable", "ready", "reasons"}``.

    suitable: the key itself can serve the trail (exists, Enabled, customer-managed, symmetric, in the
    bucket's region, this account). ready: suitable and its policy already lets CloudTrail do everything
    the trail needs (GenerateDataKey*, DescribeKey, and Decrypt for a bucket with an S3 Bucket Key), so
    attaching it needs no key-policy change; ``reasons`` then lists the policy codes that are missing.
    """
    reasons = []
    if key.get("exists") is False:
        reasons.append("KEY_NOT_FOUND")
    if key.get("state") is None or key.get("policy") is None:
        reasons.append("KEY_UNREADABLE")
    if key.get("state") in PENDING_DELETION_STATES:
        reasons.append("KEY_PENDING_DELETION")
    elif key.get("state") not in (None, "Enabled"):
        reasons.append("KEY_DISABLED")
    if key.get("manager") != "CUSTOMER":
        reasons.append("KEY_AWS_MANAGED")
    if key.get("spec") != "SYMMETRIC_DEFAULT" or key.get("usage") != "ENCRYPT_DECRYPT":
        reasons.append("KEY_NOT_SYMMETRIC")
    bucket_region = (bucket or {}).get("region")
    if not bucket_region or key.get("region") != bucket_region:
        reasons.append("KEY_REGION_MISMATCH")
    if key.get("account_id") and key["account_id"] != account_id:
        reasons.append("KEY_CROSS_ACCOUNT")
    suitable = not reasons
    ready = False
    if suitable:
        codes = {f.get("code") for f in _key_policy(key, trail, bucket, organization_id)}
        ready = not codes
        reasons.extend(codes)
    return {"suitable": suitable, "ready": ready, "reasons": sorted(set(reasons))}


def _rank(key, trail, ready, usage):
    """Order of preference among suitable keys: the minimal change first.

    The trail's own key, when it is usable and only its policy lacks our statements, beats moving the
    trail to another key (a new key changes who can decrypt its logs); then keys whose policy already
    allows CloudTrail; then rotation on, keys other trails already use, and the ARN for determinism.
    """
    return (
        key["arn"] != trail.get("kms_key_arn"),
        not ready,
        key.get("rotation_enabled") is not True,
        -usage.get(key["arn"], 0),
        key["arn"],
    )


def recommend(trail, bucket, compliance, suitability, keys, usage):
    """``{"action", "key_arn", "region", "reason"}`` for one trail."""
    region = (bucket or {}).get("region")
    if trail.get("classification") == "organization_member_view":
        return _action(
            ACTION_DEFER,
            None,
            region,
            "organization trail seen from a member account: change it from the management account",
        )
    if compliance == COMPLIANT:
        return _action(ACTION_NONE, trail.get("kms_key_arn"), region, "compliant")
    if trail.get("classification") != "owned":
        return _action(
            ACTION_DEFER,
            None,
            region,
            f"shadow copy: manage it from its home region {trail.get('home_region')} (add it to regions)",
        )
    if bucket is None or bucket.get("exists") is False:
        return _action(ACTION_DEFER, None, None, "the trail's bucket does not exist: fix delivery first")
    if not region:
        return _action(ACTION_DEFER, None, None, "the bucket's region is unknown (bucket unreadable)")
    options = [
        (_rank(keys[arn], trail, verdict["ready"], usage), arn)
        for arn, verdict in suitability.items()
        if verdict["suitable"] and arn in keys
    ]
    if options:
        best = min(options)[1]
        ready = suitability[best]["ready"]
        return _action(
            ACTION_USE_EXISTING,
            best,
            region,
            "suitable customer-managed key in the bucket's region"
            + ("; its policy already allows CloudTrail" if ready else "; its policy needs the TrailGuard statements"),
        )
    return _action(ACTION_CREATE, None, region, f"no suitable customer-managed symmetric key in {region}")


def _action(action, key_arn, region, reason):
    return {"action": action, "key_arn": key_arn, "region": region, "reason": reason}


# --- readers and the trail -> bucket map ------------------------------------------------------------------


NEW_KEY_PLACEHOLDER = "00000000-0000-4000-8000-000000000000"
READER_SOURCE_BUCKET_POLICY = "bucket_policy"
READER_SOURCE_IAM = "iam"


def log_reader_sources(trail, bucket, account_id, iam=None):
    """``{principal: [sources]}``: who reads the trail's logs today, by bucket policy and by own IAM policies.

    IAM readers are the account's own roles and users (``iam["principals"]``) whose identity policies
    allow s3:GetObject on the log path, counted only for a bucket of this account (a bucket of another
    account must grant them in its own policy, which the bucket-policy readers cover).
    """
    if not bucket:
        return {}
    prefix = trail.get("s3_key_prefix") or ""
    sources = {}
    if bucket.get("policy") is not None:
        try:
            for reader in _policy.log_readers(bucket["policy"], bucket["name"], prefix, account_id):
                sources.setdefault(reader, []).append(READER_SOURCE_BUCKET_POLICY)
        except _policy.PolicyError:
            pass
    principals = (iam or {}).get("principals") or []
    if principals and bucket.get("owned_by_account") and bucket.get("exists", True):
        try:
            for reader in _policy.identity_log_readers(principals, bucket["name"], prefix, account_id,
                                                       bucket.get("policy")):
                sources.setdefault(reader, []).append(READER_SOURCE_IAM)
        except _policy.PolicyError:
            pass
    return {reader: sources[reader] for reader in sorted(sources)}


def readers_findings(trail, bucket, target_key, account_id, action, iam=None):
    """(sources, missing, findings): who reads the logs today (``log_reader_sources``), those the target key
    would lock out (``missing``), and the READERS_NEED_DECRYPT finding. A principal whose own IAM policies
    we read must also be allowed kms:Decrypt by them when the key policy covers it only through the account
    (IAM delegation)."""
    sources = log_reader_sources(trail, bucket, account_id, iam)
    readers = list(sources)
    if not readers:
        return {}, [], []
    identities = {p["arn"]: p for p in (iam or {}).get("principals") or []}
    if target_key is not None and target_key.get("policy") is not None:
        missing = list(
            _policy.readers_without_decrypt(
                target_key["policy"], target_key["arn"], readers, trail_arn=trail["arn"], identities=identities
            )
        )
        key_name = target_key["arn"]
    elif action == ACTION_CREATE:
        # The new key's policy delegates to IAM (account root statement): a principal of this account
        # keeps access only when its own policies allow kms:Decrypt on any key of the region.
        region = (bucket or {}).get("region") or trail.get("home_region")
        partition = trail["arn"].split(":")[1]
        placeholder = f"arn:{partition}:kms:{region}:{account_id}:key/{NEW_KEY_PLACEHOLDER}"
        new_policy = _policy.new_key_policy(account_id, [trail["arn"]])
        known = [r for r in readers if r in identities]
        lacking = set(
            _policy.readers_without_decrypt(
                new_policy, placeholder, known, trail_arn=trail["arn"], identities=identities
            )
        )
        missing = [r for r in readers if r not in identities or r in lacking]
        key_name = "the new key"
    else:
        return sources, [], []
    if not missing:
        return sources, [], []

    def label(reader):
        how = " and ".join("IAM policy" if s == READER_SOURCE_IAM else "bucket policy" for s in sources[reader])
        return f"{reader} (via {how})"

    return sources, sorted(missing), [
        finding(
            "READERS_NEED_DECRYPT",
            key_name if target_key is None else target_key["arn"],
            f"{len(missing)} principal(s) read trail {trail['name']}'s logs in {bucket['name']} today and would lose "
            f"access under {key_name} without kms:Decrypt: {', '.join(label(r) for r in sorted(missing))}.",
            "Add the TrailGuardLogReadersDecrypt statement (kms:Decrypt for these principals, conditioned on the "
            "CloudTrail encryption context) to the key policy before switching the trail.",
        )
    ]


def _statement_by_ref(policy, ref):
    try:
        statements = _policy.load_policy(policy).get("Statement") or []
    except _policy.PolicyError:
        return None
    if isinstance(ref, str) and ref.startswith("#"):
        try:
            return statements[int(ref[1:])]
        except (ValueError, IndexError):
            return None
    return next((s for s in statements if s.get("Sid") == ref), None)


def bucket_excerpts(trail, bucket, key_arn, organization_id=None):
    """For each request CloudTrail makes to the bucket: the decision and the statements that decide it."""
    if not bucket or bucket.get("policy") is None:
        return {}
    try:
        requests = _policy.cloudtrail_bucket_requests(
            bucket["name"],
            trail["arn"],
            s3_key_prefix=trail.get("s3_key_prefix") or "",
            key_arn=key_arn,
            is_organization_trail=bool(trail.get("is_organization_trail")),
            organization_id=organization_id,
        )
        out = {}
        for name, request in requests.items():
            decision = _policy.evaluate(bucket["policy"], request)
            refs = list(decision.denying) + list(decision.allowing)
            out[name] = {
                "decision": decision.decision,
                "allowing": list(decision.allowing),
                "denying": list(decision.denying),
                "statements": [s for s in (_statement_by_ref(bucket["policy"], r) for r in refs) if s is not None],
            }
        return out
    except _policy.PolicyError:
        return {}


# --- the whole account ----------------------------------------------------------------------------------


def assess(inventory):
    """Judge every trail of an inventory (see module docstring); returns a new dict."""
    account_id = inventory["account_id"]
    organization_id = inventory.get("organization_id")
    buckets = inventory.get("buckets") or {}
    keys = inventory.get("keys") or {}
    iam = inventory.get("iam")
    # Parse every principal's policies once for all trails (readers and kms:Decrypt checks).
    principals = [_policy.prepare_identity(p) for p in (iam or {}).get("principals") or []]
    iam_prepared = dict(iam or {}, principals=principals)
    trails = [dict(t) for t in inventory.get("trails") or []]
    usage = {}
    for t in trails:
        if t.get("kms_key_arn"):
            usage[t["kms_key_arn"]] = usage.get(t["kms_key_arn"], 0) + 1
    candidates = {arn: k for arn, k in keys.items() if k.get("candidate") or k.get("referenced")}
    key_out = {arn: dict(k, referenced_by=[], suitable_for=[], suitability={}) for arn, k in keys.items()}
    bucket_out = {name: dict(b, trails=[]) for name, b in buckets.items()}
    all_findings, trail_bucket_map = [], {}

    for trail in trails:
        member_view = trail.get("classification") == "organization_member_view"
        bucket = None if member_view else buckets.get(trail.get("s3_bucket_name"))
        key = keys.get(trail.get("kms_key_arn")) if trail.get("kms_key_arn") else None
        if trail.get("kms_key_arn") in key_out:
            key_out[trail["kms_key_arn"]]["referenced_by"].append(trail["arn"])
        if trail.get("s3_bucket_name") in bucket_out:
            bucket_out[trail["s3_bucket_name"]]["trails"].append(trail["arn"])

        findings, blocking = [], []
        if member_view:
            findings.append(
                finding(
                    "ORG_TRAIL_NOT_MANAGEABLE_HERE",
                    trail["arn"],
                    f"Organization trail {trail['name']} belongs to account {trail.get('account_id')}; this member "
                    "account can neither verify its key and bucket nor change them.",
                    f"Assess and change it from the organization's management account {trail.get('account_id')}.",
                )
            )
            blocking.append("ORG_TRAIL_NOT_MANAGEABLE_HERE")
            if not trail.get("kms_key_id"):
                findings.append(
                    finding(
                        "TRAIL_NO_KMS_KEY",
                        trail["arn"],
                        f"Organization trail {trail['name']} has no KMS key.",
                        "Set a customer-managed key on the organization trail from the management account.",
                    )
                )
                blocking.append("TRAIL_NO_KMS_KEY")
        else:
            kf, kb = key_findings(trail, key, bucket, organization_id)
            bf, bb = bucket_findings(trail, bucket, trail.get("kms_key_arn"), account_id, organization_id)
            findings += kf + bf
            blocking += kb + bb
            blocking += [f["code"] for f in kf + bf if f["code"] in DELIVERY_BLOCKING_CODES]
        findings += trail_status_findings(trail)
        compliance = COMPLIANT if not blocking else NON_COMPLIANT

        suitability = {}
        if not member_view:
            for arn, cand in candidates.items():
                verdict = key_suitability(cand, trail, bucket, account_id, organization_id)
                suitability[arn] = verdict
                key_out[arn]["suitability"][trail["arn"]] = verdict
                if verdict["ready"]:
                    key_out[arn]["suitable_for"].append(trail["arn"])
        action = recommend(trail, bucket, compliance, suitability, keys, usage)
        if compliance == COMPLIANT:
            target = key
        elif action["action"] == ACTION_USE_EXISTING:
            target = keys.get(action["key_arn"])
        else:
            target = None
        reader_sources, readers_missing, reader_findings = ({}, [], [])
        if not member_view:
            reader_sources, readers_missing, reader_findings = readers_findings(
                trail, bucket, target, account_id, action["action"], iam_prepared
            )
        findings += reader_findings
        trail.update(
            {
                "compliance": compliance,
                "blocking": sorted(set(blocking)),
                "findings": findings,
                "recommended_action": action,
                "log_readers": sorted(reader_sources),
                "log_reader_sources": reader_sources,
                "log_readers_need_decrypt": readers_missing,
            }
        )
        excerpt_key = trail.get("kms_key_arn") or action.get("key_arn")
        trail_bucket_map[trail["arn"]] = {
            "bucket": trail.get("s3_bucket_name"),
            "bucket_region": (bucket or {}).get("region"),
            "s3_key_prefix": trail.get("s3_key_prefix") or "",
            "key_arn": trail.get("kms_key_arn"),
            "cross_account": (bucket or {}).get("cross_account"),
            "policy_excerpts": bucket_excerpts(trail, bucket, excerpt_key, organization_id),
        }
        for f in findings:
            all_findings.append(dict(f, trail=trail["arn"], account_id=account_id))

    return {
        "trails": trails,
        "buckets": [bucket_out[n] for n in sorted(bucket_out)],
        "keys": [key_out[a] for a in sorted(key_out)],
        "trail_bucket_map": trail_bucket_map,
        "findings": all_findings,
        "iam": iam_summary(iam, trails),
    }


def iam_summary(iam, trails):
    """What the reader analysis knew of the account's IAM: read or not (and why), principals, IAM readers."""
    iam = iam or {}
    principals = iam.get("principals") or []
    readers = sorted({r for t in trails for r, src in (t.get("log_reader_sources") or {}).items()
                      if READER_SOURCE_IAM in src})
    return {
        "read": bool(iam.get("read")),
        "principals": len(principals),
        "read_errors": list(iam.get("read_errors") or []),
        "log_readers": readers,
        "unresolved_policies": sorted({a for p in principals for a in p.get("unresolved") or []}),
    }


def summarize(verdict):
    """Counts over an ``assess()`` result."""
    trails = verdict["trails"]

    def count(values):
        out = {}
        for v in values:
            out[v] = out.get(v, 0) + 1
        return dict(sorted(out.items()))

    return {
        "trails": len(trails),
        "trails_by_classification": count(t["classification"] for t in trails),
        "compliant": sum(1 for t in trails if t["compliance"] == COMPLIANT),
        "non_compliant": sum(1 for t in trails if t["compliance"] == NON_COMPLIANT),
        "recommended_actions": count(t["recommended_action"]["action"] for t in trails),
        "findings": len(verdict["findings"]),
        "findings_by_code": count(f["code"] for f in verdict["findings"]),
        "findings_by_severity": count(f["severity"] for f in verdict["findings"]),
        "buckets": len(verdict["buckets"]),
        "keys": len(verdict["keys"]),
        "candidate_keys": sum(1 for k in verdict["keys"] if k.get("candidate")),
        "iam_read": bool((verdict.get("iam") or {}).get("read")),
        "iam_principals": (verdict.get("iam") or {}).get("principals", 0),
    }
