"""A figure given as an integer or a decimal string is kept exactly, from the interchange through
the stored facts to the determination, the API and the reports; an uncertainty above 1 (100 %) is
refused wherever facts come in, naming the field; no band's lower end is below zero."""
from __future__ import annotations

import json
import re
from datetime import date
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import ExpressionWrapper, F, TextField
from django.urls import reverse

from registry.facts import (
    FactsDecoder,
    canonical_json,
    cluster_facts,
    facts_decoded,
    facts_sha256,
    model_facts,
    organisation_facts,
)
from registry.models import AIModel, Cluster, ClusterRevision, ModelRevision, OrganisationRevision
from registry.services import registry_submit
from rules.models import Determination
from rules.models.runs import Trigger
from rules.services import run_create, run_execute_inline
from tests.api.conftest import errors_by_field
from tests.factories import ClusterRecordFactory, ModelRecordFactory, api_user, document, token_client

pytestmark = pytest.mark.django_db

AS_OF = date(2024, 6, 1)  # EO 14110 in force: model-general is "greater than 10^26"
ONE_ABOVE = 10**26 + 1  # 100000000000000000000000001
EXACTLY = 10**26


def import_text(tmp_path, text: str) -> str:
    path = tmp_path / "registry.json"
    path.write_text(text, encoding="utf-8")
    out = StringIO()
    call_command("import_registry", str(path), "--no-progress", stdout=out, stderr=StringIO())
    return out.getvalue()


def model_json(name: str, compute_literal: str, **extra: str) -> str:
    fields = "".join(f', "{key}": {value}' for key, value in extra.items())
    return (f'{{"organisation": "acme", "name": "{name}", "version": "1", "general_purpose": true, '
            f'"modalities": ["text"], "released_on": "2024-05-01", "training_compute_ops": {compute_literal}{fields}}}')


def interchange(*models: str) -> str:
    return ('{"organisations": [{"slug": "acme", "name": "Acme AI", "country": "US"}], '
            f'"models": [{", ".join(models)}], "clusters": []}}')


def stored(name: str) -> dict:
    """The latest revision's facts as the database returns them."""
    return AIModel.objects.get(name=name).revisions.order_by("-number").first().facts


def evaluate_json(ref: str) -> dict:
    out = StringIO()
    call_command("evaluate", "--as-of", AS_OF.isoformat(), "--regime", "us-eo-14110", "--subject", ref,
                 "--format", "json", stdout=out)
    (row,) = json.loads(out.getvalue())
    return row


def general(row: dict) -> dict:
    return next(test for test in row["tests"] if test["id"] == "model-general")


@pytest.mark.parametrize(("literal", "value", "outcome"), [
    ("100000000000000000000000001", ONE_ABOVE, "met"),  # a JSON integer, one operation above 1e26
    ("100000000000000000000000000", EXACTLY, "not_met"),  # exactly 1e26 is not greater than 1e26
    ('"100000000000000000000000001"', ONE_ABOVE, "met"),  # a decimal string
    ('"1.0000000000001e26"', 100000000000010000000000000, "met"),
    ("1.0000000000001e26", 100000000000010000000000000, "met"),  # a JSON number literal, read as written
    ("1e26", EXACTLY, "not_met"),
])
def test_an_imported_figure_is_stored_and_compared_exactly(tmp_path, literal, value, outcome):
    import_text(tmp_path, interchange(model_json("Exact", literal)))
    facts = stored("Exact")
    assert facts["training_compute_ops"] == value and isinstance(facts["training_compute_ops"], int)
    row = evaluate_json("model:acme/Exact@1")
    assert general(row)["outcome"] == outcome
    assert general(row)["value"] == value and general(row)["threshold"] == EXACTLY


def test_the_determination_of_record_keeps_the_exact_figure(tmp_path):
    import_text(tmp_path, interchange(model_json("Exact", "100000000000000000000000001")))
    run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=AS_OF, subjects=["model:acme/Exact@1"]))
    row = Determination.objects.get(subject_ref="model:acme/Exact@1", regime="us-eo-14110")
    payload = row.data()
    test = next(test for test in payload["tests"] if test["id"] == "model-general")
    assert (test["value"], test["threshold"], test["outcome"]) == (ONE_ABOVE, EXACTLY, "met")
    assert row.status == "covered"
    assert row.facts.data()["model"]["training_compute_ops"] == ONE_ABOVE


