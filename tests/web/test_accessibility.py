"""Accessibility smoke check: every input labelled, headings in order, a language on every
page, and every text colour of the stylesheet readable on its background (WCAG AA, 4.5:1)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from flask.testing import FlaskClient

from bastion.context import Bastion
from bastion.models import StaffUser, Target

from .conftest import People
from .seed import seed_activity, seed_inventory, seed_vendors

STYLESHEET = Path(__file__).resolve().parents[2] / "web" / "static" / "style.css"


class PageAudit(HTMLParser):
    """Collects what the checks need from one page."""

    def __init__(self) -> None:
        super().__init__()
        self.lang: str | None = None
        self.headings: list[int] = []
        self.labels_for: set[str] = set()
        self.controls: list[dict[str, str | None]] = []
        self.label_depth = 0
        self.buttons: list[str] = []
        self._button: list[str] | None = None
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(a["id"] or "")
        if tag == "html":
            self.lang = a.get("lang")
        elif re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        elif tag == "label":
            self.label_depth += 1
            if a.get("for"):
                self.labels_for.add(a["for"] or "")
        elif tag in ("input", "select", "textarea"):
            if tag == "input" and a.get("type") in ("hidden", "submit", "button"):
                return
            self.controls.append({**a, "tag": tag, "wrapped": "yes" if self.label_depth else None})
        elif tag == "button":
            self._button = [a.get("aria-label") or ""]

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.label_depth -= 1
        elif tag == "button" and self._button is not None:
            self.buttons.append("".join(self._button).strip())
            self._button = None

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button.append(data)


def problems_of(path: str, html: str) -> list[str]:
    page = PageAudit()
    page.feed(html)
    found = []
    if not page.lang:
        found.append(f"{path}: <html> has no lang")
    if page.headings.count(1) != 1 or not page.headings or page.headings[0] != 1:
        found.append(f"{path}: needs exactly one h1, first: {page.headings}")
    for before, after in zip(page.headings, page.headings[1:], strict=False):
        if after > before + 1:
            found.append(f"{path}: heading h{before} followed by h{after}")
    for control in page.controls:
        labelled = control.get("wrapped") or control.get("aria-label") or (
            control.get("id") in page.labels_for)
        if not labelled:
            found.append(f"{path}: {control['tag']} {control.get('name')!r} has no label")
    for text in page.buttons:
        if not text:
            found.append(f"{path}: a button has no text")
    duplicates = {i for i in page.ids if page.ids.count(i) > 1}
    if duplicates:
        found.append(f"{path}: duplicate ids {sorted(duplicates)}")
    return found


def test_every_page_passes_the_smoke_check(client: FlaskClient, core: Bastion, people: People,
                                           sign_in_as) -> None:
    seed_inventory(core)
    technicians = seed_vendors(core)
    seed_activity(core, technicians["jdupont"])
    with core.db.session() as db:
        target = db.query(Target).first().id
        staff = db.query(StaffUser).filter_by(username="alice").one().id
    pages = {
        "anonymous": ["/sign-in", "/no-such-page"],
        "key-pending": ["/sign-in/key"],
        "enrol-pending": ["/sign-in/enrol"],
        "approver": ["/", "/vendors", "/targets", f"/targets/{target}", "/account/keys",
                     "/account/sessions", "/account/preferences", "/audit"],
        "admin": ["/", "/admin/staff", "/admin/staff/new", f"/admin/staff/{staff}", "/targets/new",
                  f"/targets/{target}", "/audit", "/audit/integrity", "/audit?start=garbage"],
        "dpo": ["/", "/audit?outcome=ok"],
        "technician": ["/"],
    }
    found = []
    checked = 0
    for identity, paths in pages.items():
        sign_in_as(identity)
        for path in paths:
            response = client.get(path)
            assert response.status_code in (200, 403, 404), (identity, path, response.status_code)
            found += problems_of(f"{identity} {path}", response.get_data(as_text=True))
            checked += 1
    assert found == []
    assert checked == 24


def test_the_checker_finds_what_it_looks_for() -> None:
    bad = ('<html><body><h2>x</h2><h1>a</h1><h3>b</h3><input name="q">'
           '<button></button><p id="a"></p><p id="a"></p></body></html>')
    found = problems_of("bad", bad)
    assert len(found) == 6, found


# --- contrast ---------------------------------------------------------------------------

def luminance(hex_colour: str) -> float:
    hex_colour = hex_colour.lstrip("#")
    if len(hex_colour) == 3:
        hex_colour = "".join(c * 2 for c in hex_colour)
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: str, second: str) -> float:
    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_stylesheet_text_colours_have_enough_contrast() -> None:
    css = re.sub(r"/\*.*?\*/", "", STYLESHEET.read_text(), flags=re.S)
    root = re.search(r":root\s*{([^}]*)}", css)
    assert root is not None
    variables = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{3,6})\s*;", root.group(1)))
    rules = re.findall(r"([^{}]+){([^}]*)}", css[root.end():])
    page_background = variables["background"]
    pairs = []
    for selector, body in rules:
        declarations = dict(re.findall(r"(?:^|;)\s*([a-z-]+)\s*:\s*([^;]+)", body))
        for name in ("color", "background", "background-color"):
            value = declarations.get(name, "").strip()
            if value and not value.startswith("var(--") and value not in ("none", "transparent", "inherit"):
                raise AssertionError(f"{selector.strip()}: {name} {value}: use a variable from :root")
        colour = declarations.get("color", "").strip()
        if not colour.startswith("var(--"):
            continue
        background = (declarations.get("background") or declarations.get("background-color") or "").strip()
        text = variables[colour[6:-1]]
        behind = variables[background[6:-1]] if background.startswith("var(--") else page_background
        # Links and text inside the dark header sit on the header's background.
        if selector.strip().startswith("header.top") and not background:
            behind = variables["header-background"]
        pairs.append((selector.strip(), text, behind, contrast(text, behind)))
    too_low = [(s, t, b, round(r, 2)) for s, t, b, r in pairs if r < 4.5]
    assert too_low == []
    assert len(pairs) >= 15
    # The two colours used everywhere without their own background.
    assert contrast(variables["link"], page_background) >= 4.5
    assert contrast(variables["muted"], page_background) >= 4.5
    assert contrast(variables["muted"], variables["tag-background"]) >= 4.5
