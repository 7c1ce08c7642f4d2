"""Tests of tlsplug.testing.pki: certificates, keys, CRLs and OCSP responses."""

from __future__ import annotations

import datetime
import os
import socket
import ssl
import stat
import time
from pathlib import Path
from typing import List, Optional, Union

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tlsplug.testing import (
    CA,
    NO_IPV6,
    KeyType,
    LeafCert,
    TLSServer,
    ipv6_available,
    make_pki,
    ocsp_error_response,
)

KEY_TYPES = ["rsa", "ecdsa", "ed25519"]
# Python 3.9 lacks the constant; the OpenSSL flag value is stable.
PARTIAL_CHAIN = ssl.VerifyFlags(getattr(ssl, "VERIFY_X509_PARTIAL_CHAIN", 0x80000))
IDENTITIES = ("localhost", "127.0.0.1", "::1")


def strict_client(trust: CA) -> ssl.SSLContext:
    """A client trusting only ``trust`` with the verification flags Python 3.13 defaults to."""
    ctx = ssl.create_default_context(cadata=trust.cert_pem.decode("ascii"))
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT | PARTIAL_CHAIN
    return ctx


def talk(server: TLSServer, ctx: ssl.SSLContext, hostname: Optional[str] = None) -> bytes:
    """Handshake with ``server`` as ``hostname`` and return the echo of a short message."""
    name = hostname or server.host
    raw = socket.create_connection(server.address, timeout=10)
    with raw, ctx.wrap_socket(raw, server_hostname=name) as tls:
        tls.sendall(b"ping")
        return tls.recv(16)


def chain(key_type: str, depth: int) -> CA:
    """Return the issuing CA of a chain with ``depth`` CA levels (1 = the root issues leaves)."""
    ca = CA(key_type=key_type)
    for level in range(depth - 1):
        ca = ca.create_intermediate(f"tlsplug test intermediate {level}")
    return ca


def verify_signature(
    public_key: object, signature: bytes, data: bytes, algorithm: Optional[hashes.HashAlgorithm]
) -> None:
    """Verify a signature with any of the key types the PKI makes (raises InvalidSignature)."""
    if isinstance(public_key, rsa.RSAPublicKey):
        assert algorithm is not None
        public_key.verify(signature, data, padding.PKCS1v15(), algorithm)
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        assert algorithm is not None
        public_key.verify(signature, data, ec.ECDSA(algorithm))
    else:
        assert isinstance(public_key, ed25519.Ed25519PublicKey)
        public_key.verify(signature, data)


IPV6 = pytest.param("::1", marks=pytest.mark.skipif(not ipv6_available(), reason=NO_IPV6))

# -- chains pass strict verification in real handshakes ----------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", IPV6])
@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_chain_passes_strict_verification(key_type: str, depth: int, host: str) -> None:
    """A chain of each key type and depth verifies under VERIFY_X509_STRICT over loopback."""
    issuer = chain(key_type, depth)
    leaf = issuer.issue_cert(*IDENTITIES)
    assert len(leaf.chain) == depth - 1
    with TLSServer(cert=leaf, host=host) as server:
        assert talk(server, strict_client(leaf.root)) == b"ping"
        assert talk(server, strict_client(leaf.root), "localhost") == b"ping"


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_intermediate_is_a_partial_chain_anchor(key_type: str) -> None:
    """Trusting only the issuing intermediate works thanks to VERIFY_X509_PARTIAL_CHAIN."""
    leaf = chain(key_type, 3).issue_cert("localhost")
    with TLSServer(cert=leaf) as server:
        assert talk(server, strict_client(leaf.issuer), "localhost") == b"ping"


@pytest.mark.parametrize(
    ("expired", "message"), [(True, "certificate has expired"), (False, "not yet valid")]
)
def test_leaf_outside_validity_fails(expired: bool, message: str) -> None:
    """An expired or not-yet-valid leaf fails verification with OpenSSL's reason."""
    root = CA()
    leaf = root.issue_cert("localhost", expired=expired, not_yet_valid=not expired)
    with TLSServer(cert=leaf) as server:
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            talk(server, strict_client(root), "localhost")
        assert message in str(info.value)


