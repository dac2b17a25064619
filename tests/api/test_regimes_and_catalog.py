"""Regimes and their rule versions (published for everyone, drafts for regulators only) with
parameters, tests, quoted texts, citations and hashes; the accelerator catalog."""
from __future__ import annotations

import pytest
from django.conf import settings

from rules.library_store import draft_create
from rules.models import RuleVersion

pytestmark = pytest.mark.django_db

SB53 = settings.REGISTRY_RULE_LIBRARY / "us-ca-sb53" / "2026-01-01.yaml"


@pytest.fixture
def draft(world):
    text = SB53.read_text(encoding="utf-8").replace('id: "2026-01-01"', 'id: "2027-01-01-draft"', 1)
    return draft_create(content=text, origin="test draft")


def test_every_published_regime_is_listed_with_its_versions(world, lab):
    body = lab.get("/api/v1/regimes/").json()
    slugs = [r["slug"] for r in body["results"]]
    assert slugs == sorted(set(RuleVersion.objects.filter(state="published").values_list("regime", flat=True)))
    sb53 = next(r for r in body["results"] if r["slug"] == "us-ca-sb53")
    assert sb53["jurisdiction"] == "US-CA"
    assert [v["version_id"] for v in sb53["versions"]] == ["2026-01-01"]


def test_a_rule_version_shows_parameters_tests_quotes_citations_and_hash(world, lab):
    row = RuleVersion.objects.get(regime="us-ca-sb53", state="published")
    body = lab.get(f"/api/v1/regimes/us-ca-sb53/versions/{row.pk}/").json()
    assert body["content_sha256"] == row.content_sha256
    parameters = {p["id"]: p for p in body["parameters"]}
    assert parameters["frontier_compute"]["value"] == 1e26
    assert parameters["frontier_compute"]["operator"] == ">"
    tests = {t["id"]: t for t in body["tests"]}
    assert set(tests) == {"frontier-model", "frontier-developer", "large-frontier-developer"}
    assert tests["frontier-model"]["citation"]
    assert tests["frontier-model"]["quote"]["text"]
    assert body["content"] == row.content
    assert body["problems"] == []


def test_drafts_are_shown_to_regulators_only(draft, lab, regulator_api):
    url = f"/api/v1/regimes/us-ca-sb53/versions/{draft.pk}/"
    assert lab.get(url).status_code == 404
    assert regulator_api.get(url).json()["state"] == "draft"
    lab_versions = [v["id"] for v in lab.get("/api/v1/regimes/us-ca-sb53/").json()["versions"]]
    regulator_versions = [v["id"] for v in regulator_api.get("/api/v1/regimes/us-ca-sb53/").json()["versions"]]
    assert draft.pk not in lab_versions and draft.pk in regulator_versions
    drafts = regulator_api.get("/api/v1/regimes/us-ca-sb53/versions/?state=draft").json()["results"]
    assert [v["id"] for v in drafts] == [draft.pk]


def test_an_unknown_regime_is_a_404(world, lab):
    assert lab.get("/api/v1/regimes/no-such-law/").status_code == 404
    assert lab.get("/api/v1/regimes/no-such-law/versions/").status_code == 404
    assert lab.get("/api/v1/regimes/eu-ai-act/versions/999999/").status_code == 404


def test_the_catalog_lists_accelerators_with_their_figures(world, lab):
    body = lab.get("/api/v1/accelerators/nvidia-h100-sxm/").json()
    assert body["dense_max_ops_per_second"] > 1e15
    assert lab.get("/api/v1/accelerators/?vendor=NVIDIA&page_size=500").json()["count"] >= 1
    assert lab.get("/api/v1/accelerators/no-such-chip/").status_code == 404


def test_a_correction_names_the_version_whose_period_it_corrects(world, regulator_api):
    text = (settings.REGISTRY_RULE_LIBRARY / "us-eo-14110" / "2023-10-30.yaml").read_text(encoding="utf-8")
    text = (text.replace('id: "2023-10-30"', 'id: "2024-06-01-correction"', 1)
            .replace("effective_from: 2023-10-30", "effective_from: 2024-06-01", 1)
            .replace("effective_to: 2025-01-20", 'effective_to: 2024-10-01\n  corrects: "2023-10-30"', 1))
    correction = draft_create(content=text, origin="test draft")
    original = RuleVersion.objects.get(regime="us-eo-14110", version_id="2023-10-30")
    assert regulator_api.get(f"/api/v1/regimes/us-eo-14110/versions/{correction.pk}/").json()["corrects"] == "2023-10-30"
    assert regulator_api.get(f"/api/v1/regimes/us-eo-14110/versions/{original.pk}/").json()["corrects"] is None
