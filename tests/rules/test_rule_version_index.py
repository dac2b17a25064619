"""The determinations made under a rule version are found by an index of only the rows made under one
(migration rules.0024): most rows of a registry, of regimes not in force as of their date, are made
under none, and no lookup by version asks for them."""
from __future__ import annotations

from datetime import date

import pytest
from django.db import IntegrityError, connection, transaction

from rules.models import Determination, RuleVersion
from rules.services import run_create, run_execute_inline
from tests.rules.conftest import submit_registry
from tests.support.plans import plan_priced_out

pytestmark = pytest.mark.django_db


@pytest.fixture
def versions() -> list[int]:
    refs = submit_registry(models=2, training_compute_ops=5e25)
    run_execute_inline(run_create(kind="manual", as_of=date(2026, 3, 1), subjects=refs))
    made = sorted(set(Determination.objects.exclude(rule_version=None).values_list("rule_version_id", flat=True)))
    assert made and Determination.objects.filter(rule_version=None).exists(), "no rows made under no version"
    return made


def test_the_rows_of_versions_are_read_from_the_index_of_rows_made_under_one(versions):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's plans")
    sql, params = Determination.objects.filter(rule_version_id__in=versions).values("sequence").query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        statement = cursor.mogrify(sql, params)
        plan = plan_priced_out(statement, "seqscan")
    assert "determination_rule_version" in plan, plan
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Determination._meta.db_table)
    assert [name for name, c in constraints.items() if c["index"] and c["columns"] == ["rule_version_id"]] \
        == ["determination_rule_version"]


def test_the_database_refuses_to_delete_a_version_determinations_were_made_under(versions):
    """What the model refuses (a published version is never deleted), raw SQL cannot do either: the
    foreign key's check finds the version's rows through the index."""
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM rules_ruleversion WHERE id = %s", [versions[0]])
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        else:
            connection.check_constraints(table_names=[Determination._meta.db_table])
    assert RuleVersion.objects.filter(pk=versions[0]).exists()
