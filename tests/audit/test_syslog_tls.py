"""SIEM forwarding over TLS (RFC 5425) with the SIEM's CA pinned: a real TLS receiver with
a certificate from a test CA gets the events; one whose certificate comes from another CA
gets nothing (the bastion retries later, losing nothing); TLS without a CA is refused by
the configuration."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bastion.audit.forwarder import SyslogForwarder
from bastion.audit.syslog import SD_ID
from bastion.config import ConfigError, SyslogSettings, load_settings

from .conftest import append, events
from .syslog_receiver import Receiver


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca(tmp: Path, label: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(label)).issuer_name(_name(label))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    path = tmp / f"{label}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, path


def _server_context(tmp: Path, ca_key: ec.EllipticCurvePrivateKey,
                    ca_cert: x509.Certificate) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(_name("siem.test"))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("siem.test")]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    chain = tmp / "siem-chain.pem"
    chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file = tmp / "siem-key.pem"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain, key_file)
    return context


@pytest.fixture
def pinned(tmp_path: Path) -> Iterator[tuple[Receiver, Path]]:
    ca_key, ca_cert, ca_file = _ca(tmp_path, "siem-ca")
    server = Receiver("tls", tls=_server_context(tmp_path, ca_key, ca_cert))
    yield server, ca_file
    server.close()


def test_events_arrive_over_tls_checked_against_the_pinned_ca(acore, pinned) -> None:
    server, ca_file = pinned
    append(acore, 3)
    settings = SyslogSettings(host="127.0.0.1", port=server.port, protocol="tls",
                              ca_file=ca_file, server_name="siem.test")
    forwarder = SyslogForwarder(acore.db, settings)
    assert forwarder.forward_once() == 3
    received = server.wait_for(3)
    assert [m.sd[SD_ID]["id"] for m in received] == [str(e["id"]) for e in events(acore.db)]
    assert server.handshake_errors == []


def test_a_siem_certified_by_another_ca_gets_nothing(acore, pinned, tmp_path: Path) -> None:
    server, _ = pinned
    _, _, other_ca = _ca(tmp_path, "another-ca")
    append(acore, 2)
    settings = SyslogSettings(host="127.0.0.1", port=server.port, protocol="tls",
                              ca_file=other_ca, server_name="siem.test")
    forwarder = SyslogForwarder(acore.db, settings)
    with pytest.raises(ssl.SSLCertVerificationError):
        forwarder.forward_once()
    assert server.messages == []
    # Nothing was marked as sent: pointed at the right CA, every event still goes.
    _, ca_file = pinned
    right = SyslogForwarder(acore.db, SyslogSettings(host="127.0.0.1", port=server.port,
                                                     protocol="tls", ca_file=ca_file,
                                                     server_name="siem.test"))
    assert right.forward_once() == 2


def test_a_name_other_than_the_certificate_s_is_refused(acore, pinned) -> None:
    server, ca_file = pinned
    append(acore, 1)
    forwarder = SyslogForwarder(acore.db, SyslogSettings(
        host="127.0.0.1", port=server.port, protocol="tls", ca_file=ca_file))  # name: 127.0.0.1
    with pytest.raises(ssl.SSLCertVerificationError):
        forwarder.forward_once()
    assert server.messages == []


def test_tls_without_a_pinned_ca_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"syslog: protocol = \"tls\" needs ca_file"):
        load_settings(None, env={"BASTION_PATHS__VAR_DIR": str(tmp_path),
                                 "BASTION_SYSLOG__HOST": "siem.example",
                                 "BASTION_SYSLOG__PROTOCOL": "tls"})
