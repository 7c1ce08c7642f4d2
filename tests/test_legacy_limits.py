"""Legacy widens ciphers and versions, not what a signature or key may be (docs/design.md)."""

from __future__ import annotations

import pathlib
import socket
import ssl
import sys
import warnings
from typing import Optional

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

import tlsplug
from tlsplug import TLSOptions
from tlsplug.backend import limits_violation
from tlsplug.testing import CA
from tlsplug.testing.pki import LeafCert
from tlsplug.testing.servers import TLSServer
from tlsplug.testing.weak import resign, small_rsa_leaf, with_digest


def _needs_chain(backend: str) -> None:
    """Skip where the backend cannot see the intermediates of the verified chain."""
    if backend == "stdlib" and sys.version_info < (3, 10):
        pytest.skip("Python 3.9's ssl exposes no verified chain: the stdlib backend sees "
                    "only the leaf")

# A server that can load any certificate (security level 0 while loading and serving).
_SERVER_CIPHERS = "ECDHE-RSA-AES128-GCM-SHA256:AES256-SHA:@SECLEVEL=0"


def _outcome(backend: str, leaf: LeafCert, anchor: x509.Certificate, profile: str,
             tmp_path: pathlib.Path) -> str:
    ca_file = tmp_path / f"ca-{anchor.serial_number:x}.pem"
    from cryptography.hazmat.primitives.serialization import Encoding

    ca_file.write_bytes(anchor.public_bytes(Encoding.PEM))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ctx = tlsplug.create_context(TLSOptions(enabled=True, ca_file=str(ca_file),
                                                profile=profile, backend=backend))
    # TLS 1.2: a 512-bit RSA key cannot make a TLS 1.3 (RSA-PSS) signature.
    with TLSServer(cert=leaf, ciphers=_SERVER_CIPHERS,
                   max_version=ssl.TLSVersion.TLSv1_2) as server:
        sock = socket.create_connection(server.address, timeout=10)
        try:
            tls = ctx.wrap_socket(sock, server_hostname="localhost")
            tls.sendall(b"x")
            tls.recv(1)
            tls.close()
            return "ok"
        except tlsplug.TLSError as exc:
            return exc.code
        finally:
            sock.close()


@pytest.fixture(scope="module")
def rsa_root() -> CA:
    """An RSA root (MD5 and SHA-1 exist only as RSA signatures here)."""
    return CA("limits root", key_type="rsa")


@pytest.mark.parametrize("profile", ["legacy", "modern"])
def test_md5_leaf_is_refused(backend_name: str, rsa_root: CA, profile: str,
                             tmp_path: pathlib.Path) -> None:
    """An MD5-signed server certificate is cert-invalid under both profiles."""
    leaf = with_digest(rsa_root.issue_cert("localhost", key_type="rsa"), "md5")
    assert _outcome(backend_name, leaf, rsa_root.certificate, profile, tmp_path) == "cert-invalid"


def test_md5_intermediate_is_refused(backend_name: str, tmp_path: pathlib.Path) -> None:
    """An MD5-signed intermediate is cert-invalid under legacy."""
    _needs_chain(backend_name)
    root = CA("md5 inter root", key_type="rsa")
    inter = root.create_intermediate(key_type="rsa")
    inter.certificate = resign(inter.certificate, root.private_key, "md5")  # type: ignore[arg-type]
    leaf = inter.issue_cert("localhost", key_type="rsa")
    assert _outcome(backend_name, leaf, root.certificate, "legacy", tmp_path) == "cert-invalid"


def test_md5_self_signature_of_the_anchor_is_not_judged(backend_name: str,
                                                        tmp_path: pathlib.Path) -> None:
    """A trust anchor's own MD5 self-signature vouches for nothing and is not refused."""
    root = CA("md5 anchor", key_type="rsa")
    leaf = root.issue_cert("localhost", key_type="rsa")
    anchor = resign(root.certificate, root.private_key, "md5")  # type: ignore[arg-type]
    assert _outcome(backend_name, leaf, anchor, "legacy", tmp_path) == "ok"


@pytest.mark.parametrize(("bits", "digest", "legacy", "modern"), [
    (512, None, "cert-invalid", "cert-invalid"),
    (1024, None, "ok", "cert-invalid"),
    (2048, "sha1", "ok", "cert-invalid"),
])
def test_key_and_digest_floor_per_profile(
    backend_name: str, rsa_root: CA, tmp_path: pathlib.Path,
    bits: int, digest: Optional[str], legacy: str, modern: str,
) -> None:
    """512-bit RSA: refused everywhere; RSA-1024 and SHA-1: legacy only."""
    leaf = small_rsa_leaf(rsa_root, "localhost", bits=bits, digest=digest)
    assert _outcome(backend_name, leaf, rsa_root.certificate, "legacy", tmp_path) == legacy
    assert _outcome(backend_name, leaf, rsa_root.certificate, "modern", tmp_path) == modern


@pytest.mark.parametrize("profile", ["legacy", "modern"])
@pytest.mark.parametrize("digest", ["md5", "sha1", "sha256"])
@pytest.mark.parametrize("depth", [0, 1, 2])
def test_signature_rule_at_every_depth(rsa_root: CA, profile: str, digest: str,
                                       depth: int) -> None:
    """The signature floor applies at every depth but the anchor's (last) position."""
    inter = rsa_root.create_intermediate(key_type="rsa")
    leaf = inter.issue_cert("localhost", key_type="rsa")
    chain = [leaf.certificate, inter.certificate, rsa_root.certificate]
    signer = [inter.private_key, rsa_root.private_key, rsa_root.private_key][depth]
    chain[depth] = resign(chain[depth], signer, digest)  # type: ignore[arg-type]
    found = limits_violation(chain, profile)
    refused = digest == "md5" or (digest == "sha1" and profile == "modern")
    if depth == 2 or not refused:
        assert found is None
    else:
        assert found is not None
        assert found[1] == depth
        assert digest.upper() in found[2]


@pytest.mark.parametrize(("curve", "legacy_ok", "modern_ok"), [
    (ec.SECP192R1(), True, False),
    (ec.SECP256R1(), True, True),
])
def test_ec_key_floor(curve: ec.EllipticCurve, legacy_ok: bool, modern_ok: bool) -> None:
    """EC keys: under 160 bits refused by legacy, under 224 by modern (trust anchor too)."""
    root = CA("ec floor root")
    leaf = root.issue_cert("localhost")
    key = ec.generate_private_key(curve)
    cert = (x509.CertificateBuilder().subject_name(leaf.certificate.subject)
            .issuer_name(leaf.certificate.issuer).public_key(key.public_key())
            .serial_number(1).not_valid_before(leaf.certificate.not_valid_before_utc)
            .not_valid_after(leaf.certificate.not_valid_after_utc)
            .sign(root.private_key, leaf.certificate.signature_hash_algorithm))  # type: ignore[arg-type]
    for chain in ([cert, root.certificate], [leaf.certificate, cert]):
        assert (limits_violation(chain, "legacy") is None) == legacy_ok
        assert (limits_violation(chain, "modern") is None) == modern_ok
