"""The logbook as a printable HTML page (A4, one block per intervention, kept whole on a
page) for the maintenance contract's follow-up meetings: the same document from the CLI
(stylesheet inlined: one self-contained file) and from the console (stylesheet linked:
the console's CSP forbids inline styles)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from .csv_export import command_text
from .entries import LogbookEntry
from .labels import describe_flag, words

HERE = Path(__file__).parent
STYLESHEET = HERE / "print.css"

_environment = Environment(loader=FileSystemLoader(HERE / "templates"),
                           autoescape=select_autoescape(default=True, default_for_string=True),
                           trim_blocks=True, lstrip_blocks=True)


@dataclass(frozen=True)
class Heading:
    """What the document is about, for its title block."""

    vendor: str | None  # the vendor's name; None: every vendor
    since: date | None
    until: date | None
    target: str | None
    generated_at: datetime  # in the hospital's zone
    zone: str


def stylesheet_text() -> str:
    return STYLESHEET.read_text(encoding="utf-8")


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else ""


def _period(heading: Heading, w: dict[str, str]) -> str:
    if heading.since and heading.until:
        return f"{w['from']} {heading.since.isoformat()} {w['to']} {heading.until.isoformat()}"
    if heading.since:
        return f"{w['since']} {heading.since.isoformat()}"
    if heading.until:
        return f"{w['until']} {heading.until.isoformat()}"
    return w["whole_history"]


def render_printable(entries: Sequence[LogbookEntry], heading: Heading, *, language: str = "fr",
                     stylesheet_href: str | None = None, back_href: str | None = None) -> str:
    """``back_href``: a link back to the console's list, shown on screen, never printed."""
    w = words(language)
    template = _environment.get_template("printable.html")
    return template.render(
        entries=entries, heading=heading, w=w, language=language, period=_period(heading, w),
        when=_when, command_text=command_text,
        flag_text=lambda flag: describe_flag(flag, language),
        stylesheet_href=stylesheet_href, back_href=back_href,
        # Inlined only for the standalone file; the file is ours, not user input.
        inline_css=None if stylesheet_href else Markup(stylesheet_text()))  # noqa: S704
