"""The TrailGuard lab: moto's server with a layer that makes CloudTrail, KMS and S3 behave as AWS
documents them, plus log delivery, fault injection and call counters. See docs/lab.md."""

from .accounts import DEFAULT_ACCOUNT_ID, ORGANIZATION_ID, SECOND_ACCOUNT_ID
from .control import LabControl, LabControlError
from .server import LabServer, environment

__all__ = [
    "DEFAULT_ACCOUNT_ID",
    "ORGANIZATION_ID",
    "SECOND_ACCOUNT_ID",
    "LabControl",
    "LabControlError",
    "LabServer",
    "environment",
]
