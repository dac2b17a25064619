from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Registry"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from .catalog import sync_catalog_after_migrate

        post_migrate.connect(sync_catalog_after_migrate, sender=self)
