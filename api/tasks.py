"""The API's housekeeping: idempotency records past their time are purged daily."""
from __future__ import annotations

from celery import shared_task

from .idempotency import purge_expired


@shared_task(name="api.tasks.purge_idempotency_records")
def purge_idempotency_records() -> int:
    """Deletes the `Idempotency-Key` records older than `API_IDEMPOTENCY_KEY_TTL_HOURS`."""
    return purge_expired()
