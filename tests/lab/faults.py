"""Fault injection (next N matching calls fail, or get slower) and per-operation call counters."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import asdict, dataclass

from .ops import is_mutating


def _matches(pattern: str, value: str) -> bool:
    return pattern in ("*", "") or pattern.lower() == value.lower()


@dataclass
class Fault:
    service: str
    action: str
    error_code: str | None = None
    http_status: int = 400
    count: int = 1  # remaining; -1 = every call until cleared
    latency: float = 0.0
    message: str | None = None
    account: str | None = None
    fired: int = 0

    def describe(self) -> dict:
        return asdict(self)


class FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def inject(self, service: str, action: str, error_code: str | None = None, http_status: int = 400,
               count: int = 1, latency: float = 0.0, message: str | None = None,
               account: str | None = None) -> Fault:
        fault = Fault(service, action, error_code, int(http_status), int(count), float(latency), message,
                      account)
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, service: str, action: str, account: str) -> Fault | None:
        """The first active fault matching this call (consumes one of its count), or None."""
        with self._lock:
            for fault in self._faults:
                if fault.count == 0:
                    continue
                if not (_matches(fault.service, service) and _matches(fault.action, action)):
                    continue
                if fault.account and fault.account != account:
                    continue
                if fault.count > 0:
                    fault.count -= 1
                fault.fired += 1
                return fault
        return None

    def list(self) -> list[dict]:
        with self._lock:
            return [f.describe() for f in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()


class CallCounters:
    """Counts calls the lab served, keyed ``service:Action``; injected failures are counted apart."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "_lock", threading.Lock()):
            self._calls: Counter = Counter()
            self._by_account: dict[str, Counter] = {}
            self._faulted: Counter = Counter()
            self._errors: Counter = Counter()

    def record(self, service: str, action: str, account: str, status: int, faulted: bool = False) -> None:
        name = f"{service}:{action}"
        with self._lock:
            if faulted:
                self._faulted[name] += 1
                return
            self._calls[name] += 1
            self._by_account.setdefault(account, Counter())[name] += 1
            if status >= 400:
                self._errors[name] += 1

    def snapshot(self) -> dict:
        with self._lock:
            calls = dict(self._calls)
            return {
                "calls": calls,
                "by_account": {acct: dict(c) for acct, c in self._by_account.items()},
                "faulted": dict(self._faulted),
                "errors": dict(self._errors),
                "writes": {name: n for name, n in calls.items() if is_mutating(name.split(":", 1)[1])},
            }
