"""A small fixed registry for the report tests, evaluated into the decision log."""
from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from unittest import mock

from registry.services import registry_submit
from rules.models.runs import Trigger
from rules.services import run_create, run_execute_inline
from tests.factories import ClusterRecordFactory, ModelRecordFactory, OrganisationRecordFactory

AS_OF = date(2024, 12, 1)
RECORDED_AT = datetime(2024, 12, 1, 9, 30, tzinfo=UTC)
GENERATED_AT = "2024-12-02T08:00:00+00:00"
SCRIPT_NAME = '<script>alert("x")<script>'  # markup, without the "/" a model's name may not hold

FRONTIER = "model:acme/Frontier-1@1"
SMALL = "model:acme/Small-1@1"
BIO = "model:acme/Bio-1@1"
MYSTERY = "model:acme/Mystery-1@1"
SCRIPT = f"model:acme/{SCRIPT_NAME}@1"
HALL = "cluster:acme/Hall A"


def registry_document() -> dict[str, Any]:
    model = {"parameter_count": None, "training_tokens": None}
    return {
        "organisations": [OrganisationRecordFactory(slug="acme", name="Acme AI", annual_revenue_usd=6.0e8)],
        "models": [
            ModelRecordFactory(name="Frontier-1", **model, training_compute_ops=2.0e26,
                               training_completed_on="2024-06-01", released_on="2024-07-01"),
            ModelRecordFactory(name="Small-1", parameter_count=7.0e10, training_tokens=1.5e13,
                               training_completed_on="2024-01-15", released_on="2024-02-01"),
            ModelRecordFactory(name="Bio-1", **model, training_compute_ops=1.07e24,
                               primarily_biological_sequence_data=True, released_on="2024-06-25"),
            ModelRecordFactory(name="Mystery-1", **model, released_on="2024-03-01"),
            ModelRecordFactory(name=SCRIPT_NAME, **model, training_compute_ops=3.0e23, released_on="2023-05-01",
                               notes='<img src=x onerror="alert(1)"> & friends'),
        ],
        "clusters": [ClusterRecordFactory(name="Hall A", operational_from="2024-09-02")],
    }


def build_registry(*, as_of: date = AS_OF, frozen: bool = True) -> Any:
    """Submits the registry and records one manual run as of `as_of`; with `frozen`, at a fixed time.

    The submission's own evaluation stays in the outbox (as when the broker is down), so the
    decision log holds exactly the manual run's rows whatever the backend and Celery mode.
    """
    clock = mock.patch("django.utils.timezone.now", return_value=RECORDED_AT) if frozen else mock.MagicMock()
    with clock, mock.patch("rules.receivers.enqueue_pending", return_value=False):
        registry_submit(registry_document(), actor=None, via="import")
        run = run_create(kind=Trigger.MANUAL, as_of=as_of)
        return run_execute_inline(run)
