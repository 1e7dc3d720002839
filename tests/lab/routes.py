"""Server side of the control API under ``/_lab/`` (JSON in, JSON out).

=======  ========================  =====================================================================
Method   Path                      What
=======  ========================  =====================================================================
GET      /_lab/health              ``{"status": "ok", "default_account", "regions", "endpoint_url"}``
POST     /_lab/reset               reset moto (all backends) and the lab's own state
POST     /_lab/faults              ``{service, action, error_code, http_status, count, latency, message,
                                   account}`` -> the fault; ``"*"`` matches any service/action
GET      /_lab/faults              active and spent faults
DELETE   /_lab/faults              clear faults
GET      /_lab/calls               ``{"calls": {"svc:Action": n}, "by_account", "faulted", "errors",
                                   "writes"}``
POST     /_lab/calls/reset         zero the counters (DELETE /_lab/calls does the same)
POST     /_lab/deliver             ``{"trail_arn": optional}`` -> ``{"trails", "keys", "digest_keys",
                                   "errors"}``
POST     /_lab/estate              ``{"name": ..., "params": {...}}`` -> the estate's manifest
GET      /_lab/events              events the lab recorded (what LookupEvents serves)
=======  ========================  =====================================================================
"""

from __future__ import annotations

import json
import logging
import traceback

from . import delivery
from .accounts import default_account
from .errors import Response

log = logging.getLogger("lab")


def _json(payload, status: int = 200) -> Response:
    body = json.dumps(payload, default=str).encode()
    return status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))], body


def reset_all(state) -> None:
    from moto.moto_api._internal.models import moto_api_backend

    with state.lock:
        moto_api_backend.reset()
        state.reset()


def build_estate(state, name: str, params: dict | None = None) -> dict:
    import importlib

    estates = importlib.import_module("lab.estates")
    return estates.build(name, state.endpoint_url, **(params or {}))


class ControlRoutes:
    def __init__(self, state):
        self.state = state

    def __call__(self, environ, body: bytes) -> Response:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO", "").rstrip("/")
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            return _json({"error": "body is not JSON"}, 400)
        try:
            return self.dispatch(method, path, data)
        except Exception as err:
            log.error("control %s %s failed\n%s", method, path, traceback.format_exc())
            return _json({"error": f"{type(err).__name__}: {err}"}, 500)

    def dispatch(self, method: str, path: str, data: dict) -> Response:
        state = self.state
        if path == "/_lab/health":
            return _json({"status": "ok", "default_account": default_account(), "regions": state.regions(),
                          "endpoint_url": state.endpoint_url})
        if path == "/_lab/reset" and method == "POST":
            reset_all(state)
            return _json({"status": "ok"})
        if path == "/_lab/faults":
            if method == "POST":
                if not data.get("service") or not data.get("action"):
                    return _json({"error": "service and action are required"}, 400)
                fields = ("error_code", "http_status", "count", "latency", "message", "account")
                fault = state.faults.inject(data["service"], data["action"],
                                            **{k: data[k] for k in fields if data.get(k) is not None})
                return _json(fault.describe())
            if method == "DELETE":
                state.faults.clear()
                return _json({"status": "ok"})
            return _json({"faults": state.faults.list()})
        if path == "/_lab/calls":
            if method == "DELETE":
                state.counters.reset()
                return _json({"status": "ok"})
            return _json(state.counters.snapshot())
        if path == "/_lab/calls/reset" and method == "POST":
            state.counters.reset()
            return _json({"status": "ok"})
        if path == "/_lab/deliver" and method == "POST":
            return _json(delivery.deliver(state, data.get("trail_arn")))
        if path == "/_lab/estate" and method == "POST":
            if not data.get("name"):
                return _json({"error": "name is required"}, 400)
            return _json(build_estate(state, data["name"], data.get("params")))
        if path == "/_lab/events":
            events = [dict(e) for e in state.events]
            return _json({"events": events})
        return _json({"error": f"no route {method} {path}"}, 404)
