"""The verified chain read from pyOpenSSL, recognised before it is converted.

The core's ``ChainFacts`` (``tlsplug.backend.ChainMemo``, one per context here) hold what
the checks after a handshake derive from a chain; converting it to ``cryptography``
certificates costs an encode and a parse per certificate. So each verified chain is
identified by the SHA-1 fingerprints of its certificates (``X509_digest``, in C), and its
facts are kept per fingerprint.

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

from typing import Any, Optional

from OpenSSL import SSL

from tlsplug.backend import ChainFacts, ChainMemo

__all__ = ["ChainFacts", "ChainMemo", "verified_facts"]

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


def verified_facts(conn: SSL.Connection, memo: Optional[ChainMemo]) -> Optional[ChainFacts]:
    """The facts of the chain OpenSSL verified for ``conn``; None before verification.

    ``memo``: the context's (None remembers nothing). A chain is recognised by its
    fingerprints before pyOpenSSL converts anything.
    """
    key = _fingerprint(conn) if _NATIVE and memo is not None else None
    if memo is not None and key is not None:
        hit = memo.get(key)
        if hit is not None:
            return hit
    chain = list(conn.get_verified_chain(as_cryptography=True) or [])
    if not chain:
        return None  # not verified (yet): ask again next time, never remember "none"
    facts = ChainFacts.from_certs(chain)
    if memo is not None and key is not None and len(key) == _SHA1_SIZE * len(chain):
        facts = memo.put(key, facts)
    return facts
