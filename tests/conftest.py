"""Shared test setup: make the collection importable as ansible_collections.trailguard.cloudtrail_cmk
and the lab importable as ``lab``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from paths import setup_sys_path

setup_sys_path()
