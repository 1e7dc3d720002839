"""The lab's own state next to moto's: faults, counters, delivery status, recorded events."""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass, field
from datetime import datetime

from .faults import CallCounters, FaultInjector

DEFAULT_REGIONS = ("us-east-1", "us-west-2")


@dataclass
class DeliveryStatus:
    latest_delivery_time: datetime | None = None
    latest_delivery_attempt_time: datetime | None = None
    latest_delivery_attempt_succeeded: datetime | None = None
    latest_delivery_error: str | None = None
    latest_digest_delivery_time: datetime | None = None
    latest_digest_delivery_error: str | None = None
    delivered_keys: list[str] = field(default_factory=list)


class LabState:
    def __init__(self, regions=DEFAULT_REGIONS) -> None:
        # One lock serialises the fidelity layer, moto and the delivery loop: moto's backends are
        # plain dicts, and the checks read several of them.
        self.lock = threading.RLock()
        self.faults = FaultInjector()
        self.counters = CallCounters()
        self.base_regions = tuple(regions)
        self.endpoint_url: str | None = None
        self.reset()

    def reset(self) -> None:
        self.delivery: dict[str, DeliveryStatus] = {}
        self.events: collections.deque = collections.deque(maxlen=5000)
        self.seen_regions: set[str] = set()
        self.faults.clear()
        self.counters.reset()

    def regions(self) -> list[str]:
        return sorted(set(self.base_regions) | self.seen_regions)

    def status_for(self, trail_arn: str) -> DeliveryStatus:
        return self.delivery.setdefault(trail_arn, DeliveryStatus())
