"""Fixtures for the decision log and job tests: registries submitted as interchange documents, and
`tamper`, which alters stored rows by raw SQL and proves it changed them."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from registry.services import registry_submit
from rules.digests import Sha256Field
from tests.factories import ClusterRecordFactory, ModelRecordFactory, OrganisationRecordFactory, document


def submit_registry(*, models: int = 0, clusters: int = 0, organisations: int = 1, **model_fields: Any) -> list[str]:
    """Submits `models` models and `clusters` clusters spread over `organisations` organisations; returns
    every subject ref the submission created (models, clusters and organisations)."""
    orgs = [OrganisationRecordFactory(slug=f"org-{i}", name=f"Org {i}") for i in range(organisations)]
    model_records = [
        ModelRecordFactory(organisation=orgs[i % organisations]["slug"], name=f"Model-{i}", **model_fields)
        for i in range(models)
    ]
    cluster_records = [
        ClusterRecordFactory(organisation=orgs[i % organisations]["slug"], name=f"Hall {i}") for i in range(clusters)
    ]
    result = registry_submit(
        document(organisations=orgs, models=model_records, clusters=cluster_records), via="import"
    )
    return list(result.changed_subjects)




def as_stored(digest: str) -> Any:
    """A digest as the database stores it, for raw SQL (32 bytes on PostgreSQL: `rules.digests`)."""
    return Sha256Field().get_db_prep_save(digest, connection)


def tamper(statement: str, params: Sequence[Any] = (), *, table: str, where: str,
           where_params: Sequence[Any] = ()) -> None:
    """Runs `statement` (an UPDATE or DELETE by raw SQL, as someone with database access could) and
    fails unless it changed the stored bytes of the rows of `table` that `where` selects: a tamper
    test that tampered with nothing would prove nothing."""
    def stored() -> list[tuple[Any, ...]]:
        cursor.execute(f"SELECT * FROM {table} WHERE {where} ORDER BY 1", list(where_params))
        return [tuple(bytes(value) if isinstance(value, memoryview) else value for value in row)
                for row in cursor.fetchall()]

    with connection.cursor() as cursor:
        before = stored()
        assert before, f"nothing in {table} where {where} to tamper with"
        cursor.execute(statement, list(params))
        assert cursor.rowcount >= 1, f"{statement!r} touched no row"
        after = stored()
    assert after != before, f"{statement!r} left the stored rows of {table} unchanged"


def migrated(target: list[tuple[str, str]] | None = None) -> MigrationExecutor:
    """The test database migrated to `target` (every app's latest migration when none), forwards or back."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target or executor.loader.graph.leaf_nodes())
    return executor
