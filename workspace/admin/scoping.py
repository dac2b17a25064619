"""Who sees what in the admin: a regulator every record, a lab member only its organisation's,
anyone else none. The same role as the API's (`accounts.selectors.access_of`), and the same release
rule (`rules.visibility`): a lab member never sees a determination or status change that rests on
another organisation's model not yet released."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import Http404

from accounts.selectors import access_of
from rules.visibility import NOTHING_WITHHELD, Unreleased, changes_shown, unreleased_elsewhere, withheld_condition

from .widgets import ListedSelects


@dataclass(frozen=True)
class Scope:
    """`restricted` users see the records of `organisation_slug` only (none when it is None)."""

    restricted: bool
    organisation_id: int | None = None
    organisation_slug: str | None = None

    def filter(self, queryset: QuerySet, lookup: str) -> QuerySet:
        """`lookup` reaches the organisation's slug: `slug`, `organisation__slug`, `organisation`."""
        if not self.restricted:
            return queryset
        if self.organisation_slug is None:
            return queryset.none()
        return queryset.filter(**{lookup: self.organisation_slug})

    def allows(self, organisation_slug: str) -> bool:
        return not self.restricted or organisation_slug == self.organisation_slug


def scope_of(user: Any) -> Scope:
    cached = getattr(user, "_workspace_scope", None)
    if cached is not None:
        return cached
    access = access_of(user)
    if access.is_regulator:
        scope = Scope(restricted=False)
    elif access.is_lab:
        scope = Scope(restricted=True, organisation_id=access.organisation_id, organisation_slug=access.organisation_slug)
    else:
        scope = Scope(restricted=True)
    if user is not None:
        user._workspace_scope = scope
    return scope


def unreleased_of(user: Any) -> Unreleased:
    """Other organisations' unreleased models a lab member's lineages reach, and its subjects resting on
    them (worked out once per request); nothing for a regulator."""
    cached = getattr(user, "_workspace_unreleased", None)
    if cached is not None:
        return cached
    scope = scope_of(user)
    if not scope.restricted or scope.organisation_id is None:
        unreleased = NOTHING_WITHHELD
    else:
        unreleased = unreleased_elsewhere(organisation_id=scope.organisation_id, organisation_slug=scope.organisation_slug)
    if user is not None:
        user._workspace_unreleased = unreleased
    return unreleased


def withheld_of(user: Any) -> Q | None:
    """The determinations withheld from the user (None: none are)."""
    return withheld_condition(unreleased_of(user))


def determinations_for(user: Any, queryset: QuerySet) -> QuerySet:
    """The user's organisation's determinations among `queryset`, less those withheld from them."""
    withheld = withheld_of(user)
    queryset = scope_of(user).filter(queryset, "organisation")
    return queryset if withheld is None else queryset.exclude(withheld)


def changes_for(user: Any, queryset: QuerySet) -> QuerySet:
    """The user's organisation's status changes among `queryset`, less those between withheld determinations."""
    scope = scope_of(user)
    return changes_shown(scope.filter(queryset, "organisation"), organisation_slug=scope.organisation_slug,
                         withheld=withheld_of(user))


def is_regulator(user: Any) -> bool:
    return not scope_of(user).restricted


class OrganisationScopedAdmin(ListedSelects, admin.ModelAdmin):
    """Lists, change pages, filters and autocomplete confined to the user's organisation; another
    organisation's record is a 404, as if it did not exist."""

    organisation_lookup = "organisation__slug"

    def get_queryset(self, request: Any) -> QuerySet:
        return scope_of(request.user).filter(super().get_queryset(request), self.organisation_lookup)

    def get_object(self, request: Any, object_id: str, from_field: str | None = None) -> Any:
        obj = super().get_object(request, object_id, from_field)
        if obj is None and scope_of(request.user).restricted:
            raise Http404("no such record in your organisation")
        return obj

    def formfield_for_foreignkey(self, db_field: Any, request: Any, **kwargs: Any) -> Any:
        from registry.models import Organisation

        scope = scope_of(request.user)
        if scope.restricted and db_field.related_model is Organisation:
            kwargs["queryset"] = scope.filter(Organisation.objects.all(), "slug")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
