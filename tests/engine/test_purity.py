"""The engine is a pure Python package: importing and running it loads no Django."""

from __future__ import annotations

import subprocess
import sys

from .conftest import REPO


def test_importing_the_engine_loads_no_django() -> None:
    code = ("import sys, rules.engine, rules.engine.__main__; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_no_engine_module_imports_django() -> None:
    for path in (REPO / "rules" / "engine").glob("*.py"):
        lines = path.read_text(encoding="utf-8").splitlines()
        assert not [line for line in lines if line.lstrip().startswith(("import django", "from django"))], path.name
