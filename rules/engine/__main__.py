"""Command line of the engine: `python -m rules.engine lint [ROOT]` and `python -m rules.engine lock [ROOT] [FILES]`.

`lint` loads the library (refusing edited published files) and prints every problem; it exits 1
when there is an error. `lock` publishes new rule files into PUBLISHED.lock, and
`lock --correct FILE...` re-publishes corrected published files before any deployment (see lock.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import lock
from .library import load_library
from .lint import ERROR, lint
from .schema import RuleLibraryError


def lint_main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else lock.DEFAULT_ROOT
    try:
        problems = lint(load_library(root))
    except RuleLibraryError as exc:
        print(exc, file=sys.stderr)
        return 2
    for problem in problems:
        print(problem)
    return 1 if any(problem.severity == ERROR for problem in problems) else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    commands = {"lint": lint_main, "lock": lock.main}
    if not argv or argv[0] not in commands:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
