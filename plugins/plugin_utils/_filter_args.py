# -*- coding: utf-8 -*-
# Copyright: trailguard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE to trailguard.cloudtrail_cmk: argument handling shared by the collection's filter plugins."""

from __future__ import annotations


def optional(value):
    """None for an unset optional argument (None, '' or Ansible's omit placeholder), else the value."""
    if value is None or type(value).__name__ == "Omit":
        return None
    if isinstance(value, str) and (not value or value.startswith("__omit_place_holder__")):
        return None
    return value
