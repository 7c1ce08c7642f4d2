"""Matching a certificate to the dialled name, for when OpenSSL's own check cannot run.

OpenSSL checks the host inside chain verification; with ``tlsAllowInvalidCertificates`` the
chain is not verified, yet the host must still be checked (the options are independent in
the MongoDB specification). This module is that check, written to OpenSSL's rules with the
flags Python sets: subjectAltName only (``X509_CHECK_FLAG_NEVER_CHECK_SUBJECT``), no partial
wildcards (``X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS``), RFC 6125 §6.4.3.
"""

from __future__ import annotations

import ipaddress
from typing import List, Union

from ._policy import normalize_hostname

__all__ = ["certificate_matches"]


def _dns_matches(pattern: str, host: str) -> bool:
    pattern = pattern.lower().rstrip(".")
    if pattern == host:
        return True
    if not pattern.startswith("*."):
        return False
    suffix = pattern[2:]
    # OpenSSL refuses "*.com"-style wildcards: at least two labels after the wildcard.
    if suffix.count(".") < 1 or "*" in suffix:
        return False
    head, dot, rest = host.partition(".")
    return bool(dot) and bool(head) and rest == suffix


_IP = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]


def _san_values(cert_der: bytes) -> tuple[List[str], List[_IP]]:
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


def certificate_matches(cert_der: bytes, server_hostname: str) -> bool:
    """Whether the DER certificate is valid for ``server_hostname`` (DNS name or IP)."""
    host, ip = normalize_hostname(server_hostname)
    try:
        dns, ips = _san_values(cert_der)
    except ValueError:
        return False
    if ip is not None:
        return ip in ips
    return any(_dns_matches(pattern, host) for pattern in dns)
