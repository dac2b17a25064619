"""Fixtures for the report tests: stored reports go to a temporary MEDIA_ROOT."""
from __future__ import annotations

import shutil

import pytest


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def registry(db):
    from .builders import build_registry

    return build_registry()


def needs(tool: str):
    return pytest.mark.skipif(shutil.which(tool) is None, reason=f"{tool} is not installed (make test installs it)")
