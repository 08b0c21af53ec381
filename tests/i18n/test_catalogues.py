"""One translation system, checked where a missing translation would come from: every
message of the bastion's catalogue (SSH lines, e-mails, reports, refusal reasons) and of
the console's has a French translation with the same placeholders; the committed .mo files
are their .po compiled; no template writes words outside the catalogue; no line the proxy
sends the technician is a bare string."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from bastion.i18n.catalogue import translator
from bastion.proxy import messages

from . import technician_lines, template_text

ROOT = Path(__file__).resolve().parents[2]
BASTION_PO = ROOT / "bastion" / "translations" / "fr" / "LC_MESSAGES" / "bastion.po"
WEB_PO = ROOT / "web" / "translations" / "fr" / "LC_MESSAGES" / "messages.po"
# The keywords of bastion/babel.cfg's extract command (and the Makefile's), with pybabel's
# defaults (``_``, ``gettext``...).
BASTION_KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None, "NC_": ((1, "c"), 2), "tr": None,
                    "plural": (1, 2)}
BRACES = re.compile(r"\{(\w*)\}")
PERCENT = re.compile(r"%\((\w+)\)[sd]")


def bastion_source_messages() -> set[str]:
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT / "bastion"), method_map, keywords=BASTION_KEYWORDS):
        found.add(message if isinstance(message, str) else message[0])
    return found


def catalogue(po: Path) -> dict[tuple[str | None, str], tuple[str, bool]]:
    """(context, msgid) -> (French text, fuzzy)."""
    return {(m.context, m.id if isinstance(m.id, str) else m.id[0]):
            (m.string if isinstance(m.string, str) else m.string[0], "fuzzy" in m.flags)
            for m in read_po(po.open("rb")) if m.id}


def test_every_bastion_message_has_a_french_translation() -> None:
    french = catalogue(BASTION_PO)
    translated = {msgid for (_, msgid), (text, fuzzy) in french.items() if text and not fuzzy}
    missing = sorted(bastion_source_messages() - translated)
    assert missing == [], "translate these in bastion/translations (see bastion/babel.cfg)"


def test_the_bastion_catalogue_holds_no_stale_message() -> None:
    stale = sorted({msgid for _, msgid in catalogue(BASTION_PO)} - bastion_source_messages())
    assert stale == [], "run `make translations` to drop messages no longer in the code"


@pytest.mark.parametrize("po, pattern", [(BASTION_PO, BRACES), (WEB_PO, PERCENT)],
                         ids=["bastion", "web"])
def test_translations_keep_every_placeholder(po: Path, pattern: re.Pattern[str]) -> None:
    wrong = [msgid for (_, msgid), (text, _f) in catalogue(po).items()
             if text and sorted(pattern.findall(msgid)) != sorted(pattern.findall(text))]
    assert wrong == []


@pytest.mark.parametrize("po", [BASTION_PO, WEB_PO], ids=["bastion", "web"])
def test_the_committed_mo_is_the_po_compiled(po: Path) -> None:
    mo = po.with_suffix(".mo")
    source = {(m.context, m.id): m.string for m in read_po(po.open("rb")) if m.id}
    compiled = {(m.context, m.id): m.string for m in read_mo(io.BytesIO(mo.read_bytes()))
                if m.id}
    assert compiled == source, f"run: make translations (pybabel compile for {po.name})"


def test_no_template_writes_words_outside_the_catalogue() -> None:
    found = [*template_text.scan(ROOT / "web" / "templates"),
             *template_text.scan(ROOT / "bastion" / "logbook" / "templates")]
    assert found == [], "wrap these in {{ _() }} or {% trans %}, then make translations"


def test_the_template_check_sees_a_bare_sentence(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text('{% extends "base.html" %}{% block main %}\n'
                    '<h1>{{ _("Requests") }}</h1>\n'
                    '<p>{% trans n=3 %}{{ n }} waiting{% endtrans %}</p>\n'
                    '<a href="{{ url_for("x") }}" title="Open it">{{ r.id }}</a>\n'
                    '<p class="muted">Nothing to approve.</p>{% endblock %}\n')
    found = [(hit.line, hit.text) for hit in template_text.scan(tmp_path)]
    assert found == [(4, "Open it"), (5, "Nothing to approve.")]


def test_every_line_the_proxy_sends_goes_through_the_catalogue() -> None:
    bare = technician_lines.scan(ROOT)
    assert bare == [], "put these through the translator (owner.tr / self.tr) and the catalogue"


def test_the_proxy_check_sees_a_bare_line(tmp_path: Path) -> None:
    package = tmp_path / "proxy"
    package.mkdir()
    (package / "lines.py").write_text(
        "def f(owner, process, target):\n"
        "    owner.notify(owner.tr('bastion: access to {target} ends', target=target))\n"
        "    raise Refusal(f'no grant for {target}: ask the IT')\n"
        "    owner.say(process)('bastion: waiting')\n"
        "    owner.terminate('idle', line=owner.tr('closed'))\n")
    found = [(hit.line, hit.text) for hit in technician_lines.scan(tmp_path, "proxy")]
    assert found == [(3, "no grant for "), (3, ": ask the IT"), (4, "bastion: waiting")]


def message_constants() -> list[tuple[str, str]]:
    found = []
    for name, value in vars(messages).items():
        if name.isupper() and isinstance(value, str):
            found.append((name, value))
        elif name.isupper() and isinstance(value, dict):
            found += [(f"{name}[{key}]", text) for key, text in value.items()]
    return found


@pytest.mark.parametrize("name, message", message_constants(), ids=lambda v: str(v)[:30])
def test_every_ssh_message_reads_in_french_and_english(name: str, message: str) -> None:
    params = {key: f"<{key}>" for key in BRACES.findall(message)}
    english = translator("en")(message, **params)
    french = translator("fr")(message, **params)
    assert english == message.format(**params)
    assert french != english, f"{name} has no French translation"
    assert "{" not in french and all(value in french for value in params.values())


def test_cli_times_name_their_zone() -> None:
    from datetime import UTC, datetime

    from bastion.cli.common import clock

    instant = datetime(2026, 7, 1, 2, 30, tzinfo=UTC)
    assert clock(instant, "Europe/Paris") == "2026-07-01 04:30 CEST"
    assert clock(instant.replace(tzinfo=None), "UTC", seconds=True) == "2026-07-01 02:30:00 UTC"
    assert clock(instant, "America/Cayenne") == "2026-06-30 23:30 UTC-03"
