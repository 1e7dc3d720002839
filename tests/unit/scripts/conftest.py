"""Load the repository's scripts/*.py as modules (scripts/ is not a package)."""

import importlib.util
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[3] / "scripts"


def load_script(name):
    spec = importlib.util.spec_from_file_location(f"_script_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def check_role_specs():
    return load_script("check_role_specs")


@pytest.fixture(scope="session")
def gen_docs():
    return load_script("gen_docs")
