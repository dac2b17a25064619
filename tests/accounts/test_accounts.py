"""API users: `create_api_user` prints a token once (only its SHA-256 is kept), `revoke_api_token`
revokes it, roles and tokens are audited, and the staff groups carry their permissions."""
from __future__ import annotations

import hashlib
import io
import re

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction
from rest_framework.test import APIClient

from accounts.models import ApiToken, AuditEvent, Membership
from accounts.services import membership_set, token_issue
from registry.models import Organisation
from tests.factories import OrganisationFactory, UserFactory, token_client

pytestmark = pytest.mark.django_db


def create(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_user", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_api_user_prints_the_token_last_and_stores_only_its_hash():
    OrganisationFactory(slug="acme")
    out, _ = create("--organisation", "acme", "--username", "alice", "--role", "lab")
    token = out.split()[-1]
    stored = ApiToken.objects.get(user__username="alice")
    assert stored.key_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert stored.key_prefix == token[:8]
    assert token not in "".join(str(v) for v in ApiToken.objects.values_list()[0])
    membership = Membership.objects.get(user__username="alice")
    assert (membership.role, membership.organisation.slug) == ("lab", "acme")
    assert membership.user.groups.filter(name="Lab staff").exists()
    assert not membership.user.has_usable_password()
    client = token_client(token)
    assert client.get("/api/v1/organisations/").json()["results"][0]["slug"] == "acme"


def test_running_it_again_finds_the_user_and_issues_another_token():
    OrganisationFactory(slug="acme")
    first, _ = create("--organisation", "acme", "--username", "alice", "--role", "lab")
    second, _ = create("--organisation", "acme", "--username", "alice", "--role", "lab")
    assert second.startswith("Found user alice")
    assert first.split()[-1] != second.split()[-1]
    assert ApiToken.objects.filter(user__username="alice").count() == 2
    assert AuditEvent.objects.filter(action="role.changed").count() == 1
    assert AuditEvent.objects.filter(action="token.issued").count() == 2


def test_a_regulator_belongs_to_no_organisation():
    out, err = create("--organisation", "acme", "--username", "rita", "--role", "regulator")
    assert "not recorded" in err
    membership = Membership.objects.get(user__username="rita")
    assert (membership.role, membership.organisation) == ("regulator", None)
    assert membership.user.groups.filter(name="Regulators").exists()
    assert len(out.split()[-1]) >= 40


def test_a_lab_member_of_an_unknown_organisation_is_refused():
    with pytest.raises(CommandError, match="unknown organisation 'nowhere'"):
        create("--organisation", "nowhere", "--username", "bob", "--role", "lab")
    with pytest.raises(CommandError, match="needs --organisation"):
        create("--username", "bob", "--role", "lab")
    assert not Membership.objects.exists()


def test_a_role_change_is_audited_and_moves_the_user_between_groups():
    OrganisationFactory(slug="acme")
    create("--organisation", "acme", "--username", "alice", "--role", "lab")
    create("--username", "alice", "--role", "regulator")
    event = AuditEvent.objects.filter(action="role.changed").order_by("-id").first()
    assert event.detail == {"from": {"role": "lab", "organisation": "acme"}, "to": {"role": "regulator", "organisation": None}}
    user = Membership.objects.get(user__username="alice").user
    assert list(user.groups.values_list("name", flat=True)) == ["Regulators"]


def test_tokens_are_letters_and_digits_so_a_command_line_never_reads_one_as_an_option():
    user = UserFactory()
    keys = [token_issue(user=user)[1] for _ in range(200)]
    assert all(re.fullmatch(r"[A-Za-z0-9]{43}", key) for key in keys), [k for k in keys if not k.isalnum()]
    assert len(set(keys)) == 200
    call_command("revoke_api_token", "--prefix", keys[0][:8], stdout=io.StringIO())
    assert ApiToken.objects.get(key_prefix=keys[0][:8]).revoked_at is not None


def test_revoke_api_token_by_prefix_refuses_the_token_and_is_audited():
    OrganisationFactory(slug="acme")
    token = create("--organisation", "acme", "--username", "alice", "--role", "lab")[0].split()[-1]
    client = token_client(token)
    assert client.get("/api/v1/models/").status_code == 200
    out = io.StringIO()
    call_command("revoke_api_token", f"--prefix={token[:8]}", stdout=out)
    assert "Revoked" in out.getvalue()
    assert client.get("/api/v1/models/").status_code == 401
    assert ApiToken.objects.get(key_prefix=token[:8]).revoked_at is not None
    assert AuditEvent.objects.filter(action="token.revoked", detail__token=token[:8]).exists()
    with pytest.raises(CommandError, match="no active token"):
        call_command("revoke_api_token", f"--prefix={token[:8]}", stdout=io.StringIO())


def test_revoke_every_token_of_a_user():
    OrganisationFactory(slug="acme")
    for _ in range(2):
        create("--organisation", "acme", "--username", "alice", "--role", "lab")
    call_command("revoke_api_token", "--username", "alice", stdout=io.StringIO())
    assert not ApiToken.objects.filter(user__username="alice", revoked_at__isnull=True).exists()


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer short", "Bearer " + "x" * 43, "Token abc"])
def test_a_malformed_or_unknown_token_is_a_401(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.get("/api/v1/models/").status_code == 401


def test_a_lab_membership_needs_an_organisation_and_a_regulator_has_none():
    user = UserFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(user=user, role="lab", organisation=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(user=user, role="regulator", organisation=OrganisationFactory())
    membership = membership_set(user=user, role="regulator", organisation=Organisation.objects.first())
    assert membership.organisation is None


def test_the_staff_groups_carry_their_permissions():
    regulators = set(Group.objects.get(name="Regulators").permissions.values_list("content_type__app_label", "codename"))
    assert {("rules", "publish_ruleversion"), ("rules", "add_ruleversion"), ("rules", "change_ruleversion"),
            ("rules", "view_determination"), ("registry", "view_aimodel")} <= regulators
    assert not any(code.startswith(("delete_", "add_aimodel", "change_aimodel")) for _, code in regulators)
    lab_staff = set(Group.objects.get(name="Lab staff").permissions.values_list("codename", flat=True))
    assert {"view_aimodel", "add_aimodel", "change_aimodel", "add_cluster", "view_accelerator"} <= lab_staff
    assert not any(code.endswith("ruleversion") or code.startswith("delete_") for code in lab_staff)
    assert Permission.objects.filter(codename="publish_ruleversion", content_type__app_label="rules").count() == 1
