"""The catalogue of hostile and malformed input: each case is refused with a clear 4xx (or a non-zero
exit, or a rule-file error) naming the problem, never a 5xx, and nothing is stored.

The catalogue is the tables below; a new kind of bad input is one more row. The API cases go through
the real URL routing, middleware, parser and validation; the import cases through `import_registry`;
the rule-file cases through `draft_create` (the admin's upload) and `rules lint`.
"""
from __future__ import annotations

import html
import json
import shutil
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from rules.engine import RuleFileErrors
from rules.library_store import draft_create
from rules.models import RuleVersion
from tests.security.conftest import row_counts

pytestmark = pytest.mark.django_db

MODELS, CLUSTERS, ORGANISATION, EVALUATIONS = "/api/v1/models/", "/api/v1/clusters/", "/api/v1/organisations/acme/", \
    "/api/v1/evaluations/"
REPORTS = "/api/v1/reports/"
JSON = "application/json"
GROUP = {"name": "a", "datacenter": "dc-1", "accelerator": "nvidia-h100-sxm", "accelerator_count": 8}


def model(**fields: Any) -> str:
    return json.dumps({"name": "Hostile", "version": "1", **fields})


def model_raw(field_name: str, literal: str) -> str:
    """A model body whose `field_name` holds `literal` as written (NaN, 1e400, ...: not what json.dumps writes)."""
    return f'{{"name": "Hostile", "version": "1", "{field_name}": {literal}}}'


def audit(**fields: Any) -> str:
    return json.dumps({"kind": "audit", "format": "html", "as_of": "2026-03-01", **fields})


def nested(depth: int, opening: str = "[", closing: str = "]", inner: str = "1") -> str:
    return opening * depth + inner + closing * depth


@dataclass(frozen=True)
class Case:
    id: str
    body: str | bytes
    status: int
    field: str | None  # the field the error names; None: the request as a whole
    message: str  # found in that field's message
    url: str = MODELS
    method: str = "POST"
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)


