"""What PostgreSQL's planner would do with a statement a page sent: for tests that an index serves a
list's order (with sorting priced out, a plan that still sorts means no index matches the ORDER BY)."""
from __future__ import annotations

from django.db import connection


def plan_priced_out(sql: str, *methods: str) -> str:
    """The plan of `sql` (a statement as sent, its values in it) with each of the planner's `methods`
    (`sort`, `seqscan`, `bitmapscan`: its `enable_*` settings) priced out."""
    with connection.cursor() as cursor:
        for method in methods:
            cursor.execute(f"SET LOCAL enable_{method} = off")
        cursor.execute("EXPLAIN " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        for method in methods:
            cursor.execute(f"RESET enable_{method}")
    return plan


def plan_without_sorting(sql: str) -> str:
    """The plan of `sql` with sorting and reading the table whole priced out."""
    return plan_priced_out(sql, "sort", "seqscan")


def listed_statement(queries: list[dict[str, str]], table: str) -> str:
    """The last statement that read `table`'s rows in order (a page: LIMIT only when there are more)."""
    found = [q["sql"] for q in queries if q["sql"].startswith("SELECT") and " FROM " in q["sql"]
             and q["sql"].split(" FROM ", 1)[1].startswith(f'"{table}"') and "ORDER BY" in q["sql"]]
    assert found, f"no page of {table} was read"
    return found[-1]
