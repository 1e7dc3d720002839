"""Which service and operation a request is, named as boto3 names the operation.

* JSON protocols (CloudTrail, KMS, Organizations, ...): ``X-Amz-Target: <prefix>.<Operation>``.
* Query protocols (STS, IAM, EC2): the ``Action`` query or form parameter.
* S3 (REST-XML): HTTP method + bucket/key path + sub-resource query parameters.
The service comes from the SigV4 credential scope (``Credential=AK/date/region/service/aws4_request``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

_SCOPE_RE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")

JSON_SERVICES_BY_TARGET_PREFIX = {
    "TrentService": "kms",
    "com.amazonaws.cloudtrail": "cloudtrail",
    "CloudTrail_": "cloudtrail",
    "AWSOrganizationsV": "organizations",
    "Logs_": "logs",
}

MUTATING_PREFIXES = (
    "Create", "Update", "Put", "Delete", "Start", "Stop", "Enable", "Disable", "Schedule", "Cancel",
    "Tag", "Untag", "Add", "Remove", "Attach", "Detach", "Replicate", "Rotate", "Retire", "Revoke",
    "Copy", "Upload", "Complete", "Abort", "Restore", "Register", "Deregister", "Set", "Modify",
)

# sub-resource query parameter -> (GET, PUT, DELETE) operation names at bucket level
_BUCKET_SUBRESOURCES = {
    "policy": ("GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy"),
    "policyStatus": ("GetBucketPolicyStatus", None, None),
    "encryption": ("GetBucketEncryption", "PutBucketEncryption", "DeleteBucketEncryption"),
    "versioning": ("GetBucketVersioning", "PutBucketVersioning", None),
    "tagging": ("GetBucketTagging", "PutBucketTagging", "DeleteBucketTagging"),
    "acl": ("GetBucketAcl", "PutBucketAcl", None),
    "location": ("GetBucketLocation", None, None),
    "lifecycle": ("GetBucketLifecycleConfiguration", "PutBucketLifecycleConfiguration", "DeleteBucketLifecycle"),
    "publicAccessBlock": ("GetPublicAccessBlock", "PutPublicAccessBlock", "DeletePublicAccessBlock"),
    "ownershipControls": ("GetBucketOwnershipControls", "PutBucketOwnershipControls", "DeleteBucketOwnershipControls"),
    "notification": ("GetBucketNotificationConfiguration", "PutBucketNotificationConfiguration", None),
    "logging": ("GetBucketLogging", "PutBucketLogging", None),
    "cors": ("GetBucketCors", "PutBucketCors", "DeleteBucketCors"),
    "website": ("GetBucketWebsite", "PutBucketWebsite", "DeleteBucketWebsite"),
    "object-lock": ("GetObjectLockConfiguration", "PutObjectLockConfiguration", None),
    "replication": ("GetBucketReplication", "PutBucketReplication", "DeleteBucketReplication"),
    "versions": ("ListObjectVersions", None, None),
    "requestPayment": ("GetBucketRequestPayment", "PutBucketRequestPayment", None),
    "uploads": ("ListMultipartUploads", None, None),
}
_OBJECT_SUBRESOURCES = {
    "tagging": ("GetObjectTagging", "PutObjectTagging", "DeleteObjectTagging"),
    "acl": ("GetObjectAcl", "PutObjectAcl", None),
    "attributes": ("GetObjectAttributes", None, None),
    "retention": ("GetObjectRetention", "PutObjectRetention", None),
    "legal-hold": ("GetObjectLegalHold", "PutObjectLegalHold", None),
}


@dataclass
class LabRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    service: str = ""
    action: str = ""
    region: str = "us-east-1"
    bucket: str | None = None
    key: str | None = None
    params: dict[str, Any] = field(default_factory=dict)  # JSON body or query/form params (first value)

    @property
    def protocol(self) -> str:
        if self.service == "s3":
            return "rest-xml"
        if "x-amz-target" in self.headers:
            return "json"
        if self.service == "ec2":
            return "ec2"
        return "query"

    @property
    def is_mutating(self) -> bool:
        return is_mutating(self.action)


def is_mutating(action: str) -> bool:
    return action.startswith(MUTATING_PREFIXES)


def parse_request(environ: dict, body: bytes, lab_host: str | None = None) -> LabRequest:
    headers = {}
    for name, value in environ.items():
        if name.startswith("HTTP_"):
            headers[name[5:].replace("_", "-").lower()] = value
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    path = unquote(environ.get("PATH_INFO", "/")) or "/"
    req = LabRequest(environ.get("REQUEST_METHOD", "GET").upper(), path, query, headers, body)

    scope = _SCOPE_RE.search(headers.get("authorization", ""))
    if scope:
        req.region, req.service = scope.group(1), scope.group(2)
    else:
        cred = (query.get("X-Amz-Credential") or [""])[0].split("/")
        if len(cred) >= 4:
            req.region, req.service = cred[2], cred[3]

    target = headers.get("x-amz-target")
    if target:
        req.action = target.rsplit(".", 1)[-1]
        if not req.service:
            for prefix, service in JSON_SERVICES_BY_TARGET_PREFIX.items():
                if target.startswith(prefix):
                    req.service = service
        try:
            req.params = json.loads(body or b"{}")
        except ValueError:
            req.params = {}
        return req

    if req.service in ("", "s3") and not _has_action(req):
        req.service = req.service or "s3"
        _classify_s3(req, lab_host)
        return req

    form = {}
    if body and "x-www-form-urlencoded" in headers.get("content-type", ""):
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    merged = {**query, **form}
    req.params = {k: v[0] for k, v in merged.items()}
    req.action = req.params.get("Action", "")
    return req


def _has_action(req: LabRequest) -> bool:
    if "Action" in req.query:
        return True
    ctype = req.headers.get("content-type", "")
    return "x-www-form-urlencoded" in ctype and b"Action=" in (req.body or b"")


def _classify_s3(req: LabRequest, lab_host: str | None) -> None:
    host = req.headers.get("host", "").split(":")[0]
    parts = req.path.lstrip("/").split("/", 1)
    bucket = None
    key = None
    # virtual-hosted style: <bucket>.localhost / <bucket>.s3.amazonaws.com
    for suffix in (".localhost", ".s3.amazonaws.com", ".s3.localhost.localstack.cloud"):
        if host.endswith(suffix) and host != suffix.lstrip("."):
            bucket = host[: -len(suffix)]
            key = req.path.lstrip("/") or None
            break
    if bucket is None:
        bucket = parts[0] or None
        key = parts[1] if len(parts) > 1 and parts[1] else None
    req.bucket, req.key = bucket, key
    req.params = {k: v[0] for k, v in req.query.items()}
    req.action = s3_operation(req.method, bucket, key, req.query, req.headers)


def s3_operation(method: str, bucket: str | None, key: str | None, query: dict, headers: dict) -> str:
    if bucket is None:
        return "ListBuckets" if method == "GET" else f"{method.title()}Service"
    index = {"GET": 0, "PUT": 1, "DELETE": 2}
    if key is None:
        if method == "HEAD":
            return "HeadBucket"
        if method == "POST" and "delete" in query:
            return "DeleteObjects"
        for sub, names in _BUCKET_SUBRESOURCES.items():
            if sub in query and method in index and names[index[method]]:
                return names[index[method]]
        if method == "GET":
            return "ListObjectsV2" if query.get("list-type", [""])[0] == "2" else "ListObjects"
        return {"PUT": "CreateBucket", "DELETE": "DeleteBucket"}.get(method, f"{method.title()}Bucket")
    if method == "HEAD":
        return "HeadObject"
    if method == "POST":
        if "uploads" in query:
            return "CreateMultipartUpload"
        if "uploadId" in query:
            return "CompleteMultipartUpload"
        return "PostObject"
    for sub, names in _OBJECT_SUBRESOURCES.items():
        if sub in query and method in index and names[index[method]]:
            return names[index[method]]
    if method == "PUT":
        if "partNumber" in query and "uploadId" in query:
            return "UploadPartCopy" if "x-amz-copy-source" in headers else "UploadPart"
        return "CopyObject" if "x-amz-copy-source" in headers else "PutObject"
    if method == "GET":
        return "ListParts" if "uploadId" in query else "GetObject"
    if method == "DELETE":
        return "AbortMultipartUpload" if "uploadId" in query else "DeleteObject"
    return f"{method.title()}Object"
