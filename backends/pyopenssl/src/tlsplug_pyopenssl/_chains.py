"""Per-context memory of verified chains: convert and lint each distinct chain once.

A pool reconnects to the same few servers, which present the same chain every time. After
OpenSSL verified a chain, the checks tlsplug adds (the strict lint, the OCSP plumbing) need
it as ``cryptography`` certificates; converting costs an encode and a parse per certificate,
and the checks' own caches only hit when they see the *same* objects. So each verified
chain is identified by the SHA-1 fingerprints of its certificates (``X509_digest``, in C),
and the converted certificates, their DER and the lint verdict are kept per fingerprint.

Why SHA-1: OpenSSL computes it while verifying (``ossl_x509v3_cache_extensions``) and
``X509_digest`` returns that cached value for SHA-1 (crypto/x509/x_all.c), where SHA-256
hashed every certificate again on every handshake. It identifies certificates OpenSSL
has just verified, each signed by its issuer: two of them with the same digest and
different contents would need a SHA-1 collision across a CA's signature - and all the
memo derives (lint verdict, must-staple, the OCSP request) would then only apply to a
certificate that CA signed. It is the same digest ``X509_cmp`` compares first, which
the stdlib backend's memo relies on (src/tlsplug/_stdlib/_chains.py).
Only what is a pure function of the chain's bytes is kept: OCSP verdicts still go through
the OCSP cache, whose entries expire.
"""

from __future__ import annotations

import collections
import threading
from typing import Any, Dict, List, Optional, Tuple

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import SSL

from tlsplug.backend import limits_violation, newer_violation, strict_violation

__all__ = ["ChainFacts", "ChainMemo"]

Fingerprint = bytes  # the SHA-1 digests of the chain's certificates, leaf first, joined

try:
    from OpenSSL._util import ffi as _ffi
    from OpenSSL._util import lib as _lib

    _SHA1: Any = _lib.EVP_get_digestbyname(b"sha1")
    _NATIVE = bool(_SHA1) and all(
        hasattr(_lib, name)
        for name in ("X509_digest", "SSL_get0_verified_chain", "sk_X509_num", "sk_X509_value")
    )
except (ImportError, AttributeError):  # pragma: no cover - bindings without these symbols
    _ffi = _lib = _SHA1 = None
    _NATIVE = False


class ChainFacts:
    """One verified chain (leaf first): certificates, DER, and the lint verdict, computed once."""

    __slots__ = ("_limits", "_violation", "certs", "ders", "ocsp_pair")

    def __init__(self, certs: List[x509.Certificate]) -> None:
        """Keep ``certs``; encode each once (OCSP takes DER)."""
        self.certs = certs
        self.ders = [c.public_bytes(Encoding.DER) for c in certs]
        self._violation: Optional[Tuple[Optional[Tuple[int, int]]]] = None
        #: (leaf, issuer) for OCSP requests, once looked up (``_ocsp``).
        self.ocsp_pair: Optional[Tuple[x509.Certificate, x509.Certificate]] = None
        self._limits: Dict[str, Optional[Tuple[int, int, str]]] = {}

    def limits(self, profile: str) -> Optional[Tuple[int, int, str]]:
        """``tlsplug.backend.limits_violation`` of the chain under ``profile``, once."""
        if profile not in self._limits:
            self._limits[profile] = limits_violation(self.certs, profile)
        return self._limits[profile]

    def violation(self) -> Optional[Tuple[int, int]]:
        """The strict lint's first (X509_V_ERR, depth), or None (see ``_checks``)."""
        if self._violation is None:
            self._violation = (strict_violation(self.certs) or newer_violation(self.certs),)
        return self._violation[0]


def _fingerprint(conn: SSL.Connection) -> Optional[Fingerprint]:
    stack = _lib.SSL_get0_verified_chain(conn._ssl)  # borrowed; NULL before verification
    if stack == _ffi.NULL:
        return None
    count = _lib.sk_X509_num(stack)
    if count <= 0:
        return None
    digests = _ffi.new("unsigned char[]", _SHA1_SIZE * count)  # one allocation per chain
    for i in range(count):
        if not _lib.X509_digest(
            _lib.sk_X509_value(stack, i), _SHA1, digests + _SHA1_SIZE * i, _ffi.NULL
        ):
            return None  # pragma: no cover - no SHA-1 (e.g. a FIPS build): skip the memo
    return bytes(_ffi.buffer(digests))


_SHA1_SIZE = 20


class ChainMemo:
    """A small, thread-safe memo of ``ChainFacts`` keyed by the chain's fingerprints."""

    def __init__(self, maxsize: int = 32) -> None:
        """Keep at most ``maxsize`` chains (a pool talks to a handful of servers)."""
        self.maxsize = maxsize
        self._lock = threading.Lock()
        self._facts: collections.OrderedDict[Fingerprint, ChainFacts] = (
            collections.OrderedDict()
        )

    def facts(self, conn: SSL.Connection) -> Optional[ChainFacts]:
        """The facts of the chain OpenSSL verified for ``conn``; None before verification."""
        key = _fingerprint(conn) if _NATIVE else None
        if key is not None:
            # No lock and no LRU bookkeeping on a hit (a dict read is atomic): this runs on
            # every handshake; eviction is first-in first-out, a pool's chains are few.
            hit = self._facts.get(key)
            if hit is not None:
                return hit
        chain = list(conn.get_verified_chain(as_cryptography=True) or [])
        if not chain:
            return None  # not verified (yet): ask again next time, never remember "none"
        facts = ChainFacts(chain)
        if key is not None and len(key) == _SHA1_SIZE * len(chain):
            with self._lock:
                self._facts[key] = facts
                while len(self._facts) > self.maxsize:
                    self._facts.popitem(last=False)
        return facts
