"""Loading the library: content hashes, the published lock, versions in force, drafts."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import pytest

from rules.engine import lock as lock_command
from rules.engine.library import (
    LOCK_NAME,
    PublishRefused,
    content_hash,
    load_library,
    parse_rule_version,
    publish_file,
)
from rules.engine.schema import RuleFileErrors
from rules.engine.yamlsafe import load_strict

RELPATH = "us-eo-14110/2023-10-30.yaml"


def _text(root: Path) -> str:
    return (root / RELPATH).read_text(encoding="utf-8")


def test_content_hash_is_sha256_of_canonical_json(fixture_library_root: Path) -> None:
    text = _text(fixture_library_root)
    document = load_strict(text, origin="x")
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    expected = hashlib.sha256(canonical.encode()).hexdigest()
    assert parse_rule_version(text, origin="x").content_hash == expected == content_hash(document)


def test_hash_is_stable_across_comments_and_layout(fixture_library_root: Path) -> None:
    text = _text(fixture_library_root)
    reformatted = "# a new comment\n" + text.replace("jurisdiction: US", "jurisdiction:   US  # ISO")
    assert parse_rule_version(reformatted, origin="x").content_hash == parse_rule_version(text, origin="x").content_hash


def test_hash_changes_when_content_changes(fixture_library_root: Path) -> None:
    text = _text(fixture_library_root)
    edited = text.replace("value: 1e26", "value: 1e25")
    assert parse_rule_version(edited, origin="x").content_hash != parse_rule_version(text, origin="x").content_hash


def test_an_unlocked_file_is_a_draft_and_not_in_force(fixture_library_root: Path) -> None:
    library = load_library(fixture_library_root)
    version = library.get("us-eo-14110", "2023-10-30")
    assert version.published is False
    assert library.in_force("us-eo-14110", date(2024, 1, 1)) is None
    assert library.in_force("us-eo-14110", date(2024, 1, 1), include_drafts=True) is version


def test_publish_then_in_force_around_its_dates(fixture_library_root: Path) -> None:
    digest = publish_file(fixture_library_root, RELPATH)
    assert json.loads((fixture_library_root / LOCK_NAME).read_text()) == {RELPATH: digest}
    library = load_library(fixture_library_root)
    assert library.get("us-eo-14110", "2023-10-30").published is True
    in_force = {day: library.in_force("us-eo-14110", date.fromisoformat(day)) is not None
                for day in ("2023-10-29", "2023-10-30", "2025-01-19", "2025-01-20")}
    assert in_force == {"2023-10-29": False, "2023-10-30": True, "2025-01-19": True, "2025-01-20": False}


def test_republishing_an_unchanged_file_is_a_no_op(fixture_library_root: Path) -> None:
    first = publish_file(fixture_library_root, RELPATH)
    assert publish_file(fixture_library_root, RELPATH) == first


def test_an_edited_published_file_is_refused_naming_the_file(fixture_library_root: Path) -> None:
    publish_file(fixture_library_root, RELPATH)
    path = fixture_library_root / RELPATH
    path.write_text(_text(fixture_library_root).replace("value: 1e26", "value: 1e25"), encoding="utf-8")
    with pytest.raises(RuleFileErrors) as caught:
        load_library(fixture_library_root)
    message = str(caught.value)
    assert "2023-10-30.yaml" in message and "published" in message and "new version file" in message
    with pytest.raises(PublishRefused, match="new version file"):
        publish_file(fixture_library_root, RELPATH)


def test_a_published_file_may_not_be_deleted(fixture_library_root: Path) -> None:
    publish_file(fixture_library_root, RELPATH)
    (fixture_library_root / RELPATH).unlink()
    with pytest.raises(RuleFileErrors, match="the file is gone"):
        load_library(fixture_library_root)


def test_a_version_id_is_unique_within_a_regime(fixture_library_root: Path) -> None:
    (fixture_library_root / "us-eo-14110" / "copy.yaml").write_text(_text(fixture_library_root), encoding="utf-8")
    with pytest.raises(RuleFileErrors, match="version.id: '2023-10-30' already used"):
        load_library(fixture_library_root)


def test_load_library_reports_every_broken_file(fixture_library_root: Path) -> None:
    folder = fixture_library_root / "us-ca-sb53"
    folder.mkdir()
    (folder / "a.yaml").write_text("schema: 1\n", encoding="utf-8")
    (folder / "b.yaml").write_text("a: *x\n", encoding="utf-8")
    with pytest.raises(RuleFileErrors) as caught:
        load_library(fixture_library_root)
    files = {Path(error.file).name for error in caught.value.errors}
    assert files == {"a.yaml", "b.yaml"}


def test_lock_command_publishes_new_files_only(fixture_library_root: Path, capsys) -> None:
    assert lock_command.main([str(fixture_library_root)]) == 0
    assert RELPATH in capsys.readouterr().out
    assert lock_command.main([str(fixture_library_root)]) == 0
    assert capsys.readouterr().out == ""


def test_conditions_are_compiled_once_at_load(fixture_library_root: Path, monkeypatch) -> None:
    library = load_library(fixture_library_root)
    from rules.engine import conditions

    def refuse():
        raise AssertionError("parsed again")

    monkeypatch.setattr(conditions, "parser", refuse)
    from rules.engine.evaluate import evaluate

    from .snapshots import model_snapshot
    version = library.get("us-eo-14110", "2023-10-30")
    assert evaluate(model_snapshot({"training_compute_ops": 2e26}), version=version, regime="us-eo-14110",
                    as_of=date(2024, 1, 1)).status == "covered"


def test_correct_republishes_a_corrected_published_file(fixture_library_root: Path, capsys) -> None:
    old = publish_file(fixture_library_root, RELPATH)
    path = fixture_library_root / RELPATH
    path.write_text(_text(fixture_library_root).replace("value: 1e26", "value: 1e25"), encoding="utf-8")
    assert lock_command.main([str(fixture_library_root), "--correct", RELPATH]) == 0
    new = json.loads((fixture_library_root / LOCK_NAME).read_text())[RELPATH]
    assert new != old
    assert capsys.readouterr().out == f"corrected {RELPATH} {old} -> {new}\n"
    assert load_library(fixture_library_root).get("us-eo-14110", "2023-10-30").published is True
    assert lock_command.main([str(fixture_library_root), "--correct", RELPATH]) == 0  # unchanged: nothing to do
    assert capsys.readouterr().out == ""


def test_correct_refuses_a_file_that_was_never_published(fixture_library_root: Path, capsys) -> None:
    assert lock_command.main([str(fixture_library_root), "--correct", RELPATH]) == 1
    assert "not in PUBLISHED.lock" in capsys.readouterr().err
    assert not (fixture_library_root / LOCK_NAME).exists()
