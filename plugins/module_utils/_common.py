# Copyright: contributors to trailguard.cloudtrail_cmk
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE to trailguard.cloudtrail_cmk: not a public API, may change without notice.

The AWS access layer shared by every service file:

* an error hierarchy (``TrailGuardError`` > ``AwsApiError`` > ``AccessDeniedError`` / ``NotFoundError``);
* ``call`` / ``paginate``: the ONE retried call helper (AWSRetry.jittered_backoff on throttling and 5xx
  on top of botocore's own ``adaptive`` retry mode), which maps "not found" codes to ``None`` when the
  caller says that is a valid answer and raises typed errors otherwise;
* ``ApiCallRecorder``: records every HTTP attempt (retries included) through botocore's event system;
* ``ClientFactory``: one client per (service, region), created once, thread-safe, with the recorder
  attached.
"""

import datetime
import threading
from collections import Counter

try:
    import boto3.session
    import botocore.config
    from botocore.exceptions import BotoCoreError, ClientError, NoRegionError
except ImportError:  # pragma: no cover - handled by AnsibleAWSModule
    ClientError = BotoCoreError = NoRegionError = Exception

from ansible.module_utils.ansible_release import __version__ as ANSIBLE_VERSION

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

# Error codes that mean "the caller may not read this", across services.
ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AuthorizationError",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "KMSAccessDeniedException",
    }
)

# Error codes retried by our jittered backoff, in addition to AWSRetry's own list and to every 5xx.
RETRY_CODES = (
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "SlowDown",
    "ProvisionedThroughputExceededException",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalServerError",
    "InternalServerException",
    "ServiceUnavailableException",
    "KMSInternalException",
    "DependencyTimeoutException",
    "HTTP5xx",
)

# Tunables (tests lower the delays).
RETRY_SETTINGS = {"retries": 8, "delay": 1.0, "backoff": 2.0, "max_delay": 20}
BOTOCORE_MAX_ATTEMPTS = 5


class TrailGuardError(Exception):
    """Base of every error raised by this collection's module_utils."""

    def __init__(self, message, exception=None):
        super().__init__(message)
        self.message = message
        self.exception = exception


class AwsApiError(TrailGuardError):
    """An AWS call failed. ``code`` is the AWS error code, ``operation`` the API name."""

    def __init__(self, message, exception=None, code=None, operation=None, service=None, resource=None):
        super().__init__(message, exception)
        self.code = code
        self.operation = operation
        self.service = service
        self.resource = resource

    def as_dict(self):
        return {
            "service": self.service,
            "operation": self.operation,
            "resource": self.resource,
            "code": self.code,
            "message": self.message,
        }


class AccessDeniedError(AwsApiError):
    """The credentials may not perform this call on this resource (becomes a *_UNREADABLE finding)."""


class NotFoundError(AwsApiError):
    """The resource does not exist (raised when "not found" is not a valid answer for the caller)."""


def error_code(exc):
    try:
        return exc.response["Error"]["Code"]
    except (AttributeError, KeyError, TypeError):
        return None


def http_status(exc):
    try:
        return exc.response["ResponseMetadata"]["HTTPStatusCode"]
    except (AttributeError, KeyError, TypeError):
        return None


class _TrailGuardRetry(AWSRetry):
    """AWSRetry that also treats every HTTP 5xx as retryable (reported as the pseudo code ``HTTP5xx``)."""

    @staticmethod
    def status_code_from_exception(error):
        status = http_status(error)
        if status is not None and status >= 500:
            return "HTTP5xx"
        return error_code(error)


def retry_decorator():
    return _TrailGuardRetry.jittered_backoff(catch_extra_error_codes=list(RETRY_CODES), **RETRY_SETTINGS)


def botocore_config(max_attempts=None):
    """botocore Config: adaptive client-side rate limiting + retry mode (our decorator sits on top)."""
    return botocore.config.Config(
        retries={"mode": "adaptive", "max_attempts": max_attempts or BOTOCORE_MAX_ATTEMPTS},
        max_pool_connections=50,
    )


def _translate(exc, client, operation, resource):
    code = error_code(exc)
    service = _service_name(client)
    msg = f"{service}:{operation} failed"
    if resource:
        msg += f" for {resource}"
    msg += f": {code}: {exc}"
    cls = AccessDeniedError if code in ACCESS_DENIED_CODES else AwsApiError
    return cls(msg, exception=exc, code=code, operation=operation, service=service, resource=resource)


def _service_name(client):
    try:
        return client.meta.service_model.service_name
    except AttributeError:
        return "unknown"


def call(client, operation, *, not_found=(), resource=None, paginate=False, **params):
    """Call ``client.<operation>(**params)`` with retries; the ONE way this collection talks to AWS.

    ``paginate=True`` (or ``paginate()``) follows every page with botocore's paginator and returns the
    merged result; the whole pagination is retried on throttling/5xx.
    Error codes listed in ``not_found`` return ``None`` (a valid answer: "no policy", "no such bucket");
    AccessDenied-like codes raise ``AccessDeniedError``; anything else ``AwsApiError``.
    """
    if paginate and client.can_paginate(operation):

        def _do():
            return client.get_paginator(operation).paginate(**params).build_full_result()

    else:

        def _do():
            return getattr(client, operation)(**params)

    try:
        result = retry_decorator()(_do)()
    except ClientError as exc:
        if error_code(exc) in not_found:
            return None
        raise _translate(exc, client, operation, resource) from exc
    if isinstance(result, dict):
        result.pop("ResponseMetadata", None)
    return result


def paginate(client, operation, *, not_found=(), resource=None, **params):
    """Every list call goes through here: all pages, retried, typed errors."""
    return call(client, operation, not_found=not_found, resource=resource, paginate=True, **params)


def utcnow_iso():
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ApiCallRecorder:
    """Thread-safe record of every AWS HTTP attempt made through clients it is attached to.

    Uses botocore's ``needs-retry`` event (emitted after every attempt, retries included) and falls back
    to ``after-call`` for calls answered before the HTTP layer (botocore stubs). Each record:
    ``{service, operation, region, account, request_id, timestamp, error_code, http_status, attempt}``.
    """

    _MARK = "trailguard_recorded_attempts"

    def __init__(self):
        self._lock = threading.Lock()
        self._calls = []

    def attach(self, client, account=None):
        service = _service_name(client)
        region = client.meta.region_name

        def on_needs_retry(
            response=None, caught_exception=None, operation=None, attempts=None, request_dict=None, **kwargs
        ):
            http, parsed = response if response is not None else (None, {})
            context = (request_dict or {}).get("context") or {}
            context[self._MARK] = context.get(self._MARK, 0) + 1
            self._record(
                service,
                operation.name if operation is not None else kwargs.get("event_name", "").split(".")[-1],
                region,
                account,
                parsed,
                http.status_code if http is not None else None,
                attempts,
                caught_exception,
            )

        def on_after_call(http_response=None, parsed=None, model=None, context=None, **kwargs):
            if context is not None and context.get(self._MARK):
                return
            self._record(
                service, model.name, region, account, parsed or {}, getattr(http_response, "status_code", None), 1, None
            )

        client.meta.events.register("needs-retry", on_needs_retry, unique_id=f"trailguard-recorder-nr-{id(self)}")
        client.meta.events.register("after-call", on_after_call, unique_id=f"trailguard-recorder-ac-{id(self)}")
        return client

    def _record(self, service, operation, region, account, parsed, status, attempt, caught_exception):
        parsed = parsed or {}
        meta = parsed.get("ResponseMetadata") or {}
        err = parsed.get("Error") or {}
        code = err.get("Code")
        if caught_exception is not None and not code:
            code = type(caught_exception).__name__
        entry = {
            "service": service,
            "operation": operation,
            "region": region,
            "account": account() if callable(account) else account,
            "request_id": meta.get("RequestId") or (meta.get("HTTPHeaders") or {}).get("x-amzn-requestid"),
            "timestamp": utcnow_iso(),
            "error_code": code,
            "http_status": status if status is not None else meta.get("HTTPStatusCode"),
            "attempt": attempt,
        }
        with self._lock:
            self._calls.append(entry)

    def fill_account(self, account):
        """Set ``account`` on records made before it was known (the sts call that finds it)."""
        with self._lock:
            for entry in self._calls:
                if entry["account"] is None:
                    entry["account"] = account

    @property
    def calls(self):
        with self._lock:
            return list(self._calls)

    def count(self, service=None, operation=None, **match):
        return sum(
            1
            for c in self.calls
            if (service is None or c["service"] == service)
            and (operation is None or c["operation"] == operation)
            and all(c.get(k) == v for k, v in match.items())
        )

    def summary(self):
        calls = self.calls
        return {
            "total": len(calls),
            "errors": sum(1 for c in calls if c["error_code"]),
            "retried": sum(1 for c in calls if (c["attempt"] or 1) > 1),
            "by_operation": dict(sorted(Counter(f"{c['service']}:{c['operation']}" for c in calls).items())),
        }


class ClientFactory:
    """One boto3 client per (service, region), created lazily under a lock, recorder attached.

    ``connect(service, region, config)`` creates the raw client: in modules
    ``lambda s, r, c: module.client(s, region=r, config=c)``, in tests ``boto3.client``.
    """

    def __init__(self, connect, recorder=None, default_region=None, account=None, config=None):
        self._connect = connect
        self.recorder = recorder if recorder is not None else ApiCallRecorder()
        self.default_region = default_region
        self.account = account
        self._config = config
        self._clients = {}
        self._lock = threading.Lock()

    def client(self, service, region=None):
        region = region or self.default_region
        key = (service, region)
        with self._lock:
            existing = self._clients.get(key)
            if existing is None:
                config = self._config if self._config is not None else botocore_config()
                existing = self._connect(service, region, config)
                self.recorder.attach(existing, account=lambda: self.account)
                self._clients[key] = existing
            return existing


USER_AGENT = f"APN/1.0 Ansible/{ANSIBLE_VERSION} trailguard.cloudtrail_cmk"


def module_connect(module, assume_role=None, recorder=None):
    """A ``connect`` callable for ``ClientFactory`` built on AnsibleAWSModule connection options.

    Every client of the run comes from ONE boto3 session built from the module's connection options
    (``get_aws_connection_info``: credentials, profile, endpoint, CA bundle, ``aws_config``), so
    botocore parses its endpoint and service models once. ``module.client()`` makes a new session per
    client: about 100 ms of CPU each, over a second per account for the 15 clients an inventory of four
    regions needs. Creation is serialised by ``ClientFactory``'s lock (sessions are not thread-safe).

    ``assume_role`` (``{"role_arn", "external_id", "session_name"}``): the session is built instead from
    the temporary credentials of ``sts:AssumeRole`` called with the module's credentials, once, when the
    first client is needed; ``recorder`` records that call. A refused AssumeRole raises ``AwsApiError``
    naming the role.
    """
    from ansible_collections.amazon.aws.plugins.module_utils.botocore import get_aws_connection_info

    default_region, endpoint, params = get_aws_connection_info(module)
    params = dict(params)
    profile = params.pop("profile_name", None)
    extra = params.pop("aws_config", None)
    state = {}

    def config_for(config):
        merged = botocore.config.Config(user_agent=USER_AGENT)
        if config is not None:
            merged = merged.merge(config)
        if extra:
            extra_config = extra if isinstance(extra, botocore.config.Config) else botocore.config.Config(**extra)
            merged = merged.merge(extra_config)
        return merged

    def session(config):
        if "session" in state:
            return state["session"], state["params"]
        base = boto3.session.Session(profile_name=profile)
        if not assume_role or not assume_role.get("role_arn"):
            state["session"], state["params"] = base, params
            return base, params
        sts = base.client("sts", region_name=default_region, endpoint_url=endpoint, config=config_for(config), **params)
        if recorder is not None:
            recorder.attach(sts)
        request = {
            "RoleArn": assume_role["role_arn"],
            "RoleSessionName": assume_role.get("session_name") or "trailguard",
        }
        if assume_role.get("external_id"):
            request["ExternalId"] = assume_role["external_id"]
        try:
            creds = call(sts, "assume_role", resource=assume_role["role_arn"], **request)["Credentials"]
        except AwsApiError as exc:
            raise type(exc)(
                f"could not assume {assume_role['role_arn']}: {exc.message}", exc.exception, exc.code, exc.operation,
                exc.service, exc.resource,
            ) from exc
        state["session"] = boto3.session.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
        state["params"] = {k: v for k, v in params.items() if not k.startswith("aws_") or k == "aws_ca_bundle"}
        return state["session"], state["params"]

    def _connect(service, region, config):
        try:
            active, kwargs = session(config)
            options = dict(kwargs, region_name=region or default_region, endpoint_url=endpoint)
            options["config"] = config_for(config)
            return active.client(service, **options)
        except (ValueError, BotoCoreError) as exc:
            if isinstance(exc, NoRegionError):
                module.fail_json(msg=f"No region for {service}: set region or AWS_REGION")
            module.fail_json_aws(exc, msg="Couldn't connect to AWS")

    return _connect
