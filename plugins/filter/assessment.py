# -*- coding: utf-8 -*-
# Copyright: trailguard.cloudtrail_cmk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters the assess role uses to combine accounts into ``assessment.json`` and render its outputs."""

import hashlib
import os
import re

from ansible.errors import AnsibleFilterError

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _assessment


def assessment_document(facts_list, generated_at, failed_hosts=None, host_accounts=None):
    try:
        return _assessment.build_document(facts_list, generated_at, failed_hosts or (), host_accounts)
    except _assessment.AssessmentError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def approval_candidates(document):
    return _assessment.approval_candidates(document)


# The files assessment_outputs renders, in the order they are written.
OUTPUT_FILES = ("assessment.json", "assessment.json.sha256", "report.md", "report.html", "approvals.template.yml")
TEMPLATES = ("report.md", "report.html", "approvals.template.yml")


def _environment(templates_dir):
    import jinja2  # the controller always has it (ansible-core requires it)

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,  # as ansible.builtin.template
        keep_trailing_newline=True,
        autoescape=False,  # report.html escapes with | e where it prints data
    )
    env.filters["regex_replace"] = lambda value, pattern, replacement="": re.sub(pattern, replacement, str(value))
    return env


def assessment_outputs(document, templates_dir):
    """Every file of ``assess/`` as text, rendered in one pass on the controller.

    ``assessment.json`` is the document's exact bytes and ``assessment.json.sha256`` their digest, which
    the reports and the approvals template quote. The templates (``report.md.j2``, ``report.html.j2``,
    ``approvals.template.yml.j2`` in ``templates_dir``) are plain Jinja2 rendered with the variables
    ``__trailguard_assessment``, ``__digest`` and ``__candidates``. Rendering here instead of one
    ``template`` task per file keeps Ansible from templating the whole assessment once per file, which
    took seconds per file for a few hundred trails.
    """
    if not isinstance(document, dict) or "accounts" not in document:
        raise AnsibleFilterError("assessment_outputs expects the document of assessment_document")
    if not os.path.isdir(str(templates_dir)):
        raise AnsibleFilterError(f"assessment_outputs: no templates directory {templates_dir}")
    text = _assessment.account_file_text(document)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    files = {"assessment.json": text, "assessment.json.sha256": f"{digest}  assessment.json\n"}
    env = _environment(str(templates_dir))
    variables = {
        "__trailguard_assessment": document,
        "__digest": digest,
        "__candidates": _assessment.approval_candidates(document),
    }
    try:
        for name in TEMPLATES:
            files[name] = env.get_template(name + ".j2").render(variables)
    except Exception as exc:  # jinja2 errors: name the template
        raise AnsibleFilterError(f"assessment_outputs: rendering {name}.j2 failed: {exc}") from exc
    return {
        "files": {name: files[name] for name in OUTPUT_FILES},
        "digest": digest,
        "summary": document.get("summary") or {},
        "failed_hosts": list(document.get("failed_hosts") or []),
    }


class FilterModule:
    def filters(self):
        return {
            "assessment_document": assessment_document,
            "approval_candidates": approval_candidates,
            "assessment_outputs": assessment_outputs,
        }