API_CATALOGUE = [
    # wrong types
    Case("name-is-a-number", model(name=5), 400, "name", "must be a string, got 5"),
    Case("name-is-a-list", model(name=["a"]), 400, "name", "must be a string"),
    Case("name-is-true", model(name=True), 400, "name", "must be a string, got true"),
    Case("compute-is-true", model(training_compute_ops=True), 400, "training_compute_ops", "got true"),
    Case("compute-is-an-object", model(training_compute_ops={"value": 1}), 400, "training_compute_ops",
         "must be a non-negative number"),
    Case("modalities-is-a-string", model(modalities="text"), 400, "modalities", "Expected a list"),
    Case("modality-is-a-list", model(modalities=[["text"]]), 400, "modalities[0]", "must be a string"),
    Case("hardware-is-a-list", model(training_hardware=[1]), 400, "training_hardware", "Expected a dictionary"),
    Case("declaration-is-maybe", model(general_purpose="maybe"), 400, "general_purpose", "valid boolean"),
    Case("derivation-is-an-object", model(base_model="acme/Acme-1@1", derivation={"x": 1}), 400, "derivation",
         "not a valid choice"),
    Case("groups-is-an-object", json.dumps({"name": "Hall X", "groups": {"a": 1}}), 400, "groups", "Expected a list",
         url=CLUSTERS),
    Case("body-is-a-list", "[1, 2]", 400, None, "must be a JSON object"),
    Case("body-is-a-string", '"model"', 400, None, "must be a JSON object"),
    Case("body-is-null", "null", 400, None, "must be a JSON object"),
    # numbers
    Case("nan", model_raw("training_compute_ops", "NaN"), 400, "training_compute_ops", 'got "NaN"'),
    Case("infinity", model_raw("training_compute_ops", "Infinity"), 400, "training_compute_ops", 'got "Infinity"'),
    Case("minus-infinity", model_raw("training_compute_ops", "-Infinity"), 400, "training_compute_ops",
         "must be a non-negative number"),
    Case("1e400-literal", model_raw("training_compute_ops", "1e400"), 400, "training_compute_ops", 'got "1e400"'),
    Case("1e400-string", model(training_compute_ops="1e400"), 400, "training_compute_ops", 'got "1e400"'),
    Case("huge-integer", model_raw("parameter_count", "1" + "0" * 400), 400, "parameter_count",
         "must be a non-negative number"),
    Case("10^26", model(training_compute_ops="10^26"), 400, "training_compute_ops", 'got "10^26"'),
    Case("thousands-separator", model(training_compute_ops="1,000"), 400, "training_compute_ops", 'got "1,000"'),
    Case("hexadecimal", model(training_compute_ops="0x1p80"), 400, "training_compute_ops", 'got "0x1p80"'),
    Case("empty-number", model(training_compute_ops=""), 400, "training_compute_ops", 'got ""'),
    Case("negative", model(training_tokens=-1), 400, "training_tokens", "got -1"),
    Case("count-beyond-storage", model(training_hardware={"accelerator": "nvidia-h100-sxm", "accelerator_count": 1e12,
                                                          "training_hours": 10, "utilization": 0.4}),
         400, "training_hardware.accelerator_count", "must be at most 2147483647"),
    Case("group-count-beyond-storage", json.dumps({"name": "Hall X", "groups": [{**GROUP, "accelerator_count": 2**63}]}),
         400, "groups[0].accelerator_count", "must be at most 2147483647", url=CLUSTERS),
    Case("fractional-count", model(training_hardware={"accelerator": "nvidia-h100-sxm", "accelerator_count": 2.5}),
         400, "training_hardware.accelerator_count", "must be a whole number"),
    Case("utilization-above-1", model(training_hardware={"utilization": 2}), 400, "training_hardware.utilization",
         "must be in (0, 1]"),
    # issue 17.9: numbers are ASCII digits, never silently 0 or -0; booleans are JSON true and false
    Case("arabic-indic-digits", model(training_compute_ops="١٠٠"), 400, "training_compute_ops",
         "must be a non-negative number"),
    Case("full-width-digit", model(training_compute_ops="１e26"), 400, "training_compute_ops",
         "must be a non-negative number"),
    Case("underflow-string", model(training_compute_ops="1e-400"), 400, "training_compute_ops",
         'too small to store (it would be stored as 0), got "1e-400"'),
    Case("underflow-literal", model_raw("training_tokens", "1e-400"), 400, "training_tokens", "too small to store"),
    Case("minus-zero-literal", model_raw("training_compute_ops", "-0"), 400, "training_compute_ops",
         "must be a non-negative number"),
    Case("minus-zero-float", model_raw("training_compute_ops", "-0.0"), 400, "training_compute_ops",
         "must be a non-negative number"),
    Case("minus-zero-string", model(training_compute_ops="-0"), 400, "training_compute_ops", 'got "-0"'),
    Case("boolean-is-1", model(general_purpose=1), 400, "general_purpose", "true or false, got 1"),
    Case("boolean-is-yes", model(general_purpose="yes"), 400, "general_purpose", 'true or false, got "yes"'),
    Case("boolean-is-t", model(primarily_biological_sequence_data="t"), 400, "primarily_biological_sequence_data",
         "true or false"),
    Case("cluster-boolean-is-1", json.dumps({"name": "Hall X", "groups": [GROUP], "used_for_ai_training": 1}), 400,
         "used_for_ai_training", "true or false", url=CLUSTERS),
    Case("year-in-full-width-digits", json.dumps({"revenue_year": "２０２４"}), 400, "revenue_year", "ASCII digits",
         url=ORGANISATION, method="PATCH"),
    Case("overflowing-product", model(parameter_count=1e300, training_tokens=1e300), 400, "training_tokens",
         "6 x parameters x training_tokens exceeds"),
    Case("overflowing-hardware-product", model(training_hardware={
        "accelerator": "nvidia-h100-sxm", "accelerator_count": 1000, "training_hours": 1e300, "utilization": 0.5}),
         400, "training_hardware.training_hours", "accelerators x hours x peak exceeds"),
    Case("overflowing-band", model(training_compute_ops=1e300, training_compute_uncertainty=1.0), 400,
         "training_compute_ops", "uncertainty band exceeds"),
    Case("uncertainty-above-100-percent", model(training_compute_uncertainty=1.01), 400,
         "training_compute_uncertainty", "must be in [0, 1]"),
    Case("more-digits-than-a-double-holds", model(training_compute_uncertainty="0.12345678901234567891"), 400,
         "training_compute_uncertainty", "at most 15 significant digits"),
    Case("overflowing-cluster-peak", json.dumps({"name": "Hall X", "groups": [
        {**GROUP, "accelerator": None, "peak_ops_per_second": {"dense_max": 1e308}}]}), 400,
         "groups[0].accelerator_count", "accelerators x peak exceeds", url=CLUSTERS),
    Case("revenue-year-huge", json.dumps({"revenue_year": 10**30}), 400, "revenue_year", "less than or equal to 2200",
         url=ORGANISATION, method="PATCH"),
    # dates
    Case("29-february-2023", model(released_on="2023-02-29"), 400, "released_on", "is not a date that exists"),
    Case("30-february", model(released_on="2024-02-30"), 400, "released_on", "is not a date that exists"),
    Case("month-13", model(released_on="2024-13-01"), 400, "released_on", "is not a date that exists"),
    Case("year-0", model(released_on="0000-01-01"), 400, "released_on", "is not a date that exists"),
    Case("date-unpadded", model(released_on="2024-1-1"), 400, "released_on", "must be a date written YYYY-MM-DD"),
    Case("date-as-number", model(released_on=20240101), 400, "released_on", "got 20240101"),
    Case("date-in-words", model(training_completed_on="yesterday"), 400, "training_completed_on", 'got "yesterday"'),
    Case("more-groups-than-a-cluster-may-have",
         json.dumps({"name": "Hall X", "groups": [{**GROUP, "name": f"g{g}"} for g in range(501)]}), 400, "groups",
         "at most 500 groups per cluster, got 501", url=CLUSTERS),
    Case("more-links-than-a-cluster-may-have",
         json.dumps({"name": "Hall X", "groups": [GROUP, {**GROUP, "name": "b"}],
                     "links": [{"from": "a", "to": "b", "gbps": 400}] * 2001}), 400, "links",
         "at most 2,000 links per cluster, got 2,001", url=CLUSTERS),
    Case("cluster-date", json.dumps({"name": "Hall X", "groups": [GROUP], "operational_from": "2025-04-31"}), 400,
         "operational_from", "is not a date that exists", url=CLUSTERS),
    Case("evaluation-date", json.dumps({"subject": "model:acme/Acme-1@1", "as_of": "2023-02-29"}), 400, "as_of",
         "is not a date that exists", url=EVALUATIONS),
    # references
    Case("unknown-accelerator", model(training_hardware={"accelerator": "warp-core-9000"}), 400,
         "training_hardware.accelerator", "unknown accelerator 'warp-core-9000'"),
    Case("unknown-group-accelerator", json.dumps({"name": "Hall X", "groups": [{**GROUP, "accelerator": "nope"}]}),
         400, "groups[0].accelerator", "unknown accelerator 'nope'", url=CLUSTERS),
    Case("own-base-model", model(base_model="acme/Hostile@1"), 400, "base_model", "cannot be its own base model"),
    Case("unknown-base-model", model(base_model="acme/Nothing@1"), 400, "base_model", "unknown base model"),
    Case("base-model-malformed", model(base_model="acme Acme-1"), 400, "base_model", "organisation/name@version"),
    Case("another-labs-organisation", model(organisation="rival"), 400, "organisation", "you may only submit for 'acme'"),
    Case("unknown-subject", json.dumps({"subject": "model:acme/Nothing@1"}), 400, "subject", "unknown", url=EVALUATIONS),
    # text
    Case("name-of-10000-characters", model(name="x" * 10_000), 400, "name", "no more than 200 characters"),
    Case("notes-of-10000-characters", model(notes="n" * 10_000), 400, "notes", "no more than 4000 characters"),
    Case("nul-in-name", model(name="Acme\x00-2"), 400, "name", "must not contain control characters"),
    Case("nul-in-version", model(version="1\x00"), 400, "version", "must not contain control characters"),
    Case("escape-in-source", model(source="see \x1b[31mhere"), 400, "source", "must not contain control characters"),
    Case("nul-in-modality", model(modalities=["text", "im\x00age"]), 400, "modalities[1]", "control characters"),
    Case("nul-in-accelerator", model(training_hardware={"accelerator": "h100\x00"}), 400,
         "training_hardware.accelerator", "control characters"),
    Case("nul-in-group-name", json.dumps({"name": "Hall X", "groups": [{**GROUP, "name": "a\x00"}]}), 400,
         "groups[0].name", "control characters", url=CLUSTERS),
    Case("nul-in-datacenter", json.dumps({"name": "Hall X", "groups": [{**GROUP, "datacenter": "dc\x00"}]}), 400,
         "groups[0].datacenter", "control characters", url=CLUSTERS),
    Case("nul-in-link-end", json.dumps({"name": "Hall X", "groups": [GROUP], "links": [{"from": "a\x00", "to": "a",
                                                                                       "gbps": 1}]}),
         400, "links[0].from", "control characters", url=CLUSTERS),
    Case("nul-in-organisation-name", json.dumps({"name": "Acme\x00"}), 400, "name", "control characters",
         url=ORGANISATION, method="PATCH"),
    Case("nul-in-country", json.dumps({"country": "U\x00"}), 400, "country", "control characters",
         url=ORGANISATION, method="PATCH"),
    # issue 17.2: a name a subject reference cannot be parsed back from
    Case("slash-in-model-name", model(name="a/b"), 400, "name", "must not contain '/' or '@'"),
    Case("at-in-model-name", model(name="a@b"), 400, "name", "must not contain '/' or '@'"),
    Case("at-in-version", model(version="1@2"), 400, "version", "must not contain '/' or '@'"),
    Case("line-break-in-name", model(name="Acme\n2"), 400, "name", "must not contain line breaks"),
    Case("line-break-in-cluster-name", json.dumps({"name": "Hall\nX", "groups": [GROUP]}), 400, "name",
         "line breaks", url=CLUSTERS),
    Case("line-separator-in-name", model(name="Acme\u20282"), 400, "name", "line break"),
    Case("line-break-in-organisation-name", json.dumps({"name": "Acme\nAI"}), 400, "name", "line breaks",
         url=ORGANISATION, method="PATCH"),
    # issue 17.10: control, format and C1 characters in names
    Case("zero-width-space-in-name", model(name="Acme\u200b2"), 400, "name", "format characters (U+200B)"),
    Case("bidi-override-in-name", model(name="Acme\u202e2"), 400, "name", "format characters (U+202E)"),
    Case("c1-control-in-name", model(name="Acme\x852"), 400, "name", "control characters"),
    Case("c1-control-in-notes", model(notes="see\x9bhere"), 400, "notes", "control characters"),
    Case("tab-in-group-name", json.dumps({"name": "Hall X", "groups": [{**GROUP, "name": "a\tb"}]}), 400,
         "groups[0].name", "control characters", url=CLUSTERS),
    Case("confusable-model-name", model(name="\u0410\u0441\u043c\u0435-1"), 400, "name", "reads like 'Acme-1'"),
    Case("confusable-cluster-name", json.dumps({"name": "HALL A", "groups": [GROUP]}), 400, "name",
         "reads like 'Hall A'", url=CLUSTERS),
    Case("organisation-name-of-another", json.dumps({"name": "Rival AI"}), 400, "name",
         "is the name of organisation 'rival'", url=ORGANISATION, method="PATCH"),
    # issue 17.7: a revision keeps the record's identity
    Case("identity-change-by-revision", json.dumps({"slug": "acme-renamed"}), 400, "slug",
         "cannot be changed by a revision", url=ORGANISATION, method="PATCH"),
    Case("lone-surrogate", '{"name": "\\ud800", "version": "1"}', 400, "name", "Surrogate characters are not allowed"),
    Case("nul-in-subject", json.dumps({"subject": "model:acme/A\x00@1"}), 400, "subject", "Null characters",
         url=EVALUATIONS),
    # the shape of the JSON
    Case("100000-nested-arrays", nested(100_000), 400, None, "nested 100000 levels deep"),
    Case("100000-nested-objects", nested(100_000, '{"a":', "}"), 400, None, "too deep to read"),
    Case("nesting-inside-a-field", model_raw("training_compute_ops", nested(500)), 400, "training_compute_ops",
         "must be a non-negative number"),
    Case("duplicate-key", '{"name": "Hostile", "version": "1", "name": "Other"}', 400, None,
         "the key 'name' appears twice"),
    Case("truncated", '{"name": "Hostile", ', 400, None, "malformed JSON"),
    Case("trailing-data", '{"name": "Hostile", "version": "1"} {}', 400, None, "malformed JSON"),
    Case("empty-body", "", 400, "name", "This field is required"),
    Case("not-utf-8", b'{"name": "\xff\xfe", "version": "1"}', 400, None, "not valid UTF-8"),
    Case("12-MB-body", model(notes="n" * (12 * 1024 * 1024)), 413, None, "larger than"),
    # content types
    Case("text-plain", model(), 415, None, 'Unsupported media type "text/plain"', content_type="text/plain"),
    Case("form-encoded", "name=Hostile&version=1", 415, None, "Unsupported media type",
         content_type="application/x-www-form-urlencoded"),
    Case("multipart", "--x\r\n\r\n--x--", 415, None, "Unsupported media type",
         content_type="multipart/form-data; boundary=x"),
    Case("xml", "<model name='Hostile'/>", 415, None, "Unsupported media type", content_type="application/xml"),
    Case("no-content-type", model(), 415, None, "Unsupported media type", content_type=""),
    # headers
    Case("idempotency-key-not-ascii", model(), 400, "Idempotency-Key", "printable ASCII",
         headers={"HTTP_IDEMPOTENCY_KEY": "clé"}),
    Case("idempotency-key-too-long", model(), 400, "Idempotency-Key", "1 to 255",
         headers={"HTTP_IDEMPOTENCY_KEY": "k" * 1000}),
    Case("nul-in-query", model(), 400, "page", "must not contain a NUL character", url=MODELS + "?page=%00"),
    # a chunked body reaches the application without Content-Length, so unread: refused, never taken as empty
    Case("chunked-post", model(), 411, "Content-Length", "must be sent with a Content-Length header",
         headers={"HTTP_TRANSFER_ENCODING": "chunked", "CONTENT_LENGTH": ""}),
    Case("chunked-patch", json.dumps({"name": "Renamed"}), 411, "Content-Length", "Transfer-Encoding is not accepted",
         url=ORGANISATION, method="PATCH", headers={"HTTP_TRANSFER_ENCODING": "chunked", "CONTENT_LENGTH": ""}),
    Case("chunked-with-length", model(), 411, "Content-Length", "must be sent with a Content-Length header",
         headers={"HTTP_TRANSFER_ENCODING": "chunked"}),
    # another lab's subjects: asked about, they answer as subjects that do not exist
    Case("audit-of-another-labs-model", audit(subject="model:rival/Rival-1@1"), 400, "subject",
         "unknown subject(s): model:rival/Rival-1@1", url=REPORTS),
    Case("audit-of-another-lab", audit(subject="organisation:rival"), 400, "subject",
         "unknown subject(s): organisation:rival", url=REPORTS),
    Case("audit-of-no-such-model", audit(subject="model:acme/Nope@1"), 400, "subject",
         "unknown subject(s): model:acme/Nope@1", url=REPORTS),
    Case("evaluation-of-another-labs-model", json.dumps({"subject": "model:rival/Rival-1@1"}), 400, "subject",
         "unknown subject(s): model:rival/Rival-1@1", url=EVALUATIONS),
]


