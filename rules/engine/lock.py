"""Publish rule files: `python -m rules.engine lock [ROOT] [SLUG/FILE.yaml ...]`.

With no files named, every rule file not yet in PUBLISHED.lock is published. Published files
are never re-locked: a change to one is refused and must become a new version file.

`--correct SLUG/FILE.yaml ...` is the one exception, for a registry with no determination of
record yet (before the first deployment): it re-publishes each named, already published file
with its corrected content, printing the old and the new hash. Once determinations cite a
version's hash, correct it with a new version file instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .library import LOCK_NAME, parse_rule_version, publish_file, read_lock, rule_files, write_lock
from .schema import RuleLibraryError

DEFAULT_ROOT = Path(__file__).resolve().parent.parent / "library"


def publish_new(root: Path, relpaths: list[str] | None = None) -> dict[str, str]:
    """Publish the named files (default: every unlocked file); return relpath -> hash of those added."""
    lock = read_lock(root)
    wanted = relpaths or [p.relative_to(root).as_posix() for p in rule_files(root)
                          if p.relative_to(root).as_posix() not in lock]
    return {relpath: publish_file(root, relpath) for relpath in wanted}


def correct_published(root: Path, relpaths: list[str]) -> dict[str, tuple[str, str]]:
    """Re-lock published files whose text was corrected; return relpath -> (old hash, new hash)
    for those whose hash changed. Every named file must already be published and must parse."""
    root = Path(root)
    lock = read_lock(root)
    changed: dict[str, tuple[str, str]] = {}
    for relpath in relpaths:
        if relpath not in lock:
            raise RuleLibraryError(f"{relpath}: not in {LOCK_NAME}; --correct re-publishes a published file "
                                   "(publish a new file without --correct)")
        path = root / relpath
        digest = parse_rule_version(path.read_text(encoding="utf-8"), origin=str(path)).content_hash
        if digest != lock[relpath]:
            changed[relpath] = (lock[relpath], digest)
            lock[relpath] = digest
    if changed:
        write_lock(root, lock)
    return changed


def main(argv: list[str] | None = None) -> int:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("root", nargs="?", type=Path, default=DEFAULT_ROOT)
    arguments.add_argument("files", nargs="*")
    arguments.add_argument("--correct", nargs="+", metavar="SLUG/FILE.yaml", default=None,
                           help="re-publish these published files with their corrected content "
                                "(only before any determination of record cites them)")
    options = arguments.parse_args(argv)
    try:
        if options.correct:
            corrected = correct_published(options.root, options.correct)
            for relpath, (old, new) in corrected.items():
                print(f"corrected {relpath} {old} -> {new}")
            return 0
        added = publish_new(options.root, options.files or None)
    except (RuleLibraryError, OSError) as exc:
        print(exc, file=sys.stderr)
        return 1
    for relpath, digest in added.items():
        print(f"published {relpath} {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
