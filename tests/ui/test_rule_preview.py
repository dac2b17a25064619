"""A draft's impact preview judged on the right day, and a correction of a past period.

The preview takes an as-of date (by default a day of the draft's own period), compares the draft
with the published version it would replace on that day, shows what it changes in the law and what
would refuse its publication before anything else. A published correction of part of a closed
period answers for the days of that period from then on, while the determinations made under the
version it corrects stay in the decision log."""
from __future__ import annotations

import json
import re
from datetime import date
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse

from reports import selectors as report_selectors
from reports.services import record_missing_determinations
from rules.library_store import draft_create, engine_version, published_library
from rules.models import Determination, EvaluationRun, RuleVersion, StatusChange
from rules.models.runs import Trigger
from rules.previews import PreviewInputError, draft_preview, preview_as_of
from rules.selectors import current_determinations
from rules.services import rule_version_publish, run_execute_inline
from tests.ui.conftest import evaluate_registry, today

pytestmark = pytest.mark.django_db

ORIGINAL = "us-eo-14110@2023-10-30"
MID = "model:acme/Mid@1"  # 3.8e25 ops: under EO 14110's 1e26, over a corrected 1e25


def eo_draft_text(*, version_id: str, start: str, end: str, corrects: str | None = "2023-10-30",
                  general: str = "1.0e+25", drop_biological: bool = False) -> str:
    """EO 14110's published file as a draft for another period, optionally correcting the original."""
    text = (settings.REGISTRY_RULE_LIBRARY / "us-eo-14110" / "2023-10-30.yaml").read_text(encoding="utf-8")
    text = (text.replace('id: "2023-10-30"', f'id: "{version_id}"', 1)
            .replace("effective_from: 2023-10-30", f"effective_from: {start}", 1)
            .replace("effective_to: 2025-01-20", f"effective_to: {end}" + (f'\n  corrects: "{corrects}"' if corrects else ""), 1)
            .replace("value: 1.0e+26", f"value: {general}", 1))
    if drop_biological:
        text = re.sub(r"  - id: model-biological\n.*?(?=  - id: cluster\n)", "", text, count=1, flags=re.S)
        text = text.replace("reached_when: [model-general, model-biological]", "reached_when: [model-general]", 1)
    return text


def preview_url(draft: RuleVersion, as_of: str | None = None) -> str:
    url = reverse("admin:rules_ruleversion_preview", args=[draft.pk])
    return url if as_of is None else f"{url}?as_of={as_of}"


@pytest.fixture
def past_draft(agency):
    """An EO 14110 version for 2024-03-01 to 2025-01-20 (wholly in the past), correcting the original."""
    return draft_create(content=eo_draft_text(version_id="2024-03-01", start="2024-03-01", end="2025-01-20"),
                        actor=agency, origin="eo-correction.yaml")


def test_a_past_drafts_preview_is_judged_on_a_day_of_its_period_against_the_version_it_replaces(
        agency_client, workspace_registry, past_draft):
    page = agency_client.get(preview_url(past_draft)).content.decode()
    title = re.search(r'<h2 id="draft-title">(.*?)</h2>', page, re.S).group(1)
    assert title == f"us-eo-14110@2024-03-01 (draft) against {ORIGINAL}, as of 2025-01-19"
    assert "no version in force" not in page and "as of " + today().isoformat() not in title
    assert '<td class="diff-before">&gt; 1e26 ops</td><td class="diff-after">&gt; 1e25 ops</td>' in page
    rows = re.findall(r"<tr><td>(.*?)</tr>", re.search(r'<table class="changes status-changes">(.*?)</table>',
                                                      page, re.S).group(1), re.S)
    assert len(rows) == 1 and MID in rows[0] and "<code>model-general</code>: not_met → met" in rows[0]
    assert 'id="publication-blockers"' not in page and 'id="publish"' in page


def test_the_default_day_is_today_inside_the_period_and_the_first_day_before_it(agency):
    draft = engine_version(draft_create(content=eo_draft_text(version_id="x", start="2024-03-01", end="2025-01-20"),
                                        actor=agency))
    assert preview_as_of(draft, today=date(2024, 7, 1)) == date(2024, 7, 1)
    assert preview_as_of(draft, today=date(2023, 1, 1)) == date(2024, 3, 1)
    assert preview_as_of(draft, today=date(2026, 12, 4)) == date(2025, 1, 19)
    assert preview_as_of(draft, today=date(2026, 12, 4), requested="2024-06-01") == date(2024, 6, 1)


def test_a_chosen_day_before_the_originals_period_compares_with_no_version_in_force(agency_client, workspace_registry,
                                                                                    agency):
    # a draft reaching back before EO 14110 was signed replaces nothing on those days
    draft = draft_create(content=eo_draft_text(version_id="early", start="2023-06-01", end="2023-10-30", corrects=None),
                         actor=agency)
    page = agency_client.get(preview_url(draft, "2023-09-01")).content.decode()
    assert "against no version in force, as of 2023-09-01" in page
    assert "no version of us-eo-14110 is in force that day" in page
    assert 'status-not_in_force">not in force</span> → <span class="status status-covered">covered' in page


@pytest.mark.parametrize(("given", "words"), [
    ("2024-02-30", "'2024-02-30' is not a calendar date written YYYY-MM-DD"),
    ("garbage", "'garbage' is not a calendar date written YYYY-MM-DD"),
    ("20240601", "'20240601' is not a calendar date written YYYY-MM-DD"),
    ("2026-01-01", "2026-01-01 is outside the draft's period (2024-03-01 to 2025-01-20)"),
])
def test_an_as_of_the_preview_cannot_use_is_an_error_on_the_page(agency_client, workspace_registry, past_draft, given,
                                                                 words):
    response = agency_client.get(preview_url(past_draft, given))
    page = response.content.decode()
    assert response.status_code == 400
    error = re.search(r'<p class="errornote" id="preview-as-of-error">(.*?)</p>', page, re.S).group(1)
    assert error.startswith("As of: ") and words in error.replace("&#x27;", "'")
    assert "status-changes" not in page and 'id="publish"' not in page  # no preview of another day instead
    with pytest.raises(PreviewInputError) as raised:
        preview_as_of(engine_version(past_draft), today=today(), requested=given)
    assert raised.value.field == "as_of"


def test_a_chosen_day_inside_the_period_is_the_one_judged(agency_client, workspace_registry, past_draft):
    page = agency_client.get(preview_url(past_draft, "2024-06-01")).content.decode()
    assert f"against {ORIGINAL}, as of 2024-06-01" in page
    assert 'name="as_of" value="2024-06-01"' in page


def test_what_would_refuse_publication_comes_before_the_list(agency_client, workspace_registry, agency):
    # the same period without `corrects`: two versions of EO 14110 in force on the same days
    draft = draft_create(content=eo_draft_text(version_id="2024-03-01", start="2024-03-01", end="2025-01-20",
                                               corrects=None), actor=agency)
    page = agency_client.get(preview_url(draft)).content.decode()
    blockers = page.index('id="publication-blockers"')
    assert blockers < page.index('id="draft-title"') < page.index('id="status-changes-title"')
    listed = re.search(r'<ul class="lint-problems">(.*?)</ul>', page, re.S).group(1)
    assert "overlapping-versions" in listed and "2023-10-30" in listed
    assert 'id="publish"' not in page and "see the problems at the top of this page" in page


def test_a_correction_outside_the_period_it_corrects_is_refused_at_the_top(agency_client, workspace_registry, agency):
    draft = draft_create(content=eo_draft_text(version_id="late", start="2024-06-01", end="2025-06-01"), actor=agency)
    page = agency_client.get(preview_url(draft)).content.decode()
    listed = re.search(r'<ul class="lint-problems">(.*?)</ul>', page, re.S).group(1)
    assert "correction-outside-period" in listed
    assert page.index('id="publication-blockers"') < page.index('id="status-changes-title"')


def test_tests_added_and_removed_and_tiers_changed_are_shown(agency_client, workspace_registry, agency):
    draft = draft_create(content=eo_draft_text(version_id="2024-03-01", start="2024-03-01", end="2025-01-20",
                                               general="1.0e+26", drop_biological=True), actor=agency)
    page = agency_client.get(preview_url(draft)).content.decode()
    removed = re.search(r'<tr class="test-removed">(.*?)</tr>', page, re.S).group(1)
    assert "<code>model-biological</code>" in removed and "primarily_biological_sequence_data" in removed
    assert "parameter-changes" not in page  # the thresholds are the same
    tiers = re.search(r'<table class="tier-changes">(.*?)</table>', page, re.S).group(1)
    assert "<code>dual-use-foundation-model</code>" in tiers
    assert "reached when model-general, model-biological met" in tiers and "reached when model-general met" in tiers
    sb53 = (settings.REGISTRY_RULE_LIBRARY / "us-ca-sb53" / "2026-01-01.yaml").read_text(encoding="utf-8")
    sb53 = (sb53.replace('id: "2026-01-01"', 'id: "2027-01-01"', 1)
            .replace("effective_from: 2026-01-01", "effective_from: 2027-01-01", 1)
            .replace('title: "Frontier model"', 'title: "Covered frontier model"', 1))
    page = agency_client.get(preview_url(draft_create(content=sb53, actor=agency))).content.decode()
    tiers = re.search(r'<table class="tier-changes">(.*?)</table>', page, re.S).group(1)
    assert "<code>frontier-model</code>" in tiers and "Frontier model (model" in tiers
    assert "Covered frontier model (model" in tiers


