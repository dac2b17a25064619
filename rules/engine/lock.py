"""Publish rule files: `python -m rules.engine lock [ROOT] [SLUG/FILE.yaml ...]`.

With no files named, every rule file not yet in PUBLISHED.lock is published. Published files
are never re-locked: a change to one is refused and must become a new version file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .library import publish_file, read_lock, rule_files
from .schema import RuleLibraryError

DEFAULT_ROOT = Path(__file__).resolve().parent.parent / "library"


def publish_new(root: Path, relpaths: list[str] | None = None) -> dict[str, str]:
    """Publish the named files (default: every unlocked file); return relpath -> hash of those added."""
    lock = read_lock(root)
    wanted = relpaths or [p.relative_to(root).as_posix() for p in rule_files(root)
                          if p.relative_to(root).as_posix() not in lock]
    return {relpath: publish_file(root, relpath) for relpath in wanted}


def main(argv: list[str] | None = None) -> int:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("root", nargs="?", type=Path, default=DEFAULT_ROOT)
    arguments.add_argument("files", nargs="*")
    options = arguments.parse_args(argv)
    try:
        added = publish_new(options.root, options.files or None)
    except RuleLibraryError as exc:
        print(exc, file=sys.stderr)
        return 1
    for relpath, digest in added.items():
        print(f"published {relpath} {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
