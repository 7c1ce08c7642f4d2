"""A directly trusted self-signed leaf names no responder: DEBUG, not a WARNING per connection."""

from __future__ import annotations

import datetime
import logging
import pathlib
import socket

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import tlsplug
from tlsplug import TLSOptions
from tlsplug.testing import CA
from tlsplug.testing.pki import LeafCert
from tlsplug.testing.servers import serve


def _self_signed(name: str) -> LeafCert:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False,
                                     False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    return LeafCert(cert, key, CA("unused"))


def test_self_signed_leaf_logs_no_warning(
    backend_name: str, tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Each connection to a trusted self-signed leaf logs its missing responder at DEBUG."""
    leaf = _self_signed("localhost")
    ca_file = tmp_path / "self.pem"
    ca_file.write_bytes(leaf.certificate.public_bytes(serialization.Encoding.PEM))
    ctx = tlsplug.create_context(TLSOptions(enabled=True, ca_file=str(ca_file),
                                            backend=backend_name))
    with serve(leaf) as server, caplog.at_level(logging.DEBUG, logger="tlsplug.ocsp"):
        for _ in range(2):
            with socket.create_connection(server.address, timeout=10) as sock:
                tls = ctx.wrap_socket(sock, server_hostname="localhost")
                tls.close()
    records = [r for r in caplog.records if r.name == "tlsplug.ocsp"]
    assert not [r for r in records if r.levelno >= logging.WARNING]
    if tlsplug.get_backend(backend_name).features & {tlsplug.Feature.OCSP_ENDPOINT}:
        assert any("no responder" in r.getMessage() for r in records)
