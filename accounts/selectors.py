"""Reads for API access: a token's owner, and a user's role and organisation."""
from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Model
from django.utils import timezone

from .models import ApiToken, Membership, Role
from .services import PREFIX_LENGTH, key_sha256

LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_authenticate(*, key: str) -> ApiToken | None:
    """The active token whose SHA-256 matches `key`, with its user and role; None otherwise."""
    if len(key) < PREFIX_LENGTH or len(key) > 200:
        return None
    digest = key_sha256(key)
    for token in _active_tokens(key[:PREFIX_LENGTH]):
        if hmac.compare_digest(token.key_sha256, digest) and token.user.is_active:
            now = timezone.now()
            if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
                ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
                token.last_used_at = now
            return token
    return None


@dataclass(frozen=True)
class _Part:
    """One model's columns in the token query, and the converters of those that need one."""

    model: type[Model]
    attnames: tuple[str, ...]
    converters: tuple[tuple[int, tuple[Callable[..., Any], ...], Any], ...]  # (index, converters, column)

    def instance(self, values: Sequence[Any]) -> Any:
        if self.converters:
            values = list(values)
            for index, converters, column in self.converters:
                for converter in converters:
                    values[index] = converter(values[index], column, connection)
        return self.model.from_db(connection.alias, self.attnames, values)


@dataclass(frozen=True)
class _TokenQuery:
    sql: str
    parts: tuple[_Part, ...]  # token, user, membership, organisation: their columns in this order


_token_queries: dict[str, _TokenQuery] = {}
# The columns read with a token, where not all: what a request needs of its user, membership and
# organisation (permissions, scope, the throttle, the audit trail, a submission's checks). A column
# left out is deferred, read on first use as `.only()` leaves it; the password hash is never read.
TOKEN_QUERY_READS: dict[str, tuple[str, ...]] = {
    "user": ("id", "username", "is_superuser", "is_staff", "is_active"),
    "membership": ("id", "user", "role", "organisation"),
    "organisation": ("id", "slug", "name", "name_skeleton"),
}


def _token_query() -> _TokenQuery:
    """The token, its user, their membership and its organisation in one SELECT, written once per
    database: what `select_related("user", "user__membership", "user__membership__organisation")`
    with `only(TOKEN_QUERY_READS)` reads, without compiling that query again for every request (two
    thirds of the time of an authentication). Values go through the same converters as the ORM's."""
    query = _token_queries.get(connection.alias)
    if query is not None:
        return query
    quote = connection.ops.quote_name
    user_model = get_user_model()
    organisation_model = Membership._meta.get_field("organisation").related_model
    parts, columns = [], []
    for model, alias, part in ((ApiToken, "t", "token"), (user_model, "u", "user"), (Membership, "m", "membership"),
                               (organisation_model, "o", "organisation")):
        fields = [field for field in model._meta.concrete_fields
                  if part not in TOKEN_QUERY_READS or field.name in TOKEN_QUERY_READS[part]]
        columns += [f"{alias}.{quote(field.column)}" for field in fields]
        converters = []
        for index, field in enumerate(fields):
            column = field.get_col(model._meta.db_table)
            found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            if found:
                converters.append((index, tuple(found), column))
        parts.append(_Part(model, tuple(field.attname for field in fields), tuple(converters)))

    def col(model: type[Model], name: str) -> str:
        return quote(model._meta.get_field(name).column)

    def table(model: type[Model]) -> str:
        return quote(model._meta.db_table)

    user_pk, org_pk = quote(user_model._meta.pk.column), quote(organisation_model._meta.pk.column)
    sql = (
        f"SELECT {', '.join(columns)} FROM {table(ApiToken)} t"
        f" INNER JOIN {table(user_model)} u ON u.{user_pk} = t.{col(ApiToken, 'user')}"
        f" LEFT OUTER JOIN {table(Membership)} m ON m.{col(Membership, 'user')} = u.{user_pk}"
        f" LEFT OUTER JOIN {table(organisation_model)} o ON o.{org_pk} = m.{col(Membership, 'organisation')}"
        f" WHERE t.{col(ApiToken, 'key_prefix')} = %s AND t.{col(ApiToken, 'revoked_at')} IS NULL"
    )
    query = _token_queries[connection.alias] = _TokenQuery(sql, tuple(parts))
    return query


def _active_tokens(prefix: str) -> list[ApiToken]:
    """Unrevoked tokens with this prefix, each with its user, and the user's membership (or none) and
    organisation cached on it as `select_related` would leave them."""
    query = _token_query()
    with connection.cursor() as cursor:
        cursor.execute(query.sql, [prefix])
        rows = cursor.fetchall()
    no_membership = Membership._meta.get_field("user").remote_field
    tokens = []
    for row in rows:
        values, start = [], 0
        for part in query.parts:
            values.append(row[start:start + len(part.attnames)])
            start += len(part.attnames)
        token, user = query.parts[0].instance(values[0]), query.parts[1].instance(values[1])
        token.user = user
        if values[2][0] is None:
            no_membership.set_cached_value(user, None)  # `user.membership` raises DoesNotExist, without a query
        else:
            membership = query.parts[2].instance(values[2])
            membership.user = user
            membership.organisation = query.parts[3].instance(values[3]) if values[3][0] is not None else None
            user.membership = membership
        tokens.append(token)
    return tokens


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


def organisation_contacts(organisation_slug: str) -> list[str]:
    """The email addresses of an organisation's active lab members: whom its reminders go to."""
    return sorted(set(Membership.objects.filter(
        role=Role.LAB, organisation__slug=organisation_slug, user__is_active=True,
    ).exclude(user__email="").values_list("user__email", flat=True)))


def regulator_contacts() -> list[str]:
    """The email addresses of the active regulators."""
    return sorted(set(Membership.objects.filter(role=Role.REGULATOR, user__is_active=True)
                      .exclude(user__email="").values_list("user__email", flat=True)))