def test_same_name_and_key_does_not_make_cas_interchangeable() -> None:
    """Two default-named roots that share a pooled key still do not vouch for each other."""
    roots = [CA() for _ in range(9)]  # more roots than pooled keys: two must share one
    first, second = next(
        (a, b)
        for i, a in enumerate(roots)
        for b in roots[i + 1 :]
        if a.private_key is b.private_key
    )
    leaf = first.issue_cert("localhost")
    with TLSServer(cert=leaf) as server:
        with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
            talk(server, strict_client(second), "localhost")
        assert talk(server, strict_client(first), "localhost") == b"ping"


def test_hostname_mismatch_fails() -> None:
    """A name absent from the SAN fails hostname verification."""
    root = CA()
    leaf = root.issue_cert("db.example.test")
    with (
        TLSServer(cert=leaf) as server,
        pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"),
    ):
        talk(server, strict_client(root), "other.example.test")


def test_wildcard_and_idn_identities() -> None:
    """Wildcards match one label and Unicode names are stored as A-labels."""
    root = CA()
    leaf = root.issue_cert("*.example.test", "bücher.example", "[::1]")
    san = leaf.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["*.example.test", "xn--bcher-kva.example"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["::1"]
    with TLSServer(cert=leaf) as server:
        assert talk(server, strict_client(root), "db.example.test") == b"ping"
        assert talk(server, strict_client(root), "xn--bcher-kva.example") == b"ping"
        with pytest.raises(ssl.SSLCertVerificationError):
            talk(server, strict_client(root), "a.b.example.test")


def test_leaf_extensions_are_strict_clean() -> None:
    """Leaves carry critical CA=false, keyUsage, EKU, SKI and an AKI matching the issuer SKI."""
    root = CA(key_type="rsa")
    leaf = root.issue_cert("localhost", client=True)
    ext = leaf.certificate.extensions
    basic = ext.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical
    assert not basic.value.ca
    usage = ext.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert usage.value.key_encipherment
    eku = ext.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    root_ski = root.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == root_ski.value.digest
    assert ext.get_extension_for_class(x509.SubjectAlternativeName).critical is False
    ca_basic = root.certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert ca_basic.critical
    assert ca_basic.value.ca


def test_optional_extensions() -> None:
    """ocsp_url, must_staple, include_san=False and an empty subject produce the right fields."""
    root = CA(key_type="ed25519")
    leaf = root.issue_cert(
        "localhost", ocsp_url=["http://127.0.0.1:1/a", "http://127.0.0.1:2/b"], must_staple=True
    )
    aia = leaf.certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
    assert [d.access_location.value for d in aia.value] == [
        "http://127.0.0.1:1/a",
        "http://127.0.0.1:2/b",
    ]
    feature = leaf.certificate.extensions.get_extension_for_class(x509.TLSFeature).value
    assert list(feature) == [x509.TLSFeatureType.status_request]
    cn_only = root.issue_cert("legacy.example.test", include_san=False)
    with pytest.raises(x509.ExtensionNotFound):
        cn_only.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    cn = cn_only.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert cn[0].value == "legacy.example.test"
    # With no subject the SAN is the only identity and must be critical (RFC 5280 §4.2.1.6).
    anonymous = root.issue_cert("x" * 70 + ".example.test")
    assert len(anonymous.certificate.subject) == 0
    assert anonymous.certificate.extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).critical


def test_invalid_arguments_are_rejected() -> None:
    """Contradictory or empty requests raise ValueError instead of issuing nonsense."""
    root = CA()
    with pytest.raises(ValueError, match="both expired"):
        root.issue_cert("localhost", expired=True, not_yet_valid=True)
    with pytest.raises(ValueError, match="server=True or client=True"):
        root.issue_cert("localhost", server=False)
    with pytest.raises(ValueError, match="common name"):
        root.issue_cert()
    with pytest.raises(ValueError, match="dsa"):
        KeyType("dsa")


