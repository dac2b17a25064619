"""HTML from the report templates, and PDF from that HTML with WeasyPrint (A4, page numbers, a
table of contents with page references: the print rules of report.css)."""
from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.template.loader import render_to_string

TEMPLATES = {"audit": "reports/audit.html", "registry": "reports/registry.html", "changes": "reports/changes.html"}


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


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector held off while one PDF is laid out. WeasyPrint allocates a
    few hundred thousand objects per report (boxes, styles, line fragments), which sets off
    collections that walk everything the process holds (Django, the rule library): about a quarter
    of an audit PDF's time. The garbage of one report is collected when the collector runs again.
    Only the caller that paused it resumes it, so concurrent renders leave it enabled."""
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def html_to_pdf(html: str) -> bytes:
    import weasyprint  # Pango is loaded only when a PDF is asked for

    logger = logging.getLogger("weasyprint")
    logger.addFilter(_noise)
    try:
        with _collector_paused():
            return weasyprint.HTML(string=html, base_url=None).write_pdf()
    finally:
        logger.removeFilter(_noise)
