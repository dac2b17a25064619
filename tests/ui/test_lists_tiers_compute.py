"""The registry lists and the dashboard: the tier each subject reaches (column and filter, by the tier's
title), a model's training compute as the engine derives it (reported or estimated, with the method),
a cluster's peak capacity, and list pages whose queries do not grow with their rows."""
from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from registry.models import AIModel
from registry.services import registry_submit
from rules.engine.formatting import format_quantity
from rules.models import Determination
from tests.factories import ModelRecordFactory, OrganisationRecordFactory, document
from tests.ui.conftest import evaluate_registry

pytestmark = pytest.mark.django_db

MODELS = reverse("admin:registry_aimodel_changelist")
CLUSTERS = reverse("admin:registry_cluster_changelist")
DETERMINATIONS = reverse("admin:rules_determination_changelist")
NAME_CELL = r'<th class="field-__str__"><a href="[^"]+">([^<]+)</a></th>'


def listed(page: str) -> set[str]:
    return set(re.findall(NAME_CELL, page))


def cells(page: str, column: str) -> dict[str, str]:
    """Model or cluster name → the text of one column of its row."""
    rows = re.findall(r'<tr>\s*<td class="action-checkbox">.*?</tr>', page, re.S) or re.findall(r"<tr>.*?</tr>", page, re.S)
    found = {}
    for row in rows:
        name = re.search(NAME_CELL, row)
        cell = re.search(rf'<td class="field-{column}[^"]*">(.*?)</td>', row, re.S)
        if name and cell:
            found[name.group(1)] = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell.group(1))).strip()
    return found


def test_the_model_list_shows_the_tier_each_model_reaches_today(agency_client, workspace_registry):
    tiers = cells(agency_client.get(MODELS).content.decode(), "tier_today")
    assert "EU AI Act: GPAI model with systemic risk" in tiers["acme/Frontier@1"]
    assert "California SB 53: Frontier model" in tiers["acme/Frontier@1"]
    assert "EU AI Act: GPAI model with systemic risk" in tiers["acme/Mid@1"]
    assert "EU AI Act: General-purpose AI model" in tiers["beta/Secret@1"] or "EU AI Act: GPAI" in tiers["beta/Secret@1"]
    assert "systemic risk" not in tiers["beta/Secret@1"]
    assert tiers["acme/Small@1"] == "—"


def test_the_model_list_filters_by_tier_reached(agency_client, workspace_registry):
    page = agency_client.get(MODELS, {"tier": "eu-ai-act:gpai-systemic-risk"}).content.decode()
    assert listed(page) == {"acme/Frontier@1", "acme/Mid@1"}
    assert "EU AI Act (eu-ai-act): GPAI model with systemic risk" in page  # the filter's choice, by the tier's title
    assert listed(agency_client.get(MODELS, {"tier": "eu-ai-act:gpai"}).content.decode()) == {"beta/Secret@1"}
    assert listed(agency_client.get(MODELS, {"tier": "us-ca-sb53:frontier-model"}).content.decode()) == {"acme/Frontier@1"}
    assert listed(agency_client.get(MODELS, {"tier": "no-such-regime:gpai"}).content.decode()) == set()


def test_the_cluster_list_has_the_tier_filter_and_column(agency_client, workspace_registry):
    page = agency_client.get(CLUSTERS).content.decode()
    assert 'class="field-tier_today' in page  # no version in force today declares a tier for clusters
    assert cells(page, "tier_today")["acme/Hall A"] == "—"


def test_the_determination_list_shows_and_filters_the_tier_by_its_title(agency_client, workspace_registry):
    page = agency_client.get(DETERMINATIONS, {"tier": "eu-ai-act:gpai-systemic-risk"}).content.decode()
    expected = set(Determination.objects.filter(regime="eu-ai-act", tier="gpai-systemic-risk").values_list("sequence", flat=True))
    shown = {int(n) for n in re.findall(r'<th class="field-sequence"><a href="[^"]+">(\d+)</a>', page)}
    assert shown == expected and len(expected) == 2
    assert "GPAI model with systemic risk" in page and '<code class="quiet">gpai-systemic-risk</code>' in page
    none_page = agency_client.get(DETERMINATIONS, {"tier": "none", "regime": "eu-ai-act"}).content.decode()
    shown_none = {int(n) for n in re.findall(r'<th class="field-sequence"><a href="[^"]+">(\d+)</a>', none_page)}
    assert shown_none == set(Determination.objects.filter(regime="eu-ai-act", tier="").values_list("sequence", flat=True))


