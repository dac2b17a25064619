"""Reads for API access: a token's owner, and a user's role and organisation."""
from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone

from .models import ApiToken, Membership, Role
from .services import PREFIX_LENGTH, key_sha256

LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_authenticate(*, key: str) -> ApiToken | None:
    """The active token whose SHA-256 matches `key`, with its user and role; None otherwise."""
    if len(key) < PREFIX_LENGTH or len(key) > 200:
        return None
    digest = key_sha256(key)
    # no ORDER BY (the model's ordering): a prefix of 8 of 62 characters names one token in practice,
    # and the digest decides; the sort would cost the query's compilation a quarter of its time
    candidates = ApiToken.objects.select_related("user", "user__membership", "user__membership__organisation").filter(
        key_prefix=key[:PREFIX_LENGTH], revoked_at__isnull=True
    ).order_by()
    for token in candidates:
        if hmac.compare_digest(token.key_sha256, digest) and token.user.is_active:
            now = timezone.now()
            if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
                ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
                token.last_used_at = now
            return token
    return None


@dataclass(frozen=True)
class Access:
    """What a user may see through the API: a regulator everything, a lab member its organisation."""

    role: str | None
    organisation_id: int | None = None
    organisation_slug: str | None = None

    @property
    def is_regulator(self) -> bool:
        return self.role == Role.REGULATOR

    @property
    def is_lab(self) -> bool:
        return self.role == Role.LAB


NO_ACCESS = Access(role=None)


def access_of(user: Any) -> Access:
    """A user's access: their membership; an admin superuser without one reads as a regulator."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return NO_ACCESS
    try:
        membership: Membership | None = user.membership
    except Membership.DoesNotExist:
        membership = None
    if membership is not None:
        if membership.role == Role.LAB:
            return Access(Role.LAB, membership.organisation_id, membership.organisation.slug)
        return Access(Role.REGULATOR)
    if user.is_superuser:
        return Access(Role.REGULATOR)
    return NO_ACCESS
