"""A small, strict-X.509-clean test PKI built on :mod:`cryptography`.

Example::

    root = CA()
    leaf = root.create_intermediate().issue_cert("localhost", "127.0.0.1")
    files = leaf.write(tmp_path)            # cert chain, key, and both in one PEM
    crl = leaf.issuer.crl(revoked=[leaf])   # PEM bytes
    staple = leaf.issuer.ocsp_response(leaf, "revoked")

Every certificate passes OpenSSL's ``X509_V_FLAG_X509_STRICT`` (on by default in Python
3.13): critical basicConstraints, keyUsage, subject and authority key identifiers, and
subjectAltName critical whenever the subject is empty (RFC 5280 §4.1.2.6, §4.2).
Keys come from a process-wide pool (eight per type, reused round-robin) so hundreds of
chains take seconds; every CA gets a unique subject so that two CAs sharing a pooled key
never vouch for each other's certificates.
"""

from __future__ import annotations

import datetime
import itertools
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from ._pki_build import DAY, build_certificate, key_usage, validity, write_file
from ._pki_keys import (
    KeyType,
    KeyTypeLike,
    PrivateKey,
    identity_text,
    parse_identity,
    pooled_key,
    utcnow,
)
from ._pki_leaf import CertFiles, Issued, LeafCert, PathLike
from ._pki_revocation import OCSPStatusLike, build_crl, build_ocsp_response, ocsp_error_response

__all__ = [
    "CA",
    "CA_STRICT_DEFECTS",
    "LEAF_STRICT_DEFECTS",
    "PKI",
    "PKIFiles",
    "CertFiles",
    "KeyType",
    "LeafCert",
    "make_pki",
    "ocsp_error_response",
]

Revokable = Union["LeafCert", "CA", x509.Certificate, int]


