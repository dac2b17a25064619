"""The mapping's tables are the one declaration of a record's fields: the interchange validators, the
API's responses, the export and the benchmark's synthetic records all have exactly its fields, in its
order, for every record kind; a field added to a table alone is refused."""
from __future__ import annotations

import copy

import pytest
from django.core.exceptions import ImproperlyConfigured

from api.serializers import registry as out
from bench.synthetic import document as synthetic_document
from registry import interchange, mapping
from registry.mapping import Field, fact_names
from registry.selectors import registry_export
from tests.factories import (
    ClusterRecordFactory,
    ModelRecordFactory,
    OrganisationRecordFactory,
    api_user,
    submit,
    token_client,
)

KINDS = sorted(mapping.TABLES)
OUTPUT = {"organisation": out.OrganisationOut, "model": out.ModelOut, "hardware": out.HardwareOut,
          "cluster": out.ClusterOut, "group": out.GroupOut, "peak": out.PeakOut, "link": out.LinkOut}
NOT_FACTS = {"id", "ref", *out.RecordMeta().fields}  # what a response adds to the record's facts
# Where each nested record of a kind sits: (kind of the record, its field, kind of the nested record).
NESTED = [("model", "training_hardware", "hardware"), ("cluster", "groups", "group"),
          ("cluster", "links", "link"), ("group", "peak_ops_per_second", "peak")]


def test_every_record_kind_has_a_validator_and_a_response():
    assert set(interchange.RECORDS) == set(mapping.TABLES) == set(OUTPUT)


@pytest.mark.parametrize("kind", KINDS)
def test_the_validator_checks_exactly_the_mapped_fields_in_order(kind):
    validator = interchange.RECORDS[kind]
    assert validator.table is mapping.TABLES[kind]
    assert tuple(validator().fields) == fact_names(mapping.TABLES[kind])


@pytest.mark.parametrize("kind", KINDS)
def test_the_response_shows_exactly_the_mapped_fields_in_order(kind):
    shown = tuple(name for name in OUTPUT[kind]().fields if name not in NOT_FACTS)
    assert shown == fact_names(mapping.TABLES[kind])


def test_a_field_added_to_a_table_alone_is_refused_by_the_validator():
    grown = mapping.PEAK + (Field("dense_8bit", "peak_dense_8bit_ops_per_second"),)
    fields = copy.deepcopy(interchange.PeakFigures._declared_fields)
    with pytest.raises(ImproperlyConfigured, match=r"PeakFigures must validate .*lacks \['dense_8bit'\]"):
        type("PeakFigures", (interchange.MappedRecord,), {"table": grown, **fields, "__module__": __name__})


def test_a_validator_field_missing_from_the_table_is_refused():
    fields = copy.deepcopy(interchange.LinkRecord._declared_fields)
    with pytest.raises(ImproperlyConfigured, match=r"LinkRecord must validate .*adds \['gbps'\]"):
        type("LinkRecord", (interchange.MappedRecord,), {"table": mapping.LINK[:2], **fields, "__module__": __name__})


def test_a_validator_in_another_order_than_its_table_is_refused():
    fields = copy.deepcopy(interchange.LinkRecord._declared_fields)
    with pytest.raises(ImproperlyConfigured, match="orders them differently"):
        type("LinkRecord", (interchange.MappedRecord,),
             {"table": tuple(reversed(mapping.LINK)), **fields, "__module__": __name__})


def test_a_request_body_that_redeclares_fields_keeps_the_mapped_set():
    with pytest.raises(ImproperlyConfigured, match=r"adds \['nickname'\]"):
        type("OrganisationRename", (interchange.OrganisationRecord,),
             {"nickname": interchange.Name(required=False), "__module__": __name__})


def test_a_response_for_a_table_its_validator_does_not_match_is_refused(monkeypatch):
    monkeypatch.setitem(mapping.TABLES, "link", mapping.LINK + (Field("latency_us", "latency_us"),))
    with pytest.raises(ImproperlyConfigured, match=r"lacks \['latency_us'\]"):
        out.fact_output("LinkOut", "link")


