"""The rules engine from the command line: evaluate's JSON contract, rules list/show/lint, headroom,
and draft previews over the stored registry."""
from __future__ import annotations

import io
import json
import shutil
from datetime import date

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from registry.services import registry_submit
from rules.library_store import draft_create
from rules.models import Determination
from rules.previews import draft_preview
from tests.factories import ClusterRecordFactory, ModelRecordFactory, document

pytestmark = pytest.mark.django_db

CONTRACT_TEST_KEYS = {"id", "outcome", "quantity", "value", "operator", "threshold", "citation", "missing"}


def run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def registry():
    registry_submit(document(
        models=[
            ModelRecordFactory(name="Above", training_compute_ops="1.0000001e26"),
            ModelRecordFactory(name="Exactly", training_compute_ops="1e26"),
            ModelRecordFactory(name="Llama-like", training_compute_ops="3.8e25", general_purpose=True),
            ModelRecordFactory(name="Unknown", parameter_count=None, training_tokens=None),
        ],
        clusters=[ClusterRecordFactory(name="Hall")],
    ), via="import")


def evaluate_json(*args):
    return json.loads(run("evaluate", "--format", "json", *args))


def test_evaluate_json_has_the_design_contract_fields(registry):
    (row,) = evaluate_json("--as-of", "2024-06-01", "--regime", "us-eo-14110", "--subject", "model:acme/Above@1")
    assert row["subject"] == {"kind": "model", "organisation": "acme", "name": "Above", "version": "1"}
    assert row["regime"] == "us-eo-14110" and row["rule_version"] == "2023-10-30"
    assert len(row["rule_hash"]) == 64 and row["as_of"] == "2024-06-01"
    assert row["status"] == "covered"
    assert {t["id"] for t in row["tests"]} == {"model-general", "model-biological"}
    for test in row["tests"]:
        assert set(test) >= CONTRACT_TEST_KEYS
    general = next(t for t in row["tests"] if t["id"] == "model-general")
    assert (general["outcome"], general["operator"], general["threshold"]) == ("met", ">", 10**26)
    assert general["citation"].startswith("EO 14110")


def test_model_at_exactly_1e26_is_not_greater_than_1e26(registry):
    (row,) = evaluate_json("--as-of", "2024-06-01", "--regime", "us-eo-14110", "--subject", "model:acme/Exactly@1")
    assert row["status"] == "not_covered"


def test_the_day_eo_14110_was_revoked_it_is_not_in_force(registry):
    rows = evaluate_json("--as-of", "2025-01-20", "--regime", "us-eo-14110", "--subject", "model:acme/Above@1")
    assert [r["status"] for r in rows] == ["not_in_force"]
    rows = evaluate_json("--as-of", "2025-01-19", "--regime", "us-eo-14110", "--subject", "model:acme/Above@1")
    assert [r["status"] for r in rows] == ["covered"]


def test_missing_facts_are_named(registry):
    (row,) = evaluate_json("--as-of", "2024-06-01", "--regime", "us-eo-14110", "--subject", "model:acme/Unknown@1")
    assert row["status"] == "indeterminate"
    general = next(t for t in row["tests"] if t["id"] == "model-general")
    assert "models.training_tokens" in general["missing"]


def test_whole_registry_gives_one_object_per_subject_and_regime(registry):
    rows = evaluate_json("--as-of", "2026-06-01")
    subjects = {json.dumps(r["subject"], sort_keys=True) for r in rows}
    regimes = {r["regime"] for r in rows}
    assert len(regimes) == 6
    assert len(rows) == len(subjects) * len(regimes)


def test_table_format_is_fit_for_a_terminal(registry):
    text = run("evaluate", "--as-of", "2024-06-01", "--regime", "us-eo-14110", "--subject", "model:acme/Above@1")
    header, line = text.splitlines()[:2]
    assert header.split()[:4] == ["SUBJECT", "REGIME", "VERSION", "STATUS"]
    assert "covered" in line and "1e26" in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as-of", "2024-02-30"], "not a date"),
        (["--as-of", "2024-06-01", "--regime", "us-nowhere"], "unknown regime"),
        (["--as-of", "2024-06-01", "--subject", "model:acme/Nope@1"], "unknown subject"),
        (["--as-of", "2024-06-01", "--subject", "acme/Above"], "is not a subject"),
    ],
)
def test_evaluate_refuses_bad_input_with_a_message(registry, args, message):
    with pytest.raises(CommandError, match=message):
        run("evaluate", *args)