class CA(Issued):
    """A certificate authority: a self-signed root, or an intermediate when ``parent`` is given."""

    _ids = itertools.count(1)

    def __init__(
        self,
        name: str = "tlsplug test root",
        key_type: Optional[KeyTypeLike] = None,
        *,
        parent: Optional[CA] = None,
        path_length: Optional[int] = None,
        not_before: Optional[datetime.datetime] = None,
        not_after: Optional[datetime.datetime] = None,
        fresh_key: bool = False,
        strict_defect: Optional[str] = None,
    ) -> None:
        """Create a CA; ``key_type`` defaults to the parent's type, or ECDSA for a root.

        ``strict_defect`` makes a CA that only strict X.509 validation refuses (see
        ``CA_STRICT_DEFECTS``); :meth:`made_the_usual_way` is the common case.
        """
        if strict_defect is not None and strict_defect not in CA_STRICT_DEFECTS:
            raise ValueError(f"strict_defect must be one of {sorted(CA_STRICT_DEFECTS)}")
        self.name = name
        self.parent = parent
        kt = KeyType(key_type or (parent.key_type if parent else KeyType.ECDSA))
        avoid = [ca.private_key for ca in self._ancestors()]
        self.private_key = pooled_key(kt, fresh=fresh_key, avoid=avoid)
        # The unique OU keeps two CAs of the same name and pooled key from being interchangeable.
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, name),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tlsplug test PKI"),
                x509.NameAttribute(
                    NameOID.ORGANIZATIONAL_UNIT_NAME, f"ca-{next(self._ids)}-{secrets.token_hex(4)}"
                ),
            ]
        )
        extensions: List[Tuple[x509.ExtensionType, bool]] = [
            (
                x509.BasicConstraints(ca=True, path_length=path_length),
                strict_defect != "bcons-not-critical",
            ),
        ]
        if strict_defect != "no-key-usage":
            # digitalSignature lets the CA sign OCSP responses itself (RFC 6960 §4.2.2.2).
            extensions.append(
                (key_usage(digital_signature=True, key_cert_sign=True, crl_sign=True), True)
            )
        window = validity(not_before, not_after, False, False, 3650 * DAY)
        signer = parent.private_key if parent else self.private_key
        self.certificate = build_certificate(
            subject,
            self.private_key,
            parent.certificate if parent else None,
            signer,
            window,
            None,
            extensions,
            **_key_id_defect(strict_defect),
        )
        self._lock = threading.Lock()
        self._crl_numbers = itertools.count(1)
        self._responders: Dict[str, LeafCert] = {}

    @classmethod
    def made_the_usual_way(cls, name: str = "My CA", key_type: Optional[KeyTypeLike] = "rsa") -> CA:
        """A root as ``openssl req -x509 -newkey rsa:2048 -subj "/CN=My CA"`` makes it.

        Debian's (and most distributions') ``openssl.cnf`` gives such a CA basicConstraints
        and key identifiers but no keyUsage, which strict X.509 validation refuses
        (RFC 5280 §4.2.1.3; Python 3.13's default, tlsplug's modern profile): the private
        CA of most database deployment guides (docs/howto/private-ca.md).
        """
        return cls(name, key_type, strict_defect="no-key-usage")

    def __repr__(self) -> str:
        """Show the name, key type and whether this is a root."""
        kind = "root" if self.is_root else "intermediate"
        return f"<CA {self.name!r} {self.key_type.value} {kind}>"

    def _ancestors(self) -> Iterable[CA]:
        ca = self.parent
        while ca is not None:
            yield ca
            ca = ca.parent

    @property
    def is_root(self) -> bool:
        """True for a self-signed root."""
        return self.parent is None

    @property
    def root(self) -> CA:
        """The self-signed root above this CA (itself for a root)."""
        return self if self.parent is None else self.parent.root

    @property
    def chain(self) -> List[CA]:
        """This CA and its ancestors, nearest first, root excluded (empty for a root)."""
        return [ca for ca in [self, *self._ancestors()] if not ca.is_root]

    def write_cert(self, path: PathLike) -> Path:
        """Write this CA's certificate as PEM to ``path`` (a file, or a directory to put it in)."""
        target = Path(path)
        if target.is_dir():
            target = target / f"ca-{self.serial:x}"[:15]
            target = target.with_name(target.name + ".pem")
        return write_file(target, self.cert_pem)

    def create_intermediate(
        self,
        name: str = "tlsplug test intermediate",
        key_type: Optional[KeyTypeLike] = None,
        *,
        path_length: Optional[int] = None,
        not_before: Optional[datetime.datetime] = None,
        not_after: Optional[datetime.datetime] = None,
        fresh_key: bool = False,
        strict_defect: Optional[str] = None,
    ) -> CA:
        """Create a CA signed by this one; its key type defaults to this CA's."""
        return CA(
            name,
            key_type or self.key_type,
            parent=self,
            path_length=path_length,
            not_before=not_before,
            not_after=not_after,
            fresh_key=fresh_key,
            strict_defect=strict_defect,
        )

    def issue_cert(
        self,
        *identities: str,
        common_name: Optional[str] = None,
        key_type: Optional[KeyTypeLike] = None,
        not_before: Optional[datetime.datetime] = None,
        not_after: Optional[datetime.datetime] = None,
        expired: bool = False,
        not_yet_valid: bool = False,
        client: bool = False,
        server: bool = True,
        ocsp_url: Union[str, Sequence[str], None] = None,
        must_staple: bool = False,
        include_san: bool = True,
        serial: Optional[int] = None,
        fresh_key: bool = False,
        strict_defect: Optional[str] = None,
    ) -> LeafCert:
        """Issue an end-entity certificate for DNS names, wildcards, IDNs and IP literals.

        ``client`` adds the clientAuth usage (and ``server=False`` drops serverAuth);
        ``include_san=False`` makes a legacy commonName-only certificate; ``strict_defect``
        one that only strict X.509 validation refuses (``LEAF_STRICT_DEFECTS``).
        """
        if strict_defect is not None and strict_defect not in LEAF_STRICT_DEFECTS:
            raise ValueError(f"strict_defect must be one of {sorted(LEAF_STRICT_DEFECTS)}")
        if strict_defect == "empty-subject-san-not-critical":
            common_name = ""
        names = [parse_identity(identity) for identity in identities]
        if common_name is None and names and len(identity_text(names[0])) <= 64:
            common_name = identity_text(names[0])
        subject = x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name else []
        )
        if strict_defect == "empty-subject-san-not-critical":
            common_name = "-"  # below: the SAN stays non-critical although the subject is empty
        usages = [ExtendedKeyUsageOID.SERVER_AUTH] if server else []
        usages += [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
        if not usages:
            raise ValueError("a leaf needs server=True or client=True")
        key = pooled_key(key_type or self.key_type, fresh=fresh_key, avoid=[self.private_key])
        extensions: List[Tuple[x509.ExtensionType, bool]] = [
            (x509.BasicConstraints(ca=False, path_length=None), True),
            # keyEncipherment only makes sense for RSA key transport (RFC 5280 §4.2.1.3).
            (
                key_usage(
                    digital_signature=True,
                    key_encipherment=isinstance(key, rsa.RSAPrivateKey),
                    key_cert_sign=strict_defect == "key-cert-sign",
                ),
                True,
            ),
            (x509.ExtendedKeyUsage(usages), False),
        ]
        if include_san and names:
            # With an empty subject the SAN carries the identity and MUST be critical (§4.2.1.6).
            extensions.append((x509.SubjectAlternativeName(names), not common_name))
        elif not common_name:
            raise ValueError("a certificate without SAN needs a common name or an identity")
        urls = [ocsp_url] if isinstance(ocsp_url, str) else list(ocsp_url or [])
        if urls:
            access = [
                x509.AccessDescription(
                    AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(u)
                )
                for u in urls
            ]
            extensions.append((x509.AuthorityInformationAccess(access), False))
        if must_staple:
            # RFC 7633: the TLS feature status_request ("must-staple").
            extensions.append((x509.TLSFeature([x509.TLSFeatureType.status_request]), False))
        window = validity(not_before, not_after, expired, not_yet_valid, 365 * DAY)
        cert = build_certificate(
            subject, key, self.certificate, self.private_key, window, serial, extensions,
            **_key_id_defect(strict_defect),
        )
        return LeafCert(cert, key, self)

    # -- revocation ---------------------------------------------------------------------

    def crl(
        self,
        revoked: Iterable[Revokable] = (),
        *,
        encoding: str = "pem",
        last_update: Optional[datetime.datetime] = None,
        next_update: Optional[datetime.datetime] = None,
        reason: Optional[x509.ReasonFlags] = None,
        number: Optional[int] = None,
    ) -> bytes:
        """Return a CRL signed by this CA listing ``revoked`` (certs, CAs or serials)."""
        now = utcnow()
        serials = [
            item if isinstance(item, int) else _certificate_of(item).serial_number
            for item in revoked
        ]
        return build_crl(
            self.certificate,
            self.private_key,
            [(serial, reason) for serial in serials],
            last_update=last_update or now - datetime.timedelta(hours=1),
            next_update=next_update or now + DAY,
            number=number if number is not None else next(self._crl_numbers),
            encoding=encoding,
        )

    def write_crl(
        self,
        path: PathLike,
        revoked: Iterable[Revokable] = (),
        *,
        encoding: str = "pem",
        last_update: Optional[datetime.datetime] = None,
        next_update: Optional[datetime.datetime] = None,
        reason: Optional[x509.ReasonFlags] = None,
    ) -> Path:
        """Write a :meth:`crl` to ``path`` and return the path."""
        crl = self.crl(
            revoked,
            encoding=encoding,
            last_update=last_update,
            next_update=next_update,
            reason=reason,
        )
        return write_file(Path(path), crl)

    def ocsp_responder_cert(self, *, with_eku: bool = True) -> LeafCert:
        """Return this CA's cached delegated OCSP signer (RFC 6960 §4.2.2.2), or a look-alike.

        ``with_eku=False`` gives a certificate from the same CA lacking the OCSPSigning usage,
        which clients must not accept as a responder.
        """
        kind = "delegate" if with_eku else "delegate-without-eku"
        with self._lock:
            if kind not in self._responders:
                self._responders[kind] = self._issue_responder(with_eku)
            return self._responders[kind]

    def _issue_responder(self, with_eku: bool) -> LeafCert:
        key = pooled_key(self.key_type, avoid=[self.private_key])
        usage = ExtendedKeyUsageOID.OCSP_SIGNING if with_eku else ExtendedKeyUsageOID.SERVER_AUTH
        subject = x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, f"{self.name} OCSP responder")]
        )
        extensions: List[Tuple[x509.ExtensionType, bool]] = [
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (key_usage(digital_signature=True), True),
            (x509.ExtendedKeyUsage([usage]), False),
            # id-pkix-ocsp-nocheck: clients need not check the responder's own status (§4.2.2.2.1).
            (x509.OCSPNoCheck(), False),
        ]
        window = validity(None, None, False, False, 365 * DAY)
        cert = build_certificate(
            subject, key, self.certificate, self.private_key, window, None, extensions
        )
        return LeafCert(cert, key, self)

    def ocsp_response(
        self,
        cert: Union[LeafCert, CA, x509.Certificate],
        status: OCSPStatusLike = "good",
        *,
        signer: Union[str, CA] = "issuer",
        this_update: Optional[datetime.datetime] = None,
        next_update: Optional[datetime.datetime] = None,
        include_next_update: bool = True,
        expired: bool = False,
        hash_algorithm: Optional[hashes.HashAlgorithm] = None,
        responder_id: str = "key-hash",
        revocation_time: Optional[datetime.datetime] = None,
        revocation_reason: Optional[x509.ReasonFlags] = None,
        nonce: Optional[bytes] = None,
        corrupt_signature: bool = False,
    ) -> bytes:
        """Return a DER OCSP response about ``cert`` (issued by this CA) with ``status``.

        ``signer``: ``"issuer"`` (this CA), ``"delegate"`` (a cached responder certificate this
        CA issued with the OCSPSigning usage, sent in the response), ``"delegate-without-eku"``,
        ``"unrelated"`` (a CA outside this hierarchy), or any :class:`CA`. Times default to
        one hour either side of now; ``expired`` moves both into the past. The CertID hashes
        with SHA-1 unless ``hash_algorithm`` says otherwise.
        """
        now = utcnow()
        if expired:
            this_update = this_update or now - 2 * DAY
            next_update = next_update or now - DAY
        this_update = this_update or now - datetime.timedelta(hours=1)
        next_update = next_update or now + datetime.timedelta(hours=1)
        signer_cert, signer_key, extra = self._ocsp_signer(signer)
        return build_ocsp_response(
            _certificate_of(cert),
            self.certificate,
            status=status,
            signer_cert=signer_cert,
            signer_key=signer_key,
            extra_certs=extra,
            this_update=this_update,
            next_update=next_update if include_next_update else None,
            hash_algorithm=hash_algorithm or hashes.SHA1(),
            responder_id=responder_id,
            revocation_time=revocation_time,
            revocation_reason=revocation_reason,
            nonce=nonce,
            corrupt_signature=corrupt_signature,
        )

    def _ocsp_signer(
        self, signer: Union[str, CA]
    ) -> Tuple[x509.Certificate, PrivateKey, List[x509.Certificate]]:
        if isinstance(signer, CA):
            return signer.certificate, signer.private_key, [signer.certificate]
        if signer == "issuer":
            return self.certificate, self.private_key, []
        if signer in ("delegate", "delegate-without-eku"):
            delegate = self.ocsp_responder_cert(with_eku=signer == "delegate")
            return delegate.certificate, delegate.private_key, [delegate.certificate]
        if signer == "unrelated":
            other = _unrelated_ca(self.key_type)
            return other.certificate, other.private_key, [other.certificate]
        raise ValueError(f"unknown OCSP signer {signer!r}")


