from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "API users, tokens and audit"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from .roles import ensure_role_groups_after_migrate

        post_migrate.connect(ensure_role_groups_after_migrate, sender=self, dispatch_uid="accounts.role_groups")
        from obligations.signals import obligation_record_created
        from registry.signals import subjects_changed
        from rules.signals import rule_version_published

        from . import receivers

        subjects_changed.connect(receivers.audit_subjects_changed, dispatch_uid="accounts.audit_subjects_changed")
        rule_version_published.connect(
            receivers.audit_rule_version_published, dispatch_uid="accounts.audit_rule_version_published"
        )
        obligation_record_created.connect(
            receivers.audit_obligation_record, dispatch_uid="accounts.audit_obligation_record"
        )