def test_the_facts_hash_is_the_same_however_the_database_prints_the_numbers():
    """jsonb prints 1.5e25 as 15000000000000000000000000: canonical facts keep whole numbers as ints."""
    facts = model_facts(ModelRecordFactory(name="X", training_compute_ops=1.5e25, parameter_count=4.05e11))
    assert facts["training_compute_ops"] == 15 * 10**24 and facts["parameter_count"] == 405_000_000_000
    read_back = json.loads(canonical_json(facts), cls=FactsDecoder)  # as jsonb or SQLite's text hold it
    assert facts_sha256(read_back) == facts_sha256(facts)
    legacy = json.loads(canonical_json(facts).replace("15000000000000000000000000", "1.5e+25"), cls=FactsDecoder)
    assert legacy["training_compute_ops"] == 15 * 10**24 and facts_sha256(legacy) == facts_sha256(facts)
    registry_submit(document(models=[ModelRecordFactory(name="X", training_compute_ops=1.5e25)]), via="import")
    revision = ModelRevision.objects.get(model__name="X")
    assert revision.facts["training_compute_ops"] == 15 * 10**24
    assert facts_sha256(revision.facts) == revision.facts_sha256


def _typed(value):
    """The value with every leaf's type beside it: 1 and 1.0 and True differ here, as they do in a hash."""
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return type(value).__name__, value