CA_STRICT_DEFECTS = frozenset(
    {"no-key-usage", "bcons-not-critical", "no-subject-key-id", "no-authority-key-id"}
)
"""What ``CA(strict_defect=...)`` can get wrong: each is refused by strict X.509 only."""
# A critical AKID/SKID is not listed: both OpenSSL builds refuse it without X509_STRICT
# ("unhandled critical extension", 34).
LEAF_STRICT_DEFECTS = frozenset(
    {"no-authority-key-id", "key-cert-sign", "empty-subject-san-not-critical"}
)
"""What ``issue_cert(strict_defect=...)`` can get wrong: each is refused by strict X.509 only."""


def _key_id_defect(defect: Optional[str]) -> Dict[str, Optional[bool]]:
    return {
        "ski": None if defect == "no-subject-key-id" else False,
        "aki": None if defect == "no-authority-key-id" else False,
    }


def _certificate_of(item: Union[LeafCert, CA, x509.Certificate]) -> x509.Certificate:
    return item if isinstance(item, x509.Certificate) else item.certificate


_UNRELATED: Dict[KeyType, CA] = {}
_UNRELATED_LOCK = threading.Lock()


def _unrelated_ca(key_type: KeyType) -> CA:
    """A CA outside every test hierarchy, with a fresh key no pooled CA can share."""
    with _UNRELATED_LOCK:
        if key_type not in _UNRELATED:
            _UNRELATED[key_type] = CA("tlsplug unrelated CA", key_type, fresh_key=True)
        return _UNRELATED[key_type]