def errors_of(response: Any) -> list[dict[str, Any]]:
    assert response["Content-Type"].startswith("application/json"), response.content[:300]
    body = response.json()
    assert body["detail"] and isinstance(body["errors"], list) and body["errors"], body
    return body["errors"]


@pytest.mark.parametrize("case", API_CATALOGUE, ids=[case.id for case in API_CATALOGUE])
def test_the_api_refuses_hostile_input_by_name_and_stores_nothing(lab_api, case):
    before = row_counts()
    response = lab_api.generic(case.method, case.url, case.body, content_type=case.content_type, **case.headers)
    assert response.status_code == case.status, response.content[:500]
    errors = errors_of(response)
    named = [error["message"] for error in errors if error["field"] == case.field]
    assert named, f"no error names {case.field!r}: {errors}"
    assert any(case.message in message for message in named), f"{case.message!r} not in {named}"
    assert row_counts() == before


@pytest.mark.parametrize("base", ["rival/Unreleased@1", "rival/Released-Tomorrow@1", "rival/Nothing@1"])
def test_another_labs_unreleased_model_as_a_base_is_refused_as_if_it_did_not_exist(lab_api, base):
    """Issue 17.1: the answer is the same 400 for a model that does not exist, and nothing is stored."""
    from datetime import date, timedelta

    from registry.services import registry_submit
    from tests.factories import ModelRecordFactory, document

    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    registry_submit(document(organisations=[], models=[
        ModelRecordFactory(organisation="rival", name="Unreleased", released_on=None),
        ModelRecordFactory(organisation="rival", name="Released-Tomorrow", released_on=tomorrow)]), via="import")
    before = row_counts()
    response = lab_api.post(MODELS, model(base_model=base, derivation="fine_tuning"), content_type=JSON)
    assert response.status_code == 400
    assert errors_of(response) == [{"field": "base_model", "message": f"unknown base model {base!r}"}]
    assert row_counts() == before


