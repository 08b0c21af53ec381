"""Staff who sign in with the hospital's directory (LDAP, Active Directory) or identity
provider (OpenID Connect) rather than a password kept here.

The directory answers who the person is and which groups they are in; this package turns
that into a staff account (``admission``) under the bastion's own rules: roles the groups
no longer back are taken away at once, roles they add wait for another admin's or the
DPO's security-key confirmation, an account the directory disabled or lost is disabled
here and its console sessions end (``directory_checks``). The security-key step of the
sign-in, and of every approval, stays whatever the first step was.
"""

from .admission import admit
from .ldap_directory import LdapDirectory
from .person import DirectoryPerson
from .role_mapping import roles_for

__all__ = ["DirectoryPerson", "LdapDirectory", "admit", "roles_for"]