def test_facts_read_by_msgspec_are_what_the_facts_decoder_reads():
    """The runs read stored facts with `facts_decoded` (one msgspec decoder) rather than the field's
    `FactsDecoder`: for any JSON text, as Python writes it or as jsonb prints numbers (digits, an
    exponent, a whole number with a point), both give the same values of the same types; what msgspec
    refuses (NaN, a lone surrogate) is read by `FactsDecoder`."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    texts = st.text(st.characters(codec="utf-8"), max_size=8)
    numbers = (st.integers() | st.integers(-(2**200), 2**200) | st.floats(allow_nan=False, allow_infinity=False)
               | st.sampled_from([1.5e25, 1e26, 4.05e11, 0.4, 1.5e-7, -0.0, 9007199254740993.0, 2**64, -(2**63) - 1]))
    trees = st.recursive(st.none() | st.booleans() | texts | numbers,
                         lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
                         max_leaves=24)
    # how else a stored number may be printed: 1.5e+25, 1.5E25, 15000000000000000000000000.0
    spellings = st.sampled_from([lambda t: t, lambda t: t.replace("e+", "E"),
                                 lambda t: re.sub(r"(?<![\w.])(\d{17,})(?![\w.])", r"\1.0", t)])

    @settings(max_examples=2000, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(trees, spellings)
    def same_values(value, spelled):
        text = spelled(json.dumps(value, ensure_ascii=False))
        assert _typed(facts_decoded(text)) == _typed(json.loads(text, cls=FactsDecoder))

    same_values()
    assert facts_decoded('{"a": 1.5e+25, "b": 15000000000000000000000000.0, "c": 0.4}') == {
        "a": 15 * 10**24, "b": 15 * 10**24, "c": 0.4}
    for refused in ('{"a": NaN}', '{"a": "\\ud800 lone"}'):  # msgspec refuses both; Python's reader takes them
        assert _typed(facts_decoded(refused)) == _typed(json.loads(refused, cls=FactsDecoder))
    registry_submit(document(models=[ModelRecordFactory(name="Exact", training_compute_ops=str(ONE_ABOVE))]),
                    via="import")
    for revision in ModelRevision.objects.all():  # as the database gives the text back
        text = ModelRevision.objects.filter(pk=revision.pk).values_list(
            ExpressionWrapper(F("facts"), output_field=TextField()), flat=True).get()
        assert _typed(facts_decoded(text)) == _typed(revision.facts)
        assert facts_sha256(facts_decoded(text)) == revision.facts_sha256


def test_facts_read_back_from_a_revision_are_taken_as_they_are_with_the_fields_added_since():
    """Snapshots take a stored revision's values as `FactsDecoder` gives them (`read_back`): for every
    kind of record that is what the full conversion gives, whole figures as ints, and a field the
    revision lacks (one added since it was stored) is filled in the same."""
    registry_submit(document(
        models=[ModelRecordFactory(name="X", training_compute_ops=1.5e25, parameter_count=4.05e11),
                ModelRecordFactory(name="Exact", training_compute_ops=str(ONE_ABOVE))],
        clusters=[ClusterRecordFactory(name="Hall A")]), via="import")
    kinds = ((OrganisationRevision, organisation_facts), (ModelRevision, model_facts), (ClusterRevision, cluster_facts))
    for revision_model, convert in kinds:
        revisions = list(revision_model.objects.all())
        assert revisions
        for revision in revisions:
            assert convert(revision.facts, read_back=True) == convert(revision.facts), revision
            legacy = json.loads(canonical_json(revision.facts), cls=FactsDecoder)
            legacy.pop("source")  # as stored before the field existed
            assert convert(legacy, read_back=True) == convert(legacy)
            assert convert(legacy, read_back=True)["source"] == ""
    exact = model_facts(ModelRevision.objects.get(model__name="Exact").facts, read_back=True)
    assert exact["training_compute_ops"] == ONE_ABOVE
    assert cluster_facts(ClusterRevision.objects.get().facts, read_back=True)["groups"][0]["accelerator_count"] == 100000


def test_a_decimal_with_more_digits_than_a_double_holds_is_refused_naming_the_field(tmp_path):
    with pytest.raises(CommandError, match="1 problem"):
        import_text(tmp_path, interchange(model_json("Exact", "1e26", training_compute_uncertainty="0.12345678901234567891")))
    assert not AIModel.objects.filter(name="Exact").exists()


@pytest.mark.parametrize("uncertainty", ["1.01", '"1.5"', "2"])
def test_an_uncertainty_above_100_percent_is_refused_on_import(tmp_path, uncertainty):
    err = StringIO()
    path = tmp_path / "registry.json"
    path.write_text(interchange(model_json("Wide", "5e25", training_compute_uncertainty=uncertainty)), encoding="utf-8")
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_registry", str(path), "--no-progress", stdout=StringIO(), stderr=err)
    assert "models[0].training_compute_uncertainty: must be in [0, 1]" in err.getvalue()
    assert not AIModel.objects.filter(name="Wide").exists()


def test_an_uncertainty_of_100_percent_is_accepted_and_the_band_starts_at_zero(tmp_path):
    import_text(tmp_path, interchange(model_json("Wide", "5e25", training_compute_uncertainty="1.0")))
    row = evaluate_json("model:acme/Wide@1")
    test = general(row)
    assert (test["low"], test["value"], test["high"]) == (0, 5 * 10**25, 10**26)
    assert test["outcome"] == "not_met"  # the band's top is 1e26, not greater than 1e26


def test_the_api_keeps_a_decimal_string_exactly_and_refuses_an_uncertainty_above_1():
    registry_submit(document(), via="import")
    lab = token_client(api_user(role="lab", organisation="acme")[1])
    response = lab.post("/api/v1/models/", {"name": "Exact", "version": "1", "general_purpose": True,
                                            "training_compute_ops": "100000000000000000000000001"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["training_compute_ops"] == ONE_ABOVE
    assert stored("Exact")["training_compute_ops"] == ONE_ABOVE
    assert lab.get(response["Location"]).json()["training_compute_ops"] == ONE_ABOVE
    literal = lab.generic("POST", "/api/v1/models/", '{"name": "Literal", "version": "1", '
                          '"training_compute_ops": 1.0000000000001e26}', content_type="application/json")
    assert literal.status_code == 201, literal.content
    assert literal.json()["training_compute_ops"] == 100000000000010000000000000

    refused = lab.post("/api/v1/models/", {"name": "Wide", "version": "1", "training_compute_uncertainty": 1.01},
                       format="json")
    assert refused.status_code == 400
    assert "must be in [0, 1]" in str(errors_by_field(refused)["training_compute_uncertainty"])
    accepted = lab.post("/api/v1/models/", {"name": "Whole", "version": "1", "training_compute_uncertainty": 1.0},
                        format="json")
    assert accepted.status_code == 201, accepted.content


def _admin_form_data(response) -> dict:
    """The change form's fields as the page shows them, with its inline formsets, ready to post back."""
    data: dict = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        forms += [formset.management_form, *formset.forms]
    for form in forms:
        for name, field in form.fields.items():
            value = form[name].value()
            key = form.add_prefix(name)
            if value is None:
                continue
            if field.widget.__class__.__name__ == "NullBooleanSelect":
                data[key] = {True: "true", False: "false"}.get(value, "unknown")
            elif isinstance(value, bool):
                if value:
                    data[key] = "on"
            elif isinstance(value, (list, tuple)):
                data[key] = json.dumps(list(value)) if field.__class__.__name__ == "JSONField" else list(value)
            else:
                data[key] = value
    return data


