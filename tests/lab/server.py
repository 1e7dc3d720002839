"""LabServer: moto's server app behind the lab's fidelity middleware, in a background thread."""

from __future__ import annotations

import logging
import os
import threading

from .accounts import DEFAULT_ACCOUNT_ID
from .app import LabApp
from .control import LabControl
from .delivery import DeliveryLoop
from .routes import ControlRoutes, build_estate, reset_all
from .state import DEFAULT_REGIONS, LabState

log = logging.getLogger("lab")


def _configure_default_account() -> str:
    """The lab's default account: ``MOTO_ACCOUNT_ID`` when set, else 111111111111.

    moto pins *every* request to ``MOTO_ACCOUNT_ID`` when it is set in the environment, which would
    make AssumeRole into another account a no-op. So the lab leaves the environment alone, resolves
    each request's account from its access key, and hands it to moto in a request header that a
    small patch of ``BaseResponse.get_current_account`` honours first (see lab.accounts).
    """
    account = os.environ.get("TRAILGUARD_LAB_ACCOUNT_ID") or os.environ.get("MOTO_ACCOUNT_ID") or DEFAULT_ACCOUNT_ID
    os.environ["TRAILGUARD_LAB_ACCOUNT_ID"] = account
    return account


def _cache_moto_module_list() -> None:
    """Speed, not fidelity: moto's server lists its package directory (``os.listdir`` + a ``stat`` per
    entry, ~170 entries) twice for *every* request to find the backend for a host name, over half of the
    lab's CPU per request. The list never changes while the process runs, so read it once."""
    from moto import backends

    if getattr(backends.list_of_moto_modules, "_trailguard_cached", False):
        return
    modules = tuple(backends.list_of_moto_modules())

    def list_of_moto_modules():
        return modules

    list_of_moto_modules._trailguard_cached = True
    backends.list_of_moto_modules = list_of_moto_modules


def _install_patches() -> None:
    from .accounts import install as install_accounts
    from .fidelity import s3

    install_accounts()
    s3.install()
    _cache_moto_module_list()


class LabServer:
    """``with LabServer() as lab: boto3.client("cloudtrail", endpoint_url=lab.endpoint_url, ...)``.

    One lab per process at a time: moto keeps its state per process, so starting a lab resets it (and a
    second lab running at the same time in the same process would share it).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, delivery_interval: float | None = None,
                 estate: str | None = None, estate_params: dict | None = None, regions=DEFAULT_REGIONS,
                 verbose: bool = False):
        self.host = host
        self.port = port
        self.delivery_interval = delivery_interval
        self.estate = None if estate in (None, "", "none") else estate
        self.estate_params = estate_params or {}
        self.verbose = verbose
        self.state = LabState(regions)
        self.manifest: dict | None = None
        self._server = None
        self._thread: threading.Thread | None = None
        self._loop: DeliveryLoop | None = None
        self.control: LabControl | None = None

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("LabServer is not started")
        return f"http://{self.host}:{self._server.server_port}"

    def start(self) -> LabServer:
        from moto.moto_server.werkzeug_app import MotoRequestHandler
        from werkzeug.serving import make_server

        _configure_default_account()
        _install_patches()
        verbose = self.verbose

        class Handler(MotoRequestHandler):
            def log_request(self, *args, **kwargs):
                if verbose:
                    super().log_request(*args, **kwargs)

        app = LabApp(self.state, control=ControlRoutes(self.state))
        self._server = make_server(self.host, self.port, app, threaded=True, request_handler=Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="lab-server", daemon=True)
        self._thread.start()
        self.state.endpoint_url = self.endpoint_url
        self.control = LabControl(self.endpoint_url)
        # moto's backends are process-wide: a lab started after another one in the same process (pytest
        # runs several test modules per worker) must not inherit its accounts, keys, buckets and trails.
        reset_all(self.state)
        try:
            if self.estate:
                self.manifest = build_estate(self.state, self.estate, self.estate_params)
            if self.delivery_interval:
                self._loop = DeliveryLoop(self.state, self.delivery_interval)
                self._loop.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.stop()
            self._loop = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=10)
            self._server = None
            self._thread = None

    def __enter__(self) -> LabServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def environment(self) -> dict[str, str]:
        return environment(self.endpoint_url)


def environment(endpoint_url: str, region: str = "us-east-1") -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }
