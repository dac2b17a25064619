"""Every test id, tier and status an audit report prints comes from the rule file (or the
vocabulary) behind the determination it prints: checked over the whole demo registry on a date
when a designation, a subject that does not exist yet and the amended RAISE Act are all in play."""
from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path

import pytest
from django.core.management import call_command

from reports.services import report_content, report_parameters
from rules.engine.vocabulary import Status
from rules.library_store import engine_version
from rules.models import Determination
from rules.services import run_create, run_execute_inline
from rules.subjects import snapshots_for

pytestmark = pytest.mark.django_db

AS_OF = date(2027, 1, 15)
DEMO = Path(__file__).resolve().parents[2] / "registry" / "demo" / "registry.json"
SECTION = re.compile(r'<h2>([a-z0-9-]+): <span class="status status-([a-z_]+)">')
SUMMARY = re.compile(r'<tr><td><a href="#[^"]*">([a-z0-9-]+)</a></td><td><span class="status status-([a-z_]+)">'
                     r'.*?</td><td>([^<]*)</td>')
TIER = re.compile(r"Tier reached: <code>([^<]+)</code>")
TEST = re.compile(r"<h3>Test ([^:]+):")


def audit(ref: str) -> str:
    params = report_parameters(kind="audit", format="html", subject=ref, as_of=AS_OF, generated_at="2027-01-15T12:00:00Z")
    return b"".join(report_content(kind="audit", format="html", params=params)).decode()


def test_every_test_id_tier_and_status_printed_is_in_the_rule_file_it_comes_from():
    call_command("import_registry", str(DEMO), "--no-progress", "--via", "demo", stdout=io.StringIO())
    run_execute_inline(run_create(kind="manual", as_of=AS_OF))
    refs = [item.key.ref for item in snapshots_for(None)]
    statuses = {status.value for status in Status}
    seen_tiers, seen_statuses = set(), set()
    for ref in refs:
        page = audit(ref)
        rows = {row.regime: row for row in Determination.objects.filter(subject_ref=ref, as_of=AS_OF)
                .select_related("rule_version").order_by("sequence")}  # the latest row of each regime
        sections = page.split("<h2>")[1:]
        assert sections, ref
        for regime, status, deciding in SUMMARY.findall(page):
            assert status in statuses, (ref, regime, status)
            version = rows[regime].rule_version
            if deciding != "—":
                assert deciding in {test.id for test in engine_version(version).tests}, (ref, regime, deciding)
        for section in sections:
            found = SECTION.match("<h2>" + section)
            if not found:
                continue  # not a regime's section
            regime, status = found.groups()
            row = rows[regime]
            assert status == row.status and status in statuses, (ref, regime, status)
            seen_statuses.add(status)
            printed_tests, printed_tiers = TEST.findall(section), TIER.findall(section)
            if row.rule_version is None:
                assert (status, printed_tests, printed_tiers) == ("not_in_force", [], []), (ref, regime)
                continue
            version = engine_version(row.rule_version)
            assert set(printed_tests) <= {test.id for test in version.tests_for(row.subject_kind)}, (ref, regime)
            assert set(printed_tiers) <= {tier.id for tier in version.tiers_for(row.subject_kind)}, (ref, regime)
            assert printed_tiers == ([row.tier] if row.tier else []), (ref, regime)
            seen_tiers.update(printed_tiers)
    # the date was chosen so that the check is not empty: these are all printed somewhere
    assert {"covered", "not_covered", "not_applicable", "not_in_force"} <= seen_statuses
    assert {"gpai", "gpai-systemic-risk"} <= seen_tiers
