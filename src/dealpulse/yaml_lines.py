"""YAML read into plain Python values with the line of every key, so that a checked file
(a playbook, a mapping) can report every problem with its line. Only the safe loader is used:
a tag such as !!python/object is refused, never evaluated."""

from __future__ import annotations

from typing import Any

import yaml


class YamlSyntaxError(Exception):
    """The text is not YAML the safe loader accepts; `line` (1-based) where it went wrong, if known."""

    def __init__(self, line: int | None, problem: str):
        super().__init__(problem)
        self.line, self.problem = line, problem


def read_with_lines(text: str) -> tuple[Any, dict[tuple, int]]:
    """(values, lines) of a YAML text (values None for an empty text); YamlSyntaxError on bad YAML
    or on a tag the safe loader refuses."""
    lines: dict[tuple, int] = {}
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = to_python(node, lines) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise YamlSyntaxError(mark.line + 1 if mark else None, getattr(exc, "problem", None) or str(exc)) from None
    return data, lines


def to_python(node: yaml.Node, lines: dict[tuple, int], path: tuple = ()) -> Any:
    """Plain values from a composed node tree; `lines[path]` = 1-based line of each key or item."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
            lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = to_python(value_node, lines, path + (key,))
        return out
    if isinstance(node, yaml.SequenceNode):
        return [to_python(v, lines, path + (i,)) for i, v in enumerate(node.value)]
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def line_of(lines: dict[tuple, int], path: tuple) -> int | None:
    """The line of `path`, else of its nearest parent that has one."""
    p = path
    while p:
        if p in lines:
            return lines[p]
        p = p[:-1]
    return lines.get(())
