"""HTML from the report templates, and PDF from that HTML with WeasyPrint (A4, page numbers, a
table of contents with page references: the print rules of report.css)."""
from __future__ import annotations

import logging
import time
from typing import Any

from django.template.loader import render_to_string

from rules.memory import collector_paused

TEMPLATES = {"audit": "reports/audit.html", "registry": "reports/registry.html", "changes": "reports/changes.html",
             "obligations": "reports/obligations.html"}


def render_html(kind: str, context: dict[str, Any]) -> str:
    """The report as one standalone HTML page (styles and charts inline; submitted text escaped)."""
    return render_to_string(TEMPLATES[kind], context)


class _SvgStyleNoise(logging.Filter):
    """WeasyPrint reads inline SVG's presentation styles (fill, stroke) as HTML CSS first and warns
    that HTML has no such property; its SVG renderer then applies them. Only those warnings are dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("Ignored `") and message.endswith("unknown property."))


_noise = _SvgStyleNoise()


def html_to_pdf(html: str) -> bytes:
    import weasyprint  # Pango is loaded only when a PDF is asked for

    logger = logging.getLogger("weasyprint")
    logger.addFilter(_noise)
    try:
        with collector_paused():  # a quarter of the time, see rules.memory
            return weasyprint.HTML(string=html, base_url=None).write_pdf()
    finally:
        logger.removeFilter(_noise)


def load_pdf_engine(**_: Any) -> float:
    """Loads WeasyPrint, Pango and fontconfig with a one-line document, so that the first report a
    process renders is not slower than the next (a third of a second of imports and font set-up);
    called as each Celery worker process starts. Returns the seconds it took."""
    started = time.perf_counter()
    html_to_pdf("<p>Compute Threshold Registry</p>")
    return time.perf_counter() - started