def test_the_dashboard_counts_subjects_per_tier(agency_client, workspace_registry):
    page = agency_client.get(reverse("admin:index")).content.decode()
    row = re.search(r'<tr data-regime="eu-ai-act">(.*?)</tr>', page, re.S).group(1)
    systemic = re.search(r'<div class="tier-count" data-tier="gpai-systemic-risk"><span class="tier-total">(\d+)</span>\s*([^<]+)', row)
    assert systemic.group(1) == "2" and "GPAI model with systemic risk" in systemic.group(2)
    assert f'href="{MODELS}?tier=eu-ai-act:gpai-systemic-risk"' in row
    gpai = re.search(r'<div class="tier-count" data-tier="gpai"><span class="tier-total">(\d+)</span>', row)
    assert gpai.group(1) == "1"


def submit_estimated_models() -> None:
    registry_submit(document(
        organisations=[OrganisationRecordFactory(slug="acme", name="Acme AI", annual_revenue_usd=6e8)],
        models=[
            ModelRecordFactory(organisation="acme", name="Dense"),  # 6 × 4.05e11 × 1.56e13
            ModelRecordFactory(organisation="acme", name="Experts", parameter_count=1.2e12,
                               active_parameter_count=3.7e10, training_tokens=2e13),
            ModelRecordFactory(organisation="acme", name="Metered", parameter_count=None, training_tokens=None,
                               training_hardware={"accelerator": "nvidia-h100-sxm", "accelerator_count": 16384,
                                                  "training_hours": 1300, "utilization": 0.4}),
        ],
    ), via="import")


def test_the_compute_column_is_the_engines_derived_figure_with_its_method(agency_client, workspace_registry):
    submit_estimated_models()
    evaluate_registry()
    compute = cells(agency_client.get(MODELS).content.decode(), "training_compute")
    for name in ("Dense", "Experts", "Metered", "Mid"):
        ref = f"model:acme/{name}@1"
        determination = Determination.objects.filter(subject_ref=ref, regime="eu-ai-act").last()
        test = next(t for t in determination.data()["tests"] if t["id"] == "gpai-indicative")
        assert compute[f"acme/{name}@1"].startswith(format_quantity(test["value"], "ops")), name
    assert compute["acme/Mid@1"] == "3.8e25 ops reported"
    assert compute["acme/Dense@1"] == "3.791e25 ops estimated: 6 × parameters × tokens"
    assert compute["acme/Experts@1"].startswith("4.44e24 ops estimated")  # active parameters, never total
    assert compute["acme/Metered@1"] == "3.035e25 ops estimated: accelerators × hours × peak × utilization"
    assert compute["acme/Unknown@1"] == "— neither reported nor estimable"


def test_the_compute_range_filter_counts_estimates(agency_client, workspace_registry):
    submit_estimated_models()
    page = agency_client.get(MODELS, {"compute": "3e+25-1e+26"}).content.decode()
    # Dense (3.791e25) and Metered (3.035e25) are estimates: the reported figure alone would leave them out
    assert listed(page) == {"acme/Mid@1", "acme/Dense@1", "acme/Metered@1"}
    assert listed(agency_client.get(MODELS, {"compute": "none"}).content.decode()) == {"acme/Unknown@1"}
    assert "training compute (reported or estimated)" in page


def test_a_fine_tunes_compute_is_its_own_modification_run(agency_client, workspace_registry):
    registry_submit(document(
        organisations=[OrganisationRecordFactory(slug="acme", name="Acme AI", annual_revenue_usd=6e8)],
        models=[ModelRecordFactory(organisation="acme", name="Tuned", base_model="acme/Mid@1",
                                   derivation="fine_tuning", fine_tuning_compute_ops="2e24")],
    ), via="import")
    compute = cells(agency_client.get(MODELS).content.decode(), "training_compute")
    assert compute["acme/Tuned@1"] == "2e24 ops reported"


def test_the_cluster_list_shows_peak_capacity(agency_client, workspace_registry):
    peak = cells(agency_client.get(CLUSTERS).content.decode(), "peak_capacity")
    # 102,048 H100 SXM at 1.979e15 ops/s (dense, fastest format)
    assert peak["acme/Hall A"] == format_quantity(102_048 * 1.979e15, "ops_per_second") == "2.02e20 ops/s"


