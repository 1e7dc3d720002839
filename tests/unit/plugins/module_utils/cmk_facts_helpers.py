"""Test helpers for cloudtrail_cmk_facts: fault injection at botocore's HTTP layer and fake policy hooks."""

import json

import boto3
import botocore.retries.bucket
import botocore.retries.standard
from botocore.awsrequest import AWSResponse
from moto.core.botocore_stubber import MockRawResponse

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _common, _policy

POLICY_HOOKS = ("key_policy_findings", "bucket_policy_findings", "log_readers", "readers_without_decrypt")


def fake_policy(monkeypatch, force=False):
    """Policy functions driven by markers in the policy dict (``_findings``, ``_readers``, ``_decrypt``).

    With ``force=False`` only functions ``_policy`` does not define yet are replaced.
    """

    def _load(policy):
        return json.loads(policy) if isinstance(policy, str) else (policy or {})

    def key_policy_findings(policy, trail_arn, key_arn, **kw):
        return [
            {
                "code": c,
                "severity": "critical",
                "resource": key_arn,
                "message": c,
                "remediation": "fix",
                "statement": "#0",
            }
            for c in _load(policy).get("_key_findings", [])
        ]

    def bucket_policy_findings(policy, bucket, trail_arn, **kw):
        return [
            {
                "code": c,
                "severity": "critical",
                "resource": bucket,
                "message": c,
                "remediation": "fix",
                "statement": "Sid1",
            }
            for c in _load(policy).get("_bucket_findings", [])
        ]

    def log_readers(policy, bucket, prefix, account_id):
        return list(_load(policy).get("_readers", []))

    def readers_without_decrypt(policy, key_arn, readers, trail_arn=None, identities=None):
        allowed = set(_load(policy).get("_decrypt", []))
        return [r for r in readers if r not in allowed]

    fakes = {
        "key_policy_findings": key_policy_findings,
        "bucket_policy_findings": bucket_policy_findings,
        "log_readers": log_readers,
        "readers_without_decrypt": readers_without_decrypt,
    }
    for name, func in fakes.items():
        if force or not hasattr(_policy, name):
            monkeypatch.setattr(_policy, name, func, raising=False)


def fast_retries(monkeypatch):
    """Same retries (and so the same recorded attempts), without the waiting.

    Besides our decorator's delays, botocore's ``adaptive`` mode sleeps twice on a throttle: the
    exponential backoff before its own retry and the client-side token bucket it then slows down.
    Tests assert on attempts, never on timing, so both waits are skipped.
    """
    monkeypatch.setitem(_common.RETRY_SETTINGS, "delay", 0.01)
    monkeypatch.setitem(_common.RETRY_SETTINGS, "max_delay", 0.02)
    monkeypatch.setattr(_common, "BOTOCORE_MAX_ATTEMPTS", 2)
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)
    monkeypatch.setattr(botocore.retries.bucket.TokenBucket, "acquire", lambda self, amount=1, block=True: True)


def error_response(request, status, code, message="injected", service=None):
    body = json.dumps({"__type": code, "message": message})
    headers = {"x-amzn-requestid": f"fault-{code}", "Content-Type": "application/x-amz-json-1.1"}
    if service in ("sts", "ec2", "iam"):
        body = f"<ErrorResponse><Error><Code>{code}</Code><Message>{message}</Message></Error></ErrorResponse>"
        headers = {"x-amzn-requestid": f"fault-{code}", "Content-Type": "text/xml"}
    elif service == "s3":
        body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
        headers = {"x-amz-request-id": f"fault-{code}", "Content-Type": "application/xml"}
    return AWSResponse(request.url, status, headers, MockRawResponse(body))


class Faults:
    """Rules ``(service, operation, body_substring, status, code, times)``; ``times=None`` means always."""

    def __init__(self):
        self.rules = []

    def add(self, service, operation, status, code, match=None, times=None):
        self.rules.append(
            {"service": service, "operation": operation, "status": status, "code": code, "match": match, "times": times}
        )

    def handler(self, service):
        def before_send(request=None, event_name=None, **kwargs):
            operation = event_name.split(".")[-1]
            body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
            for rule in self.rules:
                if rule["service"] != service or rule["operation"] != operation:
                    continue
                if rule["match"] and rule["match"] not in body + request.url:
                    continue
                if rule["times"] is not None:
                    if rule["times"] <= 0:
                        continue
                    rule["times"] -= 1
                return error_response(request, rule["status"], rule["code"], service=service)
            return None

        return before_send


def make_factory(faults=None, region="us-east-1"):
    faults = faults or Faults()

    def connect(service, region_name, config):
        client = boto3.client(service, region_name=region_name, config=config)
        client.meta.events.register_first("before-send", faults.handler(service))
        return client

    return _common.ClientFactory(connect, default_region=region)


def faults_on_every_client(monkeypatch, faults):
    """Every boto3 client created from now on (any session, as the modules create them) serves ``faults``."""
    real_client = boto3.session.Session.client

    def client(self, service, *args, **kwargs):
        made = real_client(self, service, *args, **kwargs)
        made.meta.events.register_first("before-send", faults.handler(service))
        return made

    monkeypatch.setattr(boto3.session.Session, "client", client)