def test_an_admin_save_keeps_an_exact_figure_and_refuses_an_uncertainty_above_1(admin_client_logged_in):
    registry_submit(document(models=[ModelRecordFactory(name="Exact", training_compute_ops=str(ONE_ABOVE),
                                                        parameter_count=None, training_tokens=None)]), via="import")
    model = AIModel.objects.get(name="Exact")
    assert model.training_compute_ops == float(ONE_ABOVE)  # the column is a float: only the facts are exact
    url = reverse("admin:registry_aimodel_change", args=[model.pk])
    page = admin_client_logged_in.get(url)
    assert "1.00000000000000000000000001e26" in page.content.decode()  # the form shows every digit, not 1e26
    data = _admin_form_data(page)
    data["notes"] = "edited in the admin"
    response = admin_client_logged_in.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert model.revisions.count() == 2
    facts = stored("Exact")
    assert facts["notes"] == "edited in the admin" and facts["training_compute_ops"] == ONE_ABOVE

    data = _admin_form_data(admin_client_logged_in.get(url))
    data["training_compute_ops"] = "1.0000000000001e26"
    assert admin_client_logged_in.post(url, data).status_code == 302
    assert stored("Exact")["training_compute_ops"] == 100000000000010000000000000

    data = _admin_form_data(admin_client_logged_in.get(url))
    data["training_compute_uncertainty"] = "1.01"
    response = admin_client_logged_in.post(url, data, follow=True)
    page = response.content.decode()
    assert response.status_code == 200 and "training_compute_uncertainty must be in [0, 1]" in page, page[-3000:]
    assert model.revisions.count() == 3  # nothing written
    assert stored("Exact")["training_compute_uncertainty"] is None


def test_the_audit_report_shows_every_digit_where_rounding_would_hide_the_difference(tmp_path):
    from reports.services import report_content, report_parameters

    import_text(tmp_path, interchange(model_json("Exact", "100000000000000000000000001")))
    run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=AS_OF, subjects=["model:acme/Exact@1"]))
    params = report_parameters(kind="audit", format="html", subject="model:acme/Exact@1", as_of=AS_OF)
    page = b"".join(report_content(kind="audit", format="html", params=params)).decode()
    assert "1.00000000000000000000000001e26 ops" in page  # the compared value, against 1e26
    assert "cumulative_training_compute_ops = 1.00000000000000000000000001e26 ops &gt; (greater than) 1e26 ops" in page


def test_an_admin_save_of_a_cluster_keeps_its_groups_exact_figures(admin_client_logged_in):
    peak = 1979000000000000001  # nineteen digits: a double would make it 1979000000000000000
    record = ClusterRecordFactory(name="Hall X")
    record["groups"][1] = {**record["groups"][1], "accelerator": None,
                           "peak_ops_per_second": {"dense_max": str(peak)}}
    registry_submit(document(clusters=[record]), via="import")
    cluster = Cluster.objects.get(name="Hall X")
    url = reverse("admin:registry_cluster_change", args=[cluster.pk])
    page = admin_client_logged_in.get(url)
    assert "1.979000000000000001e18" in page.content.decode()  # every digit, in scientific notation
    data = _admin_form_data(page)
    data["notes"] = "edited in the admin"
    response = admin_client_logged_in.post(url, data)
    assert response.status_code == 302, response.content.decode()[-3000:]
    facts = cluster.revisions.order_by("-number").first().facts
    assert facts["notes"] == "edited in the admin" and cluster.revisions.count() == 2
    assert facts["groups"][1]["peak_ops_per_second"]["dense_max"] == peak
