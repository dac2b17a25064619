"""Submitted text is escaped wherever it is shown: every admin page of every registered model, the
regulator's subject pages, the audit trail, and every HTML report; a CSV report defuses formulas.

The registry holds markup in every free-text field a lab controls; each page is fetched and must
show the text escaped (so it is really there) and never as live markup."""
from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.urls import reverse

from registry.models import AIModel, Cluster
from registry.services import registry_submit
from rules.models import EvaluationRun
from rules.models.runs import Trigger
from rules.services import run_create, run_execute_inline
from tests.factories import document

pytestmark = pytest.mark.django_db

AS_OF = date(2026, 3, 1)
SCRIPT = '<script>alert("x")</script>'
IMG = '"><img src=x onerror=alert(1)>'
FORMULA = '=HYPERLINK("https:evil.example","click")'  # no "/": a model's name may not hold it
MODEL_SCRIPT = SCRIPT.replace("/", "")  # a model's name may not hold "/": still markup
MARKUP = (SCRIPT, IMG, "<img src=x")  # none of these may appear unescaped in any page


@pytest.fixture
def hostile_registry(db):
    registry_submit(document(
        organisations=[{"slug": "acme", "name": f"Acme {SCRIPT}", "country": "US", "annual_revenue_usd": 6e8,
                        "source": IMG}],
        models=[{"organisation": "acme", "name": f"Frontier {MODEL_SCRIPT}", "version": f"1{IMG}"[:64],
                 "training_compute_ops": 2e26, "modalities": [SCRIPT], "source": IMG, "notes": f"{SCRIPT} {FORMULA}",
                 "released_on": "2024-07-01"}],
        clusters=[{"organisation": "acme", "name": f"Hall {SCRIPT}", "source": IMG, "notes": SCRIPT,
                   "groups": [{"name": f"g{SCRIPT}", "datacenter": f"dc{IMG}", "accelerator": "nvidia-h100-sxm",
                               "accelerator_count": 100000, "network_gbps": 400},
                              {"name": "b", "datacenter": f"dc{IMG}", "accelerator": "nvidia-h100-sxm",
                               "accelerator_count": 10, "network_gbps": 400}],
                   "links": [{"from": f"g{SCRIPT}", "to": "b", "gbps": 800}]}],
    ), via="import")
    registry_submit(document(organisations=[], models=[{"organisation": "acme", "name": f"Frontier {MODEL_SCRIPT}",
                                                        "version": f"1{IMG}"[:64], "training_compute_ops": 3e26,
                                                        "notes": SCRIPT}]), via="import")
    run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=AS_OF))
    run_execute_inline(run_create(kind=Trigger.SCHEDULE, as_of=AS_OF))


def assert_escaped(where: str, page: str, *, must_show: bool = True) -> None:
    for markup in MARKUP:
        assert markup not in page, f"{where}: {markup!r} is not escaped"
    if must_show:
        assert "&lt;script&gt;alert(" in page, f"{where}: the submitted text is not shown at all"


def admin_pages() -> list[str]:
    """Every registered model's list, and the change page of each of its first few rows."""
    urls = []
    for model in admin.site._registry:
        meta = model._meta
        urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        for pk in model.objects.order_by("-pk").values_list("pk", flat=True)[:3]:
            urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[pk]))
            urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_history", args=[pk]))
    return urls


def test_every_admin_page_escapes_submitted_text(admin_client_logged_in, hostile_registry):
    shown = 0
    for url in admin_pages():
        response = admin_client_logged_in.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        assert_escaped(url, page, must_show=False)
        shown += "&lt;script&gt;alert(" in page
    assert shown >= 10, "too few pages showed the submitted text to prove anything"
    model, cluster = AIModel.objects.get(), Cluster.objects.get()
    for url in (reverse("admin:registry_aimodel_change", args=[model.pk]),
                reverse("admin:registry_cluster_change", args=[cluster.pk]),
                reverse("admin:registry_aimodel_changelist") + "?q=Frontier",
                reverse("admin:rules_determination_changelist"),
                reverse("admin:accounts_auditevent_changelist")):
        assert_escaped(url, admin_client_logged_in.get(url).content.decode())


def test_api_lists_return_text_as_json_data(admin_client_logged_in, hostile_registry):
    response = admin_client_logged_in.get("/api/v1/models/")
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["results"][0]["name"] == f"Frontier {MODEL_SCRIPT}"  # data, never rendered as a page


def report(*args: str, out) -> str:
    call_command("report", *args, "--out", str(out), stderr=io.StringIO(), stdout=io.StringIO())
    return out.read_text(encoding="utf-8")


def test_every_html_report_escapes_submitted_text(hostile_registry, tmp_path):
    model, cluster = AIModel.objects.get(), Cluster.objects.get()
    for subject in (model.subject_ref, cluster.subject_ref, "organisation:acme"):
        page = report("audit", "--subject", subject, "--as-of", AS_OF.isoformat(), "--format", "html",
                      out=tmp_path / "audit.html")
        assert_escaped(f"audit report of {subject}", page)
    assert_escaped("registry report", report("registry", "--as-of", AS_OF.isoformat(), "--format", "html",
                                             out=tmp_path / "registry.html"))
    run = EvaluationRun.objects.filter(kind=Trigger.SCHEDULE).get()
    changes = report("changes", "--run", str(run.pk), "--format", "html", out=tmp_path / "changes.html")
    assert_escaped("change report", changes, must_show=False)


def test_a_csv_report_defuses_formulas_in_submitted_text(hostile_registry, tmp_path):
    registry_submit(document(organisations=[], models=[{"organisation": "acme", "name": FORMULA, "version": "1"}]),
                    via="import")
    run_execute_inline(run_create(kind=Trigger.MANUAL, as_of=AS_OF, subjects=[f"model:acme/{FORMULA}@1"]))
    for kind in (["export", "--organisation", "acme"], ["registry", "--as-of", AS_OF.isoformat()]):
        rows = list(csv.DictReader(io.StringIO(report(*kind, "--format", "csv", out=tmp_path / "report.csv"))))
        names = {row["subject_name"] for row in rows if "HYPERLINK" in row["subject_name"]}
        assert names == {"'" + FORMULA}, kind[0]
        assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row.values()), kind[0]
