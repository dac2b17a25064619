"""Strict YAML loading for rule files: safe tags only, no anchors or aliases, no duplicate keys.

Dates stay ISO strings (the schema checks them) and `1e26` reads as a number, as YAML 1.2 has it.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_STANDARD = "tag:yaml.org,2002:"
ALLOWED_TAGS = frozenset(
    _STANDARD + name for name in ("str", "int", "float", "bool", "null", "map", "seq")
)

# YAML 1.1 wants a dot in a float ("1.0e26"); rule files write "1e26", as the law does.
_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
    |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class YamlRefused(ValueError):
    """A YAML document uses a construct rule files may not use; names the file and line."""

    def __init__(self, *, file: str, line: int | None, reason: str) -> None:
        self.file = file
        self.line = line
        self.reason = reason
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {reason}")


def _line(mark: Any) -> int | None:
    return None if mark is None else mark.line + 1


MAX_DEPTH = 64  # a rule file nests a handful of levels; deeper is refused before Python's stack runs out


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors, aliases, non-standard tags, duplicate keys and deep nesting."""

    origin = "<string>"
    depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if self.depth >= MAX_DEPTH:
            raise YamlRefused(
                file=self.origin, line=_line(event.start_mark),
                reason=f"nested deeper than {MAX_DEPTH} levels: rule files are never that deep",
            )
        self.depth += 1
        try:
            return self._compose_checked(event, parent, index)
        finally:
            self.depth -= 1

    def _compose_checked(self, event: Any, parent: Any, index: Any) -> Any:
        if isinstance(event, yaml.AliasEvent):
            raise YamlRefused(
                file=self.origin, line=_line(event.start_mark),
                reason=f"alias *{event.anchor} refused: rule files may not use anchors or aliases",
            )
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise YamlRefused(
                file=self.origin, line=_line(event.start_mark),
                reason=f"anchor &{anchor} refused: rule files may not use anchors or aliases",
            )
        tag = getattr(event, "tag", None)
        if tag is not None and tag != "!" and tag not in ALLOWED_TAGS:
            raise YamlRefused(
                file=self.origin, line=_line(event.start_mark),
                reason=f"tag {tag!r} refused: only the standard str/int/float/bool/null/map/seq tags",
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool, type(None))):
                raise YamlRefused(file=self.origin, line=_line(key_node.start_mark),
                                  reason="a mapping key must be a plain scalar")
            if key in seen:
                raise YamlRefused(
                    file=self.origin, line=_line(key_node.start_mark),
                    reason=f"duplicate key {key!r}",
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _STANDARD + "timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
StrictLoader.add_implicit_resolver(_STANDARD + "float", _FLOAT, list("-+0123456789."))


def compose_strict(text: str, *, origin: str) -> tuple[Any, Any]:
    """Parse one YAML document; return (data, node) so callers can find line numbers later."""
    try:
        loader = StrictLoader(text)  # its reader refuses non-printable characters (a NUL) here
    except yaml.YAMLError as exc:
        raise YamlRefused(file=origin, line=None, reason=str(exc).splitlines()[0]) from exc
    loader.origin = origin
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except YamlRefused:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise YamlRefused(file=origin, line=_line(mark), reason=str(exc.problem or exc)) from exc
    except yaml.YAMLError as exc:
        raise YamlRefused(file=origin, line=None, reason=str(exc)) from exc
    finally:
        loader.dispose()
    return data, node


def load_strict(text: str, *, origin: str) -> Any:
    """Parse one YAML document with the strict rules above."""
    return compose_strict(text, origin=origin)[0]


def node_line(node: Any, path: tuple) -> int | None:
    """The 1-based line of the node at `path` (keys and indexes) in a composed document."""
    for step in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == step), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
        else:
            return None
        if node is None:
            return None
    return _line(node.start_mark)