def test_a_revision_that_would_close_a_lineage_cycle_is_refused(lab_api):
    base = lab_api.post(MODELS, {"name": "Base", "version": "1"}, format="json").json()
    derived = lab_api.post(MODELS, {"name": "Derived", "version": "1", "base_model": "acme/Base@1",
                                    "derivation": "fine_tuning"}, format="json")
    grandchild = lab_api.post(MODELS, {"name": "Grandchild", "version": "1", "base_model": "acme/Derived@1",
                                       "derivation": "fine_tuning"}, format="json")
    assert derived.status_code == grandchild.status_code == 201
    before = row_counts()
    response = lab_api.patch(base["url"], {"base_model": "acme/Grandchild@1", "derivation": "fine_tuning"}, format="json")
    assert response.status_code == 400
    (error,) = errors_of(response)
    assert error["field"] == "base_model"
    assert error["message"] == "makes a lineage cycle: acme/Base@1 → acme/Grandchild@1 → acme/Derived@1 → acme/Base@1"
    assert row_counts() == before


# Floods: requests that are each valid but, repeated, would starve other labs' evaluations
# (tests/api/test_work_queues.py has the queues; tests/api/test_release_scope.py and, in the workspace,
# tests/ui/test_release_scope.py what a lab reads through another lab's unreleased base model;
# tests/api/test_evaluations.py a lab's share of a run).