@dataclass(frozen=True)
class PKI:
    """A ready-made hierarchy: root → intermediate → server leaf and client leaf."""

    root: CA
    intermediate: CA
    leaf: LeafCert
    """Server certificate for ``localhost``, ``127.0.0.1`` and ``::1``."""
    client: LeafCert
    """Client certificate (clientAuth) issued by the intermediate."""

    def write(self, directory: PathLike) -> PKIFiles:
        """Write the root, the server leaf and the client leaf as PEM files into ``directory``."""
        root_file = self.root.write_cert(Path(directory) / "ca.pem")
        server = self.leaf.write(directory, basename="server")
        client = self.client.write(directory, basename="client")
        return PKIFiles(root_file, server, client)


@dataclass(frozen=True)
class PKIFiles:
    """Paths written by :meth:`PKI.write`."""

    ca_file: Path
    """The root certificate: a ``tlsCAFile``."""
    server: CertFiles
    """The server leaf's chain, key and combined files."""
    client: CertFiles
    """The client leaf's files; ``client.combined_file`` is a ``tlsCertificateKeyFile``."""


def make_pki(
    key_type: KeyTypeLike = KeyType.ECDSA,
    identities: Sequence[str] = ("localhost", "127.0.0.1", "::1"),
) -> PKI:
    """Build a root, an intermediate, a server leaf for ``identities`` and a client leaf."""
    root = CA(key_type=key_type)
    intermediate = root.create_intermediate()
    leaf = intermediate.issue_cert(*identities)
    client = intermediate.issue_cert("client.tlsplug.test", client=True, server=False)
    return PKI(root, intermediate, leaf, client)
