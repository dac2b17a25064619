"""Pages of the decision log without counting millions of rows: the whole log's length is its head's
sequence (rows are never deleted), and the workspace counts a filtered or searched list up to a bound."""
from __future__ import annotations

from django.core.paginator import Paginator
from django.utils.functional import cached_property

from .models import LogHead

# The workspace counts a filtered list of the log up to this many rows; past it the page says "more than".
COUNTED_AT_MOST = 10_000


class LogPaginator(Paginator):
    """Exact counts; the whole log (no condition on it) is counted by its head, not row by row."""

    capped = False

    @cached_property
    def count(self) -> int:
        if not self.object_list.query.where:  # the whole log: every row the head has chained
            return LogHead.objects.filter(id=1).values_list("sequence", flat=True).first() or 0
        return self.count_filtered()

    def count_filtered(self) -> int:
        """The rows of a list of the log with a condition on it."""
        return self.object_list.count()


class CappedLogPaginator(LogPaginator):
    """A filtered list longer than `COUNTED_AT_MOST` rows counts as that many (`capped`): its pages run
    to there and the page tells the reader to narrow it."""

    counted_at_most = COUNTED_AT_MOST

    def count_filtered(self) -> int:
        found = self.object_list.select_related(None).values("pk")[: self.counted_at_most + 1].count()
        self.capped = found > self.counted_at_most
        return min(found, self.counted_at_most)
