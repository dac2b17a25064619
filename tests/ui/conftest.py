"""Fixtures for the regulator's workspace: a small registry evaluated today, a regulator and a lab
member with the roles and groups of `accounts`, and a draft that lowers SB 53's threshold."""
from __future__ import annotations

import importlib
from datetime import date

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.utils import timezone

from accounts.services import membership_set
from registry.models import Organisation
from registry.services import registry_submit
from rules.models.runs import Trigger
from rules.services import run_create, run_execute_inline
from tests.factories import ClusterRecordFactory, ModelRecordFactory, OrganisationRecordFactory, UserFactory, document

PASSWORD = "a-long-test-password-for-the-workspace"
ROLE_GROUPS_MIGRATION = ("accounts", "0002_roles_groups")


def ensure_migrated_data() -> None:
    """What `migrate` writes and a transactional test's flush may have removed (a flush after a
    serialized rollback leaves the tables empty): the accelerator catalog, the published rule
    library, and the role groups. Each is written again the way migrate writes it; each is idempotent."""
    from registry.catalog import catalog_sync
    from rules.library_store import sync_library_files

    catalog_sync()
    sync_library_files()
    ensure_role_groups()


def ensure_role_groups() -> None:
    """The groups and permissions `accounts` creates by migration, written again by that migration's
    own function if a flush removed them."""
    regulators = Group.objects.filter(name="Regulators").first()
    if regulators is not None and regulators.permissions.filter(codename="publish_ruleversion").exists():
        return
    state = MigrationExecutor(connection).loader.project_state(ROLE_GROUPS_MIGRATION, at_end=True)
    migration = importlib.import_module("accounts.migrations." + ROLE_GROUPS_MIGRATION[1])
    migration.create_groups(state.apps, None)


def today() -> date:
    return timezone.now().date()


def submit_workspace_registry() -> None:
    """Two labs: acme (four models and a large cluster) and beta (one model)."""
    registry_submit(document(
        organisations=[OrganisationRecordFactory(slug="acme", name="Acme AI", annual_revenue_usd=6e8),
                       OrganisationRecordFactory(slug="beta", name="Beta Labs", annual_revenue_usd=1e7)],
        models=[
            ModelRecordFactory(organisation="acme", name="Frontier", training_compute_ops="3e26"),
            ModelRecordFactory(organisation="acme", name="Mid", training_compute_ops="3.8e25"),
            ModelRecordFactory(organisation="acme", name="Small", training_compute_ops="5e22"),
            ModelRecordFactory(organisation="acme", name="Unknown", parameter_count=None, training_tokens=None),
            ModelRecordFactory(organisation="beta", name="Secret", training_compute_ops="2e24"),
        ],
        clusters=[ClusterRecordFactory(organisation="acme", name="Hall A")],
    ), via="import")


def evaluate_registry(*, as_of: date | None = None, confirms: bool = True) -> None:
    run_execute_inline(run_create(kind=Trigger.SCHEDULE, as_of=as_of, confirms=confirms))


def sb53_draft_text(*, effective_from: date, frontier_compute: str = "1.0e+25") -> str:
    """SB 53 with its frontier-model threshold lowered, as a new version from `effective_from`."""
    text = (settings.REGISTRY_RULE_LIBRARY / "us-ca-sb53" / "2026-01-01.yaml").read_text(encoding="utf-8")
    lowered = (
        text.replace('id: "2026-01-01"', f'id: "{effective_from.isoformat()}"', 1)
        .replace("effective_from: 2026-01-01", f"effective_from: {effective_from.isoformat()}", 1)
        .replace("value: 1.0e+26", f"value: {frontier_compute}", 1)
    )
    assert lowered.count(f"value: {frontier_compute}") == 1 and lowered != text
    return lowered


@pytest.fixture
def workspace_registry(db):
    submit_workspace_registry()
    evaluate_registry()


@pytest.fixture
def agency(db):
    """A regulator: staff, with the regulator role (and so the Regulators group)."""
    ensure_role_groups()
    user = UserFactory(username="agency", is_staff=True)
    user.set_password(PASSWORD)
    user.save()
    membership_set(user=user, role="regulator", organisation=None)
    return user


@pytest.fixture
def acme_staff(db, workspace_registry):
    """A member of acme who may log in to the admin (the Lab staff group)."""
    ensure_role_groups()
    user = UserFactory(username="acme-staff", is_staff=True)
    user.set_password(PASSWORD)
    user.save()
    membership_set(user=user, role="lab", organisation=Organisation.objects.get(slug="acme"))
    return user


@pytest.fixture
def agency_client(client, agency):
    client.force_login(agency)
    return client


@pytest.fixture
def acme_client(acme_staff):
    lab_client = Client()
    lab_client.force_login(acme_staff)
    return lab_client


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keeps each phase's report on the test item, so a browser test's page can be saved when it fails."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)
