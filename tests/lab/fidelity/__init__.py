"""The fidelity layer: per (service, action) handlers run before and after moto.

``before(ctx)`` may raise :class:`lab.errors.LabError`, return a full response, or rewrite the
request and return None (moto then answers). ``after(ctx, response)`` may rewrite moto's answer.
"""

from __future__ import annotations

from . import cloudtrail, kms, s3

_BEFORE = {}
_AFTER = {}
for _module in (cloudtrail, kms, s3):
    for (_service, _action), _fn in _module.BEFORE.items():
        _BEFORE[(_service, _action)] = _fn
    for (_service, _action), _fn in getattr(_module, "AFTER", {}).items():
        _AFTER[(_service, _action)] = _fn
_SERVICE_BEFORE = {"kms": kms.before_any}


def before(ctx):
    service_hook = _SERVICE_BEFORE.get(ctx.req.service)
    if service_hook is not None:
        response = service_hook(ctx)
        if response is not None:
            return response
    handler = _BEFORE.get((ctx.req.service, ctx.req.action))
    return handler(ctx) if handler else None


def after(ctx, response):
    handler = _AFTER.get((ctx.req.service, ctx.req.action))
    return handler(ctx, response) if handler else response
