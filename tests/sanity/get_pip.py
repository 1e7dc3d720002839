"""Offline stand-in for ansible-test's pip bootstrap script (``get-pip-<version>.py``).

ansible-test creates every sanity-test virtual environment with ``python -m venv --without-pip`` and
then bootstraps pip into it by running ``get-pip-<version>.py``, which it downloads from
``https://ci-files.testing.ansible.com/ansible-test/`` unless the file is already cached as
``~/.ansible/test/cache/get_pip_<version>.py``. That host is unreachable here (only PyPI is), so
``tests/sanity/run.sh`` puts this script in that cache slot instead.

It does what the real get-pip does, without embedding a pip copy: it puts an existing ``pip`` package
(and nothing else) on ``sys.path`` and runs ``pip install <the packages ansible-test asked for>``
into the interpreter running this script, so ``pip==<version>`` itself comes from PyPI. The pip used
for that one step is, in order:

1. ``TRAILGUARD_PIP_SOURCE``: a ``pip`` package directory or a pip ``.whl`` (run.sh points it at the
   project venv's pip, which ``make venv`` always provides);
2. the pip wheel bundled with this Python's ``ensurepip``.

Arguments are those of get-pip: pip install options and requirements, plus the get-pip-only flags
``--no-setuptools`` / ``--no-wheel`` (dropped: pip never installs those unless asked).
"""

from __future__ import annotations

import glob
import os
import shutil
import sys
import tempfile
import zipfile

MARKER = "trailguard offline get-pip stand-in"  # run.sh only overwrites cache files carrying this text
GET_PIP_ONLY_FLAGS = {"--no-setuptools", "--no-wheel", "--no-pip"}


def bundled_wheel() -> str | None:
    try:
        import ensurepip
    except ImportError:
        return None
    wheels = sorted(glob.glob(os.path.join(os.path.dirname(ensurepip.__file__), "_bundled", "pip-*.whl")))
    return wheels[-1] if wheels else None


def stage_pip(source: str, dest: str) -> None:
    """Make ``dest/pip`` the pip package from ``source`` (a package directory or a wheel), without any
    ``*.dist-info``, so the pip being run does not count as installed in the target environment."""
    if os.path.isdir(source):
        os.symlink(os.path.abspath(source), os.path.join(dest, "pip"), target_is_directory=True)
        return
    with zipfile.ZipFile(source) as whl:
        whl.extractall(dest, members=[name for name in whl.namelist() if name.startswith("pip/")])


def main(argv: list[str]) -> int:
    source = os.environ.get("TRAILGUARD_PIP_SOURCE") or bundled_wheel()
    if not source or not os.path.exists(source):
        sys.stderr.write(
            f"{MARKER}: no pip to bootstrap with: set TRAILGUARD_PIP_SOURCE to a pip package directory or "
            f"wheel (got {source!r}), or use a Python whose ensurepip bundles a pip wheel\n"
        )
        return 1
    args = [arg for arg in argv if arg not in GET_PIP_ONLY_FLAGS]
    staging = tempfile.mkdtemp(prefix="trailguard-get-pip-")
    try:
        stage_pip(source, staging)
        sys.path.insert(0, staging)
        from pip._internal.cli.main import main as pip_main

        return pip_main(["install", *args])
    finally:
        shutil.rmtree(staging, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