def _full_records():
    model = ModelRecordFactory(
        organisation="acme", name="Acme-1", active_parameter_count=4e10, training_compute_ops=3e25,
        training_compute_uncertainty=0.1, training_compute_cost_usd=5e7, training_completed_on="2024-07-01",
        source="model card", notes="a note",
        training_hardware={"accelerator": "nvidia-h100-sxm", "accelerator_count": 16384, "training_hours": 1300,
                           "utilization": 0.4},
    )
    derived = ModelRecordFactory(organisation="acme", name="Acme-1-tuned", base_model="acme/Acme-1@1",
                                 derivation="fine_tuning", fine_tuning_compute_ops=1e22)
    cluster = ClusterRecordFactory(organisation="acme", name="Hall A", source="filing", notes="n")
    cluster["groups"].append({"name": "own", "datacenter": "dc-2", "accelerator": None, "accelerator_count": 16,
                              "peak_ops_per_second": {"dense_max": 2e15, "dense_16bit": 1e15, "sparse_max": 4e15}})
    organisation = OrganisationRecordFactory(slug="acme", name="Acme AI", source="annual report")
    return [organisation], [model, derived], [cluster]


def _assert_mapped_everywhere(kind, record):
    """The record (a dict of facts) and each nested record in it have exactly their table's fields, in order."""
    assert tuple(name for name in record if name not in NOT_FACTS) == fact_names(mapping.TABLES[kind])
    for outer, field, inner in NESTED:
        if outer != kind or record[field] is None:
            continue
        for item in record[field] if isinstance(record[field], list) else [record[field]]:
            _assert_mapped_everywhere(inner, item)


@pytest.mark.django_db
def test_the_export_writes_exactly_the_mapped_fields_of_every_record_kind():
    organisations, models, clusters = _full_records()
    submit(organisations=organisations, models=models, clusters=clusters)
    exported = registry_export()
    for section, kind in (("organisations", "organisation"), ("models", "model"), ("clusters", "cluster")):
        assert exported[section]
        for record in exported[section]:
            _assert_mapped_everywhere(kind, record)
    hall = exported["clusters"][0]
    assert [group["peak_ops_per_second"] is not None for group in hall["groups"]] == [False, False, True]
    assert exported["models"][0]["training_hardware"] is not None


@pytest.mark.django_db
def test_the_api_responds_with_exactly_the_mapped_fields_of_every_record_kind():
    organisations, models, clusters = _full_records()
    submit(organisations=organisations, models=models, clusters=clusters)
    _user, token = api_user(role="regulator")
    client = token_client(token)
    for route, kind in (("organisations", "organisation"), ("models", "model"), ("clusters", "cluster")):
        response = client.get(f"/api/v1/{route}/")
        assert response.status_code == 200, response.content
        body = response.json()
        records = body["results"] if isinstance(body, dict) else body
        assert records
        for record in records:
            _assert_mapped_everywhere(kind, record)


def test_the_synthetic_records_have_exactly_the_mapped_fields_and_are_valid():
    doc = synthetic_document(models=60, clusters=20, seed=7)
    for section, kind in (("organisations", "organisation"), ("models", "model"), ("clusters", "cluster")):
        for record in doc[section]:
            _assert_mapped_everywhere(kind, record)
    _cleaned, problems = interchange.validate_records(doc)
    assert problems == []
    kinds_drawn = {(m["training_hardware"] is not None, m["base_model"] is not None) for m in doc["models"]}
    assert {(True, False), (False, True)} <= kinds_drawn  # nested hardware and derived models were both drawn


ADMIN_FORMS = [("organisation", "Organisation", None), ("model", "AIModel", None), ("cluster", "Cluster", None),
               ("group", "Cluster", "AcceleratorGroup"), ("link", "Cluster", "NetworkLink")]


def _columns(kind):
    """The row attributes the kind's facts are stored in (a nested record's own columns included)."""
    columns = []
    for field in mapping.TABLES[kind]:
        nested = mapping.NESTED.get((kind, field.fact))
        if nested is not None:
            columns += [sub.column for sub in nested]
        elif field.column is not None:
            columns.append(field.column)
    return columns


@pytest.mark.django_db
@pytest.mark.parametrize(("kind", "model_name", "inline_model"), ADMIN_FORMS)
def test_the_admin_form_edits_every_mapped_column(kind, model_name, inline_model, rf, regulator):
    from django.apps import apps
    from django.contrib import admin
    from django.contrib.admin.utils import flatten_fieldsets

    request = rf.get("/")
    request.user = regulator
    model_admin = admin.site._registry[apps.get_model("registry", model_name)]
    if inline_model is None:
        editable = flatten_fieldsets(model_admin.get_fieldsets(request))
    else:
        inline = next(i for i in model_admin.get_inline_instances(request) if i.model.__name__ == inline_model)
        editable = flatten_fieldsets(inline.get_fieldsets(request))
    editable = set(editable) - set(model_admin.get_readonly_fields(request))
    assert [column for column in _columns(kind) if column not in editable] == []
