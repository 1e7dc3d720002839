"""The lab's WSGI middleware around moto's server application.

Order for every AWS request: parse (service, action, region) -> resolve the caller's account from
the access key -> injected fault or latency -> fidelity layer (may answer itself, rewrite the
request, or post-process moto's answer) -> moto -> count the call and record an event.
Requests under ``/_lab/`` are the control API (see :mod:`lab.control`); ``/moto-api/`` passes
through untouched.
"""

from __future__ import annotations

import io
import json
import logging
import time
import traceback
import uuid
from datetime import datetime, UTC

from . import fidelity
from .accounts import access_key_from, resolve_caller
from .errors import LabError, Response, error_response, status_line
from .ops import LabRequest, parse_request
from .state import LabState

log = logging.getLogger("lab")


class Context:
    """What a fidelity handler sees: the request, the caller, the lab state, and the WSGI environ."""

    def __init__(self, req: LabRequest, caller, state: LabState, environ: dict):
        self.req = req
        self.caller = caller
        self.state = state
        self.environ = environ

    @property
    def account(self) -> str:
        return self.caller.account

    @property
    def region(self) -> str:
        return self.req.region

    def set_json_body(self, params: dict) -> None:
        self.req.params = params
        self.set_body(json.dumps(params).encode())

    def set_body(self, body: bytes) -> None:
        self.req.body = body
        self.environ["wsgi.input"] = io.BytesIO(body)
        self.environ["CONTENT_LENGTH"] = str(len(body))

    def set_header(self, name: str, value: str) -> None:
        self.req.headers[name.lower()] = value
        self.environ["HTTP_" + name.upper().replace("-", "_")] = value


class LabApp:
    def __init__(self, state: LabState, moto_app=None, control=None):
        if moto_app is None:
            from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

            moto_app = DomainDispatcherApplication(create_backend_app)
        self.moto_app = moto_app
        self.state = state
        self.control = control  # callable(environ, body) -> Response

    # -- WSGI ----------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/moto-api"):
            return self.moto_app(environ, start_response)
        body = _read_body(environ)
        if path.startswith("/_lab/") or path == "/_lab":
            status, headers, payload = self.control(environ, body)
            start_response(status_line(status), headers)
            return [payload]
        status, headers, payload = self.handle(environ, body)
        start_response(status_line(status), headers)
        return [payload]

    def handle(self, environ, body: bytes) -> Response:
        req = parse_request(environ, body)
        try:
            caller = resolve_caller(access_key_from(req.headers, req.query))
        except Exception:  # pragma: no cover - moto internals changed
            log.exception("could not resolve caller")
            raise
        environ["HTTP_X_TRAILGUARD_LAB_ACCOUNT"] = caller.account
        state = self.state
        if req.region and req.region not in ("aws-global", "global"):
            state.seen_regions.add(req.region)

        fault = state.faults.take(req.service, req.action, caller.account)
        if fault is not None:
            if fault.latency:
                time.sleep(fault.latency)
            if fault.error_code:
                state.counters.record(req.service, req.action, caller.account, fault.http_status, faulted=True)
                message = fault.message or f"Injected fault: {fault.error_code}"
                return error_response(req, fault.error_code, message, fault.http_status)

        ctx = Context(req, caller, state, environ)
        with state.lock:
            try:
                response = fidelity.before(ctx)
                if response is None:
                    response = self._call_moto(environ)
                    response = fidelity.after(ctx, response)
            except LabError as err:
                response = error_response(req, err.code, err.message, err.status)
            except Exception as err:  # keep the server alive and say what broke
                log.error("lab failure on %s:%s\n%s", req.service, req.action, traceback.format_exc())
                response = error_response(req, "InternalFailure", f"lab: {type(err).__name__}: {err}", 500)
        status = response[0]
        state.counters.record(req.service, req.action, caller.account, status)
        if req.is_mutating and status < 400 and req.service in ("cloudtrail", "kms", "s3", "iam", "sts"):
            _record_event(state, req, caller)
        return response

    def _call_moto(self, environ) -> Response:
        captured = {}

        def start_response(status, headers, exc_info=None):
            captured["status"] = int(status.split()[0])
            captured["headers"] = list(headers)
            return lambda data: None

        chunks = self.moto_app(environ, start_response)
        try:
            payload = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close:
                close()
        return captured["status"], captured["headers"], payload


def _read_body(environ) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    if length > 0:
        body = stream.read(length)
    elif environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked" or environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    return body


_SOURCES = {"cloudtrail": "cloudtrail.amazonaws.com", "kms": "kms.amazonaws.com", "s3": "s3.amazonaws.com",
            "iam": "iam.amazonaws.com", "sts": "sts.amazonaws.com"}


def _record_event(state: LabState, req: LabRequest, caller) -> None:
    resources = []
    for name, rtype in (("Name", "AWS::CloudTrail::Trail"), ("TrailName", "AWS::CloudTrail::Trail"),
                        ("KeyId", "AWS::KMS::Key")):
        value = req.params.get(name) if isinstance(req.params, dict) else None
        if isinstance(value, str):
            resources.append({"ResourceType": rtype, "ResourceName": value})
    if req.bucket:
        resources.append({"ResourceType": "AWS::S3::Bucket", "ResourceName": req.bucket})
    now = datetime.now(UTC)
    username = caller.arn.rsplit("/", 1)[-1]
    event = {
        "EventId": str(uuid.uuid4()),
        "EventName": req.action,
        "ReadOnly": "false",
        "AccessKeyId": caller.access_key,
        "EventTime": now,
        "EventSource": _SOURCES.get(req.service, f"{req.service}.amazonaws.com"),
        "Username": username,
        "Resources": resources,
        "account": caller.account,
        "region": req.region,
        "caller_arn": caller.arn,
    }
    state.events.append(event)
