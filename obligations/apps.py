from django.apps import AppConfig


class ObligationsConfig(AppConfig):
    name = "obligations"
    verbose_name = "Obligations"

    def ready(self) -> None:
        from rules.signals import run_finished

        from . import receivers

        # Every run (a submission's evaluation, a publication's, a manual or the nightly one) brings the
        # obligations of the subjects it evaluated up to date.
        run_finished.connect(receivers.refresh_states_on_run_finished, dispatch_uid="obligations.refresh_states")
