"""Golden HTML: the reports of a fixed registry, recorded at a fixed time, compared byte for byte.

The registry (tests/reports/builders.py) is submitted and evaluated with the clock fixed, on a
freshly numbered database, so row hashes, ids and times are the same on every run and backend.
When a report's layout or the rule library changes on purpose, regenerate the files and review
the diff:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/reports/test_golden.py
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from reports.services import report_content, report_parameters

from .builders import AS_OF, FRONTIER, GENERATED_AT, HALL, build_registry

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def render(kind: str, **params: object) -> bytes:
    checked = report_parameters(kind=kind, format="html", generated_at=GENERATED_AT, **params)
    return b"".join(report_content(kind=kind, format="html", params=checked))


def check(name: str, content: bytes) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_bytes(content)
        return
    assert path.exists(), f"{path} is missing: run with UPDATE_GOLDEN=1 to create it"
    expected = path.read_bytes()
    if content != expected:
        lines, wanted = content.decode().splitlines(), expected.decode().splitlines()
        first = next((i for i, (a, b) in enumerate(zip(lines, wanted, strict=False)) if a != b), min(len(lines), len(wanted)))
        pytest.fail(f"{name} differs from the golden file at line {first + 1}:\n"
                    f"  got:      {lines[first] if first < len(lines) else '<end>'}\n"
                    f"  expected: {wanted[first] if first < len(wanted) else '<end>'}\n"
                    "(UPDATE_GOLDEN=1 regenerates the golden files after an intended change)")


def renumber_rule_versions() -> None:
    """Rule versions numbered from 1 again: a row's hash covers its rule version's id, and an earlier
    transactional test's flush leaves the library re-synced under higher ids."""
    from rules.library_store import sync_library_files
    from rules.models import RuleVersion

    RuleVersion.objects.all().delete()
    sync_library_files()


@pytest.mark.django_db(transaction=True, reset_sequences=True)
def test_reports_of_the_fixed_registry_match_the_golden_html():
    renumber_rule_versions()
    build_registry()
    check("audit-frontier.html", render("audit", subject=FRONTIER, as_of=AS_OF))
    check("audit-hall-a.html", render("audit", subject=HALL, as_of=AS_OF))
    check("registry.html", render("registry", as_of=AS_OF))
