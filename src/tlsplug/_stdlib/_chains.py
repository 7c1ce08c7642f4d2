"""The peer's certificates after a handshake: read from ``ssl`` once, parsed once per chain.

The checks after a stdlib handshake (the newer-OpenSSL lint, OCSP) each need the chain.
``PeerChains`` reads each form of it from the connection at most once (every read encodes
the certificates again); ``CHAINS`` remembers, per distinct verified chain, the core's
``ChainFacts`` (``tlsplug.backend.ChainMemo``: certificates, lint verdict, must-staple, the
OCSP request) - pure functions of the chain's bytes - so a pool reconnecting to the same
servers parses, lints and prepares nothing twice. A chain seen recently is recognised by
the certificate objects ``ssl`` already holds, without encoding them to DER and without a
lock (``_ChainMemory.lookup``). It also answers for a resumed session, which shows no
chain: the facts of a verified chain with the same leaf (the issuer is what OCSP needs;
``find_issuer`` checked its signature, so a remembered issuer is only ever used for a
leaf it really issued).
"""

from __future__ import annotations

import contextlib
import ssl
import threading
from typing import Any, List, Optional, Tuple

from tlsplug.backend import ChainFacts, ChainMemo

__all__ = [
    "CHAINS", "ChainFacts", "PeerChains", "as_der", "native_chain", "unverified_chain",
    "verified_chain",
]

_UNSET: Any = object()


def as_der(items: Any) -> Optional[List[bytes]]:
    """Certificates as DER: bytes as they are, ``_ssl.Certificate`` (3.10-3.12) encoded."""
    if not items:
        return None
    out: List[bytes] = []
    for cert in items:
        if isinstance(cert, (bytes, bytearray)):
            out.append(bytes(cert))
        else:  # _ssl.Certificate (3.10-3.12)
            out.append(cert.public_bytes(ssl._ssl.ENCODING_DER))  # type: ignore[attr-defined]
    return out


def native_chain(conn: Any) -> Optional[List[Any]]:
    """The verified chain as ``ssl`` holds it: ``_ssl.Certificate`` objects (3.10+), or None.

    The private ``_sslobj.get_verified_chain()`` (3.10+, gh-109109) returns the objects
    without encoding them; 3.13's public ``get_verified_chain()`` encodes every certificate
    to DER, so it is only the fallback. None on Python 3.9 and when OpenSSL kept no
    verified chain (a resumed session).
    """
    getter = getattr(getattr(conn, "_sslobj", None), "get_verified_chain", None)
    if getter is None:
        getter = getattr(conn, "get_verified_chain", None)  # public, DER (3.13+)
    if getter is None:
        return None
    try:
        chain = getter()
    except (ValueError, ssl.SSLError):
        return None
    return list(chain) if chain else None


def verified_chain(conn: Any) -> Optional[List[bytes]]:
    """The verified chain (leaf first, trust anchor last) of an SSLSocket/SSLObject, as DER.

    None on Python 3.9, and when OpenSSL kept no verified chain (a resumed session): the
    caller then falls back to the chain the peer sent.
    """
    return as_der(native_chain(conn))


def unverified_chain(conn: Any, leaf: Optional[bytes]) -> List[bytes]:
    """The chain the peer sent, leaf first, as DER, from an SSLSocket or SSLObject.

    Python 3.13 has the public ``get_unverified_chain()`` returning DER (gh-109109);
    3.10-3.12 have it on the private ``_sslobj`` returning ``_ssl.Certificate`` objects;
    3.9 has neither, so only the leaf is returned there.
    """
    getter = getattr(conn, "get_unverified_chain", None)
    if getter is None:
        getter = getattr(getattr(conn, "_sslobj", None), "get_unverified_chain", None)
    chain: Any = None
    if getter is not None:
        with contextlib.suppress(Exception):
            chain = getter()
    return as_der(chain) or ([leaf] if leaf else [])


