"""Writes for API access: users and their roles, tokens issued and revoked. Each is audited."""
from __future__ import annotations

import hashlib
import secrets
import string
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from registry.models import Organisation

from . import audit
from .models import ApiToken, AuditAction, Membership, Role

GROUP_FOR_ROLE = {Role.REGULATOR: "Regulators", Role.LAB: "Lab staff"}
PREFIX_LENGTH = 8
# Letters and digits only: a token never starts with "-" (which a shell or argparse would read as an
# option) and selects whole on a double click. 43 characters of 62 carry 256 bits.
TOKEN_ALPHABET = string.ascii_letters + string.digits
TOKEN_LENGTH = 43


class AccountError(ValueError):
    """A request about accounts that cannot be carried out; the message says why."""


def key_sha256(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def membership_set(*, user: Any, role: str, organisation: Organisation | None, actor: Any = None) -> Membership:
    """Gives `user` a role (a lab member's organisation, or none for a regulator); audited when it changes."""
    if role not in Role.values:
        raise AccountError(f"role must be one of {', '.join(Role.values)}, got {role!r}")
    if role == Role.LAB and organisation is None:
        raise AccountError("a lab member belongs to an organisation")
    if role == Role.REGULATOR:
        organisation = None
    with transaction.atomic():
        membership = Membership.objects.select_for_update().filter(user=user).first()
        before = (membership.role, membership.organisation.slug if membership.organisation else None) if membership else None
        after = (role, organisation.slug if organisation else None)
        if membership is None:
            membership = Membership.objects.create(user=user, role=role, organisation=organisation)
        elif before != after:
            membership.role, membership.organisation = role, organisation
            membership.save(update_fields=["role", "organisation", "updated_at"])
        if before != after:
            wanted = Group.objects.get_or_create(name=GROUP_FOR_ROLE[Role(role)])[0]
            user.groups.remove(*Group.objects.filter(name__in=GROUP_FOR_ROLE.values()).exclude(pk=wanted.pk))
            user.groups.add(wanted)
            audit.record(
                action=AuditAction.ROLE_CHANGED, actor=actor, subject=f"user:{user.get_username()}",
                detail={
                    "from": {"role": before[0], "organisation": before[1]} if before else None,
                    "to": {"role": after[0], "organisation": after[1]},
                },
            )
    return membership


def token_issue(*, user: Any, name: str = "", actor: Any = None) -> tuple[ApiToken, str]:
    """A new token for `user`: returns the stored row and the token itself, which is never kept."""
    key = "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_LENGTH))
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user, name=name[:100], key_prefix=key[:PREFIX_LENGTH], key_sha256=key_sha256(key)
        )
        audit.record(
            action=AuditAction.TOKEN_ISSUED, actor=actor, subject=f"user:{user.get_username()}",
            detail={"token": token.key_prefix, "name": token.name},
        )
    return token, key


def token_revoke(*, token: ApiToken, actor: Any = None) -> bool:
    """Revokes a token (kept, marked revoked); false if it was revoked already."""
    with transaction.atomic():
        updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        if updated:
            audit.record(
                action=AuditAction.TOKEN_REVOKED, actor=actor, subject=f"user:{token.user.get_username()}",
                detail={"token": token.key_prefix, "name": token.name},
            )
    token.refresh_from_db(fields=["revoked_at"])
    return bool(updated)


def api_user_create(
    *, username: str, role: str, organisation_slug: str | None, token_name: str = "", actor: Any = None
) -> tuple[Any, bool, ApiToken, str]:
    """Creates the user if needed, sets their role and issues a token: (user, created, token, key)."""
    organisation = None
    if role == Role.LAB:
        if not organisation_slug:
            raise AccountError("a lab member needs --organisation SLUG")
        organisation = Organisation.objects.filter(slug=organisation_slug).first()
        if organisation is None:
            raise AccountError(f"unknown organisation {organisation_slug!r}: import it into the registry first")
    user_model = get_user_model()
    with transaction.atomic():
        user, created = user_model.objects.get_or_create(**{user_model.USERNAME_FIELD: username})
        if created:
            user.set_unusable_password()
            user.save()
        membership_set(user=user, role=role, organisation=organisation, actor=actor)
        token, key = token_issue(user=user, name=token_name, actor=actor)
    return user, created, token, key
