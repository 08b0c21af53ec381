"""The [ldap], [oidc] and [sign_in] settings refuse what would weaken the sign-in, with one
line naming the key; and the group -> role mapping both directories share."""

from __future__ import annotations

import pytest

from bastion.config import ConfigError, load_settings
from bastion.directory import roles_for
from bastion.models import STAFF_ROLES
from tests.conftest import SECOND_FACTOR_OFF

LDAP = {"BASTION_LDAP__URL": "ldap://dc1.hopital.example", "BASTION_LDAP__START_TLS": "true",
        "BASTION_LDAP__USER_BASE": "ou=people,dc=hopital,dc=example",
        "BASTION_LDAP__GROUP_BASE": "ou=groups,dc=hopital,dc=example",
        "BASTION_LDAP__ROLE_GROUPS": '{approver = ["cn=dpi-approvers,ou=groups,dc=hopital,dc=example"]}'}


def load(**env: str):
    return load_settings(None, env={**SECOND_FACTOR_OFF, **env})


def refused(**env: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(**env)
    return str(caught.value)


def test_a_complete_ldap_section_loads() -> None:
    settings = load(**LDAP)
    assert settings.ldap.role_groups == {"approver": ("cn=dpi-approvers,ou=groups,dc=hopital,dc=example",)}


def test_weakening_settings_are_refused_with_the_key_named() -> None:
    assert "needs start_tls = true" in refused(**{**LDAP, "BASTION_LDAP__START_TLS": "false"})
    assert "unknown role(s) nurse" in refused(**{**LDAP, "BASTION_LDAP__ROLE_GROUPS": '{nurse = ["cn=x"]}'})
    assert "bind_password_file" in refused(**LDAP, BASTION_LDAP__BIND_DN="cn=bastion,dc=hopital,dc=example")
    assert "only administrators could sign in" in refused(BASTION_SIGN_IN__LOCAL_PASSWORDS="admins")
    assert "must be an https:// URL" in refused(BASTION_OIDC__ISSUER="http://idp.hopital.example",
                                                BASTION_OIDC__CLIENT_ID="x",
                                                BASTION_OIDC__ROLE_GROUPS='{dpo = ["dpo"]}')
    assert "needs client_id and role_groups" in refused(BASTION_OIDC__ISSUER="https://idp.hopital.example")
    assert "oidc.role_groups" in refused(BASTION_OIDC__ISSUER="https://idp.hopital.example",
                                         BASTION_OIDC__CLIENT_ID="x",
                                         BASTION_OIDC__ROLE_GROUPS='{root = ["x"]}')


def test_the_config_knows_the_console_roles() -> None:
    from bastion.config import _ROLE_NAMES

    assert set(_ROLE_NAMES) == set(STAFF_ROLES)


def test_groups_map_to_roles_case_and_spacing_aside() -> None:
    mapping = {"approver": ["cn=dpi-approvers,ou=groups,dc=h"], "admin": ["CN=DPI-Admins, OU=Groups,DC=h"],
               "dpo": ["dpo-group"]}
    assert roles_for(["cn=DPI-Approvers,ou=groups,dc=h", "cn=dpi-admins,ou=groups,dc=h", "other"],
                     mapping) == {"admin": ["cn=dpi-admins,ou=groups,dc=h"],
                                  "approver": ["cn=DPI-Approvers,ou=groups,dc=h"]}
    assert roles_for([], mapping) == {}
