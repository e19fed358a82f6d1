"""YAML loading that remembers the line of every mapping and key, for precise error messages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import yaml


class LinedDict(dict[str, Any]):
    line: int = 0
    key_lines: dict[str, int]


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LinedDict:
    loader.flatten_mapping(node)
    mapping = LinedDict()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[str(key)] = key_node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_with_lines(text: str) -> Any:
    return yaml.load(text, Loader=_LineLoader)


def line_of(mapping: Any, key: str | None = None) -> int:
    if isinstance(mapping, LinedDict):
        if key is not None and key in mapping.key_lines:
            return mapping.key_lines[key]
        return mapping.line
    return 0


def locate(
    document: Any, loc: Sequence[str | int], label: Callable[[str], str] = str
) -> tuple[int, str]:
    """The line and the name (``agencies[0].name``) of a place in a document from
    load_with_lines, given as a pydantic error's location. A missing key is on its mapping's
    line. An index into a list of plain values is left out of the name: such a list is written
    on one line (``[U0123LEAD, U0456LEAD]``), which its key's line is. ``label`` shortens a
    key for the name."""
    node, line = document, 0
    name = ""
    for part in loc:
        if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            if any(isinstance(item, dict | list) for item in node):
                name += f"[{part}]"
            node = node[part]
            line = line_of(node) or line
        elif isinstance(node, dict):
            key = str(part)
            line = line_of(node, key) or line
            name += f".{label(key)}" if name else label(key)
            node = node.get(part)
        else:
            break
    return line, name
