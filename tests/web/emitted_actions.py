"""Every audit action the code can emit, read from the source (ast), not from a list kept
by hand: the console's sentences (web/audit_actions.py) are checked against it.

An action reaches ``AuditLog.append(action=...)`` as a literal, an f-string over local
values, a local or module constant (``ROTATED``, ``HOLD_ACTIONS[0]``), or through a
function that passes its own parameter on (``audit_channel(action, ...)``, the SFTP
relay's ``event`` callback). Those functions are found by a fixpoint: a function whose
parameter reaches ``action=`` or the action parameter of another such function.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE = re.compile(r"^[a-z][a-z_]*\.[a-z][a-z_]*$")

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True)
class Site:
    function: FunctionNode | None
    call: ast.Call


def _sources() -> dict[Path, ast.Module]:
    files = [p for folder in ("bastion", "web") for p in (ROOT / folder).rglob("*.py")
             if "migrations" not in p.parts]
    return {p: ast.parse(p.read_text(), str(p)) for p in files}


def _calls(tree: ast.Module) -> Iterator[Site]:
    stack: list[FunctionNode] = []

    def visit(node: ast.AST) -> Iterator[Site]:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            stack.append(node)
        if isinstance(node, ast.Call):
            yield Site(stack[-1] if stack else None, node)
        for child in ast.iter_child_nodes(node):
            yield from visit(child)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            stack.pop()

    yield from visit(tree)


def _params(function: FunctionNode | None) -> list[str]:
    if function is None:
        return []
    names = [a.arg for a in function.args.args + function.args.kwonlyargs]
    return names[1:] if names and names[0] in ("self", "cls") else names


def _assigned(function: FunctionNode | None, name: str) -> list[ast.expr]:
    found: list[ast.expr] = []
    for node in ast.walk(function) if function is not None else ():
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id == name:
                    found.append(node.value)
                elif isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    found += [value for element, value in zip(target.elts, node.value.elts,
                                                              strict=False)
                              if isinstance(element, ast.Name) and element.id == name]
    return found


class Collector:
    def __init__(self) -> None:
        self.trees = _sources()
        self.constants: dict[str, list[ast.expr]] = {}
        for tree in self.trees.values():
            for node in tree.body:
                if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    for target in targets:
                        if isinstance(target, ast.Name):
                            self.constants.setdefault(target.id, []).append(node.value)
        self.sites = [site for tree in self.trees.values() for site in _calls(tree)]

    def resolve(self, expr: ast.expr, function: FunctionNode | None,
                depth: int = 0) -> tuple[set[str], str | None]:
        """(the action codes ``expr`` can be, the parameter it forwards if any)."""
        if depth > 5:
            return set(), None
        params = _params(function)
        if isinstance(expr, ast.Constant):
            return ({expr.value} if isinstance(expr.value, str) and CODE.match(expr.value)
                    else set()), None
        if isinstance(expr, ast.JoinedStr):
            results = [""]
            for part in expr.values:
                options: set[str] = set()
                if isinstance(part, ast.Constant):
                    options = {str(part.value)}
                elif isinstance(part, ast.FormattedValue) and isinstance(part.value, ast.Name):
                    for value in _assigned(function, part.value.id):
                        options |= {n.value for n in ast.walk(value)
                                    if isinstance(n, ast.Constant) and isinstance(n.value, str)}
                results = [r + o for r in results for o in sorted(options)]
            return {r for r in results if CODE.match(r)}, None
        if isinstance(expr, ast.Name):
            if expr.id in params:
                return set(), expr.id
            values = _assigned(function, expr.id)
            scope = function
            if not values:
                values, scope = self.constants.get(expr.id, []), None
            found: set[str] = set()
            for value in values:
                found |= self.resolve(value, scope, depth + 1)[0]
            return found, None
        if isinstance(expr, ast.Attribute):
            found = set()
            for value in self.constants.get(expr.attr, []):
                found |= self.resolve(value, None, depth + 1)[0]
            return found, None
        found = set()
        for child in ast.iter_child_nodes(expr):
            if isinstance(child, ast.expr):
                found |= self.resolve(child, function, depth + 1)[0]
        return found, None

    def forwarders(self) -> dict[str, tuple[int, str]]:
        """Function name -> (position, name) of its parameter that becomes the action."""
        found: dict[str, tuple[int, str]] = {}
        changed = True
        while changed:
            changed = False
            for site in self.sites:
                for argument in self._action_arguments(site.call, found):
                    _, forwarded = self.resolve(argument, site.function)
                    function = site.function
                    if forwarded and function is not None and function.name not in found:
                        found[function.name] = (_params(function).index(forwarded), forwarded)
                        changed = True
        return found

    @staticmethod
    def _action_arguments(call: ast.Call, forwarders: dict[str, tuple[int, str]]) -> list[ast.expr]:
        arguments = [k.value for k in call.keywords if k.arg == "action"]
        name = (call.func.attr if isinstance(call.func, ast.Attribute)
                else call.func.id if isinstance(call.func, ast.Name) else None)
        if name in forwarders:
            position, parameter = forwarders[name]
            if len(call.args) > position:
                arguments.append(call.args[position])
            arguments += [k.value for k in call.keywords if k.arg == parameter]
        return arguments

    def actions(self) -> set[str]:
        forwarders = self.forwarders()
        found: set[str] = set()
        for site in self.sites:
            for argument in self._action_arguments(site.call, forwarders):
                found |= self.resolve(argument, site.function)[0]
        # Defaults of forwarded parameters (``action: str = "channel.refused"``).
        for tree in self.trees.values():
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) \
                        and node.name in forwarders:
                    args = node.args
                    pairs = [*zip(args.args[::-1], args.defaults[::-1], strict=False),
                             *zip(args.kwonlyargs, args.kw_defaults, strict=True)]
                    for arg, default in pairs:
                        if arg.arg == forwarders[node.name][1] and default is not None:
                            found |= self.resolve(default, None)[0]
        return found


def emitted_actions() -> set[str]:
    return Collector().actions()
