"""Rule files are read with a strict YAML loader: no aliases, no exotic tags, no duplicate keys."""

from __future__ import annotations

import pytest

from rules.engine.yamlsafe import YamlRefused, load_strict

ALIAS_BOMB = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: [*c, *c, *c, *c, *c, *c, *c, *c, *c]
"""


def test_alias_bomb_is_refused_with_file_and_line() -> None:
    with pytest.raises(YamlRefused) as caught:
        load_strict(ALIAS_BOMB, origin="rules/library/x/bomb.yaml")
    assert str(caught.value).startswith("rules/library/x/bomb.yaml:1: anchor &a refused")


def test_alias_without_anchor_definition_is_refused() -> None:
    with pytest.raises(YamlRefused, match="x.yaml:2: alias"):
        load_strict("a: 1\nb: *nowhere\n", origin="x.yaml")


def test_python_object_tag_is_refused() -> None:
    with pytest.raises(YamlRefused) as caught:
        load_strict("schema: 1\nexploit: !!python/object/apply:os.system ['true']\n", origin="evil.yaml")
    assert "evil.yaml:2" in str(caught.value)
    assert "python/object" in str(caught.value)


@pytest.mark.parametrize("tag", ["!!binary aGk=", "!!set {a}", "!custom x", "!!timestamp 2024-01-01"])
def test_non_standard_tags_are_refused(tag: str) -> None:
    with pytest.raises(YamlRefused, match="refused"):
        load_strict(f"a: {tag}\n", origin="t.yaml")


def test_duplicate_keys_are_refused() -> None:
    with pytest.raises(YamlRefused, match="t.yaml:3: duplicate key 'value'"):
        load_strict("p:\n  value: 1e26\n  value: 1e25\n", origin="t.yaml")


def test_numbers_as_the_law_writes_them_and_dates_as_iso_strings() -> None:
    data = load_strict("a: 1e26\nb: 1.0e+26\nc: 3E25\nd: 2023-10-30\ne: 100\nf: !!str 5\n", origin="t.yaml")
    assert data == {"a": 1e26, "b": 1e26, "c": 3e25, "d": "2023-10-30", "e": 100, "f": "5"}


def test_syntax_errors_name_file_and_line() -> None:
    with pytest.raises(YamlRefused, match=r"^t.yaml:2: "):
        load_strict("a: 1\nb: c: d\n", origin="t.yaml")
