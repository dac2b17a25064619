"""What PostgreSQL's planner would do with a statement a page sent: for tests that an index serves a
list's order (with sorting priced out, a plan that still sorts means no index matches the ORDER BY)."""
from __future__ import annotations

from django.db import connection


def plan_without_sorting(sql: str) -> str:
    """The plan of `sql` (a statement as sent, its values in it) with every other way priced out."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_sort")
        cursor.execute("RESET enable_seqscan")
    return plan


def listed_statement(queries: list[dict[str, str]], table: str) -> str:
    """The last statement that read `table`'s rows in order (a page: LIMIT only when there are more)."""
    found = [q["sql"] for q in queries if q["sql"].startswith("SELECT") and " FROM " in q["sql"]
             and q["sql"].split(" FROM ", 1)[1].startswith(f'"{table}"') and "ORDER BY" in q["sql"]]
    assert found, f"no page of {table} was read"
    return found[-1]
