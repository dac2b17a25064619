"""`field__any=[...]`: membership in a long list of plain values, as one array parameter on PostgreSQL.

A chunk of a run filters by hundreds of ids or hashes at a time. Django's `__in` prepares and binds
each element separately (a placeholder and a conversion per value); `= ANY(%s)` sends the list as one
array, bound by psycopg. Other databases get the same `IN (...)` as `__in`. The values must already
be what the column stores (ints for ids, strings for hashes): they are not converted, but for digests,
given in hexadecimal and sent as PostgreSQL stores them (`rules.digests`).

Where psycopg binds on the client (the default), it writes an array element by element in Python,
each digest's bytes escaped one by one: 3.3 µs a digest, 0.5 an integer. A list of integers, or of
digests as the product writes them, is sent instead as one text of them joined by commas, which
PostgreSQL splits and casts (`string_to_array(%s, ',')::bigint[]`, `::bytea[]` of `\\x`-prefixed
hexadecimal): 0.6 and 0.1 µs. The expression is of constants, so the planner folds it into the same
array, with the same estimates and plans.
"""
from __future__ import annotations

import re
from typing import Any

from django.db.models import Field, ForeignKey, Lookup

from . import digests
from .codes import CodedField


@ForeignKey.register_lookup
@Field.register_lookup
class AnyOf(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = list(self.rhs)
        if digests.binary(connection) and digests.is_digest(self.lhs.output_field):
            joined = _joined_digests(values, connection)
            if joined is not None:
                return f"{lhs} = ANY(string_to_array(%s, ',')::bytea[])", [*lhs_params, joined]
            values = [digests.looked_up(value) for value in values]
        if isinstance(self.lhs.output_field, CodedField):  # texts of a vocabulary, sent as their codes
            values = [self.lhs.output_field.get_prep_value(value) for value in values]
        if connection.vendor == "postgresql":
            joined = _joined_integers(values, connection)
            if joined is not None:
                return f"{lhs} = ANY(string_to_array(%s, ',')::bigint[])", [*lhs_params, joined]
            return f"{lhs} = ANY(%s)", [*lhs_params, values]
        if not values:
            return "1 = 0", list(lhs_params)
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]


_DIGESTS = re.compile(r"(?:[0-9a-f]{64},)*[0-9a-f]{64}")
_INT64 = 2**63


def _bound_on_the_client(connection: Any) -> bool:
    return not connection.settings_dict.get("OPTIONS", {}).get("server_side_binding")


def _joined_digests(values: list[Any], connection: Any) -> str | None:
    """Digests as the product writes them (lowercase hexadecimal) as one text for `::bytea[]`, each
    `\\x`-prefixed, where psycopg binds on the client; None for any other list (a text that is no
    such digest matches nothing, and is sent as `digests.looked_up` makes it)."""
    if values and _bound_on_the_client(connection) and all(type(value) is str for value in values):
        text = ",".join(values)
        if _DIGESTS.fullmatch(text):
            return "\\x" + text.replace(",", ",\\x")
    return None


def _joined_integers(values: list[Any], connection: Any) -> str | None:
    """Integers of 64 bits as one text for `::bigint[]` where psycopg binds on the client; None for
    any other list."""
    if values and _bound_on_the_client(connection) and all(type(value) is int for value in values) \
            and min(values) >= -_INT64 and max(values) < _INT64:
        return ",".join(map(str, values))
    return None
