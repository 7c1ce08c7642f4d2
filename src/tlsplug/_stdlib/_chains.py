"""The peer's certificates after a handshake: read from ``ssl`` once, parsed once per chain.

The checks after a stdlib handshake (the newer-OpenSSL lint, OCSP) each need the chain.
``PeerChains`` reads each form of it from the connection at most once (every read encodes
the certificates again); ``CHAINS`` remembers, per distinct verified chain, the parsed
certificates, the lint verdict, must-staple and the OCSP request (leaf, issuer, CertID,
responder URLs) - pure functions of the chain's bytes - so a pool reconnecting to the same
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
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

if TYPE_CHECKING:
    from cryptography import x509

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


class ChainFacts:
    """One verified chain: its certificates parsed, and what is derived from them, once.

    Everything the checks after a handshake need: the lint verdict, must-staple, the OCSP
    (leaf, issuer) pair and the CertID and responder URLs made from it.
    """

    __slots__ = ("_limits", "_must_staple", "_pair", "_responders", "_violation", "certs", "ders")

    def __init__(self, ders: Tuple[bytes, ...]) -> None:
        """Parse ``ders`` (leaf first); ``ValueError`` when one does not parse."""
        from tlsplug.ocsp import load_certificate

        self.ders = list(ders)
        self.certs: List[x509.Certificate] = [load_certificate(der) for der in ders]
        self._violation: Any = _UNSET
        self._pair: Any = _UNSET
        self._limits: Dict[str, Optional[Tuple[int, int, str]]] = {}
        self._must_staple: Any = _UNSET
        self._responders: Any = _UNSET

    def limits(self, profile: str) -> Optional[Tuple[int, int, str]]:
        """``limits_violation`` of the chain under ``profile``, computed once."""
        if profile not in self._limits:
            from tlsplug.backend import limits_violation

            self._limits[profile] = limits_violation(self.certs, profile)
        found: Optional[Tuple[int, int, str]] = self._limits[profile]
        return found

    def violation(self) -> Optional[Tuple[int, int]]:
        """``newer_violation`` of the chain: (X509_V_ERR, depth) or None."""
        if self._violation is _UNSET:
            from tlsplug.backend import newer_violation

            self._violation = newer_violation(self.certs)
        violation: Optional[Tuple[int, int]] = self._violation
        return violation

    def must_staple(self) -> bool:
        """Whether the leaf demands a stapled OCSP response (RFC 7633)."""
        if self._must_staple is _UNSET:
            from tlsplug.ocsp import must_staple

            self._must_staple = must_staple(self.certs[0])
        return bool(self._must_staple)

    def ocsp_pair(self) -> Optional[Tuple[x509.Certificate, x509.Certificate]]:
        """(leaf, issuer) for the CertID of OCSP requests; None when no issuer is in the chain."""
        if self._pair is _UNSET:
            from tlsplug.ocsp import find_issuer

            issuer = find_issuer(self.certs[0], self.certs[1:]) if self.certs else None
            self._pair = (self.certs[0], issuer) if issuer is not None else None
        pair: Optional[Tuple[x509.Certificate, x509.Certificate]] = self._pair
        return pair

    def responders(self) -> Any:
        """``prepare_responders`` of ``ocsp_pair`` (CertID, URLs); None without an issuer."""
        if self._responders is _UNSET:
            from tlsplug._ocsp_fetch import prepare_responders

            pair = self.ocsp_pair()
            self._responders = prepare_responders(*pair) if pair is not None else None
        return self._responders


#: How many recent chains ``lookup`` compares by their certificate objects (no lock, no
#: encoding): a pool's handful of servers. Beyond them a lookup encodes the chain to DER.
RECENT = 8


class _ChainMemory:
    """Verified chain -> ``ChainFacts``, and leaf -> the facts last seen with it; bounded."""

    def __init__(self, maxsize: int = 256) -> None:
        self._chains: OrderedDict[Tuple[bytes, ...], ChainFacts] = OrderedDict()
        self._leaves: OrderedDict[bytes, ChainFacts] = OrderedDict()
        # (certificate objects, facts) of the chains seen last, newest first; replaced
        # under the lock, read without it (reading an attribute is atomic).
        self._recent: Tuple[Tuple[List[Any], ChainFacts], ...] = ()
        self._lock = threading.Lock()
        self._maxsize = maxsize

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
        with self._lock:
            hit = self._chains.get(key)
            if hit is not None:
                self._chains.move_to_end(key)
                self._leaves[key[0]] = hit
                self._leaves.move_to_end(key[0])
                return hit
        try:
            facts = ChainFacts(key)
        except ValueError:
            return None  # OpenSSL parsed and verified it; nothing more to say here
        with self._lock:
            self._chains[key] = facts
            self._leaves[key[0]] = facts
            for memo in (self._chains, self._leaves):
                while len(memo) > self._maxsize:
                    memo.popitem(last=False)
        return facts

    def for_leaf(self, leaf: bytes) -> Optional[ChainFacts]:
        """The facts of a verified chain with this leaf (for resumed sessions)."""
        with self._lock:
            return self._leaves.get(leaf)


#: Process-wide: the facts depend on the bytes only, never on a context's options.
CHAINS = _ChainMemory()
