"""A declaration the submitter did not make stays undeclared (null) through import, the API and the
admin, and the tests that need it are then indeterminate rather than decided on a guessed "no"."""
from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from registry.facts import model_facts
from registry.models import AIModel
from registry.services import registry_submit
from tests.factories import ModelRecordFactory, document

pytestmark = pytest.mark.django_db

DECLARATIONS = ("primarily_biological_sequence_data", "weights_published")


def _undeclared(**facts):
    record = ModelRecordFactory(**facts)
    for name in DECLARATIONS:
        record.pop(name, None)
    return record


def test_an_undeclared_biological_declaration_stays_null_on_import():
    registry_submit(document(models=[_undeclared(name="Silent"),
                                     ModelRecordFactory(name="Declared", weights_published=True)]), via="import")
    silent, declared = AIModel.objects.get(name="Silent"), AIModel.objects.get(name="Declared")
    assert silent.primarily_biological_sequence_data is None and silent.weights_published is None
    assert declared.primarily_biological_sequence_data is False and declared.weights_published is True
    stored = silent.revisions.get().facts
    assert stored["primarily_biological_sequence_data"] is None and stored["weights_published"] is None


def test_canonical_facts_never_turn_an_undeclared_declaration_into_false():
    facts = model_facts({"name": "M", "primarily_biological_sequence_data": None, "weights_published": None})
    assert facts["primarily_biological_sequence_data"] is None and facts["weights_published"] is None
    assert model_facts({"primarily_biological_sequence_data": False})["primarily_biological_sequence_data"] is False


def test_an_export_keeps_the_declaration_undeclared():
    registry_submit(document(models=[_undeclared(name="Silent")]), via="import")
    out = io.StringIO()
    call_command("export_registry", stdout=out)
    (model,) = [m for m in json.loads(out.getvalue())["models"] if m["name"] == "Silent"]
    assert model["primarily_biological_sequence_data"] is None and model["weights_published"] is None


def test_an_undeclared_biological_model_above_1e23_is_indeterminate_under_eo_14110():
    registry_submit(document(models=[_undeclared(name="Bio", training_compute_ops="5e23")]), via="import")
    out = io.StringIO()
    call_command("evaluate", "--as-of", "2024-06-01", "--regime", "us-eo-14110", "--subject", "model:acme/Bio@1",
                 "--format", "json", stdout=out)
    (row,) = json.loads(out.getvalue())
    tests = {test["id"]: test for test in row["tests"]}
    assert row["status"] == "indeterminate"
    assert tests["model-biological"]["outcome"] == "indeterminate"
    assert tests["model-biological"]["missing"] == ["models.primarily_biological_sequence_data"]


def test_a_declared_non_biological_model_above_1e23_is_not_covered_under_eo_14110():
    registry_submit(document(models=[ModelRecordFactory(name="Text", training_compute_ops="5e23",
                                                        primarily_biological_sequence_data=False)]), via="import")
    out = io.StringIO()
    call_command("evaluate", "--as-of", "2024-06-01", "--regime", "us-eo-14110", "--subject", "model:acme/Text@1",
                 "--format", "json", stdout=out)
    (row,) = json.loads(out.getvalue())
    assert row["status"] == "not_covered"


def _change_form_data(response) -> dict[str, str]:
    """The POST body the admin's change form would send as shown."""
    data = {}
    form = response.context["adminform"].form
    for name in form.fields:
        value = form[name].value()
        if name in ("general_purpose", *DECLARATIONS):
            data[name] = {None: "unknown", True: "true", False: "false"}[value]
            continue
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            data[name] = [str(item) for item in value]
        elif isinstance(value, bool):
            data[name] = "on" if value else ""
        else:
            data[name] = str(value)
    for formset in response.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        for name in management.fields:
            data[f"{management.prefix}-{name}"] = str(management[name].value())
        for inline in formset.formset.forms:
            for name in inline.fields:
                value = inline[name].value()
                if value is not None:
                    data[inline.add_prefix(name)] = str(value)
    return data


def test_the_admin_offers_not_declared_and_a_save_keeps_it_null(admin_client_logged_in):
    registry_submit(document(models=[_undeclared(name="Silent", modalities=["text"])]), via="import")
    model = AIModel.objects.get(name="Silent")
    url = reverse("admin:registry_aimodel_change", args=[model.pk])
    page = admin_client_logged_in.get(url)
    html = page.content.decode()
    assert '<option value="unknown" selected>Not declared</option>' in html
    data = _change_form_data(page)
    assert data["primarily_biological_sequence_data"] == "unknown"
    data["notes"] = "checked by the regulator"
    response = admin_client_logged_in.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    model.refresh_from_db()
    assert model.revision == 2 and model.notes == "checked by the regulator"
    assert model.primarily_biological_sequence_data is None and model.weights_published is None
    data["weights_published"] = "false"
    assert admin_client_logged_in.post(url, data).status_code == 302
    model.refresh_from_db()
    assert model.weights_published is False and model.primarily_biological_sequence_data is None