def test_a_flood_of_report_requests_stops_at_the_users_pending_cap(lab_api, settings, django_capture_on_commit_callbacks):
    settings.REPORT_MAX_PENDING = 1
    with django_capture_on_commit_callbacks(execute=False):
        assert lab_api.post(REPORTS, audit(subject="model:acme/Acme-1@1"), content_type=JSON).status_code == 202
        before = row_counts()
        refused = lab_api.post(REPORTS, audit(subject="model:acme/Acme-1@1", as_of="2026-04-01"), content_type=JSON)
    assert refused.status_code == 429
    assert errors_of(refused)[0]["field"] is None and "at most 1" in refused.json()["detail"]
    assert row_counts() == before


def test_the_same_report_asked_for_again_and_again_is_queued_once(lab_api, django_capture_on_commit_callbacks):
    body = audit(subject="model:acme/Acme-1@1")
    with django_capture_on_commit_callbacks(execute=False) as sent:
        ids = {lab_api.post(REPORTS, body, content_type=JSON).json()["id"] for _ in range(5)}
    assert len(ids) == 1 and len(sent) == 1


def test_a_flood_of_evaluation_requests_meets_the_lower_rate(lab_api, settings, django_capture_on_commit_callbacks):
    settings.API_WORK_THROTTLE_RATE = "2/min"
    body = json.dumps({"subject": "model:acme/Acme-1@1", "as_of": "2026-03-01"})
    with django_capture_on_commit_callbacks(execute=False):
        statuses = [lab_api.post(EVALUATIONS, body, content_type=JSON).status_code for _ in range(2)]
        before = row_counts()
        refused = lab_api.post(EVALUATIONS, body, content_type=JSON)
    assert statuses == [202, 202] and refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert row_counts() == before


