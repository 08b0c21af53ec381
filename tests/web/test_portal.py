"""The vendor pages with the Flask test client: a technician signs in with a password and a
one-time code, files a planned request, cancels one, downloads an approved grant's
certificate, and never sees another technician's requests or grants."""

from __future__ import annotations

import re
import subprocess
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from bastion import approvals
from bastion.audit import Actor
from bastion.context import Bastion
from bastion.models import Technician, utcnow
from bastion.totp import enrol
from tests.approvals.conftest import (
    PASSWORD,
    World,
    audit_events,
    build_world,
    contract_document,
    load_contract,
    password_hash,
)
from web import create_app

from .conftest import audit_actions, csrf_from

ADMIN = Actor("test:setup", "admin")


def setup_technician(core: Bastion, ident: str, *, password: bool = True,
                     totp: bool = True) -> pyotp.TOTP | None:
    with core.db.session() as db:
        tech = db.scalar(select(Technician).where(Technician.ident == ident))
        assert tech is not None
        tech.password_hash = password_hash() if password else None
        uri = enrol(db, core.audit, core.keys.master_key, ident, ADMIN) if totp else None
    return pyotp.parse_uri(uri) if uri else None  # type: ignore[return-value]


@pytest.fixture
def world(core: Bastion, tmp_path: Path) -> World:
    w = build_world(core, tmp_path)
    w.enrol("alice")
    return w


@pytest.fixture
def client(core: Bastion, world: World) -> FlaskClient:
    return create_app(core, {"TESTING": True}).test_client()


def post(client: FlaskClient, path: str, data: dict[str, object], page: str | None = None):  # type: ignore[no-untyped-def]
    token = csrf_from(client.get(page or path).get_data(as_text=True))
    return client.post(path, data={**data, "csrf_token": token})