class PeerChains:
    """One connection's leaf, sent chain and verified chain as DER, each read once."""

    __slots__ = ("_conn", "_facts", "_leaf", "_unverified", "_verified")

    def __init__(self, conn: Any) -> None:
        """``conn``: an ``ssl.SSLSocket`` or ``ssl.SSLObject`` whose handshake is done."""
        self._conn = conn
        self._leaf: Any = _UNSET
        self._unverified: Any = _UNSET
        self._verified: Any = _UNSET
        self._facts: Any = _UNSET

    def leaf(self) -> Optional[bytes]:
        """The peer's certificate (DER), or None."""
        if self._leaf is _UNSET:
            verified = self._verified
            if verified is not _UNSET and verified:
                self._leaf = verified[0]  # already read: the same bytes
            else:
                self._leaf = self._conn.getpeercert(True) or None
        leaf: Optional[bytes] = self._leaf
        return leaf

    def _read_verified(self) -> None:
        # The chain's facts come from CHAINS by the certificate objects ssl hands out, so
        # the DER is the memo's (encoded once per distinct chain), not encoded again here.
        natives = native_chain(self._conn)
        if not natives:
            self._verified = None
            return
        facts = CHAINS.lookup(natives)
        self._facts = facts
        self._verified = facts.ders if facts is not None else as_der(natives)

    def facts(self) -> Optional[ChainFacts]:
        """``CHAINS``' facts of the verified chain, else of the last one with this leaf."""
        if self._verified is _UNSET:
            self._read_verified()
        if self._facts is _UNSET:  # no verified chain (a resumed session)
            leaf = self.leaf()
            self._facts = CHAINS.for_leaf(leaf) if leaf else None
        facts: Optional[ChainFacts] = self._facts
        return facts

    def unverified(self) -> List[bytes]:
        """The chain the peer sent, leaf first (only the leaf on Python 3.9)."""
        if self._unverified is _UNSET:
            self._unverified = unverified_chain(self._conn, self.leaf())
        chain: List[bytes] = self._unverified
        return chain

    def verified(self) -> Optional[List[bytes]]:
        """The verified chain, leaf first (do not modify); None on 3.9 or after resumption."""
        if self._verified is _UNSET:
            self._read_verified()
        chain: Optional[List[bytes]] = self._verified
        return chain


#: How many recent chains ``lookup`` compares by their certificate objects (no lock, no
#: encoding): a pool's handful of servers. Beyond them a lookup encodes the chain to DER.
RECENT = 8


class _ChainMemory:
    """``ChainMemo`` keyed by the chain's DER, and the chains ssl showed last, by object."""

    def __init__(self, maxsize: int = 256) -> None:
        self._memo = ChainMemo(maxsize)
        # (certificate objects, facts) of the chains seen last, newest first; replaced
        # under the lock, read without it (reading an attribute is atomic).
        self._recent: Tuple[Tuple[List[Any], ChainFacts], ...] = ()
        self._lock = threading.Lock()

    def lookup(self, natives: List[Any]) -> Optional[ChainFacts]:
        """The facts of a verified chain as ``native_chain`` returned it; None if unparsable.

        ``_ssl.Certificate`` objects are new on every call, but compare with OpenSSL's
        ``X509_cmp``: the SHA-1 digest OpenSSL cached when it parsed the certificate, then
        the to-be-signed bytes. Equal objects therefore have the same content, which is all
        the facts depend on; their ``hash()`` is not used (it digests the subject again).
        """
        for chain, known in self._recent:
            if chain == natives:
                return known
        facts = self.facts(as_der(natives) or [])
        if facts is not None:
            with self._lock:
                kept = tuple(item for item in self._recent if item[1] is not facts)
                self._recent = ((natives, facts), *kept[: RECENT - 1])
        return facts

    def facts(self, verified: List[bytes]) -> Optional[ChainFacts]:
        """The facts of ``verified`` (DER); None when a certificate does not parse."""
        key = tuple(verified)
        if not key:
            return None
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        try:
            facts = ChainFacts.from_ders(key)
        except ValueError:
            return None  # OpenSSL parsed and verified it; nothing more to say here
        return self._memo.put(key, facts)

    def for_leaf(self, leaf: bytes) -> Optional[ChainFacts]:
        """The facts of a verified chain with this leaf (for resumed sessions)."""
        return self._memo.for_leaf(leaf)


#: Process-wide: the facts depend on the bytes only, never on a context's options.
CHAINS = _ChainMemory()
