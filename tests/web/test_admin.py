"""Admin pages (staff, targets), the read-only vendor list, the audit browser, and the
"my security keys" rules that need no browser."""

from __future__ import annotations

from datetime import timedelta

from flask.testing import FlaskClient

from bastion.context import Bastion
from bastion.models import AuditEvent, RoleChange, StaffUser, Target, WebAuthnCredential, utcnow

from .conftest import People, add_credential, audit_actions, csrf_from
from .seed import host_key_line, seed_activity, seed_inventory, seed_vendors


def form_post(client: FlaskClient, page: str, url: str, data: dict[str, object]):
    token = csrf_from(client.get(page).get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token})


def test_create_a_staff_account(client: FlaskClient, core: Bastion, sign_in_as) -> None:
    sign_in_as("admin")
    response = form_post(client, "/admin/staff/new", "/admin/staff/new", {
        "username": "emma", "full_name": "Emma Laurent", "email": "emma@chu.example",
        "roles": ["approver", "dpo"], "password": "un mot de passe assez long",
        "confirm": "un mot de passe assez long"})
    assert response.status_code == 302
    with core.db.session() as db:
        emma = db.query(StaffUser).filter_by(username="emma").one()
        # The roles wait for a second person (tests/web/test_separation_of_duties.py).
        assert emma.role_names == set() and emma.password_hash
        change = db.query(RoleChange).filter_by(staff_id=emma.id).one()
        assert (change.status, change.roles_after) == ("pending", ["approver", "dpo"])
    page = client.get(response.location).get_data(as_text=True)
    assert "Lien d&#39;enrôlement à usage unique" in page and "/enrol/" in page
    page = client.get("/admin/staff").get_data(as_text=True)
    assert "Emma Laurent" in page
    assert "emma" in client.get("/admin/role-changes").get_data(as_text=True)
    assert ("staff.created", "ok", "staff:bob") in audit_actions(core)
    assert ("staff.role_change_proposed", "ok", "staff:bob") in audit_actions(core)


