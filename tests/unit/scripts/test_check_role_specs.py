"""scripts/check_role_specs.py on temporary collections with good and bad roles."""

import textwrap

import pytest

GOOD_DEFAULTS = """\
---
trailguard_region: us-east-1
trailguard_enabled: true
trailguard_retries: 3
trailguard_readers: []
trailguard_tags: {}
trailguard_optional:
__trailguard_internal: x
"""

GOOD_SPECS = """\
---
argument_specs:
  main:
    short_description: Good role.
    options:
      trailguard_region: {type: str, default: us-east-1, description: Region.}
      trailguard_enabled: {type: bool, default: true, description: On.}
      trailguard_retries: {type: int, default: 3, description: Retries.}
      trailguard_readers: {type: list, elements: str, default: [], description: Readers.}
      trailguard_tags: {type: dict, default: {}, description: Tags.}
      trailguard_optional: {type: str, description: No default means null.}
      trailguard_account: {type: str, required: true, description: Required, so not in defaults.}
"""

GOOD_TASKS = """\
---
- name: Look
  amazon.aws.aws_caller_info:
  register: __trailguard_caller
- name: Block
  block:
    - name: Fact
      ansible.builtin.set_fact:
        __trailguard_account_id: "{{ __trailguard_caller.account }}"
        cacheable: false
"""


