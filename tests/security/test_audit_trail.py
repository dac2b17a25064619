"""Every state change leaves an audit event naming who and when: a submission (API, import, admin),
a revision, a rule publication, a role or privilege change, a token issued or revoked. A refused
change leaves none."""
from __future__ import annotations

from datetime import date, timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiToken, AuditEvent
from accounts.services import membership_set, token_revoke
from registry.models import Organisation
from rules.library_store import draft_create
from rules.services import rule_version_publish
from tests.factories import UserFactory, api_user
from tests.ui.conftest import sb53_draft_text

pytestmark = pytest.mark.django_db


def events(action: str, subject: str | None = None) -> list[AuditEvent]:
    found = AuditEvent.objects.filter(action=action).select_related("actor").order_by("id")
    return list(found.filter(subject=subject) if subject is not None else found)


def assert_recent(event: AuditEvent) -> None:
    assert timezone.now() - event.at < timedelta(minutes=5)


def test_an_api_submission_and_its_revision_are_audited_with_the_lab_member(acme, lab_api):
    lab_user = ApiToken.objects.get().user
    created = lab_api.post("/api/v1/models/", {"name": "Acme-2", "version": "1"}, format="json")
    assert created.status_code == 201
    revised = lab_api.patch(created.json()["url"], {"training_compute_ops": "2e26"}, format="json")
    assert revised.status_code == 200

    (first,) = events("record.created", "model:acme/Acme-2@1")
    (second,) = events("record.revised", "model:acme/Acme-2@1")
    for event in (first, second):
        assert event.actor == lab_user and event.detail == {"via": "api"}
        assert_recent(event)
    assert first.id < second.id


def test_an_unchanged_resubmission_and_a_refused_one_are_not_audited(acme, lab_api):
    before = AuditEvent.objects.count()
    url = lab_api.get("/api/v1/models/").json()["results"][0]["url"]
    assert lab_api.patch(url, {}, format="json").status_code == 200  # nothing changed
    assert lab_api.patch(url, {"training_tokens": -1}, format="json").status_code == 400
    assert AuditEvent.objects.count() == before


def test_an_import_audits_every_record_it_creates_or_revises(acme, tmp_path):
    path = tmp_path / "document.json"
    path.write_text('{"organisations": [{"slug": "acme", "name": "Acme AI Inc."}], '
                    '"models": [{"organisation": "acme", "name": "Imported", "version": "1"}]}')
    call_command("import_registry", str(path), "--no-progress", stdout=StringIO())
    (org,) = events("record.revised", "organisation:acme")
    (model,) = events("record.created", "model:acme/Imported@1")
    assert org.actor is None and model.actor is None  # the command line acts as nobody in particular
    assert org.detail == model.detail == {"via": "import"}


def test_an_admin_edit_is_audited_with_the_regulator(acme, admin_client_logged_in, regulator):
    org = Organisation.objects.get(slug="acme")
    response = admin_client_logged_in.post(reverse("admin:registry_organisation_change", args=[org.pk]), {
        "slug": "acme", "name": "Acme AI Inc.", "country": "US", "annual_revenue_usd": "7e8", "revenue_year": "2025",
        "source": "", "revisions-TOTAL_FORMS": "1", "revisions-INITIAL_FORMS": "1", "revisions-MIN_NUM_FORMS": "0",
        "revisions-MAX_NUM_FORMS": "1000", "revisions-0-id": str(org.revisions.get().pk),
        "revisions-0-organisation": str(org.pk),
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    (event,) = events("record.revised", "organisation:acme")
    assert event.actor == regulator and event.detail == {"via": "admin"}


def test_a_rule_publication_is_audited_with_the_publisher(db, regulator):
    draft = draft_create(content=sb53_draft_text(effective_from=date(2031, 1, 1)), actor=regulator)
    assert not events("rule_version.published")
    rule_version_publish(version=draft, actor=regulator)
    (event,) = events("rule_version.published")
    assert event.actor == regulator and event.subject == "rule_version:us-ca-sb53@2031-01-01"
    assert event.detail == {"sha256": draft.content_sha256, "id": draft.pk}
    assert_recent(event)


def test_a_refused_publication_leaves_no_event(db, regulator):
    draft = draft_create(content=sb53_draft_text(effective_from=date(2031, 1, 1)), actor=regulator)
    rule_version_publish(version=draft, actor=regulator)
    with pytest.raises(ValueError, match="already published"):
        rule_version_publish(version=draft, actor=regulator)
    assert len(events("rule_version.published")) == 1


def test_role_changes_and_tokens_are_audited(acme, regulator):
    user, key = api_user(role="lab", organisation="acme", username="alice")
    (role,) = events("role.changed", "user:alice")
    assert role.detail == {"from": None, "to": {"role": "lab", "organisation": "acme"}}
    (issued,) = events("token.issued", "user:alice")
    assert issued.detail["token"] == key[:8]

    membership_set(user=user, role="regulator", organisation=None, actor=regulator)
    promoted = events("role.changed", "user:alice")[-1]
    assert promoted.actor == regulator
    assert promoted.detail == {"from": {"role": "lab", "organisation": "acme"}, "to": {"role": "regulator", "organisation": None}}

    token_revoke(token=ApiToken.objects.get(user=user), actor=regulator)
    (revoked,) = events("token.revoked", "user:alice")
    assert revoked.actor == regulator and revoked.detail["token"] == key[:8]


def test_granting_a_group_or_superuser_in_the_admin_is_audited(admin_client_logged_in, regulator):
    user = UserFactory(username="bob")
    group = Group.objects.create(name="Auditors")
    response = admin_client_logged_in.post(reverse("admin:auth_user_change", args=[user.pk]), {
        "username": "bob", "first_name": "", "last_name": "", "email": "bob@example.org", "is_active": "on",
        "is_staff": "on", "groups": [str(group.pk)], "last_login_0": "", "last_login_1": "",
        "date_joined_0": "2025-01-01", "date_joined_1": "00:00:00",
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    (event,) = events("user.privileges_changed", "user:bob")
    assert event.actor == regulator
    assert event.detail["from"]["groups"] == [] and event.detail["from"]["is_staff"] is False
    assert event.detail["to"]["groups"] == ["Auditors"] and event.detail["to"]["is_staff"] is True


def test_changing_a_groups_permissions_in_the_admin_is_audited(admin_client_logged_in, regulator):
    group = Group.objects.create(name="Auditors")
    permission = Permission.objects.get(codename="view_auditevent")
    response = admin_client_logged_in.post(reverse("admin:auth_group_change", args=[group.pk]), {
        "name": "Auditors", "permissions": [str(permission.pk)],
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    (event,) = events("group.permissions_changed", "group:Auditors")
    assert event.actor == regulator
    assert event.detail == {"from": [], "to": ["accounts.view_auditevent"]}


def test_the_audit_trail_cannot_be_edited_or_deleted_in_the_admin(admin_client_logged_in, acme):
    event = AuditEvent.objects.first()
    change = admin_client_logged_in.post(reverse("admin:accounts_auditevent_change", args=[event.pk]), {"action": "x"})
    delete = admin_client_logged_in.post(reverse("admin:accounts_auditevent_delete", args=[event.pk]), {"post": "yes"})
    assert change.status_code == 403 and delete.status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk, action=event.action).exists()
