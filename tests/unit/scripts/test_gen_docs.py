"""scripts/gen_docs.py: rendering, --check staleness, empty collections."""

import textwrap

MODULE = '''\
#!/usr/bin/python
DOCUMENTATION = r"""
module: hello
short_description: Say C(hello)
version_added: 0.1.0
description: [Says hello to O(name).]
author: [Someone (@someone)]
options:
  name:
    description: Who | what.
    type: str
    required: true
  conf:
    description: Settings.
    type: dict
    suboptions:
      loud: {description: Shout., type: bool, default: false}
"""
EXAMPLES = r"""
- name: Greet
  trailguard.cloudtrail_cmk.hello:
    name: world
"""
RETURN = r"""
greeting:
  description: The greeting.
  returned: always
  type: dict
  contains:
    text: {description: Text., returned: always, type: str, sample: hello world}
"""
'''

SPECS = """\
argument_specs:
  main:
    short_description: Role R.
    description: [Uses O(trailguard_a).]
    options:
      trailguard_a: {type: int, default: 1, description: A.}
"""


def collection(root, module=True, role=True):
    (root / "galaxy.yml").write_text("namespace: trailguard\nname: cloudtrail_cmk\nversion: 0.1.0\n")
    if module:
        (root / "plugins/modules").mkdir(parents=True)
        (root / "plugins/modules/hello.py").write_text(MODULE)
    if role:
        (root / "roles/r/meta").mkdir(parents=True)
        (root / "roles/r/meta/argument_specs.yml").write_text(textwrap.dedent(SPECS))
    return root


def test_empty_collection(tmp_path, gen_docs):
    collection(tmp_path, module=False, role=False)
    assert gen_docs.main(["--root", str(tmp_path), "--check"]) == 1  # index missing
    assert gen_docs.main(["--root", str(tmp_path)]) == 0
    assert sorted(p.name for p in (tmp_path / "docs/reference").rglob("*")) == ["README.md"]
    assert gen_docs.main(["--root", str(tmp_path), "--check"]) == 0


def test_module_and_role(tmp_path, gen_docs, capsys):
    collection(tmp_path)
    assert gen_docs.main(["--root", str(tmp_path)]) == 0
    out = tmp_path / "docs/reference"
    module = (out / "modules/hello.md").read_text()
    assert "# trailguard.cloudtrail_cmk.hello" in module
    assert "Say `hello`" in module
    assert "Says hello to `name`." in module
    assert "| `name` | str | yes |  |  | Who \\| what. |" in module
    assert "| `conf.loud` | bool | no | `false` |  |" in module
    assert "  trailguard.cloudtrail_cmk.hello:\n    name: world\n```" in module
    assert '| `greeting.text` | str | always | Text. | `"hello world"` |' in module
    role = (out / "roles/r.md").read_text()
    assert "Uses `trailguard_a`." in role
    assert "| `trailguard_a` | int | no | `1` |  | A. |" in role
    index = (out / "README.md").read_text()
    assert "[trailguard.cloudtrail_cmk.hello](modules/hello.md): Say `hello`" in index
    assert "[trailguard.cloudtrail_cmk.r](roles/r.md): Role R." in index
    capsys.readouterr()

    assert gen_docs.main(["--root", str(tmp_path), "--check"]) == 0

    # stale: a changed spec, a hand edit, a leftover page
    (tmp_path / "roles/r/meta/argument_specs.yml").write_text(textwrap.dedent(SPECS).replace("A.", "B."))
    (out / "modules/hello.md").write_text(module + "edit\n")
    (out / "modules/gone.md").write_text("old\n")
    assert gen_docs.main(["--root", str(tmp_path), "--check"]) == 1
    err = capsys.readouterr().err
    assert "docs/reference/roles/r.md: out of date" in err
    assert "docs/reference/modules/hello.md: out of date" in err
    assert "docs/reference/modules/gone.md: no longer generated (delete it)" in err

    assert gen_docs.main(["--root", str(tmp_path)]) == 0
    assert not (out / "modules/gone.md").exists()
    assert gen_docs.main(["--root", str(tmp_path), "--check"]) == 0


def test_broken_module_doc_is_named(tmp_path, gen_docs):
    collection(tmp_path, role=False)
    (tmp_path / "plugins/modules/broken.py").write_text('DOCUMENTATION = r"""\nmodule: broken\n  bad: [\n"""\n')
    try:
        gen_docs.main(["--root", str(tmp_path)])
    except SystemExit as exc:
        assert "trailguard.cloudtrail_cmk.broken" in str(exc)
        assert "trailguard.cloudtrail_cmk.hello" not in str(exc)
    else:
        raise AssertionError("expected SystemExit")


def test_markup(gen_docs):
    assert gen_docs.markup("C(a) O(b=c) I(d) B(e) U(http://x) L(t, http://y) M(ns.c.m) V(1)") == (
        "`a` `b=c` *d* **e** <http://x> [t](http://y) `ns.c.m` `1`"
    )
