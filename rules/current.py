"""What "the current determination" of a subject under a regime is, as of a date D: among its
determinations made as of a date on or before D, the one with the newest as-of date, and of those
the one appended last (highest sequence). An evaluation as of a past date answered "what was the
law then", so it does not replace a later date's answer however recently it was made.

Every reader of "current" uses this: the workspace's statuses and counts (`rules.selectors`) and
change detection (`rules.services.changes`).
"""
from __future__ import annotations

from datetime import date

from django.db.models import F, QuerySet, Window
from django.db.models.functions import RowNumber

from .models import Determination

# The order in which a (subject, regime)'s determinations are candidates for "current": first wins.
NEWEST_FIRST = ("-as_of", "-sequence")
# The same order in SQL, for the raw queries that probe one (subject, regime) at a time.
NEWEST_FIRST_SQL = "as_of DESC, sequence DESC"


def current_of(rows: QuerySet[Determination], *, as_of: date) -> QuerySet[Determination]:
    """The current determination, as of `as_of`, per (subject, regime) among `rows`, as one query."""
    ranked = rows.filter(as_of__lte=as_of).annotate(
        newness=Window(RowNumber(), partition_by=[F("subject_ref"), F("regime")],
                       order_by=[F("as_of").desc(), F("sequence").desc()]),
    )
    return Determination.objects.filter(sequence__in=ranked.filter(newness=1).values("sequence"))
