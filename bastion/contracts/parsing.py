"""YAML text -> :class:`Contract`, with a file and line for every problem.

The YAML is composed into nodes first, so every pydantic error location (``scope``,
``windows``, 0, ``end``) can be walked back to the line the writer has to fix.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .schema import Contract

Loc = tuple[str | int, ...]
MAX_CHARACTERS = 1_000_000


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class _Loader(yaml.SafeLoader):
    """SafeLoader minus YAML 1.1's base-60 numbers, which turn an unquoted ``18:30`` into
    the integer 1110: a window written the obvious way must not silently change meaning."""


_INT = re.compile(r"""^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)
    |[-+]?0x[0-9a-fA-F_]+)$""", re.X)
_FLOAT = re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
    |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""", re.X)
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if not tag.endswith((":int", ":float"))]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:int", _INT, list("-+0123456789"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


class LineMap:
    """Finds the line of a location in the composed YAML tree."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.root = root

    def node(self, loc: Loc) -> tuple[yaml.Node | None, bool]:
        """The deepest node along ``loc``, and whether the whole path was found."""
        node = self.root
        if node is None:
            return None, False
        for part in loc:
            child = _child(node, part)
            if child is None:
                if isinstance(part, str) and not _is_field_name(part):
                    continue  # a pydantic-internal step such as 'function-after[...]'
                return node, False
            node = child
        return node, True

    def line(self, loc: Loc) -> int:
        """The line of ``loc``'s value; for a block of fields or items, the line of the key
        that opens it (a block's own first line is already its first child's)."""
        node, found = self.node(loc)
        if node is None:
            return 1
        if found and isinstance(node, yaml.CollectionNode) and loc and isinstance(loc[-1], str):
            return self.key_line(loc)
        return node.start_mark.line + 1

    def key_line(self, loc: Loc) -> int:
        """The line of the key naming ``loc`` (for a field the writer should remove)."""
        if loc:
            parent, found = self.node(loc[:-1])
            if found and isinstance(parent, yaml.MappingNode):
                for key, _ in parent.value:
                    if isinstance(key, yaml.ScalarNode) and key.value == loc[-1]:
                        return key.start_mark.line + 1
        node, _ = self.node(loc)
        return node.start_mark.line + 1 if node is not None else 1


def _child(node: yaml.Node, part: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return value
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
        if 0 <= part < len(node.value):
            return node.value[part]
    return None


def _is_field_name(part: str) -> bool:
    return part.replace("_", "").isalnum() and part.lower() == part


@dataclass
class ParsedContract:
    path: str
    text: str
    contract: Contract | None
    lines: LineMap
    problems: list[Problem] = field(default_factory=list)


def parse_contract(text: str, path: str) -> ParsedContract:
    """Never raises on bad input: every problem comes back as a :class:`Problem`."""
    if len(text) > MAX_CHARACTERS:
        return ParsedContract(path, text, None, LineMap(None), [Problem(
            path, 1, f"the file is larger than {MAX_CHARACTERS // 1000} kB: not a contract")])
    try:
        return _parse(text, path)
    except RecursionError:
        return ParsedContract(path, text, None, LineMap(None), [Problem(
            path, 1, "the file is nested too deeply to be a contract")])


def _parse(text: str, path: str) -> ParsedContract:
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        return ParsedContract(path, text, None, LineMap(None), [_yaml_problem(exc, path)])
    lines = LineMap(root)
    if root is None:
        return ParsedContract(path, text, None, lines, [Problem(path, 1, "the file is empty")])
    problems = [Problem(path, line, message) for line, message in _structure_problems(root)]
    if problems:
        return ParsedContract(path, text, None, lines, problems)
    try:
        data = _Loader(text).get_single_data()
    except yaml.YAMLError as exc:  # e.g. an unknown !tag: composes, does not construct
        return ParsedContract(path, text, None, lines, [_yaml_problem(exc, path)])
    if not isinstance(data, dict):
        return ParsedContract(path, text, None, lines, [Problem(
            path, lines.line(()), "a contract is a set of fields (vendor:, contract:, scope:, ...), "
            f"not a {_kind(data)}")])
    try:
        contract = Contract.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(error, lines, path) for error in exc.errors()]
        return ParsedContract(path, text, None, lines, sorted(set(problems)))
    return ParsedContract(path, text, contract, lines)


def _yaml_problem(exc: yaml.YAMLError, path: str) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else 1
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    detail = f"{context}, {problem}" if context else problem
    return Problem(path, line, f"not valid YAML: {detail}")


def _structure_problems(root: yaml.Node) -> list[tuple[int, str]]:
    """Duplicate keys: YAML keeps the last of two equal keys without a word, and a second
    ``valid_until`` further down must not silently replace the first. Aliases (``*name``):
    a contract has no use for them, and nested ones expand exponentially."""
    found: list[tuple[int, str]] = []
    visited: set[int] = set()
    pending = [root]
    while pending:
        node = pending.pop()
        if id(node) in visited:
            found.append((node.start_mark.line + 1,
                          "anchors and aliases (& and *) are not accepted in a contract"))
            break
        visited.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    line = key.start_mark.line + 1
                    if key.value in seen:
                        found.append((line, f"'{key.value}' is given twice "
                                            f"(first on line {seen[key.value]})"))
                    seen.setdefault(key.value, line)
                pending.append(value)
        elif isinstance(node, yaml.SequenceNode):
            pending.extend(node.value)
    return sorted(found)


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "text"
    return type(value).__name__


def dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _is_field_name(part):
            out += f".{part}" if out else part
    return out


def _describe(error: Any, lines: LineMap, path: str) -> Problem:
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    where = dotted(loc)
    if kind == "extra_forbidden":
        name = str(loc[-1])
        hint = _suggest(name, _fields_at(loc[:-1]))
        return Problem(path, lines.key_line(loc), f"{dotted(loc[:-1]) or 'top level'}: "
                                                  f"unknown field '{name}'{hint}")
    if kind == "missing":
        return Problem(path, lines.key_line(loc[:-1]), f"{where}: missing (this field is required)")
    message = error["msg"].removeprefix("Value error, ")
    got = error.get("input")
    if kind not in ("value_error", "assertion_error") and not isinstance(got, dict | list):
        message += f" (got {got!r})"
    return Problem(path, lines.line(loc), f"{where}: {message}" if where else message)


def _fields_at(loc: Loc) -> list[str]:
    """Field names of the model found at ``loc``, for a 'did you mean' hint."""
    model: type[BaseModel] | None = Contract
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int):
            continue
        info = model.model_fields.get(part)
        if info is None:
            continue
        model = _model_of(info.annotation)
    return list(model.model_fields) if model is not None else []


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _suggest(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
