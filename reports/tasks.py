"""Celery tasks: thin wrappers over `reports.services`."""
from __future__ import annotations

from celery import shared_task

from rules.tasks import RETRY

from . import services


@shared_task(bind=True, **RETRY)
def generate_report(self, artifact_id: int) -> str:
    """Renders and stores one requested report; returns its status."""
    return services.artifact_build(artifact_id=artifact_id).status
