"""Trust material is parsed once by ``load_materials``; every consumer reads those objects."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

import tlsplug
from tlsplug import CertificateError, TLSOptions
from tlsplug.backend import load_materials, trust_anchors
from tlsplug.testing import CA, TLSServer


def test_trust_carries_every_explicit_certificate_parsed(tmp_path: Path) -> None:
    """tlsCAFile, ca_data (DER) and tlsCADirectory end up in Trust.certs, in that order."""
    from_file, from_data, from_dir = CA("file root"), CA("data root"), CA("dir root")
    directory = tmp_path / "cas"
    directory.mkdir()
    from_dir.write_cert(directory / "dir.pem")
    materials = load_materials(TLSOptions(
        enabled=True, ca_file=str(from_file.write_cert(tmp_path / "file.pem")),
        ca_data=from_data.cert_der, ca_dir=str(directory),
    ))
    trust = materials.trust
    expected = [from_file, from_data, from_dir]
    assert [c.subject for c in trust.certs] == [ca.certificate.subject for ca in expected]
    assert trust.ders == tuple(ca.cert_der for ca in expected)
    assert trust.certificates() == trust.certs  # no store file: nothing more to list
    assert trust.complete()
    assert trust_anchors(materials) is trust.certs


# certifi ships a root with a serial number of 0, which cryptography warns about.
@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
def test_store_file_is_listed_on_first_use_then_kept() -> None:
    """certifi's bundle is parsed when first listed; the second call returns the same tuple."""
    trust = load_materials(TLSOptions(enabled=True, trust_store="certifi")).trust
    assert trust.certs == ()
    listed = trust.certificates()
    assert listed
    assert trust.certificates() is listed
    assert trust.complete()


def _strict_root() -> CA:
    # basicConstraints and keyUsage as `openssl req -x509` leaves them: refused under modern.
    return CA("root without key usage", strict_defect="no-key-usage")


def test_strict_refusal_names_a_root_given_in_memory() -> None:
    """The refusal names a root that came from ca_data, not only one read from tlsCAFile."""
    root = _strict_root()
    with TLSServer(cert=root.issue_cert("localhost")) as server, \
            pytest.raises(CertificateError) as info:
        tlsplug.connect(("localhost", server.address[1]),
                        TLSOptions(ca_data=root.cert_pem), timeout=10.0)
    assert root.certificate.subject.rfc4514_string() in str(info.value)
    assert "the root CA" in str(info.value)


def test_strict_refusal_needs_no_second_read_of_the_ca_file(tmp_path: Path) -> None:
    """A context still names the refused root after tlsCAFile is gone: it was parsed once."""
    root = _strict_root()
    ca_file = root.write_cert(tmp_path / "ca.pem")
    ctx = tlsplug.create_context(TLSOptions(ca_file=str(ca_file)))
    os.remove(ca_file)
    with TLSServer(cert=root.issue_cert("localhost")) as server:
        sock = socket.create_connection(server.address, timeout=10.0)
        try:
            with pytest.raises(CertificateError) as info:
                ctx.wrap_socket(sock, server_hostname="localhost")
        finally:
            sock.close()
    assert root.certificate.subject.rfc4514_string() in str(info.value)
