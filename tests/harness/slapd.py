"""A throwaway OpenLDAP ``slapd`` (Debian's slapd package): its own slapd.conf, an mdb
database loaded with slapadd from LDIF, StartTLS with a CA made here, on a free loopback
port. It stands in for the hospital's directory: OpenLDAP-style people in groupOfNames,
plus Active Directory's ``userAccountControl`` (its OID, declared in a small schema) so
the "disabled in AD" bit travels over real LDAP."""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .ports import free_port, wait_for_port

SLAPD = "/usr/sbin/slapd"
INSTALL_HINT = ("OpenLDAP's slapd not found: run 'apt-get install slapd ldap-utils' "
                "('make test' does this itself when run as root)")
SUFFIX = "dc=hopital,dc=example"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "root secret for the test directory"  # noqa: S105 - a throwaway test directory
SERVICE_DN = f"cn=bastion,ou=services,{SUFFIX}"
SERVICE_PASSWORD = "service secret for the bastion"  # noqa: S105
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"

AD_SCHEMA = """\
# Active Directory's attributes, under their AD OIDs, so an OpenLDAP entry can carry them.
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
    EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName'
    EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.4203.666.11.99.1 NAME 'bastionTestADUser' AUXILIARY
    MAY ( userAccountControl $ sAMAccountName ) )
"""

SLAPD_CONF = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include {dir}/ad.schema
pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCACertificateFile {dir}/ca.pem
TLSCertificateFile {dir}/server.pem
TLSCertificateKeyFile {dir}/server.key
database mdb
maxsize 10485760
suffix "{suffix}"
rootdn "{root_dn}"
rootpw {root_hash}
directory {dir}/data
index objectClass,uid,member eq
access to attrs=userPassword by self read by anonymous auth by * none
access to * by dn.exact="{service_dn}" read by self read by * none
"""


def _hash(password: str) -> str:
    return subprocess.run(["slappasswd", "-s", password], check=True, capture_output=True,
                          text=True).stdout.strip()


def _write_tls(directory: Path) -> None:
    """A CA and a server certificate for "localhost" and 127.0.0.1 (StartTLS)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test directory CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .sign(ca_key, hashes.SHA256()))
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "server.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))


@dataclass(frozen=True)
class Person:
    uid: str
    full_name: str
    password: str
    groups: tuple[str, ...] = ()  # group cn
    account_control: int | None = None  # AD userAccountControl (0x2: disabled)


@dataclass
class SlapdServer:
    people: list[Person] = field(default_factory=list)
    groups: tuple[str, ...] = ("dpi-approvers", "dpi-admins", "dpi-dpo", "cafeteria")
    port: int = 0

    def ldif(self) -> str:
        blocks = [
            f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: hopital\n"
            "o: Centre hospitalier (test)\n",
            f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n",
            f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups\n",
            f"dn: ou=services,{SUFFIX}\nobjectClass: organizationalUnit\nou: services\n",
            f"dn: {SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
            f"cn: bastion\nuserPassword: {_hash(SERVICE_PASSWORD)}\n",
        ]
        for person in self.people:
            extra = ""
            if person.account_control is not None:
                extra = (f"objectClass: bastionTestADUser\nsAMAccountName: {person.uid}\n"
                         f"userAccountControl: {person.account_control}\n")
            blocks.append(
                f"dn: uid={person.uid},{PEOPLE}\nobjectClass: inetOrgPerson\n{extra}"
                f"uid: {person.uid}\ncn: {person.full_name}\nsn: {person.full_name.split()[-1]}\n"
                f"mail: {person.uid}@hopital.example\nuserPassword: {_hash(person.password)}\n")
        for group in self.groups:
            members = [f"member: uid={p.uid},{PEOPLE}" for p in self.people if group in p.groups]
            # groupOfNames needs one member: the service account stands in for an empty group.
            members = members or [f"member: {SERVICE_DN}"]
            blocks.append(f"dn: cn={group},{GROUPS}\nobjectClass: groupOfNames\ncn: {group}\n"
                          + "\n".join(members) + "\n")
        return "\n".join(blocks)

    def start(self) -> SlapdServer:
        if not Path(SLAPD).exists() or not shutil.which("slappasswd"):
            raise RuntimeError(INSTALL_HINT)
        self.dir = Path(tempfile.mkdtemp(prefix="slapd-"))
        (self.dir / "data").mkdir()
        (self.dir / "ad.schema").write_text(AD_SCHEMA)
        _write_tls(self.dir)
        self.conf = self.dir / "slapd.conf"
        self.conf.write_text(SLAPD_CONF.format(dir=self.dir, suffix=SUFFIX, root_dn=ROOT_DN,
                                               root_hash=_hash(ROOT_PASSWORD),
                                               service_dn=SERVICE_DN))
        (self.dir / "data.ldif").write_text(self.ldif())
        loaded = subprocess.run(["/usr/sbin/slapadd", "-f", str(self.conf), "-l",
                                 str(self.dir / "data.ldif")], capture_output=True, text=True)
        if loaded.returncode != 0:
            raise RuntimeError(f"slapadd failed: {loaded.stderr.strip()}")
        self.port = self.port or free_port()
        self.log = open(self.dir / "slapd.log", "w")  # noqa: SIM115 - closed in stop()
        # -d 0: stay in the foreground (a child we can stop), logging nothing but errors.
        self.process = subprocess.Popen(
            [SLAPD, "-f", str(self.conf), "-h", f"ldap://127.0.0.1:{self.port}/", "-d", "0"],
            stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_for_port(self.port)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"slapd did not start: {(self.dir / 'slapd.log').read_text()}") from None
        return self

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self.dir / "ca.pem"

    def modify(self, ldif: str) -> None:
        """Change the directory as its administrators would, with OpenLDAP's ldapmodify."""
        result = subprocess.run(
            ["ldapmodify", "-x", "-H", self.url, "-D", ROOT_DN, "-w", ROOT_PASSWORD],
            input=ldif, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"ldapmodify failed: {result.stderr.strip()}")

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.dir, ignore_errors=True)

    def halt(self) -> None:
        """The directory goes down (its files, the CA the bastion trusts included, stay)."""
        process = getattr(self, "process", None)
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if getattr(self, "log", None):
            self.log.close()
