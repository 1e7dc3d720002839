"""S3 as AWS documents it, where moto differs.

* Bucket policies are evaluated properly (Principal, Action, Resource, Condition) for object
  operations by the lab; moto's blanket check (every Deny applies to everybody) is switched off.
  Callers are same-account principals whose identity policies allow S3, so only an explicit Deny
  refuses them (HTTP 403 AccessDenied).
* PutObject / CopyObject / CreateMultipartUpload with SSE-KMS (explicit or by bucket default):
  the key must exist in the bucket's region (KMS.NotFoundException), be enabled
  (KMS.DisabledException / KMS.KMSInvalidStateException) and let the caller use it; the object
  records the key ARN.
* Get/PutBucketRequestPayment (missing in moto 5.2.5) are served by the lab.
* Objects without SSE headers on a bucket without default encryption are SSE-S3 (AES256), and
  GetBucketEncryption on such a bucket returns the SSE-S3 default, as AWS does since January 2023.
"""

from __future__ import annotations

from .. import policy as pol
from ..backends import bucket_encryption_rule, bucket_policy, bucket_region, find_bucket, resolve_key
from ..errors import LabError

OBJECT_ACTIONS = {
    "PutObject": "s3:PutObject", "CopyObject": "s3:PutObject", "CreateMultipartUpload": "s3:PutObject",
    "GetObject": "s3:GetObject", "HeadObject": "s3:GetObject", "DeleteObject": "s3:DeleteObject",
    "GetObjectTagging": "s3:GetObjectTagging", "PutObjectTagging": "s3:PutObjectTagging",
}
WRITES = {"PutObject", "CopyObject", "CreateMultipartUpload"}

DEFAULT_ENCRYPTION_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule>'
    b"<ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault>"
    b"<BucketKeyEnabled>false</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>"
)


def install() -> None:
    """Switch off moto's own bucket-policy enforcement (the lab evaluates policies itself)."""
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket

    if getattr(FakeBucket.get_permission, "_lab", False):
        return

    def get_permission(self, action, resource):
        return PermissionResult.NEUTRAL

    get_permission._lab = True
    FakeBucket.get_permission = get_permission


def object_request(ctx):
    req = ctx.req
    if not req.bucket or not req.key:
        return None
    bucket = find_bucket(ctx.account, req.bucket)
    if bucket is None:
        return None
    action = req.action
    headers = req.headers
    context = {
        "aws:SecureTransport": True,  # clients reach AWS over TLS; the lab's plain HTTP is an artefact
        "aws:PrincipalAccount": ctx.account,
        "aws:PrincipalArn": ctx.caller.principal,
    }
    if action in WRITES:
        for name in ("x-amz-server-side-encryption", "x-amz-server-side-encryption-aws-kms-key-id", "x-amz-acl",
                     "x-amz-server-side-encryption-bucket-key-enabled"):
            if name in headers:
                context[f"s3:{name}"] = headers[name]
    request = pol.caller_request(ctx.caller.principal, OBJECT_ACTIONS[action],
                                 f"arn:aws:s3:::{req.bucket}/{req.key}", context)
    if pol.decision(bucket_policy(bucket), request).decision == "explicit_deny":
        raise LabError("AccessDenied", "Access Denied", 403)
    if action in WRITES:
        _encryption(ctx, bucket)
    return None


