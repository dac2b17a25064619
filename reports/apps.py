"""Audit, registry and change reports, read from the decision log."""
from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Reports"

    def ready(self) -> None:
        from rules.signals import run_finished

        from . import receivers

        run_finished.connect(receivers.change_report_on_run_finished, dispatch_uid="reports.change_report")