@pytest.mark.parametrize("header", ["Bearer " + "t" * 10_000, "Bearer a b", "Bearer é-not-ascii", "Bearer \x00" * 3])
def test_a_malformed_or_oversized_token_is_a_401(acme, client, header):
    response = client.post(MODELS, model(), content_type=JSON, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert errors_of(response)


# --- import_registry --------------------------------------------------------------------------------


def interchange(**model_fields: Any) -> str:
    return json.dumps({"organisations": [{"slug": "acme", "name": "Acme AI"}],
                       "models": [{"organisation": "acme", "name": "Hostile", "version": "1", **model_fields}]})


IMPORT_CATALOGUE = [
    ("nan", interchange().replace('"version": "1"', '"version": "1", "training_compute_ops": NaN'),
     'models[0].training_compute_ops: must be a non-negative number, got "NaN"'),
    ("1e400", interchange().replace('"version": "1"', '"version": "1", "training_tokens": 1e400'),
     'models[0].training_tokens: must be a non-negative number, got "1e400"'),
    ("10^26", interchange(training_compute_ops="10^26"), 'models[0].training_compute_ops: must be a non-negative number, got "10^26"'),
    ("no-such-date", interchange(released_on="2023-02-29"), "models[0].released_on: is not a date that exists: 2023-02-29"),
    ("unknown-accelerator", interchange(training_hardware={"accelerator": "warp-core-9000"}),
     "models[0].training_hardware.accelerator: unknown accelerator 'warp-core-9000'"),
    ("wrong-type", interchange(name=["a"]), "models[0].name: must be a string"),
    ("nul-byte", interchange(notes="a\x00b"), "models[0].notes: must not contain control characters"),
    ("name-of-10000-characters", interchange(name="x" * 10_000), "models[0].name: Ensure this field has no more than 200"),
    ("count-beyond-storage", interchange(training_hardware={"accelerator_count": 10**15}),
     "models[0].training_hardware.accelerator_count: must be at most 2147483647"),
    ("own-base-model", interchange(base_model="acme/Hostile@1"), "models[0].base_model: a model cannot be its own base model"),
    ("more-groups-than-a-cluster-may-have",
     json.dumps({"organisations": [{"slug": "acme", "name": "Acme AI"}], "clusters": [{
         "organisation": "acme", "name": "Hall X", "groups": [{**GROUP, "name": f"g{g}"} for g in range(501)]}]}),
     "clusters[0].groups: at most 500 groups per cluster, got 501"),
    ("unknown-section", json.dumps({"people": []}), "people: is not a section of the interchange format"),
    ("not-an-object", "[]", "$: must be a JSON object"),
]


@pytest.mark.parametrize(("body", "problem"), [case[1:] for case in IMPORT_CATALOGUE],
                         ids=[case[0] for case in IMPORT_CATALOGUE])
def test_import_refuses_hostile_documents_by_name_and_stores_nothing(acme, tmp_path, body, problem):
    path = tmp_path / "document.json"
    path.write_text(body, encoding="utf-8")
    before, err = row_counts(), StringIO()
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_registry", str(path), "--no-progress", stderr=err)
    assert problem in err.getvalue()
    assert row_counts() == before


@pytest.mark.parametrize(("content", "message"), [
    (nested(100_000).encode(), "not valid JSON: nested 100000 levels deep, too deep to read at line 1"),
    (b'{"models": [], "models": []}', "not valid JSON: the key 'models' appears twice in one object at line 1"),
    (b'{"models": [}', "not valid JSON: Expecting value at line 1 column 13"),
    (b'\xff\xfe{"models": []}', "cannot read"),
], ids=["deeply-nested", "duplicate-key", "malformed", "not-utf-8"])
def test_import_refuses_unreadable_files_with_a_message(acme, tmp_path, content, message):
    path = tmp_path / "document.json"
    path.write_bytes(content)
    before = row_counts()
    with pytest.raises(CommandError) as refused:
        call_command("import_registry", str(path), "--no-progress")
    assert message in str(refused.value)
    assert row_counts() == before


# --- rule files -------------------------------------------------------------------------------------

ALIAS_BOMB = "\n".join(
    [f'l0: &l0 ["{"lol" * 8}"]']
    + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 12)]
)


