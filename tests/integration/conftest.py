"""Integration fixtures: a lab with the demo estate, started per test module."""

from __future__ import annotations

import pytest

import lab as labpkg

pytestmark = pytest.mark.playbook


@pytest.fixture(scope="module")
def demo_lab():
    with labpkg.LabServer(estate="demo") as server:
        yield server


@pytest.fixture(scope="module")
def manifest(demo_lab):
    return demo_lab.manifest