def sign_in(client: FlaskClient, ident: str, totp: pyotp.TOTP, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    first = post(client, "/portal/sign-in", {"ident": ident, "password": password})
    if first.status_code != 302:
        return first
    assert first.headers["Location"].endswith("/portal/sign-in/code")
    return post(client, "/portal/sign-in/code", {"code": totp.now()})


def test_password_then_code_signs_a_technician_in(core: Bastion, client: FlaskClient) -> None:
    totp = setup_technician(core, "jdupont")
    assert totp is not None
    assert client.get("/portal/requests").status_code == 302  # anonymous: sign in first
    wrong = post(client, "/portal/sign-in", {"ident": "jdupont", "password": "nope"})
    assert wrong.status_code == 401
    # The password alone reaches nothing.
    assert post(client, "/portal/sign-in", {"ident": "jdupont", "password": PASSWORD}).status_code == 302
    assert client.get("/portal/requests").status_code == 302
    bad_code = post(client, "/portal/sign-in/code", {"code": "000000"})
    assert bad_code.status_code == 401
    done = sign_in(client, "jdupont", totp)
    assert done.status_code == 302 and done.headers["Location"].endswith("/portal/requests")
    assert client.get("/portal/requests").status_code == 200
    assert client.get("/requests").status_code == 403  # staff pages stay closed
    actions = audit_actions(core, "technician.")
    assert ("technician.signed_in", "ok", "technician:jdupont") in actions
    assert [a for a in actions if a[0] == "technician.sign_in_refused"] == [
        ("technician.sign_in_refused", "denied", "technician:jdupont")] * 2


def test_a_technician_without_a_second_factor_is_refused_clearly(core: Bastion,
                                                                 client: FlaskClient) -> None:
    setup_technician(core, "jdupont", totp=False)
    answer = post(client, "/portal/sign-in", {"ident": "jdupont", "password": PASSWORD})
    assert answer.status_code == 403
    assert "code" in answer.get_data(as_text=True)
    setup_technician(core, "kbenali", password=False)
    assert post(client, "/portal/sign-in", {"ident": "kbenali", "password": PASSWORD}).status_code == 401


def test_repeated_failures_lock_the_technician_out_on_every_node(core: Bastion,
                                                                  client: FlaskClient) -> None:
    totp = setup_technician(core, "jdupont")
    assert totp is not None
    # Wrong passwords and wrong codes both count, spread over two nodes (two apps on one
    # database): the lock is on the technician's row, not in one process.
    other_node = create_app(core, {"TESTING": True}).test_client()
    for _ in range(3):
        post(client, "/portal/sign-in", {"ident": "jdupont", "password": "wrong"})
    assert post(other_node, "/portal/sign-in", {"ident": "jdupont", "password": PASSWORD}).status_code == 302
    assert post(other_node, "/portal/sign-in/code", {"code": "000000" if totp.now() != "000000" else "111111"}).status_code == 401
    assert post(other_node, "/portal/sign-in", {"ident": "jdupont", "password": "wrong"}).status_code == 401
    third_node = create_app(core, {"TESTING": True}).test_client()
    assert sign_in(third_node, "jdupont", totp).status_code == 401
    refusals = audit_events(core, "technician.sign_in_refused")
    assert "portal sign-in locked until" in refusals[-2].reasons[0]
    assert refusals[-1].reasons == ["locked after repeated failures"]
    # The lock ends; a complete sign-in then clears the count.
    with core.db.session() as db:
        db.execute(update(Technician).where(Technician.ident == "jdupont")
                   .values(locked_until=utcnow() - timedelta(seconds=1)))
    assert sign_in(third_node, "jdupont", totp).status_code == 302
    with core.db.session() as db:
        assert db.scalar(select(Technician.failed_sign_ins).where(Technician.ident == "jdupont")) == 0


def _local(minutes: int) -> str:
    # The console's default time zone (Europe/Paris); a minute later than asked is harmless.
    from zoneinfo import ZoneInfo
    return (utcnow() + timedelta(minutes=minutes)).astimezone(ZoneInfo("Europe/Paris")).strftime(
        "%Y-%m-%dT%H:%M")


def test_file_follow_cancel_and_download_a_certificate(core: Bastion, world: World,
                                                       client: FlaskClient, tmp_path: Path) -> None:
    totp = setup_technician(core, "jdupont")
    assert totp is not None
    sign_in(client, "jdupont", totp)
    page = client.get("/portal/requests").get_data(as_text=True)
    assert "dpi-app-01|maint" in page and "dpi-db-01|dbmaint" in page
    filed = post(client, "/portal/requests", {
        "place": "dpi-app-01|maint", "window_start": _local(2), "window_end": _local(62),
        "channels": ["shell", "exec"], "reason": "mise à jour du module admissions",
        "ticket": "CHG-77"})
    assert filed.status_code == 302, filed.get_data(as_text=True)
    [mine] = approvals.list_requests(core, technician="jdupont")
    assert mine.status == "pending" and mine.source == "portal" and mine.ticket == "CHG-77"
    listing = client.get("/portal/requests").get_data(as_text=True)
    assert f'/portal/requests/{mine.id}"' in listing
    assert client.get(f"/portal/requests/{mine.id}").status_code == 200

    # Outside the contract: an account the contract does not name is refused, with reasons.
    refused = post(client, "/portal/requests", {
        "place": "dpi-app-01|appadmin", "window_start": _local(2), "window_end": _local(62),
        "channels": ["shell"], "reason": "x" * 12})
    assert refused.status_code == 400  # not among the choices the contract allows

    # Cancel a second one.
    second = world.file("jdupont")
    cancelled = post(client, f"/portal/requests/{second.id}/cancel", {}, page="/portal/requests")
    assert cancelled.status_code == 302
    assert approvals.get_request(core, second.id).status == "cancelled"

    # Approved: the grant and its certificate.
    world.approve(mine.id, "alice")
    grant_id = approvals.get_request(core, mine.id).grant_id
    assert grant_id is not None
    grants = client.get("/portal/grants").get_data(as_text=True)
    assert f"CertificateFile=grant-{grant_id}-cert.pub" in grants
    assert "jdupont+dpi-app-01+maint@" in grants
    download = client.get(f"/portal/grants/{grant_id}/certificate")
    assert download.status_code == 200 and download.mimetype == "text/plain"
    assert "attachment" in download.headers["Content-Disposition"]
    cert = tmp_path / "cert.pub"
    cert.write_bytes(download.data)
    shown = subprocess.run(["ssh-keygen", "-L", "-f", str(cert)], capture_output=True, text=True,
                           check=True).stdout
    assert re.search(r"Type: ssh-ed25519-cert-v01@openssh.com user certificate", shown)
    assert ("grant.certificate_downloaded", "ok", "technician:jdupont") in audit_actions(core, "grant.")


def test_out_of_contract_shows_the_verdict(core: Bastion, world: World, client: FlaskClient) -> None:
    # A contract without remote commands: asking for "exec" is outside it.
    load_contract(core, contract_document(channels={"shell": True, "exec": False}))
    totp = setup_technician(core, "jdupont")
    assert totp is not None
    sign_in(client, "jdupont", totp)
    refused = post(client, "/portal/requests", {
        "place": "dpi-app-01|maint", "window_start": _local(2), "window_end": _local(60),
        "channels": ["exec"], "reason": "longue intervention planifiée"})
    assert refused.status_code == 422, refused.get_data(as_text=True)[:2000]
    [row] = approvals.list_requests(core, technician="jdupont")
    assert row.status == "denied"
    page = refused.get_data(as_text=True)
    assert 'role="alert"' in page and str(row.id) in page


def test_another_technicians_requests_and_grants_are_404(core: Bastion, world: World,
                                                         client: FlaskClient) -> None:
    totp = setup_technician(core, "jdupont")
    assert totp is not None
    theirs = world.file("kbenali")
    world.approve(theirs.id, "alice")
    grant_id = approvals.get_request(core, theirs.id).grant_id
    sign_in(client, "jdupont", totp)
    assert client.get(f"/portal/requests/{theirs.id}").status_code == 404
    assert post(client, f"/portal/requests/{theirs.id}/cancel", {},
                page="/portal/requests").status_code == 404
    assert client.get(f"/portal/grants/{grant_id}/certificate").status_code == 404
    assert f"/portal/requests/{theirs.id}\"" not in client.get("/portal/requests").get_data(as_text=True)


def test_the_cli_sets_a_technician_password(core: Bastion, world: World, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from bastion.cli import main_group
    from bastion.passwords import verify_password

    secret = tmp_path / "pw"
    secret.write_text("un mot de passe assez long\n", encoding="utf-8")
    env = {"BASTION_PATHS__VAR_DIR": str(tmp_path / "var")}
    result = CliRunner().invoke(main_group, ["technicians", "set-password", "jdupont",
                                             "--password-file", str(secret)], env=env)
    assert result.exit_code == 0, result.output
    with core.db.session() as db:
        tech = db.scalar(select(Technician).where(Technician.ident == "jdupont"))
        assert tech is not None and verify_password(tech.password_hash, "un mot de passe assez long")
    assert ("technician.password_set", "ok") in [a[:2] for a in audit_actions(core, "technician.")]
