"""Where the proxy writes to the technician, and whether what it writes went through the
catalogue: found in the source (ast), so a new line written as a bare English string is
caught without anyone running the session that would show it."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Calls that put text in front of the technician, and which of their arguments is that text
# (positions, or keyword names). The other arguments are for the audit trail (English).
SINKS: dict[str, tuple[tuple[int, ...], tuple[str, ...]]] = {
    "Refusal": ((0,), ()),
    "RequestNotApproved": ((0,), ()),
    "UpstreamError": ((0,), ("message",)),
    "ChannelOpenError": ((1,), ("reason",)),
    "notify": ((0,), ("line",)),
    "send_auth_banner": ((0,), ()),
    "_tell": ((1,), ("line",)),
    "terminate": ((1,), ("line",)),
    "Plan": ((1,), ("refusal",)),
}
# ``prompts.append(...)`` and ``lines.append(...)``: keyboard-interactive's questions.
SHOWN_LISTS = {"prompts", "lines"}
# What puts a message through the catalogue (the translator is called ``_`` or ``tr``).
GETTEXT = {"_", "tr", "N_", "NC_", "phrase", "Phrase", "of", "plural"}
# A word: two letters or more, but the product's name is the same in every language.
_WORDS = re.compile(r"[A-Za-z]{2,}")
ALLOWED_WORDS = {"bastion"}


@dataclass(frozen=True)
class BareLine:
    path: str
    line: int
    text: str


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _literals(node: ast.AST, translated: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    """Every string literal below ``node``, and whether a catalogue call encloses it."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node, translated
        return
    if isinstance(node, ast.Call):
        inner = translated or _name(node.func) in GETTEXT
        for child in [node.func, *node.args, *(k.value for k in node.keywords)]:
            yield from _literals(child, inner)
        return
    for child in ast.iter_child_nodes(node):
        yield from _literals(child, translated)


def _say_calls(tree: ast.AST) -> Iterator[ast.Call]:
    """``owner.say(process)(line)``: the outer call's argument is the line."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Call) \
                and _name(node.func.func) == "say":
            yield node


def bare_lines(path: Path, root: Path) -> list[BareLine]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    shown: list[ast.AST] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        sink = SINKS.get(_name(node.func) or "")
        if isinstance(node.func, ast.Attribute) and node.func.attr in ("append", "extend") \
                and _name(node.func.value) in SHOWN_LISTS:
            sink = ((0,), ())
        if sink is None:
            continue
        positions, names = sink
        shown += [node.args[i] for i in positions if i < len(node.args)]
        shown += [k.value for k in node.keywords if k.arg in names]
    shown += [arg for call in _say_calls(tree) for arg in call.args]
    found = []
    for argument in shown:
        for literal, translated in _literals(argument):
            text = literal.value  # type: ignore[attr-defined]
            words = [w for w in _WORDS.findall(text) if w.lower() not in ALLOWED_WORDS]
            if words and not translated:
                found.append(BareLine(str(path.relative_to(root)), literal.lineno,  # type: ignore[attr-defined]
                                      text[:80]))
    return found


def scan(root: Path, package: str = "bastion/proxy") -> list[BareLine]:
    return [hit for path in sorted((root / package).rglob("*.py"))
            for hit in bare_lines(path, root)]
