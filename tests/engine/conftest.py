"""Fixtures for the engine tests: the real rule library, and copies of fixture libraries."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rules.engine.library import Library, load_library

REPO = Path(__file__).resolve().parents[2]
REAL_LIBRARY = REPO / "rules" / "library"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True)
def _plain_http_test_client():
    """Overrides the suite-wide autouse fixture that needs Django settings: these tests need none."""
    yield


@pytest.fixture(scope="session")
def real_library() -> Library:
    return load_library(REAL_LIBRARY)


@pytest.fixture
def fixture_library_root(tmp_path: Path) -> Path:
    """A writable copy of tests/engine/fixtures/library (lock tests edit it)."""
    root = tmp_path / "library"
    shutil.copytree(FIXTURES / "library", root)
    return root
