"""Run the collection's real playbooks with ansible-playbook against a lab (no mocks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from paths import ROOT, collections_dir

VENV_BIN = Path(sys.executable).parent


@dataclass
class PlaybookRun:
    rc: int
    stdout: str
    stderr: str
    out_dir: Path

    def json(self, relative: str):
        return json.loads((self.out_dir / relative).read_text())

    def text(self, relative: str) -> str:
        return (self.out_dir / relative).read_text()

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def write_inventory(path: Path, hosts: dict[str, dict]) -> Path:
    path.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    return path


def two_account_inventory(tmp_path: Path) -> Path:
    return write_inventory(
        tmp_path / "inventory.yml",
        {
            "acct-111": {"trailguard_expected_account_id": "111111111111"},
            "acct-222": {
                "trailguard_expected_account_id": "222222222222",
                "trailguard_assume_role_arn": "arn:aws:iam::222222222222:role/TrailGuardAudit",
            },
        },
    )


def run_playbook(
    name: str,
    lab,
    out_dir: Path,
    extra_vars: dict | None = None,
    inventory: Path | None = None,
    check: bool = False,
    diff: bool = False,
    extra_args: list[str] | None = None,
    timeout: int = 900,
) -> PlaybookRun:
    env = dict(os.environ)
    env.update(lab.environment())
    env["ANSIBLE_COLLECTIONS_PATH"] = str(collections_dir())
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_HOST_KEY_CHECKING"] = "False"
    env["ANSIBLE_LOCAL_TEMP"] = str(out_dir / ".ansible-tmp")
    env["ANSIBLE_REMOTE_TEMP"] = str(out_dir / ".ansible-tmp")
    env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '')}"
    variables = {"trailguard_output_dir": str(out_dir), "trailguard_regions": ["us-east-1", "eu-west-1"]}
    variables.update(extra_vars or {})
    vars_file = out_dir / f".vars-{name}.json"
    out_dir.mkdir(parents=True, exist_ok=True)
    vars_file.write_text(json.dumps(variables))
    cmd = [str(VENV_BIN / "ansible-playbook"), f"trailguard.cloudtrail_cmk.{name}", "-e", f"@{vars_file}"]
    if inventory:
        cmd += ["-i", str(inventory)]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    cmd += extra_args or []
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    return PlaybookRun(proc.returncode, proc.stdout, proc.stderr, out_dir)
