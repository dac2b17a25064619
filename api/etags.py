"""ETags of registry records (`"<revision>-<facts digest prefix>"`) and `If-Match` checks on revision."""
from __future__ import annotations

from typing import Any

from .exceptions import PreconditionFailed


def etag_of(revision: int, facts_sha256: str | None) -> str:
    return f'"{revision}-{(facts_sha256 or "")[:16]}"'


def _tags(header: str) -> list[str]:
    tags = []
    for part in header.split(","):
        part = part.strip()
        if part.startswith("W/"):
            part = part[2:]
        if part:
            tags.append(part)
    return tags


def if_match_check(request: Any, current: str) -> None:
    """Raises 412 when `If-Match` is given and names neither `*` nor the current ETag.

    A revision without `If-Match` is accepted (the last writer wins); send it to be safe.
    """
    header = request.headers.get("If-Match")
    if header is None:
        return
    tags = _tags(header)
    if "*" in tags or current in tags:
        return
    raise PreconditionFailed(f"the object has changed: its ETag is now {current}; fetch it again and re-apply")