def test_explicit_validity_and_serial() -> None:
    """not_before, not_after and serial are honoured exactly (to the second)."""
    start = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    end = start + datetime.timedelta(days=2)
    leaf = CA().issue_cert("localhost", not_before=start, not_after=end, serial=4242)
    assert leaf.certificate.not_valid_before_utc == start
    assert leaf.certificate.not_valid_after_utc == end
    assert leaf.serial == 4242


# -- keys and files ---------------------------------------------------------------------


def test_key_pool_reuses_but_never_shares_with_issuer() -> None:
    """Pooled keys repeat across leaves, never equal the issuer's, and fresh_key opts out."""
    root = CA(key_type="ecdsa")
    keys = [root.issue_cert("localhost").private_key for _ in range(20)]
    assert all(key is not root.private_key for key in keys)
    assert len({id(key) for key in keys}) <= 8
    fresh = root.issue_cert("localhost", fresh_key=True).private_key
    assert all(fresh is not key for key in keys)


def test_write_files_and_permissions(tmp_path: Path) -> None:
    """write() produces a chain file, a 0o600 encrypted key and a combined file ssl can load."""
    leaf = make_pki("rsa").leaf
    files = leaf.write(tmp_path, password=b"s3cret")
    assert files.cert_file.read_bytes() == leaf.chain_pem
    assert leaf.chain_pem.count(b"BEGIN CERTIFICATE") == 2
    assert files.combined_file is not None
    for private in (files.key_file, files.combined_file):
        assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in files.key_file.read_bytes()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_cert_chain(str(files.combined_file), password=b"s3cret")
    with pytest.raises(ssl.SSLError):
        ctx.load_cert_chain(str(files.combined_file), password=b"wrong")
    loaded = serialization.load_pem_private_key(files.key_file.read_bytes(), b"s3cret")
    assert loaded.public_key() == leaf.private_key.public_key()
    assert leaf.private_key_pem(key_format="traditional").startswith(b"-----BEGIN RSA")
    assert files.combined_file.name.endswith("-combined.pem")
    assert leaf.write(tmp_path / "plain", combined=False).combined_file is None


def test_ca_write_cert_to_file_and_directory(tmp_path: Path) -> None:
    """write_cert accepts a file path or a directory and writes the PEM certificate."""
    root = CA()
    assert root.write_cert(tmp_path / "ca.pem").read_bytes() == root.cert_pem
    assert root.write_cert(tmp_path).read_bytes() == root.cert_pem
    files = make_pki().write(tmp_path / "pki")
    assert files.ca_file.exists()
    assert files.client.combined_file is not None


def test_300_leaves_are_fast() -> None:
    """Issuing 300 leaves from the key pool is quick, and every one chains to its issuer."""
    issuer = CA().create_intermediate()
    start = time.perf_counter()
    leaves = [issuer.issue_cert(f"host{i}.example.test") for i in range(300)]
    elapsed = time.perf_counter() - start
    print(f"\n300 ECDSA leaves in {elapsed:.2f}s")
    assert len({leaf.serial for leaf in leaves}) == 300
    for leaf in leaves:
        leaf.certificate.verify_directly_issued_by(issuer.certificate)


# -- CRLs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["pem", "der"])
def test_crl_round_trip(encoding: str) -> None:
    """CRLs in PEM and DER parse back, are signed by the CA and list the revoked serials."""
    ca = CA(key_type="rsa").create_intermediate(key_type="ed25519")
    leaf = ca.issue_cert("localhost")
    data = ca.crl([leaf, 12345], encoding=encoding, reason=x509.ReasonFlags.key_compromise)
    load = x509.load_pem_x509_crl if encoding == "pem" else x509.load_der_x509_crl
    crl = load(data)
    assert crl.is_signature_valid(ca.private_key.public_key())
    assert crl.issuer == ca.certificate.subject
    entry = crl.get_revoked_certificate_by_serial_number(leaf.serial)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
        x509.ReasonFlags.key_compromise
    )
    assert crl.get_revoked_certificate_by_serial_number(12345) is not None
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number >= 1


