from django.apps import AppConfig


class ObligationsConfig(AppConfig):
    name = "obligations"
    verbose_name = "Obligations"