def test_evaluate_record_writes_determinations_that_verify(registry):
    assert Determination.objects.count() == 0
    run("evaluate", "--as-of", "2024-06-01", "--subject", "model:acme/Above@1", "--record")
    assert Determination.objects.filter(subject_ref="model:acme/Above@1").count() == 6
    assert "intact" in run("verify_log")


def test_rules_list_show_and_lint():
    listing = run("rules", "list")
    for slug in ("us-eo-14110", "us-bis-702-nprm", "eu-ai-act", "us-ca-sb53", "us-ny-raise", "us-ca-sb1047"):
        assert slug in listing
    shown = run("rules", "show", "us-eo-14110")
    assert "greater than 10^26 integer or floating-point operations" in shown
    assert "cluster_compute_capacity: >= 1e20 ops/s" in shown
    assert "rule library clean" in run("rules", "lint")


def test_rules_lint_fails_on_a_library_with_an_uncited_test(settings, tmp_path):
    library = tmp_path / "library"
    shutil.copytree(settings.REGISTRY_RULE_LIBRARY, library)
    path = library / "us-ca-sb53" / "2026-01-01.yaml"
    rule = yaml.safe_load(path.read_text())
    rule["tests"][0]["citation"] = None
    path.write_text(yaml.safe_dump(rule, sort_keys=False))
    (library / "PUBLISHED.lock").unlink()
    settings.REGISTRY_RULE_LIBRARY = library
    with pytest.raises(CommandError):
        run("rules", "lint")


def test_an_edited_published_rule_file_is_refused(settings, tmp_path):
    library = tmp_path / "library"
    shutil.copytree(settings.REGISTRY_RULE_LIBRARY, library)
    path = library / "us-eo-14110" / "2023-10-30.yaml"
    path.write_text(path.read_text().replace("value: 1.0e+26", "value: 1.0e+25", 1))
    settings.REGISTRY_RULE_LIBRARY = library
    with pytest.raises(CommandError, match="immutable"):
        run("rules", "list")


def test_headroom_of_a_model_in_h100_hours_and_the_token_sum(registry):
    text = run("headroom", "model:acme/Llama-like@1", "--as-of", "2026-06-01")
    assert "us-ca-sb53/frontier-model" in text and "6.2e25 ops to go" in text
    rows = json.loads(run("headroom", "--tokens", "30e12", "--as-of", "2026-06-01", "--format", "json"))
    sb53 = next(r for r in rows if r["regime"] == "us-ca-sb53")
    assert sb53["max_dense_parameters"] == pytest.approx(5.556e11, rel=1e-3)


def test_headroom_of_a_cluster_counts_accelerators_to_add(registry):
    rows = json.loads(run("headroom", "cluster:acme/Hall", "--as-of", "2024-06-01", "--format", "json"))
    (row,) = rows
    assert row["already_above"] is True  # 102,048 H100 at 1.979e15 ops/s dense INT8 ≥ 1e20


def test_draft_lowering_a_threshold_previews_who_would_change(registry, settings):
    text = (settings.REGISTRY_RULE_LIBRARY / "us-ca-sb53" / "2026-01-01.yaml").read_text()
    text = text.replace("value: 1.0e+26", "value: 1.0e+25", 1).replace('id: "2026-01-01"', 'id: "2027-02-01"')
    text = text.replace("effective_from: 2026-01-01", "effective_from: 2027-02-01")
    draft = draft_create(content=text, origin="test draft")
    preview = draft_preview(draft=draft, as_of=date(2027, 2, 1))
    changed = {c["subject_ref"]: (c["from_status"], c["to_status"]) for c in preview.status_changes}
    assert changed["model:acme/Llama-like@1"] == ("not_covered", "covered")
    assert "model:acme/Unknown@1" not in changed
    assert Determination.objects.count() == 0  # a preview writes nothing of record
