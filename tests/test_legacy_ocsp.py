"""OCSP under legacy: the issuer of a SHA-1-signed leaf is found, so OCSP is not skipped."""

from __future__ import annotations

import pathlib
import socket
import ssl
import warnings
from typing import Iterator

import pytest

import tlsplug
from tlsplug import TLSOptions, ocsp
from tlsplug.testing import CA
from tlsplug.testing.ocsp_responder import OCSPResponder
from tlsplug.testing.pki import LeafCert
from tlsplug.testing.servers import TLSServer
from tlsplug.testing.weak import with_digest


@pytest.fixture(scope="module")
def rsa_ca() -> CA:
    """An RSA root (SHA-1 signatures are RSA here)."""
    return CA("legacy ocsp root", key_type="rsa")


@pytest.fixture
def responder(rsa_ca: CA) -> Iterator[OCSPResponder]:
    """A responder for the root's certificates."""
    with OCSPResponder(rsa_ca) as r:
        yield r


def _sha1_leaf(ca: CA, responder: OCSPResponder, status: str) -> LeafCert:
    leaf = with_digest(ca.issue_cert("localhost", key_type="rsa", ocsp_url=responder.url),
                       "sha1")
    responder.set_status(leaf.certificate, status)
    return leaf


def _options(ca: CA, tmp_path: pathlib.Path, backend: str) -> TLSOptions:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.cert_pem)
    return TLSOptions(enabled=True, ca_file=str(ca_file), profile="legacy", backend=backend,
                      session_resumption=False)


def test_find_issuer_accepts_a_sha1_signature(rsa_ca: CA, responder: OCSPResponder) -> None:
    """The issuer of a SHA-1-signed leaf is found (its key signed it), not refused."""
    leaf = _sha1_leaf(rsa_ca, responder, "good")
    assert ocsp.find_issuer(leaf.certificate, [rsa_ca.certificate]) == rsa_ca.certificate
    other = CA("other", key_type="rsa")
    assert ocsp.find_issuer(leaf.certificate, [other.certificate]) is None


def test_revoked_sha1_leaf_fails_under_legacy(
    backend_name: str, rsa_ca: CA, responder: OCSPResponder, tmp_path: pathlib.Path
) -> None:
    """A SHA-1 leaf its responder reports revoked is ocsp-revoked, after one request."""
    if tlsplug.Feature.OCSP_ENDPOINT not in tlsplug.get_backend(backend_name).features:
        pytest.skip(f"{backend_name} does not declare Feature.OCSP_ENDPOINT here")
    leaf = _sha1_leaf(rsa_ca, responder, "revoked")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ctx = tlsplug.create_context(_options(rsa_ca, tmp_path, backend_name))
    ocsp.default_cache().clear()
    with TLSServer(cert=leaf, ciphers="ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0",
                   max_version=ssl.TLSVersion.TLSv1_2) as server:
        sock = socket.create_connection(server.address, timeout=10)
        with sock, pytest.raises(tlsplug.CertificateError) as info:
            ctx.wrap_socket(sock, server_hostname="localhost")
    assert info.value.code == "ocsp-revoked"
    assert responder.requests >= 1


def test_good_staple_for_sha1_leaf_connects(rsa_ca: CA, tmp_path: pathlib.Path) -> None:
    """pyopenssl: a valid good staple for a SHA-1-signed leaf is accepted under legacy."""
    if "pyopenssl" not in tlsplug.available_backends():
        pytest.skip("needs the pyopenssl backend (stapling)")
    from tlsplug.testing.stapling import StaplingServer

    leaf = with_digest(rsa_ca.issue_cert("localhost", key_type="rsa"), "sha1")
    staple = rsa_ca.ocsp_response(leaf.certificate, "good")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ctx = tlsplug.create_context(_options(rsa_ca, tmp_path, "pyopenssl"))
    with StaplingServer(cert=leaf, staple=staple, security_level=0,
                        max_version=ssl.TLSVersion.TLSv1_2) as server:
        sock = socket.create_connection(server.address, timeout=10)
        with sock:
            tls = ctx.wrap_socket(sock, server_hostname="localhost")
            assert tls.ocsp_status == "good (staple)"
            tls.close()