def test_a_draft_with_nothing_in_force_shows_every_test_as_added(agency):
    draft = draft_create(content=eo_draft_text(version_id="early", start="2023-06-01", end="2023-10-30", corrects=None),
                         actor=agency)
    preview = draft_preview(draft=draft, as_of=date(2023, 9, 1))
    assert preview.current is None
    assert [t["id"] for t in preview.differences.tests_added] == ["model-general", "model-biological", "cluster"]


def test_publishing_a_correction_of_a_past_period_keeps_both_in_the_decision_log(workspace_registry, agency):
    evaluate_registry(as_of=date(2024, 7, 1))
    before = Determination.objects.get(subject_ref=MID, regime="us-eo-14110", as_of=date(2024, 7, 1))
    assert (before.rule_version_label, before.status) == ("2023-10-30", "not_covered")
    draft = draft_create(content=eo_draft_text(version_id="2024-06-01-correction", start="2024-06-01",
                                               end="2024-10-01"), actor=agency)
    run = rule_version_publish(version=draft, actor=agency)
    assert run.as_of == date(2024, 9, 30)  # the last day of the corrected period, not today
    run_execute_inline(run)
    change = StatusChange.objects.get(run=run, subject_ref=MID, regime="us-eo-14110")
    assert (change.from_status, change.to_status) == ("not_covered", "covered")
    after = Determination.objects.get(run=run, subject_ref=MID, regime="us-eo-14110")
    assert (after.rule_version_label, after.status) == ("2024-06-01-correction", "covered")
    assert Determination.objects.filter(pk=before.pk, status="not_covered").exists()  # never replaced

    # the library: the correction on its days, the original around them
    library = published_library()
    assert library.in_force("us-eo-14110", date(2024, 7, 1)).version_id == "2024-06-01-correction"
    assert library.in_force("us-eo-14110", date(2024, 5, 31)).version_id == "2023-10-30"
    assert library.in_force("us-eo-14110", date(2024, 10, 1)).version_id == "2023-10-30"

    # "as of 2024-07-01" now: the workspace's current statuses read the correction's rows only, so
    # the original's row of that day is no longer the answer (none is, until one is recorded)
    assert not current_determinations(as_of=date(2024, 7, 1), subject_refs=[MID]).filter(regime="us-eo-14110")
    assert current_determinations(as_of=date(2024, 9, 30), subject_refs=[MID]).get(regime="us-eo-14110").pk == after.pk

    # a report as of 2024-07-01 records a determination under the correction first, and reads it
    assert report_selectors.subjects_without_determination(as_of=date(2024, 7, 1), subject_refs=[MID]) == [MID]
    notes = record_missing_determinations(kind="audit", params={"subject": MID, "as_of": "2024-07-01"})
    assert notes and "under a version since corrected or replaced" in notes[0]
    of_record = {row.regime: row for row in report_selectors.determinations_of_record(
        as_of=date(2024, 7, 1), subject_refs=[MID])}["us-eo-14110"]
    assert (of_record.rule_version_label, of_record.status) == ("2024-06-01-correction", "covered")
    as_of_rows = Determination.objects.filter(subject_ref=MID, regime="us-eo-14110", as_of=date(2024, 7, 1))
    assert sorted(as_of_rows.values_list("rule_version_label", "status")) == [
        ("2023-10-30", "not_covered"), ("2024-06-01-correction", "covered")]
    assert report_selectors.subjects_without_determination(as_of=date(2024, 7, 1), subject_refs=[MID]) == []
    assert current_determinations(as_of=date(2024, 7, 1), subject_refs=[MID]).get(regime="us-eo-14110") == of_record

    # the command answers with the version in force on the day, as corrected
    out = StringIO()
    call_command("evaluate", "--as-of", "2024-07-01", "--regime", "us-eo-14110", "--subject", MID, "--format", "json",
                 stdout=out)
    assert [(row["rule_version"], row["status"]) for row in json.loads(out.getvalue())] == [
        ("2024-06-01-correction", "covered")]
    out = StringIO()
    call_command("evaluate", "--as-of", "2024-10-01", "--regime", "us-eo-14110", "--subject", MID, "--format", "json",
                 stdout=out)
    assert [(row["rule_version"], row["status"]) for row in json.loads(out.getvalue())] == [
        ("2023-10-30", "not_covered")]


