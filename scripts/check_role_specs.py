"""Check that every role's defaults and argument spec agree (run by `make check-docs`).

For every ``roles/<role>/``:

* each key of ``defaults/main.yml`` (or ``defaults/main.yaml`` / ``defaults/main/*.yml``) is an option
  of ``meta/argument_specs.yml`` (or ``argument_specs`` in ``meta/main.yml``) with the same default;
* each option that is not ``required: true`` is in the defaults, with the same default (an option
  without ``default`` means ``null``); a required option has no default anywhere;
* each option has a ``type`` and a ``description``;
* public variables start with ``<prefix>_`` and internal ones (``register:``/``set_fact`` in tasks
  and handlers, ``__`` keys in defaults) with ``__<prefix>_`` (STYLE.md; this replaces ansible-lint's
  ``var-naming[no-role-prefix]``, which can only ask for the role name). ``__`` defaults are internal
  and need no spec entry.

Usage: ``check_role_specs.py [--root DIR] [--prefix trailguard]``. Exit 0 when all agree (also with
no roles at all), 1 with one line per problem otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MISSING = object()
SET_FACT = {"set_fact", "ansible.builtin.set_fact", "ansible.legacy.set_fact"}
SET_FACT_OPTIONS = {"cacheable"}
BLOCK_KEYS = ("block", "rescue", "always")


def load_yaml(path: Path):
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def same(a, b) -> bool:
    """Equality that tells bools from ints and 1 from 1.0 (YAML ``yes`` vs ``1``)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def show(value) -> str:
    return "(no default: null)" if value is None else repr(value)


def read_defaults(role: Path, problems: list[str]) -> tuple[dict, list[Path]]:
    files = [p for p in (role / "defaults" / "main.yml", role / "defaults" / "main.yaml") if p.is_file()]
    if (role / "defaults" / "main").is_dir():
        files += sorted(p for p in (role / "defaults" / "main").rglob("*") if p.suffix in (".yml", ".yaml"))
    defaults: dict = {}
    for path in files:
        data = load_yaml(path)
        if data is None:
            continue
        if not isinstance(data, dict):
            problems.append(f"{path}: must be a mapping of variable names to defaults")
            continue
        defaults.update(data)
    return defaults, files


def read_specs(role: Path, problems: list[str]) -> tuple[dict, Path | None]:
    """-> ({entry_point: {option: spec}}, file)"""
    for path in (role / "meta" / "argument_specs.yml", role / "meta" / "argument_specs.yaml"):
        if path.is_file():
            break
    else:
        path = role / "meta" / "main.yml"
        if not path.is_file() or "argument_specs" not in (load_yaml(path) or {}):
            return {}, None
    specs = (load_yaml(path) or {}).get("argument_specs")
    if not isinstance(specs, dict):
        problems.append(f"{path}: has no 'argument_specs' mapping")
        return {}, path
    entry_points = {}
    for name, entry in specs.items():
        options = (entry or {}).get("options") or {}
        if not isinstance(options, dict):
            problems.append(f"{path}: entry point {name!r}: 'options' must be a mapping")
            options = {}
        entry_points[name] = options
    return entry_points, path


def task_variables(tasks) -> list[tuple[str, str]]:
    """(kind, name) of every variable a task list defines with register or set_fact."""
    found = []
    for task in tasks if isinstance(tasks, list) else []:
        if not isinstance(task, dict):
            continue
        if isinstance(task.get("register"), str):
            found.append(("register", task["register"]))
        for key in SET_FACT & task.keys():
            args = task[key]
            if isinstance(args, dict):
                found += [("set_fact", name) for name in args if name not in SET_FACT_OPTIONS]
        for key in BLOCK_KEYS:
            found += task_variables(task.get(key))
    return found


def check_role(role: Path, prefix: str, root: Path) -> list[str]:
    problems: list[str] = []
    rel = role.relative_to(root)
    defaults, default_files = read_defaults(role, problems)
    entry_points, spec_file = read_specs(role, problems)
    defaults_name = default_files[0].relative_to(root) if default_files else rel / "defaults/main.yml"
    spec_name = spec_file.relative_to(root) if spec_file else rel / "meta/argument_specs.yml"
    public = {k: v for k, v in defaults.items() if not str(k).startswith("__")}

    if public and spec_file is None:
        problems.append(f"{rel}: has defaults but no {spec_name}: declare {', '.join(sorted(map(str, public)))}")

    declared: dict[str, tuple[str, dict]] = {}
    for entry, options in entry_points.items():
        for name, spec in options.items():
            spec = spec if isinstance(spec, dict) else {}
            where = f"{spec_name}: {entry}.{name}"
            for field in ("type", "description"):
                if field not in spec:
                    problems.append(f"{where}: has no '{field}'")
            default = spec.get("default")
            if spec.get("required"):
                if "default" in spec:
                    problems.append(f"{where}: is required and must not have a default")
                if name in defaults:
                    problems.append(
                        f"{defaults_name}: {name}: is a required option in {spec_name}, so it must not have a default"
                    )
            elif name not in defaults:
                problems.append(
                    f"{where}: is not in {defaults_name}; add '{name}: {show(default)}' there (or mark it required)"
                )
            elif not same(defaults[name], default):
                problems.append(
                    f"{defaults_name}: {name}: default {show(defaults[name])} differs from "
                    f"{where} default {show(default)}"
                )
            declared.setdefault(name, (entry, spec))

    if spec_file is not None:
        for name in public:
            if name not in declared:
                problems.append(f"{defaults_name}: {name}: is not declared in {spec_name}")

    for name in defaults:
        name = str(name)
        wanted = f"__{prefix}_" if name.startswith("__") else f"{prefix}_"
        if not name.startswith(wanted):
            problems.append(f"{defaults_name}: {name}: variable names must start with '{wanted}'")
    for name in declared:
        if not str(name).startswith(f"{prefix}_"):
            problems.append(f"{spec_name}: {name}: option names must start with '{prefix}_'")

    for folder in ("tasks", "handlers"):
        for path in sorted((role / folder).rglob("*")) if (role / folder).is_dir() else []:
            if path.suffix not in (".yml", ".yaml"):
                continue
            for kind, name in task_variables(load_yaml(path)):
                if not (name.startswith(f"__{prefix}_") or name.startswith(f"{prefix}_")):
                    problems.append(
                        f"{path.relative_to(root)}: {kind} {name}: must start with '__{prefix}_' (internal) "
                        f"or '{prefix}_'"
                    )
    return problems


def check(root: Path, prefix: str) -> list[str]:
    roles_dir = root / "roles"
    roles = sorted(p for p in roles_dir.iterdir() if p.is_dir()) if roles_dir.is_dir() else []
    problems: list[str] = []
    for role in roles:
        try:
            problems += check_role(role, prefix, root)
        except yaml.YAMLError as exc:
            problems.append(f"{role.relative_to(root)}: invalid YAML: {exc}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="collection root (default: this repository)")
    parser.add_argument("--prefix", default="trailguard", help="variable prefix of the collection")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    problems = check(root, args.prefix)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(
            f"check_role_specs: {len(problems)} problem(s): defaults/main.yml and meta/argument_specs.yml "
            "must declare the same variables with the same defaults",
            file=sys.stderr,
        )
        return 1
    count = len([p for p in (root / "roles").iterdir() if p.is_dir()]) if (root / "roles").is_dir() else 0
    print(f"check_role_specs: {count} role(s) OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
