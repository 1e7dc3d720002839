# Copyright: contributors to trailguard.cloudtrail_cmk
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE to trailguard.cloudtrail_cmk: one small retried function per S3 bucket read API call.

"Not configured" answers (no policy, no encryption, no lifecycle, ...) are ``None``. A missing bucket
raises ``_common.NotFoundError``; AccessDenied raises ``_common.AccessDeniedError``.
"""

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils._common import (
    AwsApiError,
    NotFoundError,
    call,
    error_code,
    http_status,
)

try:
    from botocore.exceptions import ClientError
except ImportError:  # pragma: no cover - handled by AnsibleAWSModule
    ClientError = Exception

NO_SUCH_BUCKET = ("NoSuchBucket",)


def _get(client, operation, bucket, not_configured=(), **params):
    try:
        return call(client, operation, not_found=not_configured, resource=bucket, Bucket=bucket, **params)
    except AwsApiError as exc:
        if exc.code in NO_SUCH_BUCKET:
            raise NotFoundError(exc.message, exc.exception, exc.code, exc.operation, exc.service, bucket) from exc
        raise


LIST_BUCKETS_PAGE_SIZE = 10000


def list_buckets(client):
    """Buckets owned by the caller's account: ``{name: region or None}``.

    Paginated with ``MaxBuckets``: AWS includes each bucket's ``BucketRegion`` only when the request carries
    at least one parameter (and recommends paginated requests), which saves a HeadBucket per bucket.
    """
    result = call(client, "list_buckets", paginate=True, PaginationConfig={"PageSize": LIST_BUCKETS_PAGE_SIZE})
    return {b["Name"]: b.get("BucketRegion") for b in result.get("Buckets") or []}


def head_bucket_region(client, bucket):
    """The bucket's region from HeadBucket's ``x-amz-bucket-region`` header (sent even on 403).

    Returns ``(region, accessible)``; raises NotFoundError when the bucket does not exist.
    """
    try:
        result = call(client, "head_bucket", resource=bucket, Bucket=bucket)
        return result.get("BucketRegion"), True
    except AwsApiError as exc:
        headers = {}
        if isinstance(exc.exception, ClientError):
            headers = exc.exception.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        status = http_status(exc.exception)
        if status == 404 or exc.code in ("404", "NoSuchBucket", "NotFound"):
            raise NotFoundError(exc.message, exc.exception, "NoSuchBucket", "head_bucket", "s3", bucket) from exc
        region = headers.get("x-amz-bucket-region")
        if region and (status == 403 or error_code(exc.exception) in ("403", "AccessDenied")):
            return region, False
        raise


def get_bucket_location(client, bucket):
    result = _get(client, "get_bucket_location", bucket)
    return result.get("LocationConstraint") or "us-east-1"


def get_bucket_policy(client, bucket):
    result = _get(client, "get_bucket_policy", bucket, not_configured=("NoSuchBucketPolicy",))
    return None if result is None else result.get("Policy")


def get_bucket_acl(client, bucket):
    result = _get(client, "get_bucket_acl", bucket)
    return {"Owner": result.get("Owner"), "Grants": result.get("Grants") or []}


def get_bucket_encryption(client, bucket):
    """The bucket's default-encryption rules (``[]`` when none is configured)."""
    result = _get(
        client, "get_bucket_encryption", bucket, not_configured=("ServerSideEncryptionConfigurationNotFoundError",)
    )
    if result is None:
        return []
    return (result.get("ServerSideEncryptionConfiguration") or {}).get("Rules") or []


def get_bucket_versioning(client, bucket):
    result = _get(client, "get_bucket_versioning", bucket)
    return {"Status": result.get("Status"), "MFADelete": result.get("MFADelete")}


def get_object_lock_configuration(client, bucket):
    result = _get(
        client, "get_object_lock_configuration", bucket, not_configured=("ObjectLockConfigurationNotFoundError",)
    )
    return None if result is None else result.get("ObjectLockConfiguration")


def get_bucket_lifecycle_configuration(client, bucket):
    result = _get(
        client, "get_bucket_lifecycle_configuration", bucket, not_configured=("NoSuchLifecycleConfiguration",)
    )
    return [] if result is None else result.get("Rules") or []


def get_bucket_ownership_controls(client, bucket):
    result = _get(client, "get_bucket_ownership_controls", bucket, not_configured=("OwnershipControlsNotFoundError",))
    return None if result is None else (result.get("OwnershipControls") or {}).get("Rules") or []


def get_bucket_request_payment(client, bucket):
    result = _get(client, "get_bucket_request_payment", bucket)
    return result.get("Payer") or "BucketOwner"


def list_objects(client, bucket, prefix, delimiter=None):
    """Every object (``Contents``) and sub-folder (``CommonPrefixes``) under ``prefix`` (all pages).

    Returns ``{"objects": [{"Key", "LastModified", "Size", ...}], "prefixes": ["<prefix>sub/", ...]}``.
    """
    params = {"Prefix": prefix}
    if delimiter:
        params["Delimiter"] = delimiter
    result = _get(client, "list_objects_v2", bucket, paginate=True, **params)
    return {
        "objects": result.get("Contents") or [],
        "prefixes": [p["Prefix"] for p in result.get("CommonPrefixes") or []],
    }


def head_object(client, bucket, key):
    """HeadObject metadata of ``bucket/key`` (None when the object is gone)."""
    return _get(client, "head_object", bucket, not_configured=("404", "NoSuchKey", "NotFound"), Key=key)
