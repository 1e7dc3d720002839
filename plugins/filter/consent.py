# -*- coding: utf-8 -*-
# Copyright: trailguard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Consent record filters: consent_errors, consent_plan, consent_canonical_json, consent_digest,
consent_with_awx. Documentation in the .yml sidecars next to this file; format in docs/consent.md."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.trailguard.cloudtrail_cmk.plugins.module_utils import _consent
from ansible_collections.trailguard.cloudtrail_cmk.plugins.plugin_utils._filter_args import optional


def _kwargs(now, assessment_sha256, require_signature, allowed_signers):
    return {
        "now": optional(now),
        "assessment_sha256_hex": optional(assessment_sha256),
        "require_signature": optional(require_signature),
        "allowed_signers": optional(allowed_signers),
    }


def consent_errors(consent, assessment, now=None, assessment_sha256=None, require_signature=None,
                   allowed_signers=None):
    """Every problem of the consent record as [{field, message}]; [] means apply may use it."""
    try:
        return _consent.validate_consent(consent, assessment,
                                         **_kwargs(now, assessment_sha256, require_signature, allowed_signers))
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"consent_errors: {exc}") from exc


def consent_plan(consent, assessment, now=None, assessment_sha256=None, require_signature=None,
                 allowed_signers=None):
    """The approved changes (one item per trail not deferred); fails listing every error otherwise."""
    try:
        return _consent.approved_changes(consent, assessment,
                                         **_kwargs(now, assessment_sha256, require_signature, allowed_signers))
    except _consent.ConsentError as exc:
        lines = "\n".join(f"  - {e['field']}: {e['message']}" for e in exc.errors)
        raise AnsibleFilterError(f"the consent record is not usable ({len(exc.errors)} errors):\n{lines}") from exc
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"consent_plan: {exc}") from exc


def consent_canonical_json(consent):
    """The exact text that is signed (record without signature and awx; sorted keys, no whitespace)."""
    try:
        return _consent.canonical_json(consent)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"consent_canonical_json: {exc}") from exc


def consent_digest(consent):
    """sha256 hex of consent_canonical_json, for audit records."""
    try:
        return _consent.consent_digest(consent)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"consent_digest: {exc}") from exc


def consent_with_awx(consent, extra_vars):
    """The record with ``awx`` set from the awx_* / tower_* job variables in extra_vars."""
    try:
        return _consent.record_awx_metadata(consent, extra_vars or {})
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"consent_with_awx: {exc}") from exc


class FilterModule:
    """trailguard.cloudtrail_cmk consent filters."""

    def filters(self):
        return {
            "consent_errors": consent_errors,
            "consent_plan": consent_plan,
            "consent_canonical_json": consent_canonical_json,
            "consent_digest": consent_digest,
            "consent_with_awx": consent_with_awx,
        }