def _encryption(ctx, bucket) -> None:
    headers = ctx.req.headers
    rule = bucket_encryption_rule(bucket).get("ApplyServerSideEncryptionByDefault") or {}
    algorithm = headers.get("x-amz-server-side-encryption") or rule.get("SSEAlgorithm")
    if not algorithm:
        ctx.set_header("x-amz-server-side-encryption", "AES256")
        return
    if algorithm not in ("aws:kms", "aws:kms:dsse"):
        return
    key_ref = headers.get("x-amz-server-side-encryption-aws-kms-key-id") or rule.get("KMSMasterKeyID") or "alias/aws/s3"
    region = bucket_region(bucket)
    key = resolve_trail_key(ctx.account, region, key_ref)
    if key is None or key.region != region:
        shown = key.arn if key is not None else key_ref
        raise LabError("KMS.NotFoundException", f"Key '{shown}' does not exist", 400)
    if key.key_state == "Disabled":
        raise LabError("KMS.DisabledException", f"{key.arn} is disabled.", 400)
    if key.key_state != "Enabled":
        state = "pending deletion" if key.key_state == "PendingDeletion" else key.key_state
        raise LabError("KMS.KMSInvalidStateException", f"{key.arn} is {state}.", 400)
    request = pol.caller_request(ctx.caller.principal, "kms:GenerateDataKey", key.arn, {
        "kms:CallerAccount": ctx.account, "kms:ViaService": f"s3.{region}.amazonaws.com",
        "aws:PrincipalAccount": ctx.account, "kms:EncryptionContext:aws:s3:arn": f"arn:aws:s3:::{bucket.name}",
    })
    if not pol.allowed(key.policy, request):
        raise LabError("AccessDenied", f"User: {ctx.caller.arn} is not authorized to perform: kms:GenerateDataKey "
                       f"on resource: {key.arn} because no resource-based policy allows the kms:GenerateDataKey action",
                       403)
    ctx.set_header("x-amz-server-side-encryption", algorithm)
    ctx.set_header("x-amz-server-side-encryption-aws-kms-key-id", key.arn)


def resolve_trail_key(account, region, ref):
    from ..checks import resolve_trail_key as resolve

    key = resolve(account, region, ref)
    return key if key is not None else resolve_key(account, region, ref)


def after_get_bucket_encryption(ctx, response):
    status, headers, body = response
    if status == 404 and b"ServerSideEncryptionConfigurationNotFoundError" in body:
        headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(DEFAULT_ENCRYPTION_XML)))]
        return 200, headers, DEFAULT_ENCRYPTION_XML
    return response


def put_request_payment(ctx):
    """moto 5.2.5 has no PutBucketRequestPayment; store the payer on moto's bucket (it has the field)."""
    import re

    bucket = find_bucket(ctx.account, ctx.req.bucket or "")
    if bucket is None:
        raise LabError("NoSuchBucket", "The specified bucket does not exist", 404)
    match = re.search(rb"<Payer>\s*(\w+)\s*</Payer>", ctx.req.body or b"")
    if not match or match.group(1) not in (b"Requester", b"BucketOwner"):
        raise LabError("MalformedXML", "The XML you provided was not well-formed or did not validate against our "
                       "published schema", 400)
    bucket.payer = match.group(1).decode()
    return 200, [("Content-Length", "0")], b""


def get_request_payment(ctx):
    bucket = find_bucket(ctx.account, ctx.req.bucket or "")
    if bucket is None:
        raise LabError("NoSuchBucket", "The specified bucket does not exist", 404)
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<RequestPaymentConfiguration '
            f'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Payer>{getattr(bucket, "payer", "BucketOwner")}'
            "</Payer></RequestPaymentConfiguration>").encode()
    return 200, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))], body


LIST_BUCKETS_PARAMETERS = ("max-buckets", "prefix", "bucket-region", "continuation-token")


def after_list_buckets(ctx, response):
    """AWS adds ``<BucketRegion>`` to every bucket of a ListBuckets request that carries at least one valid
    parameter (``MaxBuckets``, ``Prefix``, ``BucketRegion``, ``ContinuationToken``); moto 5.2.5 never does."""
    import re

    status, headers, body = response
    if status != 200 or not any(p in ctx.req.query for p in LIST_BUCKETS_PARAMETERS):
        return response

    def add_region(match):
        bucket = find_bucket(ctx.account, match.group(2).decode())
        region = getattr(bucket, "region_name", None)
        if not region:
            return match.group(0)
        return match.group(1) + match.group(3) + f"<BucketRegion>{region}</BucketRegion>".encode() + b"</Bucket>"

    body = re.sub(rb"(<Bucket>\s*<Name>([^<]+)</Name>)(.*?)</Bucket>", add_region, body, flags=re.S)
    headers = [(k, v) for k, v in headers if k.lower() != "content-length"] + [("Content-Length", str(len(body)))]
    return status, headers, body


BEFORE = {("s3", action): object_request for action in OBJECT_ACTIONS}
BEFORE[("s3", "PutBucketRequestPayment")] = put_request_payment
BEFORE[("s3", "GetBucketRequestPayment")] = get_request_payment
AFTER = {("s3", "GetBucketEncryption"): after_get_bucket_encryption, ("s3", "ListBuckets"): after_list_buckets}