def write(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def good_role(root, name="good", **overrides):
    files = {
        f"roles/{name}/defaults/main.yml": GOOD_DEFAULTS,
        f"roles/{name}/meta/argument_specs.yml": GOOD_SPECS,
        f"roles/{name}/tasks/main.yml": GOOD_TASKS,
    }
    files.update({f"roles/{name}/{k}": v for k, v in overrides.items()})
    return write(root, files)


def test_good_role_passes(tmp_path, check_role_specs, capsys):
    good_role(tmp_path)
    assert check_role_specs.check(tmp_path, "trailguard") == []
    assert check_role_specs.main(["--root", str(tmp_path)]) == 0
    assert "1 role(s) OK" in capsys.readouterr().out


@pytest.mark.parametrize("layout", ["no-roles-dir", "empty-roles-dir", "empty-role"])
def test_no_roles_passes(tmp_path, check_role_specs, layout):
    if layout != "no-roles-dir":
        (tmp_path / "roles").mkdir()
    if layout == "empty-role":
        (tmp_path / "roles" / "bare" / "tasks").mkdir(parents=True)
    assert check_role_specs.main(["--root", str(tmp_path)]) == 0


def test_specs_in_meta_main_and_defaults_dir(tmp_path, check_role_specs):
    write(
        tmp_path,
        {
            "roles/r/defaults/main/a.yml": "trailguard_a: 1\n",
            "roles/r/defaults/main/b.yml": "trailguard_b: two\n",
            "roles/r/meta/main.yml": """\
                argument_specs:
                  main:
                    options:
                      trailguard_a: {type: int, default: 1, description: A.}
                      trailguard_b: {type: str, default: two, description: B.}
            """,
        },
    )
    assert check_role_specs.check(tmp_path, "trailguard") == []


BAD_CASES = {
    "default-missing-from-spec": (
        {"defaults/main.yml": GOOD_DEFAULTS + "trailguard_extra: 1\n"},
        "roles/good/defaults/main.yml: trailguard_extra: is not declared in roles/good/meta/argument_specs.yml",
    ),
    "spec-missing-from-defaults": (
        {"defaults/main.yml": GOOD_DEFAULTS.replace("trailguard_retries: 3\n", "")},
        "roles/good/meta/argument_specs.yml: main.trailguard_retries: is not in roles/good/defaults/main.yml; "
        "add 'trailguard_retries: 3' there",
    ),
    "different-default": (
        {"defaults/main.yml": GOOD_DEFAULTS.replace("us-east-1", "eu-west-1")},
        "roles/good/defaults/main.yml: trailguard_region: default 'eu-west-1' differs from "
        "roles/good/meta/argument_specs.yml: main.trailguard_region default 'us-east-1'",
    ),
    "bool-is-not-int": (
        {"defaults/main.yml": GOOD_DEFAULTS.replace("trailguard_enabled: true", "trailguard_enabled: 1")},
        "trailguard_enabled: default 1 differs from roles/good/meta/argument_specs.yml: main.trailguard_enabled "
        "default True",
    ),
    "null-vs-missing-default": (
        {"defaults/main.yml": GOOD_DEFAULTS.replace("trailguard_optional:", 'trailguard_optional: ""')},
        "trailguard_optional: default '' differs from roles/good/meta/argument_specs.yml: "
        "main.trailguard_optional default (no default: null)",
    ),
    "required-with-default": (
        {"defaults/main.yml": GOOD_DEFAULTS + "trailguard_account: '1'\n"},
        "roles/good/defaults/main.yml: trailguard_account: is a required option",
    ),
    "no-type": (
        {"meta/argument_specs.yml": GOOD_SPECS.replace("{type: int, default: 3,", "{default: 3,")},
        "roles/good/meta/argument_specs.yml: main.trailguard_retries: has no 'type'",
    ),
    "no-description": (
        {"meta/argument_specs.yml": GOOD_SPECS.replace(", description: Retries.", "")},
        "roles/good/meta/argument_specs.yml: main.trailguard_retries: has no 'description'",
    ),
    "public-prefix": (
        {
            "defaults/main.yml": GOOD_DEFAULTS + "region: x\n",
            "meta/argument_specs.yml": GOOD_SPECS + "      region: {type: str, default: x, description: R.}\n",
        },
        "roles/good/defaults/main.yml: region: variable names must start with 'trailguard_'",
    ),
    "internal-prefix": (
        {"defaults/main.yml": GOOD_DEFAULTS + "__internal: 1\n"},
        "roles/good/defaults/main.yml: __internal: variable names must start with '__trailguard_'",
    ),
    "register-prefix": (
        {"tasks/main.yml": GOOD_TASKS.replace("register: __trailguard_caller", "register: caller")},
        "roles/good/tasks/main.yml: register caller: must start with '__trailguard_'",
    ),
    "set-fact-prefix-in-block": (
        {"tasks/main.yml": GOOD_TASKS.replace("__trailguard_account_id:", "account_id:")},
        "roles/good/tasks/main.yml: set_fact account_id: must start with '__trailguard_'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_role_fails_with_clear_message(tmp_path, check_role_specs, capsys, case):
    overrides, message = BAD_CASES[case]
    good_role(tmp_path, **overrides)
    good_role(tmp_path, name="other")  # a second, good role does not hide the bad one
    problems = check_role_specs.check(tmp_path, "trailguard")
    assert any(message in p for p in problems), problems
    assert check_role_specs.main(["--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert message in err
    assert "roles/other" not in err


def test_defaults_without_spec_fail(tmp_path, check_role_specs):
    write(tmp_path, {"roles/r/defaults/main.yml": "trailguard_a: 1\n"})
    assert check_role_specs.check(tmp_path, "trailguard") == [
        "roles/r: has defaults but no roles/r/meta/argument_specs.yml: declare trailguard_a"
    ]


def test_invalid_yaml_is_reported(tmp_path, check_role_specs):
    write(tmp_path, {"roles/r/defaults/main.yml": "a: [\n", "roles/r/meta/argument_specs.yml": GOOD_SPECS})
    [problem] = check_role_specs.check(tmp_path, "trailguard")
    assert problem.startswith("roles/r: invalid YAML")


def test_other_prefix(tmp_path, check_role_specs):
    write(
        tmp_path,
        {
            "roles/r/defaults/main.yml": "acme_a: 1\n",
            "roles/r/meta/argument_specs.yml": "argument_specs: {main: {options: {acme_a: "
            "{type: int, default: 1, description: A.}}}}\n",
        },
    )
    assert check_role_specs.main(["--root", str(tmp_path), "--prefix", "acme"]) == 0
    assert check_role_specs.main(["--root", str(tmp_path)]) == 1
