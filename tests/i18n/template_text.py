"""Words written straight into a template (outside ``{{ _() }}`` and ``{% trans %}``):
what a translator never sees. Found with Jinja's own lexer, so expressions, statements
and comments are told apart from the page's text exactly as Jinja reads them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment

# Text of a page: what is outside tags and <script>/<style>; and the attributes people read.
_SKIPPED = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->", re.S | re.I)
_TAG = re.compile(r"<[^>]*>", re.S)
_READ_ATTRIBUTES = re.compile(
    r"""\b(?:title|placeholder|alt|aria-label|label|aria-description)\s*=\s*(["'])(.*?)\1""",
    re.S | re.I)
_ENTITY = re.compile(r"&(#\d+|#x[0-9a-f]+|\w+);", re.I)
# A word: two letters or more (so "×", "·", "→", "|", "/", "#3" and numbers pass).
_WORD = re.compile(r"[^\W\d_]{2,}")
# Not sentences: the product's name, units and symbols read the same in every language.
ALLOWED = {"bastion", "dpi", "ssh", "sftp", "scp", "rsync", "ins", "hds", "dpo", "url", "id",
           "utc", "ko", "mo", "go", "kb", "mb", "gb", "totp", "api", "csv", "json", "pdf",
           "webauthn", "svg", "png", "fido", "openssh", "ok", "sha"}


@dataclass(frozen=True)
class RawText:
    template: str
    line: int
    text: str


def page_text(source: str, env: Environment) -> str:
    """The template with every expression, statement and comment replaced by a mark, and
    the text of trans blocks blanked: what is left is written straight into the page.
    Newlines are kept, so offsets give line numbers."""
    out: list[str] = []
    line_now = 1
    in_trans = 0
    expect_name = False
    for line, kind, value in env.lex(source):
        if kind == "whitespace":
            continue
        if kind == "data":
            out.append(re.sub(r"[^\n]", " ", value) if in_trans else value)
            line_now += value.count("\n")
            continue
        if line > line_now:
            out.append("\n" * (line - line_now))
            line_now = line
        if kind == "block_begin":
            expect_name = True
        elif expect_name and kind == "name":
            in_trans += value == "trans"
            if value == "endtrans":
                in_trans = max(0, in_trans - 1)
            expect_name = False
        else:
            expect_name = False
        if kind.endswith("_begin"):
            out.append(MARK)
    return "".join(out)


MARK = "\x00"


def _words(fragment: str) -> list[str]:
    text = _ENTITY.sub(" ", fragment)
    return [w for w in _WORD.findall(text) if w.lower() not in ALLOWED]


def _blank(match: re.Match[str]) -> str:
    return re.sub(r"[^\n]", " ", match.group(0))


def raw_text(template: Path, root: Path, env: Environment) -> list[RawText]:
    text = _SKIPPED.sub(_blank, page_text(template.read_text(encoding="utf-8"), env))
    found = []
    pieces = [(m.start(2), m.group(2)) for m in _READ_ATTRIBUTES.finditer(text)]
    pieces += [(m.start(), m.group(0)) for m in re.finditer(r"[^<>]+(?=<|$)", _TAG_KEEP(text))]
    for offset, piece in pieces:
        if _words(piece.replace(MARK, " ")):
            found.append(RawText(str(template.relative_to(root)), text.count("\n", 0, offset) + 1,
                                 " ".join(piece.replace(MARK, "…").split())[:80]))
    return found


def _TAG_KEEP(text: str) -> str:  # noqa: N802
    """Tags replaced by empty tags of the same length (offsets stay true)."""
    return _TAG.sub(lambda m: "<" + re.sub(r"[^\n]", " ", m.group(0)[2:]) + ">"
                    if len(m.group(0)) >= 2 else m.group(0), text)


def scan(root: Path) -> list[RawText]:
    env = Environment(extensions=["jinja2.ext.i18n"])
    return [hit for path in sorted(root.rglob("*.html")) for hit in raw_text(path, root, env)]
