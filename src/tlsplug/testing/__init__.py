"""Test helpers for TLS clients: a strict-X.509-clean PKI and loopback TLS servers.

:mod:`tlsplug.testing.pki` builds roots, intermediates and leaves (DNS, wildcard, IDN and IP
identities; expired or not-yet-valid; encrypted keys), CRLs and OCSP responses.
:mod:`tlsplug.testing.servers` runs threaded TLS servers on loopback (modern or legacy) and
raw TCP servers for fault injection; :mod:`tlsplug.testing.stapling` servers that staple OCSP
responses (pyOpenSSL, or ``openssl s_server -status_file``) and
:mod:`tlsplug.testing.ocsp_responder` an OCSP responder over HTTP.
:mod:`tlsplug.testing.fixtures` is a pytest plugin.
Needs ``cryptography`` (the ``tlsplug[testing]`` extra); pytest is only needed for fixtures.
"""

from __future__ import annotations

from .ocsp_responder import Behaviour, OCSPResponder, closed_port_url
from .pki import CA, PKI, CertFiles, KeyType, LeafCert, PKIFiles, make_pki, ocsp_error_response
from .servers import (
    NO_IPV6,
    HandshakeInfo,
    RawServer,
    TLSServer,
    close_immediately,
    ipv6_available,
    respond_with,
    serve,
    stall,
)
from .stapling import OpenSSLStatusFileServer, Staple, StaplingServer, revoked_in_cache

__all__ = [
    "CA",
    "NO_IPV6",
    "Behaviour",
    "OCSPResponder",
    "OpenSSLStatusFileServer",
    "Staple",
    "StaplingServer",
    "closed_port_url",
    "PKI",
    "CertFiles",
    "HandshakeInfo",
    "KeyType",
    "LeafCert",
    "PKIFiles",
    "RawServer",
    "TLSServer",
    "close_immediately",
    "ipv6_available",
    "make_pki",
    "ocsp_error_response",
    "respond_with",
    "revoked_in_cache",
    "serve",
    "stall",
]