def test_crl_is_enforced_by_openssl(tmp_path: Path) -> None:
    """OpenSSL accepts the CRL: a listed leaf fails as revoked and an unlisted one passes."""
    root = CA()
    good, bad = root.issue_cert("localhost"), root.issue_cert("localhost")
    crl_file = root.write_crl(tmp_path / "crl.pem", [bad])
    for leaf, ok in ((good, True), (bad, False)):
        ctx = strict_client(root)
        ctx.load_verify_locations(str(crl_file))
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
        with TLSServer(cert=leaf) as server:
            if ok:
                assert talk(server, ctx, "localhost") == b"ping"
            else:
                with pytest.raises(ssl.SSLCertVerificationError, match="certificate revoked"):
                    talk(server, ctx, "localhost")


# -- OCSP ---------------------------------------------------------------------------------

STATUSES = {
    "good": ocsp.OCSPCertStatus.GOOD,
    "revoked": ocsp.OCSPCertStatus.REVOKED,
    "unknown": ocsp.OCSPCertStatus.UNKNOWN,
}


def signer_key_of(response: ocsp.OCSPResponse, issuer: CA) -> object:
    """The public key a verifier would check the response with: embedded signer, else issuer."""
    certs: List[x509.Certificate] = response.certificates
    return certs[0].public_key() if certs else issuer.certificate.public_key()


def _utc(response: ocsp.OCSPResponse, name: str) -> Optional[datetime.datetime]:
    """``response.<name>_utc`` (cryptography 43+), else the naive UTC ``<name>`` made aware.

    The declared minimum, cryptography 42, has only the naive attributes for OCSP.
    """
    if hasattr(response, f"{name}_utc"):
        value: Optional[datetime.datetime] = getattr(response, f"{name}_utc")
        return value
    naive: Optional[datetime.datetime] = getattr(response, name)
    return naive.replace(tzinfo=datetime.timezone.utc) if naive is not None else None


@pytest.mark.parametrize("signer", ["issuer", "delegate", "unrelated"])
@pytest.mark.parametrize("status", ["good", "revoked", "unknown"])
@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_ocsp_response(key_type: str, status: str, signer: str) -> None:
    """Responses load, report the status for the right serial, and verify with the signer key."""
    issuer = CA(key_type=key_type).create_intermediate()
    leaf = issuer.issue_cert("localhost")
    response = ocsp.load_der_ocsp_response(issuer.ocsp_response(leaf, status, signer=signer))
    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status is STATUSES[status]
    assert response.serial_number == leaf.serial
    assert isinstance(response.hash_algorithm, hashes.SHA1)
    this_update, next_update = _utc(response, "this_update"), _utc(response, "next_update")
    assert this_update is not None
    assert next_update is not None
    assert this_update < datetime.datetime.now(datetime.timezone.utc)
    assert next_update > datetime.datetime.now(datetime.timezone.utc)
    key = signer_key_of(response, issuer)
    verify_signature(
        key, response.signature, response.tbs_response_bytes, response.signature_hash_algorithm
    )
    if status == "revoked":
        assert _utc(response, "revocation_time") is not None
    if signer == "issuer":
        assert response.certificates == []
    else:
        (embedded,) = response.certificates
        if signer == "delegate":
            embedded.verify_directly_issued_by(issuer.certificate)
            eku = embedded.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            assert ExtendedKeyUsageOID.OCSP_SIGNING in eku
        else:
            with pytest.raises((ValueError, InvalidSignature)):
                embedded.verify_directly_issued_by(issuer.certificate)
            with pytest.raises(InvalidSignature):
                verify_signature(
                    issuer.certificate.public_key(),
                    response.signature,
                    response.tbs_response_bytes,
                    response.signature_hash_algorithm,
                )


