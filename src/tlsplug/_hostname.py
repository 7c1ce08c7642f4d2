"""The one identity rule: which server names may be dialled, and which certificates name them.

Every backend, ``tlsplug.connect`` and ``tlsplug.aio`` go through this module
(docs/design.md, "Identity"):

- ``server_identity`` normalises and validates the dialled name once, before any byte is
  sent. IP literals are canonical (``ipaddress``); an IPv4 address spelled any other way that
  the resolver accepts (``127.1``, ``0x7f.0.0.1``, ``127.0.0.010``, ...) - any name whose
  final label is a number (the WHATWG URL "ends in a number" rule) - is refused, because the
  resolver dials one address while the certificate would be checked for another. DNS names
  are IDNA-encoded (the IDNA 2003 codec, as Python's ssl does), lower-cased, one trailing
  dot dropped, and must be LDH host names (RFC 952/1123, underscores tolerated): 1-63
  octets per label, no label beginning or ending with '-', at most 253 octets.
- ``identity_matches`` is the hostname/IP matcher, RFC 6125: subjectAltName only (never the
  common name, §6.4.4), a wildcard only as the whole left-most label below at least two
  labels (§6.4.3, ``X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS``), IP literals against iPAddress
  entries only. It accepts nothing OpenSSL 3.0 or 4.0 (``X509_check_host`` with the flags
  CPython sets) would refuse, so where a backend lets OpenSSL check the name inside the
  handshake as well, the verdict is still this matcher's, in every mode.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import List, NamedTuple, Optional, Tuple, Union

from ._errors import CertificateError, ConfigurationError

__all__ = [
    "Identity",
    "certificate_matches",
    "check_identity",
    "identity_matches",
    "server_identity",
]

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

#: The longest DNS name in presentation form (RFC 1035 §2.3.4: 255 octets on the wire).
MAX_NAME_LENGTH = 253
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\Z")
# A pattern label after the wildcard: what OpenSSL's valid_star accepts (no '_').
_PATTERN_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
_WILDCARD_MATCH = re.compile(r"[a-z0-9-]+\Z")
_CANONICAL_IPV4 = re.compile(r"(?:(?:0|[1-9][0-9]{0,2})\.){3}(?:0|[1-9][0-9]{0,2})\Z")
# WHATWG URL standard, "ends in a number": decimal, or the 0x-hex inet_aton reads.
_NUMERIC_LABEL = re.compile(r"(?:[0-9]+|0[xX][0-9a-fA-F]*)\Z")


class Identity(NamedTuple):
    """A dialled server name after normalisation (what is verified and keys sessions)."""

    #: Lower-case A-label DNS name without trailing dot, or the canonical IP text.
    name: str
    #: The IP address when the name is an IP literal, else None.
    ip: Optional[IPAddress]

    @property
    def sni(self) -> Optional[str]:
        """The name to send as SNI: never an IP literal (RFC 6066 §3)."""
        return self.name if self.ip is None else None


class _Refused(Exception):
    pass


def _parse_ip(text: str) -> Optional[IPAddress]:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    # Python < 3.9.5 read leading zeros ("010") as decimal (bpo-36384); only canonical text.
    if isinstance(ip, ipaddress.IPv4Address) and not _CANONICAL_IPV4.match(text):
        return None
    return ip


@functools.lru_cache(maxsize=1024)  # a pool dials the same few names again and again
def _normalise(host: str) -> Identity:
    name = host.strip()
    if not name:
        raise _Refused("is empty")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        raise _Refused("contains a control character (NUL, newline, ...)")
    if name.startswith("[") and name.endswith("]"):
        ip = _parse_ip(name[1:-1].split("%", 1)[0])
        if not isinstance(ip, ipaddress.IPv6Address):
            raise _Refused("is bracketed but not an IPv6 address")
        return Identity(str(ip), ip)
    ip = _parse_ip(name.split("%", 1)[0] if ":" in name else name)
    if ip is not None:
        return Identity(str(ip), ip)
    if ":" in name:
        raise _Refused("is not a valid IPv6 address")
    if name.endswith("."):
        name = name[:-1]  # the root label: "example.com." is "example.com"
    try:
        ascii_name = name.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise _Refused("is not a valid host name (IDNA encoding fails)") from None
    if len(ascii_name) > MAX_NAME_LENGTH:
        raise _Refused(f"is longer than {MAX_NAME_LENGTH} characters")
    labels = ascii_name.split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise _Refused(
            "is not a valid host name (labels of 1-63 letters, digits, '-' or '_', "
            "not beginning or ending with '-')"
        )
    if _NUMERIC_LABEL.match(labels[-1]):
        raise _Refused(
            "ends in a number: the resolver reads it as an IPv4 address in another "
            "spelling; write the address as a dotted quad of decimal numbers without "
            "leading zeros (e.g. 127.0.0.1)"
        )
    return Identity(ascii_name, None)


def server_identity(
    server_hostname: object, *, option: str = "server_hostname", backend: Optional[str] = None
) -> Identity:
    """Normalise ``server_hostname``, or raise ``ConfigurationError(invalid-option)``."""
    if not isinstance(server_hostname, str):
        raise ConfigurationError(
            f"{option} must be a str, not {type(server_hostname).__name__}",
            code="invalid-option", option=option, backend=backend,
        )
    try:
        return _normalise(server_hostname)
    except _Refused as exc:
        raise ConfigurationError(
            f"{option} {server_hostname!r} {exc}", code="invalid-option", option=option,
            backend=backend,
            hint="Pass the host name or IP address you dial, as it is written in the "
            "certificate's subjectAltName.",
        ) from None


def _san_values(cert_der: bytes) -> Tuple[List[str], List[IPAddress]]:
    from cryptography import x509

    cert = x509.load_der_x509_certificate(cert_der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    dns = san.get_values_for_type(x509.DNSName)
    ips = [ip for ip in san.get_values_for_type(x509.IPAddress)
           if isinstance(ip, (ipaddress.IPv4Address, ipaddress.IPv6Address))]
    return dns, ips


def _dns_matches(pattern: str, host: str) -> bool:
    # OpenSSL compares octets, ASCII case-insensitively, and never strips a trailing dot.
    if not pattern.isascii() or "\x00" in pattern:
        return False
    pattern = pattern.lower()
    if pattern == host:
        return True
    if not pattern.startswith("*."):
        return False
    suffix = pattern[2:]
    labels = suffix.split(".")
    # No "*.com": at least two labels below the wildcard; each a valid LDH label.
    if len(labels) < 2 or not all(_PATTERN_LABEL.match(label) for label in labels):
        return False
    head, dot, rest = host.partition(".")
    return bool(dot) and rest == suffix and bool(_WILDCARD_MATCH.match(head))


@functools.lru_cache(maxsize=1024)  # the same leaf is matched on every connection of a pool
def identity_matches(cert_der: bytes, identity: Identity) -> bool:
    """Whether the DER certificate's subjectAltName names ``identity`` (RFC 6125)."""
    try:
        dns, ips = _san_values(cert_der)
    except ValueError:
        return False
    if identity.ip is not None:
        return identity.ip in ips
    return any(_dns_matches(pattern, identity.name) for pattern in dns)


def certificate_matches(cert_der: bytes, server_hostname: str) -> bool:
    """Whether the DER certificate is valid for ``server_hostname`` (False if not a valid name)."""
    try:
        identity = _normalise(server_hostname)
    except _Refused:
        return False
    return identity_matches(cert_der, identity)


def check_identity(
    cert_der: Optional[bytes], identity: Identity, *, backend: Optional[str] = None
) -> None:
    """Raise ``CertificateError(hostname-mismatch)`` unless the leaf names ``identity``.

    Every backend calls this after the handshake in every mode (chain verified or
    ``tlsAllowInvalidCertificates``), whatever OpenSSL checked inside the handshake.
    """
    if cert_der and identity_matches(cert_der, identity):
        return
    what = "IP address" if identity.ip is not None else "host name"
    raise CertificateError(
        f"the server's certificate does not name the {what} {identity.name!r} "
        "(subjectAltName checked, RFC 6125)",
        code="hostname-mismatch",
        backend=backend,
    )
