"""The apps' layers and the engine's purity, as pyproject.toml's import contracts state them: a
module that imports from a higher layer (or Django into the engine) fails the suite, not just lint."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(*, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=cwd, capture_output=True, text=True,
                          env={"PATH": str(LINT_IMPORTS.parent), "PYTHONPATH": str(cwd)}, timeout=300)


def _contracts() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]


def test_the_code_keeps_every_import_contract() -> None:
    result = _lint_imports(cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_the_layers_put_registry_at_the_bottom_and_the_ui_above_the_domain() -> None:
    layers = next(c for c in _contracts()["contracts"] if c["id"] == "layers")["layers"]
    assert layers[-2:] == ["rules", "registry"]
    assert layers.index("workspace | api") < layers.index("reports | accounts") < layers.index("rules")


def _project_skeleton(tmp_path: Path) -> Path:
    """Empty packages of every app, with the repository's contracts: a place to write one bad import."""
    config = _contracts()
    for package in config["root_packages"]:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "rules" / "engine").mkdir()
    (tmp_path / "rules" / "engine" / "__init__.py").write_text("")
    purity = next(c for c in config["contracts"] if c["id"] == "engine-purity")
    for module in purity["forbidden_modules"]:
        if module.startswith("rules."):
            (tmp_path / "rules" / f"{module.removeprefix('rules.')}.py").write_text("")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_registry_importing_the_rules_breaks_the_layers_contract(tmp_path: Path) -> None:
    project = _project_skeleton(tmp_path)
    (project / "registry" / "facts.py").write_text("from rules import engine\n")
    result = _lint_imports(cwd=project)
    assert result.returncode != 0
    assert "Apps import only from lower layers BROKEN" in result.stdout
    assert "registry.facts -> rules" in result.stdout


def test_the_rules_importing_the_workspace_breaks_the_layers_contract(tmp_path: Path) -> None:
    project = _project_skeleton(tmp_path)
    (project / "rules" / "display.py").write_text("import workspace\n")
    result = _lint_imports(cwd=project)
    assert result.returncode != 0
    assert "Apps import only from lower layers BROKEN" in result.stdout


def test_the_engine_importing_django_breaks_the_purity_contract(tmp_path: Path) -> None:
    project = _project_skeleton(tmp_path)
    (project / "rules" / "engine" / "evaluate.py").write_text("from django.conf import settings\n")
    result = _lint_imports(cwd=project)
    assert result.returncode != 0
    assert "The rules engine is pure Python: no Django, no Celery, no database BROKEN" in result.stdout
