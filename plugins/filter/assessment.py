# -*- coding: utf-8 -*-
# Copyright: trailguard.cloudtrail_cmk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters the assess role uses to combine accounts into ``assessment.json``."""

from ansible.errors import AnsibleFilterError

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _assessment


def assessment_document(facts_list, generated_at, failed_hosts=None, host_accounts=None):
    try:
        return _assessment.build_document(facts_list, generated_at, failed_hosts or (), host_accounts)
    except _assessment.AssessmentError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def approval_candidates(document):
    return _assessment.approval_candidates(document)


class FilterModule:
    def filters(self):
        return {
            "assessment_document": assessment_document,
            "approval_candidates": approval_candidates,
        }
