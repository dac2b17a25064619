"""Audit, registry and change reports, read from the decision log."""
from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Reports"

    def ready(self) -> None:
        from celery.signals import worker_process_init

        from rules.signals import run_finished

        from . import receivers, render

        run_finished.connect(receivers.change_report_on_run_finished, dispatch_uid="reports.change_report")
        # Reports are rendered by the workers: each loads the PDF engine as it starts, not on its first report.
        worker_process_init.connect(render.load_pdf_engine, dispatch_uid="reports.load_pdf_engine", weak=False)
