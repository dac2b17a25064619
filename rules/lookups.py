"""`field__any=[...]`: membership in a long list of plain values, as one array parameter on PostgreSQL.

A chunk of a run filters by hundreds of ids or hashes at a time. Django's `__in` prepares and binds
each element separately (a placeholder and a conversion per value); `= ANY(%s)` sends the list as one
array, bound by psycopg. Other databases get the same `IN (...)` as `__in`. The values must already
be what the column stores (ints for ids, strings for hashes): they are not converted, but for digests,
given in hexadecimal and sent as PostgreSQL stores them (`rules.digests`).
"""
from __future__ import annotations

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
            values = [digests.looked_up(value) for value in values]
        if isinstance(self.lhs.output_field, CodedField):  # texts of a vocabulary, sent as their codes
            values = [self.lhs.output_field.get_prep_value(value) for value in values]
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", [*lhs_params, values]
        if not values:
            return "1 = 0", list(lhs_params)
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]
