"""Roles: a lab member reads and writes its own organisation's records; a regulator reads
everything and triggers evaluations, but never edits a lab's submission."""
from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission

from .access import request_access


class HasApiRole(BasePermission):
    """Authenticated, with a lab or regulator role (an anonymous request is a 401)."""

    message = "this account has no API role: a regulator can give it one with `manage.py create_api_user`"

    def has_permission(self, request: Any, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        return request_access(request).role is not None


class LabWritesOwnRecords(BasePermission):
    """Registry writes are a lab's own submissions: regulators read them, and never edit them."""

    message = "regulators read the registry; only a lab member submits or revises its organisation's records"

    def has_permission(self, request: Any, view: Any) -> bool:
        return request.method in SAFE_METHODS or request_access(request).is_lab
