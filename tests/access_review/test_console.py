"""The access review's console pages (admins and the DPO) and its home-page block, with
the console's own forms (CSRF on), and the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from bastion.access_review import get_campaign, list_campaigns, open_campaign
from bastion.cli import main_group
from bastion.context import Bastion
from tests.access_review.conftest import DPO, after, tomorrow
from tests.approvals.conftest import World
from tests.web.supervision import as_staff, csrf, events, supervision_world
from web import create_app


def text(response) -> str:  # type: ignore[no-untyped-def]
    """The page, with the apostrophes Jinja escapes in some strings put back."""
    return response.get_data(as_text=True).replace("&#39;", "'")


@pytest.fixture
def world(core: Bastion, tmp_path: Path) -> World:
    return supervision_world(core, tmp_path)


@pytest.fixture
def app(core: Bastion) -> Flask:
    return create_app(core, {"TESTING": True})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_open_confirm_and_revoke_from_the_console(app: Flask, client: FlaskClient,
                                                   world: World) -> None:
    as_staff(app, client, world, "dave")  # an admin
    page = text(client.get("/access-reviews"))
    assert "<h1>Revues des accès</h1>" in page and "Aucune campagne n'est ouverte." in page
    token = csrf(client, "/access-reviews")
    response = client.post("/access-reviews", data={"vendor": "acme", "deadline": tomorrow().isoformat(),
                                                    "note": "revue annuelle", "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    [campaign] = list_campaigns(world.core)
    assert response.location == f"/access-reviews/{campaign.id}"
    page = client.get(response.location).get_data(as_text=True)
    assert "Revue des accès 1 de Acme Santé SAS" in page and "revue annuelle" in page
    assert page.count('action="/access-reviews/lines/') == 8  # confirm and revoke, 4 lines

    lines = {(x.technician, x.target): x.id for x in get_campaign(world.core, campaign.id).lines}
    confirm_id, revoke_id = lines[("jdupont", "dpi-app-01")], lines[("kbenali", "dpi-db-01")]
    response = client.post(f"/access-reviews/lines/{confirm_id}/confirm",
                           data={f"c{confirm_id}-comment": "toujours sous contrat", "csrf_token": token})
    assert response.status_code == 302
    # Revoking needs a reason.
    response = client.post(f"/access-reviews/lines/{revoke_id}/revoke", data={"csrf_token": token},
                           follow_redirects=True)
    assert "Indiquez pourquoi l'accès est révoqué." in text(response)
    response = client.post(f"/access-reviews/lines/{revoke_id}/revoke",
                           data={f"r{revoke_id}-reason": "n'intervient plus", "csrf_token": token},
                           follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Accès de Karim Benali à dbmaint@dpi-db-01 révoqué." in page
    decisions = {x.id: (x.decision, x.decided_by, x.comment)
                 for x in get_campaign(world.core, campaign.id).lines}
    assert decisions[confirm_id] == ("confirmed", "staff:dave", "toujours sous contrat")
    assert decisions[revoke_id] == ("revoked", "staff:dave", "n'intervient plus")
    assert [e.actor for e in events(world.core, "access_review.revoked")] == ["staff:dave"]
    # Without the CSRF token nothing changes.
    assert client.post(f"/access-reviews/lines/{confirm_id}/confirm").status_code == 400


def test_home_shows_campaigns_due_and_overdue_to_admins_and_the_dpo(
        app: Flask, client: FlaskClient, world: World) -> None:
    deadline = tomorrow()
    campaign = open_campaign(world.core, vendor="acme", deadline=deadline, actor=DPO)
    as_staff(app, client, world, "erin")
    home = client.get("/").get_data(as_text=True)
    assert "Revues des accès à terminer" in home
    assert f'href="/access-reviews/{campaign.id}"' in home
    assert re.search(r"4 accès sur 4 à confirmer d.ici le", home)
    as_staff(app, client, world, "alice")  # an approver only: not theirs
    assert "Revues des accès à terminer" not in client.get("/").get_data(as_text=True)
    assert client.get("/access-reviews").status_code == 403


def test_overdue_campaigns_can_be_closed_from_the_console(
        app: Flask, client: FlaskClient, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    deadline = tomorrow()
    open_campaign(world.core, vendor="acme", deadline=deadline, actor=DPO)
    # The console's clock, past the deadline (the core's functions take it from here).
    import bastion.access_review.campaigns as campaigns
    import bastion.access_review.views as views
    import web.blueprints.access_review as pages

    for module in (campaigns, views, pages):
        monkeypatch.setattr(module, "utcnow", lambda: after(deadline))
    as_staff(app, client, world, "erin")
    page = client.get("/access-reviews").get_data(as_text=True)
    assert "Campagnes en retard" in page and "Suspendre maintenant" in page
    assert "en retard" in client.get("/").get_data(as_text=True)
    response = client.post("/access-reviews/close-overdue", data={"csrf_token": csrf(client)},
                           follow_redirects=True)
    assert "1 campagne(s) close(s), 4 accès suspendu(s)." in response.get_data(as_text=True)
    assert [c.counts for c in list_campaigns(world.core)] == [{"suspended": 4}]


def test_the_cli(core: Bastion, world: World, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"BASTION_PATHS__VAR_DIR": str(tmp_path / "var")}

    def run(*args: str) -> str:
        result = runner.invoke(main_group, ["access-review", *args], env=env)
        assert result.exit_code == 0, result.output
        return result.output

    deadline = tomorrow().isoformat()
    assert run("open", "--vendor", "acme", "--deadline", deadline) == (
        f"access review 1 of acme: 4 access(es) to confirm by {deadline} (contract ACME-1)\n")
    again = runner.invoke(main_group, ["access-review", "open", "--vendor", "acme", "--deadline",
                                       deadline], env=env)
    assert again.exit_code == 1 and "access review 1 of vendor acme is still open" in again.output
    assert "open     acme" in run("status") and "4 pending" in run("status")
    shown = run("show", "1")
    first = int(shown.splitlines()[1].split()[0])
    assert "pending    jdupont" in shown and "maint@dpi-app-01" in shown
    assert "confirmed" in run("confirm", str(first), "--comment", "ok")
    assert run("close-overdue") == "0 campaign(s) closed, 0 access(es) suspended, 0 grant(s) revoked\n"
    assert [e.actor.startswith("cli:") for e in events(core, "access_review.confirmed")] == [True]
