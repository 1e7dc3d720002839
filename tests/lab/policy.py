"""The collection's pure policy engine, imported lazily (``_policy`` in plugins/module_utils)."""

from __future__ import annotations

import functools


@functools.cache
def engine():
    try:
        from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _policy
    except ImportError:
        import sys
        from pathlib import Path

        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from paths import setup_sys_path

        setup_sys_path()
        from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _policy
    return _policy


def allowed(policy, request) -> bool:
    return engine().evaluate(policy, request).allowed


def decision(policy, request):
    return engine().evaluate(policy, request)


def caller_request(principal_arn: str, action: str, resource: str, context: dict | None = None):
    return engine().Request(principal={"AWS": principal_arn}, action=action, resource=resource,
                            context=dict(context or {}))
