"""What a finished handshake negotiated, in the shapes ``ssl.SSLSocket`` uses.

Shared by the socket wrapper and the sans-IO object. ``getpeercert()`` builds the same dict
as CPython's ``_decode_certificate`` (Modules/_ssl.c) from ``cryptography`` objects, so code
written against ``ssl`` reads it unchanged.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Dict, List, Optional, Tuple

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID
from OpenSSL import SSL

from ._resume import session_reused

__all__ = ["PeerInfo", "certificate_dict"]

# OBJ_nid2ln() names, the keys ssl uses in subject/issuer tuples.
_LONG_NAMES = {
    "2.5.4.3": "commonName",
    "2.5.4.4": "surname",
    "2.5.4.5": "serialNumber",
    "2.5.4.6": "countryName",
    "2.5.4.7": "localityName",
    "2.5.4.8": "stateOrProvinceName",
    "2.5.4.9": "streetAddress",
    "2.5.4.10": "organizationName",
    "2.5.4.11": "organizationalUnitName",
    "2.5.4.12": "title",
    "2.5.4.15": "businessCategory",
    "2.5.4.17": "postalCode",
    "2.5.4.42": "givenName",
    "2.5.4.43": "initials",
    "2.5.4.44": "generationQualifier",
    "2.5.4.46": "dnQualifier",
    "2.5.4.65": "pseudonym",
    "2.5.4.97": "organizationIdentifier",
    "1.2.840.113549.1.9.1": "emailAddress",
    "0.9.2342.19200300.100.1.1": "userId",
    "0.9.2342.19200300.100.1.25": "domainComponent",
    "1.3.6.1.4.1.311.60.2.1.1": "jurisdictionLocalityName",
    "1.3.6.1.4.1.311.60.2.1.2": "jurisdictionStateOrProvinceName",
    "1.3.6.1.4.1.311.60.2.1.3": "jurisdictionCountryName",
}

Name = Tuple[Tuple[Tuple[str, str], ...], ...]


def _name(name: x509.Name) -> Name:
    return tuple(
        tuple(
            (_LONG_NAMES.get(a.oid.dotted_string, a.oid.dotted_string), _text(a.value))
            for a in rdn
        )
        for rdn in name.rdns
    )


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _asn1_time(when: Any) -> str:
    # ASN1_TIME_print: "Mar  5 12:00:00 2024 GMT" (day padded with a space).
    return f"{when:%b} {when.day:2d} {when:%H:%M:%S} {when.year} GMT"


def _ip_text(ip: object) -> str:
    if isinstance(ip, ipaddress.IPv6Address):
        # CPython prints IPv6 SANs as eight uppercase groups, uncompressed.
        packed = ip.packed
        return ":".join(f"{(packed[i] << 8) | packed[i + 1]:X}" for i in range(0, 16, 2))
    return str(ip)


def _general_name(name: x509.GeneralName) -> Tuple[str, Any]:
    if isinstance(name, x509.DNSName):
        return ("DNS", name.value)
    if isinstance(name, x509.IPAddress):
        return ("IP Address", _ip_text(name.value))
    if isinstance(name, x509.RFC822Name):
        return ("email", name.value)
    if isinstance(name, x509.UniformResourceIdentifier):
        return ("URI", name.value)
    if isinstance(name, x509.DirectoryName):
        return ("DirName", _name(name.value))
    if isinstance(name, x509.RegisteredID):
        return ("Registered ID", name.value.dotted_string)
    return ("othername", "<unsupported>")


def _serial(number: int) -> str:
    text = f"{number:X}"
    return text if len(text) % 2 == 0 else "0" + text  # i2a_ASN1_INTEGER prints whole bytes


def certificate_dict(cert: x509.Certificate) -> Dict[str, Any]:
    """``cert`` as ``ssl.SSLSocket.getpeercert()`` shows a verified peer certificate."""
    out: Dict[str, Any] = {
        "subject": _name(cert.subject),
        "issuer": _name(cert.issuer),
        "version": cert.version.value + 1,
        "serialNumber": _serial(cert.serial_number),
        "notBefore": _asn1_time(_utc(cert, "not_valid_before")),
        "notAfter": _asn1_time(_utc(cert, "not_valid_after")),
    }
    exts = cert.extensions
    try:
        san = exts.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
        out["subjectAltName"] = tuple(_general_name(n) for n in san)  # type: ignore[attr-defined]
    except x509.ExtensionNotFound:
        pass
    try:
        aia = exts.get_extension_for_oid(ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value
    except x509.ExtensionNotFound:
        aia = None
    if aia is not None:
        for method, key in (
            (AuthorityInformationAccessOID.OCSP, "OCSP"),
            (AuthorityInformationAccessOID.CA_ISSUERS, "caIssuers"),
        ):
            urls = tuple(
                d.access_location.value
                for d in aia  # type: ignore[attr-defined]
                if d.access_method == method
                and isinstance(d.access_location, x509.UniformResourceIdentifier)
            )
            if urls:
                out[key] = urls
    try:
        cdp = exts.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS).value
        urls = tuple(
            n.value
            for point in cdp  # type: ignore[attr-defined]
            for n in (point.full_name or ())
            if isinstance(n, x509.UniformResourceIdentifier)
        )
        if urls:
            out["crlDistributionPoints"] = urls
    except x509.ExtensionNotFound:
        pass
    return out


def _utc(cert: x509.Certificate, attr: str) -> Any:
    # cryptography 42 added the *_utc properties; older ones return naive UTC datetimes.
    return getattr(cert, attr + "_utc", None) or getattr(cert, attr)


class PeerInfo:
    """Mixin: ``version``/``cipher``/``getpeercert``/``peer_chain`` over ``self._conn``."""

    __slots__ = ()  # the sockets using it have __slots__ (an idle pool holds many)
    _conn: SSL.Connection
    _verified: bool

    def version(self) -> Optional[str]:
        """The negotiated protocol, e.g. ``"TLSv1.3"`` (None before the handshake)."""
        if not self._handshake_complete():
            return None
        return self._conn.get_protocol_version_name()

    def cipher(self) -> Optional[Tuple[str, str, int]]:
        """(name, protocol, secret bits), as ``ssl.SSLSocket.cipher()``."""
        name = self._conn.get_cipher_name()
        version = self._conn.get_cipher_version()
        bits = self._conn.get_cipher_bits()
        if name is None or version is None or bits is None:
            return None
        return (name, version, bits)

    def getpeercert(self, binary_form: bool = False) -> Any:
        """DER of the leaf, or ssl's dict; like ssl, ``{}`` when the chain was not verified."""
        cert = self._conn.get_peer_certificate(as_cryptography=True)
        if cert is None:
            return None
        if binary_form:
            return cert.public_bytes(Encoding.DER)
        return certificate_dict(cert) if self._verified else {}

    def selected_alpn_protocol(self) -> Optional[str]:
        """The ALPN protocol the server chose (``alpn_protocols``), or None, as ``ssl``."""
        chosen = self._conn.get_alpn_proto_negotiated()
        return chosen.decode("ascii", "replace") if chosen else None

    def peer_chain(self) -> List[bytes]:
        """The chain the peer sent, leaf first, DER."""
        chain = self._conn.get_peer_cert_chain(as_cryptography=True) or []
        return [c.public_bytes(Encoding.DER) for c in chain]

    @property
    def session_reused(self) -> bool:
        """Whether the handshake resumed an earlier session (``SSL_session_reused``)."""
        return session_reused(self._conn)

    def _handshake_complete(self) -> bool:
        return self._conn.get_cipher_name() is not None