@pytest.mark.parametrize("url", [MODELS, CLUSTERS, DETERMINATIONS])
def test_list_pages_make_the_same_number_of_queries_for_more_rows(agency_client, workspace_registry, url):
    with CaptureQueriesContext(connection) as few:
        assert agency_client.get(url).status_code == 200
    registry_submit(document(
        organisations=[OrganisationRecordFactory(slug="acme", name="Acme AI", annual_revenue_usd=6e8)],
        models=[ModelRecordFactory(organisation="acme", name=f"More-{i}") for i in range(8)],
    ), via="import")
    evaluate_registry()
    assert AIModel.objects.count() == 13
    with CaptureQueriesContext(connection) as many:
        assert agency_client.get(url).status_code == 200
    assert len(many) == len(few), [q["sql"][:120] for q in many.captured_queries]


def test_the_determination_page_reads_each_test_as_what_it_is(agency_client, workspace_registry):
    determination = Determination.objects.filter(subject_ref="model:acme/Mid@1", regime="us-ca-sb53").last()
    page = agency_client.get(reverse("admin:rules_determination_change", args=[determination.pk])).content.decode()
    table = re.sub(r"\s+", " ", re.search(r'<table class="determination-tests">(.*?)</table>', page, re.S).group(1))
    assert "3.8e25 ops ≤ 1e26 ops: not met (0.38 × the threshold)" in table
    assert "3.8e25 ops &gt; 1e26 ops" not in table


@pytest.mark.parametrize("trigger", ["submission", "schedule", "manual"])
def test_the_determination_list_filtered_by_trigger_reads_its_page_in_the_logs_order_from_an_index(
        agency_client, workspace_registry, trigger):
    """Whatever share of the log a trigger has, a page of its rows is read from the index on (trigger,
    sequence): neither sorted after reading all of them, nor found by walking the log past the others."""
    from tests.support.plans import listed_statement, plan_without_sorting

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's plans")
    with CaptureQueriesContext(connection) as queries:
        assert agency_client.get(DETERMINATIONS, {"trigger__exact": trigger}).status_code == 200
    plan = plan_without_sorting(listed_statement(queries.captured_queries, Determination._meta.db_table))
    assert "determination_trigger_sequence" in plan, plan
    assert "Sort" not in plan and "Filter" not in plan, plan


def test_the_determination_list_filtered_by_tier_reads_its_page_and_its_count_from_an_index(
        agency_client, workspace_registry):
    """A page of the rows reaching a tier, and the list's capped count, are read in the log's order from
    the index of the rows that reach a tier (regime, tier, sequence): never sorted after reading every
    such row, and the count never reads the rows themselves."""
    from tests.support.plans import listed_statement, plan_priced_out, plan_without_sorting

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's plans")
    with CaptureQueriesContext(connection) as queries:
        page = agency_client.get(DETERMINATIONS, {"tier": "eu-ai-act:gpai-systemic-risk"})
    assert page.status_code == 200
    assert {"model:acme/Frontier@1", "model:acme/Mid@1"} <= set(re.findall(r"model:[\w/@.-]+", page.content.decode()))
    plan = plan_without_sorting(listed_statement(queries.captured_queries, Determination._meta.db_table))
    assert "determination_tier_sequence" in plan, plan
    assert "Sort" not in plan, plan
    count = next(q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT COUNT(*) FROM (SELECT"))
    assert '"rules_determination"."tier" = ' in count, count
    counted = plan_priced_out(count, "seqscan", "bitmapscan")
    assert "Index Only Scan using determination_tier_sequence" in counted, counted
    assert "Sort" not in counted, counted


@pytest.mark.parametrize("choice", [{"tier": "eu-ai-act:gpai-systemic-risk"}, {"status": "eu-ai-act:covered"}])
def test_the_lists_filtered_by_status_or_tier_join_the_current_determinations_on_each_models_stored_ref(
        agency_client, workspace_registry, choice):
    """The models whose current determination has a status or reaches a tier are found by the subject
    ref each model keeps (`stored_subject_ref`, indexed): never by a ref computed in SQL for every model
    from its organisation's slug, name and version, which no index holds."""
    with CaptureQueriesContext(connection) as queries:
        page = agency_client.get(MODELS, choice)
    assert page.status_code == 200
    assert {"acme/Frontier@1", "acme/Mid@1"} <= listed(page.content.decode())
    filtered = [q["sql"] for q in queries.captured_queries
                if q["sql"].startswith("SELECT") and '"rules_currentdetermination"' in q["sql"]
                and '"registry_aimodel"' in q["sql"]]
    assert len(filtered) == 2, filtered  # the page and its count
    for sql in filtered:
        assert '"registry_aimodel"."stored_subject_ref" IN (SELECT' in sql, sql
        assert "||" not in sql and "CONCAT" not in sql.upper(), sql
