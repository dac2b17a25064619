from django.apps import AppConfig


class RulesConfig(AppConfig):
    name = "rules"
    verbose_name = "Rules and determinations"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from registry.signals import subjects_changed

        from . import lookups, receivers  # noqa: F401 (registers field__any)
        from .library_store import sync_library_after_migrate

        post_migrate.connect(sync_library_after_migrate, sender=self)
        subjects_changed.connect(receivers.enqueue_evaluation, dispatch_uid="rules.enqueue_evaluation")