def rule_file_with(extra: str) -> str:
    """A real rule file with `extra` added at its top level."""
    text = (settings.REGISTRY_RULE_LIBRARY / "us-eo-14110" / "2023-10-30.yaml").read_text(encoding="utf-8")
    return text + "\n" + extra + "\n"


MARKER = Path(settings.BASE_DIR) / "var" / "hostile-rule-file-ran"
RULE_CATALOGUE = [
    ("alias-bomb", ALIAS_BOMB, "anchor &l0 refused"),
    ("python-object-apply", rule_file_with(f"exploit: !!python/object/apply:os.system ['touch {MARKER}']"),
     "tag 'tag:yaml.org,2002:python/object/apply:os.system' refused"),
    ("python-name", rule_file_with("exploit: !!python/name:os.system"), "tag 'tag:yaml.org,2002:python/name:os.system' refused"),
    ("python-object-new", rule_file_with(f"exploit: !!python/object/new:subprocess.Popen [['touch', '{MARKER}']]"),
     "python/object/new:subprocess.Popen' refused"),
    ("deeply-nested-flow", "a: " + nested(100_000), "nested deeper than 64 levels"),
    ("deeply-nested-block", "a:\n" + "".join("  " * i + "b:\n" for i in range(200)), "nested deeper than 64 levels"),
    ("nul-byte", rule_file_with("note: 'a\x00b'"), "special characters are not allowed"),
    ("not-a-mapping", "- just\n- a list\n", "a rule file is a mapping"),
]