def test_staff_form_errors_are_shown_next_to_their_field(client: FlaskClient, sign_in_as) -> None:
    sign_in_as("admin")
    response = form_post(client, "/admin/staff/new", "/admin/staff/new", {
        "username": "alice", "full_name": "Doublon", "roles": ["approver"],
        "password": "court", "confirm": "autre"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'aria-invalid="true"' in page and "Au moins 12 caractères" in page
    assert "Les deux mots de passe diffèrent." in page


def test_roles_change_and_guards(client: FlaskClient, core: Bastion, people: People, sign_in_as) -> None:
    sign_in_as("admin")
    url = f"/admin/staff/{people.approver}"
    assert form_post(client, url, url, {"roles": ["approver", "admin"]}).status_code == 302
    with core.db.session() as db:
        # Granting waits for another admin's or the DPO's security key.
        assert db.get(StaffUser, people.approver).role_names == {"approver"}
    event = [e for e in audit_actions(core) if e[0].startswith("staff.role")]
    assert event == [("staff.role_change_proposed", "ok", "staff:bob")]

    mine = f"/admin/staff/{people.admin}"
    refused = form_post(client, mine, mine, {"roles": ["approver"]})
    assert refused.status_code == 400
    assert "Vous ne pouvez pas changer vos propres rôles" in refused.get_data(as_text=True)
    response = form_post(client, mine, f"{mine}/active", {})
    assert response.status_code == 302
    with core.db.session() as db:
        assert db.get(StaffUser, people.admin).active  # cannot disable oneself


def test_disable_enable_and_unlock(client: FlaskClient, core: Bastion, people: People, sign_in_as) -> None:
    with core.db.session() as db:
        user = db.get(StaffUser, people.dpo)
        user.failed_sign_ins, user.locked_until = 5, utcnow() + timedelta(minutes=10)
    sign_in_as("admin")
    url = f"/admin/staff/{people.dpo}"
    assert "verrouillé jusqu'au" in client.get(url).get_data(as_text=True)
    form_post(client, url, f"{url}/unlock", {})
    form_post(client, url, f"{url}/active", {})
    with core.db.session() as db:
        user = db.get(StaffUser, people.dpo)
        assert (user.failed_sign_ins, user.locked_until, user.active) == (0, None, False)
    form_post(client, url, f"{url}/active", {})
    with core.db.session() as db:
        assert db.get(StaffUser, people.dpo).active
    actions = [e[0] for e in audit_actions(core, "staff.")]
    assert ["staff.unlocked", "staff.disabled", "staff.enabled"] == [
        a for a in actions if a in ("staff.unlocked", "staff.disabled", "staff.enabled")]


def test_add_a_target_with_a_pasted_host_key(client: FlaskClient, core: Bastion, sign_in_as) -> None:
    sign_in_as("admin")
    key = host_key_line() + " root@dpi-app-09"
    response = form_post(client, "/targets/new", "/targets/new", {
        "name": "dpi-app-09", "host": "10.20.0.9", "port": "2222", "host_key": key,
        "accounts": "maint appadmin", "labels": "role=app\nenv=prod",
        "data_categories": ["administrative", "ins"], "description": "Serveur applicatif"})
    assert response.status_code == 302
    with core.db.session() as db:
        target = db.query(Target).filter_by(name="dpi-app-09").one()
        assert target.port == 2222 and target.labels == {"role": "app", "env": "prod"}
        assert target.data_categories == ["administrative", "ins"]
        assert target.host_key == " ".join(key.split()[:2])  # pinned without the comment
    detail = client.get(response.location).get_data(as_text=True)
    assert "SHA256:" in detail and "Identifiant national de santé (INS)" in detail


def test_a_bad_host_key_is_explained(client: FlaskClient, core: Bastion, sign_in_as) -> None:
    sign_in_as("admin")
    response = form_post(client, "/targets/new", "/targets/new", {
        "name": "dpi-app-10", "host": "10.20.0.10", "port": "22", "host_key": "ssh-ed25519 garbage",
        "accounts": "maint"})
    assert response.status_code == 400
    assert "is not an OpenSSH public key" in response.get_data(as_text=True)
    with core.db.session() as db:
        assert db.query(Target).count() == 0


def test_accounts_are_added_to_a_target(client: FlaskClient, core: Bastion, sign_in_as) -> None:
    seed_inventory(core)
    with core.db.session() as db:
        target_id = db.query(Target).filter_by(name="pacs-01").one().id
    sign_in_as("admin")
    url = f"/targets/{target_id}"
    form_post(client, url, f"{url}/accounts", {"account": "pacsbackup"})
    form_post(client, url, f"{url}/accounts", {"account": "Not Valid"})
    form_post(client, url, f"{url}/accounts", {"account": "pacsbackup"})
    with core.db.session() as db:
        names = sorted(a.name for a in db.get(Target, target_id).accounts)
    assert names == ["pacsbackup", "pacsmaint"]
    sign_in_as("approver")  # approvers read targets but do not change them
    page = client.get(url).get_data(as_text=True)
    assert "pacsbackup" in page and "Ajouter le compte" not in page


def test_vendors_page_and_expiry_warnings(client: FlaskClient, core: Bastion, sign_in_as) -> None:
    seed_vendors(core)
    sign_in_as("dpo")
    page = client.get("/vendors").get_data(as_text=True)
    assert "Médilogic SAS" in page and "EDI-2024-07" in page and "jdupont" in page
    # Marie Leroy's assignment ends within 30 days (see seed.py).
    assert "Le technicien Marie Leroy (Médilogic SAS) peut intervenir" in page


def test_homes_show_each_role_its_work(client: FlaskClient, core: Bastion, people: People,
                                       sign_in_as) -> None:
    seed_inventory(core)
    technicians = seed_vendors(core)
    seed_activity(core, technicians["jdupont"])
    sign_in_as("approver")
    page = client.get("/").get_data(as_text=True)
    assert "INC-4242" in page and "conforme au contrat" in page and "192.0.2.10" in page
    assert "Inventaire" not in page
    sign_in_as("admin")
    page = client.get("/").get_data(as_text=True)
    assert "Inventaire" in page and "INC-4242" not in page
    sign_in_as("dpo")
    page = client.get("/").get_data(as_text=True)
    assert "Accès d'urgence à revoir" in page and "INC-4242" not in page


def test_a_technician_home_shows_only_their_own_requests(client: FlaskClient, core: Bastion,
                                                         people: People, sign_in_as) -> None:
    seed_inventory(core)
    technicians = seed_vendors(core)
    seed_activity(core, technicians["mleroy"])  # somebody else's request
    sign_in_as("technician")
    page = client.get("/").get_data(as_text=True)
    assert "Mes demandes d'accès" in page and "dpi-app-01" not in page


def test_audit_browser_filters(client: FlaskClient, core: Bastion, people: People, sign_in_as) -> None:
    seed_inventory(core)
    sign_in_as("dpo")
    page = client.get("/audit?action=target.&target=pacs-01").get_data(as_text=True)
    assert "target.created" in page and "dpi-app-01" not in page
    page = client.get("/audit?actor=test:setup&outcome=ok").get_data(as_text=True)
    assert "staff.created" in page and "target.created" not in page
    tomorrow = (utcnow() + timedelta(days=2)).date().isoformat()
    page = client.get(f"/audit?start={tomorrow}").get_data(as_text=True)
    assert "Aucun événement ne correspond" in page
    assert client.get("/audit?start=not-a-date").status_code == 200  # the form says what is wrong


def test_audit_pages_by_id(app, client: FlaskClient, core: Bastion, people: People, sign_in_as) -> None:
    app.config["AUDIT_PAGE_SIZE"] = 2
    sign_in_as("dpo")
    first = client.get("/audit").get_data(as_text=True)
    assert "Événements plus anciens" in first
    with core.db.session() as db:
        newest = db.query(AuditEvent).order_by(AuditEvent.id.desc()).first().id
    older = client.get(f"/audit?before={newest - 1}").get_data(as_text=True)
    assert f"<td>{newest}</td>" not in older and f"<td>{newest - 2}</td>" in older


def test_audit_integrity(client: FlaskClient, core: Bastion, people: People, sign_in_as) -> None:
    sign_in_as("admin")
    page = client.get("/audit/integrity").get_data(as_text=True)
    assert "Les 4 événements sont intacts" in page


def test_my_keys_rename_and_never_the_last(client: FlaskClient, core: Bastion, people: People,
                                           sign_in_as) -> None:
    sign_in_as("approver")
    with core.db.session() as db:
        key_id = db.query(WebAuthnCredential).filter_by(staff_id=people.approver).one().id
    page = client.get("/account/keys").get_data(as_text=True)
    assert "Votre dernière clé ne peut pas être révoquée." in page
    # Revoking takes a security-key confirmation (tests/web/test_separation_of_duties.py):
    # a bare form post revokes nothing.
    response = form_post(client, "/account/keys", f"/account/keys/{key_id}/remove", {})
    assert response.status_code == 400
    form_post(client, "/account/keys", f"/account/keys/{key_id}/rename", {f"k{key_id}-name": "Clé jaune"})
    with core.db.session() as db:
        key = db.get(WebAuthnCredential, key_id)
        assert (key.name, key.revoked_at) == ("Clé jaune", None)
    actions = [e[0] for e in audit_actions(core, "staff.security_key")]
    assert actions == ["staff.security_key_renamed"]


def test_someone_elses_key_is_not_found(client: FlaskClient, core: Bastion, people: People,
                                        sign_in_as) -> None:
    other = add_credential(core, people.dpo, "Clé de Chloé")
    add_credential(core, people.dpo, "Autre clé de Chloé")
    sign_in_as("approver")
    assert form_post(client, "/account/keys", f"/account/keys/{other}/remove", {}).status_code == 404
    assert form_post(client, "/account/keys", f"/account/keys/{other}/rename",
                     {f"k{other}-name": "volée"}).status_code == 404
    with core.db.session() as db:
        assert db.get(WebAuthnCredential, other).name == "Clé de Chloé"