def test_ocsp_delegate_is_cached_and_eku_less_variant_exists() -> None:
    """The delegate is issued once per CA, and the EKU-less look-alike lacks OCSPSigning."""
    issuer = CA()
    assert issuer.ocsp_responder_cert() is issuer.ocsp_responder_cert()
    rogue = issuer.ocsp_responder_cert(with_eku=False)
    eku = rogue.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.OCSP_SIGNING not in eku
    response = ocsp.load_der_ocsp_response(
        issuer.ocsp_response(issuer.issue_cert("localhost"), signer="delegate-without-eku")
    )
    assert response.certificates == [rogue.certificate]


def test_ocsp_variants() -> None:
    """Expired windows, SHA-256 CertIDs, name responder IDs, nonces and forged signatures work."""
    issuer = CA(key_type="rsa")
    leaf = issuer.issue_cert("localhost")
    now = datetime.datetime.now(datetime.timezone.utc)
    expired = ocsp.load_der_ocsp_response(issuer.ocsp_response(leaf, expired=True))
    expired_next = _utc(expired, "next_update")
    assert expired_next is not None
    assert expired_next < now
    sha256 = ocsp.load_der_ocsp_response(
        issuer.ocsp_response(leaf, hash_algorithm=hashes.SHA256(), responder_id="name")
    )
    assert isinstance(sha256.hash_algorithm, hashes.SHA256)
    assert sha256.responder_name == issuer.certificate.subject
    assert sha256.responder_key_hash is None
    nonce = ocsp.load_der_ocsp_response(issuer.ocsp_response(leaf, nonce=b"0123456789abcdef"))
    assert nonce.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == (
        b"0123456789abcdef"
    )
    no_next = ocsp.load_der_ocsp_response(issuer.ocsp_response(leaf, include_next_update=False))
    assert _utc(no_next, "next_update") is None
    forged = ocsp.load_der_ocsp_response(issuer.ocsp_response(leaf, corrupt_signature=True))
    assert forged.serial_number == leaf.serial
    with pytest.raises(InvalidSignature):
        verify_signature(
            issuer.certificate.public_key(),
            forged.signature,
            forged.tbs_response_bytes,
            forged.signature_hash_algorithm,
        )


def test_ocsp_for_foreign_certificate_has_foreign_serial() -> None:
    """A response about another CA's certificate keeps that serial but this issuer's CertID."""
    issuer, other = CA(), CA()
    foreign = other.issue_cert("localhost")
    response = ocsp.load_der_ocsp_response(issuer.ocsp_response(foreign))
    assert response.serial_number == foreign.serial
    own = ocsp.load_der_ocsp_response(issuer.ocsp_response(issuer.issue_cert("localhost")))
    assert response.issuer_key_hash == own.issuer_key_hash


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("try_later", ocsp.OCSPResponseStatus.TRY_LATER),
        ("tryLater", ocsp.OCSPResponseStatus.TRY_LATER),
        ("internalError", ocsp.OCSPResponseStatus.INTERNAL_ERROR),
        (ocsp.OCSPResponseStatus.UNAUTHORIZED, ocsp.OCSPResponseStatus.UNAUTHORIZED),
    ],
)
def test_ocsp_error_response(
    status: Union[str, ocsp.OCSPResponseStatus], expected: ocsp.OCSPResponseStatus
) -> None:
    """Unsuccessful responses carry the requested status and no body."""
    response = ocsp.load_der_ocsp_response(ocsp_error_response(status))
    assert response.response_status is expected


def test_ocsp_error_response_rejects_nonsense() -> None:
    """Unknown statuses and SUCCESSFUL (which needs a body) raise ValueError."""
    with pytest.raises(ValueError, match="unknown"):
        ocsp_error_response("later-maybe")
    with pytest.raises(ValueError, match="needs a body"):
        ocsp_error_response(ocsp.OCSPResponseStatus.SUCCESSFUL)


def test_leaf_repr_and_accessors() -> None:
    """LeafCert exposes DER, PEM, root and key type consistently."""
    pki = make_pki("ed25519")
    leaf: LeafCert = pki.leaf
    assert x509.load_der_x509_certificate(leaf.cert_der) == leaf.certificate
    assert leaf.root is pki.root
    assert leaf.issuer is pki.intermediate
    assert leaf.key_type is KeyType.ED25519
    assert "localhost" in repr(leaf)
