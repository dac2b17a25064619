"""API users in the admin: roles, tokens (revocable, never shown again) and the audit trail."""
from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group

from accounts import audit, services
from accounts.models import ApiToken, AuditAction, AuditEvent, Membership


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "role", "organisation", "updated_at")
    list_filter = ("role",)
    search_fields = ("user__username", "organisation__slug")
    list_select_related = ("user", "organisation")
    fields = ("user", "role", "organisation")
    raw_id_fields = ("user", "organisation")

    def save_model(self, request: Any, obj: Membership, form: Any, change: bool) -> None:
        saved = services.membership_set(user=obj.user, role=obj.role, organisation=obj.organisation, actor=request.user)
        obj.pk = saved.pk


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("key_prefix", "user", "name", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("key_prefix", "user__username", "name")
    list_select_related = ("user",)
    readonly_fields = ("user", "name", "key_prefix", "created_at", "last_used_at", "revoked_at")
    exclude = ("key_sha256",)
    actions = ["revoke"]

    def has_add_permission(self, request: Any) -> bool:
        return False  # issued by `manage.py create_api_user`, which shows the token once

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: Any, queryset: Any) -> None:
        count = sum(services.token_revoke(token=token, actor=request.user) for token in queryset.select_related("user"))
        self.message_user(request, f"{count} token(s) revoked.", messages.SUCCESS)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("at", "action", "subject", "actor")
    list_filter = ("action",)
    search_fields = ("subject", "action")
    list_select_related = ("actor",)
    readonly_fields = ("at", "action", "subject", "actor", "detail")

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


def _privileges(user: Any) -> dict[str, Any] | None:
    """What a user may do, as stored: compared before and after an admin edit."""
    if user is None or user.pk is None:
        return None
    return {
        "is_active": user.is_active,
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
        "groups": sorted(user.groups.values_list("name", flat=True)),
        "permissions": sorted(f"{app}.{codename}" for app, codename in
                              user.user_permissions.values_list("content_type__app_label", "codename")),
    }


def _group_permissions(group: Group) -> list[str] | None:
    if group.pk is None:
        return None
    return sorted(f"{app}.{codename}" for app, codename in
                  group.permissions.values_list("content_type__app_label", "codename"))


User = get_user_model()
admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class AuditedUserAdmin(UserAdmin):
    """Django's user admin; a change to what a user may do is written to the audit trail."""

    def save_model(self, request: Any, obj: Any, form: Any, change: bool) -> None:
        request.privileges_before = _privileges(User.objects.filter(pk=obj.pk).first() if change else None)
        super().save_model(request, obj, form, change)

    def save_related(self, request: Any, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        before, after = getattr(request, "privileges_before", None), _privileges(form.instance)
        if before != after:
            audit.record(action=AuditAction.PRIVILEGES_CHANGED, actor=request.user,
                         subject=f"user:{form.instance.get_username()}", detail={"from": before, "to": after})


@admin.register(Group)
class AuditedGroupAdmin(GroupAdmin):
    """Django's group admin; a change to a group's permissions (every member's) is audited."""

    def save_model(self, request: Any, obj: Group, form: Any, change: bool) -> None:
        request.group_permissions_before = _group_permissions(Group.objects.get(pk=obj.pk)) if change else None
        super().save_model(request, obj, form, change)

    def save_related(self, request: Any, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        before, after = getattr(request, "group_permissions_before", None), _group_permissions(form.instance)
        if before != after:
            audit.record(action=AuditAction.GROUP_PERMISSIONS_CHANGED, actor=request.user,
                         subject=f"group:{form.instance.name}", detail={"from": before, "to": after})

