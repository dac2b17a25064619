"""The rule versions of record in the database, and the engine library built from them.

`migrate` copies each published file of `rules/library` (listed in PUBLISHED.lock) into the
database, and each library file not in PUBLISHED.lock as a draft (a text whose enactment or wording
is not yet verified), which a regulator previews and publishes from the workspace like an
uploaded draft. Drafts uploaded by regulators live only in the database until published.
Evaluations of record use published versions only.
"""
from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .engine import Library, load_library, parse_rule_version
from .engine import RuleVersion as EngineVersion
from .engine.library import rule_files
from .models import RuleVersion
from .models.rule_version import RuleVersionState

_cache_lock = threading.Lock()
_cache: dict[str, Any] = {"key": None, "library": None}


class LibraryConflict(Exception):
    pass


def engine_version(row: RuleVersion) -> EngineVersion:
    version = parse_rule_version(row.content, origin=row.origin or str(row))
    version.published = row.is_published
    return version


def _fields(version: EngineVersion) -> dict[str, Any]:
    return {
        "regime": version.regime_slug,
        "regime_title": version.regime_title,
        "version_id": version.version_id,
        "title": version.title or "",
        "legal_status": version.legal_status,
        "effective_from": version.effective_from,
        "effective_to": version.effective_to,
        "last_verified_on": version.last_verified_on,
        "provenance": version.provenance or "",
    }


def sync_library_files() -> tuple[int, int]:
    """Copies published library files into the database, and library drafts as drafts unless the
    regime already holds that version id (as a draft, or published from the workspace); returns
    (added, already there)."""
    root = settings.REGISTRY_RULE_LIBRARY
    library = load_library(root)  # refuses an edited published file
    texts = {}
    for path in rule_files(root):
        text = path.read_text(encoding="utf-8")
        texts[parse_rule_version(text, origin=str(path)).content_hash] = text
    added = present = 0
    with transaction.atomic():
        for version in library:
            if not version.published:
                continue  # drafts after every published version
            stored = RuleVersion.objects.filter(
                regime=version.regime_slug, version_id=version.version_id, state=RuleVersionState.PUBLISHED
            ).first()
            if stored is not None:
                if stored.content_sha256 != version.content_hash:
                    raise LibraryConflict(
                        f"{version.origin}: {version.regime_slug}@{version.version_id} is published with hash "
                        f"{stored.content_sha256[:12]}… but the file now hashes to {version.content_hash[:12]}…"
                    )
                present += 1
                continue
            RuleVersion.objects.create(
                **_fields(version), content=texts[version.content_hash], content_sha256=version.content_hash,
                state=RuleVersionState.PUBLISHED, origin=version.origin, published_at=timezone.now(),
            )
            added += 1
        for version in library:
            if version.published:
                continue
            if _library_draft_sync(version, texts[version.content_hash]):
                added += 1
            else:
                present += 1
    return added, present


def _library_draft_sync(version: EngineVersion, text: str) -> bool:
    """A library draft becomes a workspace draft once: never over a row of the same version id."""
    if RuleVersion.objects.filter(regime=version.regime_slug, version_id=version.version_id).exists():
        return False
    RuleVersion.objects.create(**_fields(version), content=text, content_sha256=version.content_hash,
                               state=RuleVersionState.DRAFT, origin=version.origin)
    return True


def sync_library_after_migrate(sender: Any, **kwargs: Any) -> None:
    from django.db import connections

    using = kwargs.get("using", "default")
    if RuleVersion._meta.db_table in connections[using].introspection.table_names():
        sync_library_files()


def published_library() -> Library:
    """The engine library of every published version, rebuilt only when a publication adds one."""
    rows = RuleVersion.objects.filter(state=RuleVersionState.PUBLISHED)
    key = tuple(rows.order_by("pk").values_list("pk", "content_sha256"))
    with _cache_lock:
        if _cache["key"] == key:
            return _cache["library"]
    library = Library([engine_version(row) for row in rows.order_by("pk")])
    with _cache_lock:
        _cache.update(key=key, library=library)
    return library


def draft_create(*, content: str, actor: Any = None, origin: str = "") -> RuleVersion:
    """A new draft from YAML text; a malformed file raises RuleFileErrors naming path and reason."""
    version = parse_rule_version(content, origin=origin or "uploaded draft")
    return RuleVersion.objects.create(
        **_fields(version), content=content, content_sha256=version.content_hash, state=RuleVersionState.DRAFT,
        origin=origin or f"uploaded by {getattr(actor, 'username', 'system')}", created_by=actor,
    )


def draft_update(*, draft: RuleVersion, content: str) -> RuleVersion:
    """Replaces a draft's YAML; a malformed file raises RuleFileErrors and leaves the draft as it was.
    A published version is never changed (ValueError)."""
    version = parse_rule_version(content, origin=draft.origin or "edited draft")
    with transaction.atomic():
        locked = RuleVersion.objects.select_for_update().get(pk=draft.pk)
        if locked.is_published:
            raise ValueError(f"{locked} is published: a published rule version is never changed")
        for name, value in _fields(version).items():
            setattr(locked, name, value)
        locked.content, locked.content_sha256 = content, version.content_hash
        locked.save()
    return locked
