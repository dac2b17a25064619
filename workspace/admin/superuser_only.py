"""The login throttle's records (django-axes) and the periodic task schedule (django-celery-beat)
are the operator's, not the regulator's: only a superuser sees them in the admin, whatever
permissions a staff user holds; to anyone else their pages do not exist (the admin answers 403)."""
from __future__ import annotations

from typing import Any

from django.contrib import admin

SUPERUSER_ONLY_APPS = ("axes", "django_celery_beat")


def superuser_only(model_admin: type[admin.ModelAdmin]) -> type[admin.ModelAdmin]:
    class SuperuserOnly(model_admin):  # type: ignore[valid-type, misc]
        def has_module_permission(self, request: Any) -> bool:
            return request.user.is_superuser and super().has_module_permission(request)

        def has_view_permission(self, request: Any, obj: Any = None) -> bool:
            return request.user.is_superuser and super().has_view_permission(request, obj)

        def has_add_permission(self, request: Any, *args: Any) -> bool:
            return request.user.is_superuser and super().has_add_permission(request, *args)

        def has_change_permission(self, request: Any, obj: Any = None) -> bool:
            return request.user.is_superuser and super().has_change_permission(request, obj)

        def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
            return request.user.is_superuser and super().has_delete_permission(request, obj)

    SuperuserOnly.__name__ = SuperuserOnly.__qualname__ = f"SuperuserOnly{model_admin.__name__}"
    return SuperuserOnly


def restrict_to_superusers(site: admin.AdminSite) -> None:
    """Registers those apps' admins again, each behind `superuser_only`. Their admin modules are
    imported first: the workspace's own admin is discovered before theirs."""
    import axes.admin  # noqa: F401
    import django_celery_beat.admin  # noqa: F401

    for model, model_admin in list(site._registry.items()):
        if model._meta.app_label in SUPERUSER_ONLY_APPS and not type(model_admin).__name__.startswith("SuperuserOnly"):
            site.unregister(model)
            site.register(model, superuser_only(type(model_admin)))
