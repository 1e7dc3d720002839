"""LabControl: a small client for the control API under ``/_lab/`` (standard library only)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request


class LabControlError(RuntimeError):
    pass


class LabControl:
    def __init__(self, endpoint_url: str, timeout: float = 300):
        self.endpoint_url = endpoint_url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, payload: dict | None = None) -> dict:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(f"{self.endpoint_url}/_lab/{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as err:
            raise LabControlError(f"{method} /_lab/{path}: {err.code} {err.read().decode(errors='replace')}") from None

    def health(self) -> dict:
        return self._call("GET", "health")

    def reset(self) -> None:
        """Reset moto (every backend) and the lab's state (faults, counters, deliveries, events)."""
        self._call("POST", "reset")

    def inject(self, service: str, action: str, error_code: str | None = None, http_status: int = 400,
               count: int = 1, latency: float = 0.0, message: str | None = None,
               account: str | None = None) -> dict:
        """The next ``count`` calls of service/action (``"*"`` = any; ``count=-1`` = until cleared) fail with
        ``error_code`` / ``http_status`` in the protocol's error shape, after ``latency`` seconds. With
        ``error_code=None`` only the latency is added."""
        return self._call("POST", "faults", {"service": service, "action": action, "error_code": error_code,
                                             "http_status": http_status, "count": count, "latency": latency,
                                             "message": message, "account": account})

    def faults(self) -> list[dict]:
        return self._call("GET", "faults")["faults"]

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def counters(self) -> dict:
        """The whole counter snapshot: calls, by_account, faulted, errors, writes."""
        return self._call("GET", "calls")

    def calls(self, account: str | None = None) -> dict[str, int]:
        """``{"cloudtrail:UpdateTrail": 2, ...}``: calls the lab served (injected failures not included)."""
        snap = self.counters()
        return snap["by_account"].get(account, {}) if account else snap["calls"]

    def writes(self, account: str | None = None) -> dict[str, int]:
        """Counts of mutating calls (Create*/Update*/Put*/Delete*/Start*/Stop*/Enable*/Disable*/...)."""
        from .ops import is_mutating

        return {k: v for k, v in self.calls(account).items() if is_mutating(k.split(":", 1)[1])}

    def reset_counters(self) -> None:
        self._call("POST", "calls/reset")

    def deliver(self, trail_arn: str | None = None) -> dict:
        return self._call("POST", "deliver", {"trail_arn": trail_arn} if trail_arn else {})

    def build_estate(self, name: str, **params) -> dict:
        return self._call("POST", "estate", {"name": name, "params": params})

    def events(self) -> list[dict]:
        return self._call("GET", "events")["events"]
