"""Where the collection is visible as ``ansible_collections.trailguard.cloudtrail_cmk``.

Ansible (and Python imports of collection code) need the collection under an
``ansible_collections/<namespace>/<name>`` path. The repository root *is* the collection root, so
we keep a symlink outside the tree (a link inside it would make tools that walk the tree loop).

``python tests/paths.py`` creates the link and prints the directory to put on
ANSIBLE_COLLECTIONS_PATH / sys.path.
"""

import hashlib
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def collections_dir() -> Path:
    digest = hashlib.sha1(str(ROOT).encode()).hexdigest()[:10]
    base = Path(os.environ.get("TRAILGUARD_COLLECTIONS_DIR") or Path(tempfile.gettempdir()) / f"trailguard-{digest}")
    link = base / "ansible_collections" / "trailguard" / "cloudtrail_cmk"
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() and Path(os.readlink(link)) != ROOT:
        link.unlink()
    if not link.exists():
        link.symlink_to(ROOT, target_is_directory=True)
    return base


def setup_sys_path() -> Path:
    base = collections_dir()
    for entry in (str(base), str(ROOT / "tests")):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    os.environ["ANSIBLE_COLLECTIONS_PATH"] = str(base)
    return base


if __name__ == "__main__":
    print(collections_dir())
