"""The end of `make run`'s set-up: the demo registry's reports, and a regulator login, printed
with where to find them. (The import before it recorded the demo's determinations.)"""
from __future__ import annotations

import secrets
from datetime import date
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

DEMO_USERNAME = "regulator"
DEMO_FICTIONAL_LAB = "example-lab"  # registry/demo/README.md: the fictional organisation, demo data only


class Command(BaseCommand):
    help = (
        "Prepare the demo: write the registry report as of today (HTML and PDF, stored with their "
        "SHA-256; once a day), create (once) the 'regulator' login with a generated password kept in "
        "var/demo-login, record (once) two fictional filings for the fictional Example-1's obligations and "
        "bring its obligation states up to today, and print the URL, the reports and the login. Idempotent."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="Where the server will listen.")

    def handle(self, *args: Any, **options: Any) -> None:
        username, password = self._login()
        url = options["url"].rstrip("/")
        for line in self._demo_obligations():
            self.stdout.write(f"  {line}")
        for artifact in self._registry_reports():
            self.stdout.write(f"  Registry report ({artifact.format}): {artifact.file.path}  sha256 {artifact.sha256[:16]}…")
        self.stdout.write("")
        self.stdout.write(f"  Regulator workspace: {url}/admin/")
        self.stdout.write(f"  Log in as {username!r} with password {password!r} (kept in var/demo-login)")
        self.stdout.write("")

    def _demo_obligations(self) -> list[str]:
        """The fictional Example-1's obligations, with two fictional filings recorded once: its Art 53
        documentation (filed before it was placed on the market, accepted: fulfilled) and its Art 55
        obligations (filed after the designation's day and rejected: still overdue); its states brought
        up to today."""
        from django.db import transaction

        from obligations.models import Fulfilment, FulfilmentReview, ReviewDecision
        from obligations.services import refresh_states
        from obligations.signals import obligation_record_created
        from registry.models import AIModel
        from registry.models.base import SubmissionChannel
        from rules.services import today

        model = AIModel.objects.select_related("organisation").filter(
            organisation__slug=DEMO_FICTIONAL_LAB, name="Example-1", version="1").first()
        if model is None:
            return []
        filings = [
            ("art-53-provider-obligations", date(2026, 1, 14), "EXAMPLE-AIO-2026-0114 (fictional filing, demo data only)",
             ReviewDecision.ACCEPTED,
             "Technical documentation and training-content summary received (fictional, demo data only)"),
            ("art-55-systemic-risk-obligations", date(2026, 3, 20), "EXAMPLE-AIO-2026-0320 (fictional filing, demo data only)",
             ReviewDecision.REJECTED, "Incomplete: no adversarial testing documented (fictional, demo data only)"),
        ]
        with transaction.atomic():
            for obligation, fulfilled_on, reference, decision, reason in filings:
                if Fulfilment.objects.filter(model=model, regime="eu-ai-act", obligation=obligation).exists():
                    continue
                fulfilment = Fulfilment.objects.create(
                    organisation=model.organisation, subject_kind="model", model=model, regime="eu-ai-act",
                    obligation=obligation, fulfilled_on=fulfilled_on, reference=reference,
                    recorded_via=SubmissionChannel.DEMO)
                obligation_record_created.send(sender=Fulfilment, record=fulfilment, actor=None,
                                               via=SubmissionChannel.DEMO)
                review = FulfilmentReview.objects.create(fulfilment=fulfilment, decision=decision, reason=reason,
                                                         reviewed_via=SubmissionChannel.DEMO)
                obligation_record_created.send(sender=FulfilmentReview, record=review, actor=None,
                                               via=SubmissionChannel.DEMO)
        refresh_states(as_of=today(), subject_refs=[model.subject_ref])
        return [f"Obligations of the fictional {model.subject_ref}: {len(filings)} fictional filings recorded "
                "(python manage.py obligations --subject ...)", ""]

    def _registry_reports(self) -> list[Any]:
        """Today's registry report in HTML and PDF, made once: a re-run finds them."""
        from reports.models import ArtifactStatus, ReportArtifact
        from reports.services import report_generate
        from rules.services import today

        as_of = today().isoformat()
        artifacts = []
        for format in ("html", "pdf"):
            existing = ReportArtifact.objects.filter(
                kind="registry", format=format, status=ArtifactStatus.DONE, parameters__as_of=as_of
            ).first()
            artifacts.append(existing or report_generate(kind="registry", format=format, as_of=as_of))
        return artifacts

    def _login(self) -> tuple[str, str]:
        login_file = settings.VAR_DIR / "demo-login"
        user_model = get_user_model()
        if login_file.exists() and user_model.objects.filter(username=DEMO_USERNAME).exists():
            username, password = login_file.read_text().strip().split(":", 1)
            return username, password
        password = secrets.token_urlsafe(12)
        user, _ = user_model.objects.get_or_create(username=DEMO_USERNAME, defaults={"email": "regulator@example.org"})
        user.is_staff = True
        user.is_superuser = True
        user.set_password(password)
        user.save()
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        login_file.write_text(f"{DEMO_USERNAME}:{password}\n")
        login_file.chmod(0o600)
        return DEMO_USERNAME, password