@pytest.mark.parametrize(("content", "reason"), [case[1:] for case in RULE_CATALOGUE],
                         ids=[case[0] for case in RULE_CATALOGUE])
def test_a_hostile_rule_draft_is_refused_naming_the_problem_and_nothing_runs(db, content, reason):
    MARKER.unlink(missing_ok=True)
    before = RuleVersion.objects.count()
    with pytest.raises(RuleFileErrors) as refused:
        draft_create(content=content, origin="hostile.yaml")
    assert reason in str(refused.value)
    assert "hostile.yaml" in str(refused.value)
    assert RuleVersion.objects.count() == before
    assert not MARKER.exists(), "a tag in a rule file ran code"


@pytest.mark.parametrize(("content", "reason"), [
    (RULE_CATALOGUE[0][1].encode(), "anchor &l0 refused"),
    (RULE_CATALOGUE[1][1].encode(), "python/object/apply:os.system' refused"),
    (("a: " + nested(10_000)).encode(), "nested deeper than 64 levels"),
    (b"\xff\xfe not utf-8", "not UTF-8"),
], ids=["alias-bomb", "python-tag", "deeply-nested", "not-utf-8"])
def test_rules_lint_names_the_hostile_file_and_exits_non_zero(settings, tmp_path, content, reason):
    library = tmp_path / "library"
    shutil.copytree(settings.REGISTRY_RULE_LIBRARY, library)
    (library / "us-eo-14110" / "2099-01-01.yaml").write_bytes(content)
    settings.REGISTRY_RULE_LIBRARY = library
    MARKER.unlink(missing_ok=True)
    with pytest.raises(CommandError) as refused:
        call_command("rules", "lint")
    assert "2099-01-01.yaml" in str(refused.value) and reason in str(refused.value)
    assert not MARKER.exists()


@pytest.mark.parametrize(("content", "reason"), [case[1:] for case in RULE_CATALOGUE],
                         ids=[case[0] for case in RULE_CATALOGUE])
def test_a_hostile_rule_file_uploaded_in_the_workspace_is_refused_on_the_page(admin_client_logged_in, content, reason):
    MARKER.unlink(missing_ok=True)
    before = RuleVersion.objects.count()
    upload = SimpleUploadedFile("hostile.yaml", content.encode("utf-8"), content_type="application/x-yaml")
    response = admin_client_logged_in.post(reverse("admin:rules_ruleversion_add"), {"file": upload, "content": ""})
    assert response.status_code == 200  # the form again, with the problem
    assert reason in html.unescape(response.content.decode())
    assert RuleVersion.objects.count() == before
    assert not MARKER.exists()