def test_a_versions_publication_run_is_as_of_today_while_it_is_in_force(workspace_registry, agency):
    from tests.ui.conftest import sb53_draft_text

    draft = draft_create(content=sb53_draft_text(effective_from=today()), actor=agency)
    run = rule_version_publish(version=draft, actor=agency)
    assert run.as_of == today() and EvaluationRun.objects.get(kind=Trigger.PUBLICATION) == run


def test_the_command_previews_a_draft_as_of_a_day_of_its_period(workspace_registry, past_draft):
    out = StringIO()
    call_command("rules", "preview", "us-eo-14110", "2024-03-01", "--format", "json", stdout=out)
    shown = json.loads(out.getvalue())
    assert (shown["as_of"], shown["replaces"]["version"], shown["corrects"], shown["blockers"]) == (
        "2025-01-19", "2023-10-30", "2023-10-30", [])
    assert shown["parameters"] == [{"parameter": "model_compute_general", "current": "> 1e26 ops",
                                    "draft": "> 1e25 ops", "citation": "EO 14110 §4.2(b)(i)"}]
    assert [(c["subject_ref"], c["from_status"], c["to_status"]) for c in shown["changes"] if c["status_changed"]] == [
        (MID, "not_covered", "covered")]
    out = StringIO()
    call_command("rules", "preview", "us-eo-14110", "2024-03-01", "--as-of", "2024-06-01", stdout=out)
    text = out.getvalue()
    assert text.startswith(f"us-eo-14110@2024-03-01 (draft) against {ORIGINAL}, as of 2024-06-01\n")
    assert "parameter model_compute_general: > 1e26 ops -> > 1e25 ops" in text
    assert f"{MID}: not_covered -> covered (model-general: not_met -> met)" in text
    assert Determination.objects.filter(trigger="manual").count() == 0  # a preview records nothing


@pytest.mark.parametrize(("arguments", "words"), [
    (["--as-of", "garbage"], "--as-of: 'garbage' is not a calendar date written YYYY-MM-DD"),
    (["--as-of", "2026-01-01"], "--as-of: 2026-01-01 is outside the draft's period"),
])
def test_the_command_refuses_an_as_of_it_cannot_use(workspace_registry, past_draft, arguments, words):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=re.escape(words)):
        call_command("rules", "preview", "us-eo-14110", "2024-03-01", *arguments, stdout=StringIO())


def test_the_command_names_a_draft_it_cannot_find(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no draft us-eo-14110@nothing"):
        call_command("rules", "preview", "us-eo-14110", "nothing", stdout=StringIO())


def test_a_published_correction_says_what_it_corrects_in_the_workspace(agency_client, workspace_registry, agency):
    correction = draft_create(content=eo_draft_text(version_id="2024-06-01-correction", start="2024-06-01",
                                                    end="2024-10-01"), actor=agency)
    rule_version_publish(version=correction, actor=agency)
    page = agency_client.get(reverse("admin:rules_ruleversion_change", args=[correction.pk])).content.decode()
    assert f"{ORIGINAL}, for the period above" in page
    original = RuleVersion.objects.get(regime="us-eo-14110", version_id="2023-10-30")
    page = agency_client.get(reverse("admin:rules_ruleversion_change", args=[original.pk])).content.decode()
    assert f"{ORIGINAL}, for the period above" not in page


def test_rules_show_and_list_name_what_a_correction_corrects(tmp_path, settings):
    """The command reads the library files: a correction is listed with what it corrects."""
    from shutil import copytree

    root = tmp_path / "library"
    copytree(settings.REGISTRY_RULE_LIBRARY, root)
    (root / "us-eo-14110" / "fix.yaml").write_text(
        eo_draft_text(version_id="fix", start="2024-06-01", end="2024-10-01"), encoding="utf-8")
    settings.REGISTRY_RULE_LIBRARY = root
    out = StringIO()
    call_command("rules", "list", stdout=out)
    correcting = [line for line in out.getvalue().splitlines() if "corrects" in line]
    assert len(correcting) == 1 and correcting[0].startswith("us-eo-14110        fix ")
    assert correcting[0].endswith("corrects 2023-10-30")
    out = StringIO()
    call_command("rules", "show", "us-eo-14110", stdout=out)  # the latest to take effect is not the correction
    assert f"[{ORIGINAL}]" in out.getvalue()
    out = StringIO()
    call_command("rules", "show", "us-eo-14110", "fix", stdout=out)
    assert f"corrects {ORIGINAL} for that period" in out.getvalue()
