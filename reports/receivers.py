"""A scheduled or publication re-evaluation produces its change report by itself."""
from __future__ import annotations

from typing import Any

from django.db import transaction

from . import services


def change_report_on_run_finished(sender: Any, *, run: Any, **kwargs: Any) -> None:
    if run.kind not in services.CHANGE_REPORT_RUN_KINDS:
        return
    run_id = run.pk
    transaction.on_commit(lambda: services.change_reports_for_run(run_id=run_id), robust=True)
