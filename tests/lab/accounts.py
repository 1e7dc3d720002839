"""Who is calling: account and principal from the request's access key.

moto decides the account of a request by ``MOTO_ACCOUNT_ID`` (environment, pins *every* request),
then the ``x-moto-account-id`` header, then the access key (``moto.iam.models.get_account_id_from``:
keys created by IAM or by STS AssumeRole belong to their account). The lab resolves the account
from the access key itself (same rule as moto), with :data:`DEFAULT_ACCOUNT_ID` (or
``MOTO_ACCOUNT_ID`` when set) for keys moto does not know (the dummy ``testing`` credentials), and
hands it to moto in the ``x-trailguard-lab-account`` header, which :func:`install` makes moto honour
before the environment variable.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

DEFAULT_ACCOUNT_ID = "111111111111"
SECOND_ACCOUNT_ID = "222222222222"
ORGANIZATION_ID = "o-trailguard1"

ACCOUNT_HEADER = "x-trailguard-lab-account"
_ACCESS_KEY_RE = re.compile(r"Credential=([^/,\s]+)/")


def default_account() -> str:
    return os.environ.get("TRAILGUARD_LAB_ACCOUNT_ID") or DEFAULT_ACCOUNT_ID


@dataclass(frozen=True)
class Caller:
    account: str
    arn: str  # what GetCallerIdentity would say
    principal: str  # the ARN a policy's Principal names (role ARN for assumed-role sessions)
    access_key: str


def access_key_from(headers: dict, query: dict) -> str:
    auth = headers.get("authorization", "")
    match = _ACCESS_KEY_RE.search(auth)
    if match:
        return match.group(1)
    for name in ("X-Amz-Credential", "AWSAccessKeyId"):
        value = (query.get(name) or [""])[0]
        if value:
            return value.split("/")[0]
    return ""


def resolve_caller(access_key: str) -> Caller:
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    account = None
    for account_id, account_backends in list(iam_backends.items()):
        backend = account_backends.get("aws") if hasattr(account_backends, "get") else None
        if backend is not None and access_key in backend.access_keys:
            account = account_id
            break
    if account is None:
        account = default_account()
        return Caller(account, f"arn:aws:iam::{account}:user/moto", f"arn:aws:iam::{account}:user/moto", access_key)

    # Assumed-role session?
    try:
        sts = sts_backends[account]["aws"]
        role = sts.get_assumed_role_from_access_key(access_key)
    except Exception:  # pragma: no cover - moto internals
        role = None
    if role is not None:
        return Caller(account, role.arn, role.role_arn, access_key)
    user_arn = f"arn:aws:iam::{account}:user/moto"
    try:
        user = iam_backends[account]["aws"].get_user_from_access_key_id(access_key)
        if user is not None:
            user_arn = user.arn
    except Exception:  # pragma: no cover
        pass
    return Caller(account, user_arn, user_arn, access_key)


def install() -> None:
    """Make moto take the account the lab resolved (request header) before ``MOTO_ACCOUNT_ID``."""
    from moto.core.responses import BaseResponse

    original = BaseResponse.get_current_account
    if getattr(original, "_lab", False):
        return

    def get_current_account(self) -> str:
        headers = getattr(self, "headers", None) or {}
        account = headers.get(ACCOUNT_HEADER) if hasattr(headers, "get") else None
        return account or original(self)

    get_current_account._lab = True
    BaseResponse.get_current_account = get_current_account
