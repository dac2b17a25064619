"""Library files not in PUBLISHED.lock (texts whose enactment or wording is not verified) reach the
workspace as drafts: never used for a determination of record, previewed and published there by a
regulator once verified."""
from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from rules.engine.library import load_library, read_lock
from rules.library_store import published_library, sync_library_files
from rules.models import RuleVersion
from rules.models.rule_version import RuleVersionState
from rules.services import rule_version_publish

pytestmark = pytest.mark.django_db

DRAFT_REGIMES = {"kr-ai-basic-act", "us-ct-sb5", "us-il-sb315", "us-bis-4e091", "us-ca-ab222"}


def test_every_unlocked_library_file_is_a_workspace_draft(settings):
    library = load_library(settings.REGISTRY_RULE_LIBRARY)
    unlocked = {(v.regime_slug, v.version_id) for v in library if not v.published}
    assert {slug for slug, _ in unlocked} >= DRAFT_REGIMES
    drafts = set(RuleVersion.objects.filter(state=RuleVersionState.DRAFT).values_list("regime", "version_id"))
    assert unlocked <= drafts
    assert not DRAFT_REGIMES & set(published_library().regimes())
    assert not DRAFT_REGIMES & {path.split("/")[0] for path in read_lock(settings.REGISTRY_RULE_LIBRARY)}


def test_a_library_draft_is_synchronised_once():
    before = RuleVersion.objects.count()
    added, _present = sync_library_files()
    assert added == 0 and RuleVersion.objects.count() == before


def test_a_regulator_previews_and_publishes_a_library_draft_which_then_applies(admin_client_logged_in, regulator):
    draft = RuleVersion.objects.get(regime="us-bis-4e091", state=RuleVersionState.DRAFT)
    assert published_library().in_force("us-bis-4e091", date(2025, 6, 1)) is None
    page = admin_client_logged_in.get(reverse("admin:rules_ruleversion_preview", args=[draft.pk]))
    assert page.status_code == 200 and "us-bis-4e091" in page.content.decode()
    rule_version_publish(version=draft, actor=regulator)
    draft.refresh_from_db()
    assert draft.is_published and draft.published_by == regulator
    version = published_library().in_force("us-bis-4e091", date(2025, 6, 1))
    assert version is not None and version.version_id == "2025-01-13" and version.legal_status == "not-enforced"
    added, _present = sync_library_files()  # the next migrate neither re-drafts nor re-publishes it
    assert added == 0
    assert RuleVersion.objects.filter(regime="us-bis-4e091").count() == 1


def test_a_draft_without_an_effective_date_is_never_in_force_once_published_as_written(regulator):
    draft = RuleVersion.objects.get(regime="us-ca-ab222", state=RuleVersionState.DRAFT)
    assert draft.effective_from is None and draft.legal_status == "proposed"
    rule_version_publish(version=draft, actor=regulator)
    assert published_library().in_force("us-ca-ab222", date(2026, 6, 1)) is None
