"""``ChainFacts`` and ``ChainMemo``: what the checks after a handshake derive from a chain, once.

A pool reconnects to the same few servers, which present the same chain every time. After
OpenSSL verified a chain, the checks tlsplug adds (the strict lint, the profile's limits,
CRLs of the CA certificates, OCSP) need it as ``cryptography`` certificates; converting
costs an encode or a parse per certificate, and each check costs more. Everything they
derive is a pure function of the chain's bytes, so every backend keeps one ``ChainFacts``
per distinct verified chain in a ``ChainMemo`` ("one decision per distinct chain",
bench/: the handshake ratios). A backend only says how it recognises a chain it has seen
(its key: the DER, or digests its library already computed) and where its certificates
come from. Responders' verdicts are never kept here (another context may learn "revoked":
the OCSP cache holds them); a staple is judged by its own bytes, so the last good staple
is kept with the instants between which it stays good (``check_staple``).
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Dict, Hashable, List, Optional, Sequence, Tuple

if TYPE_CHECKING:  # cryptography is imported when a chain is parsed, not with the core
    from cryptography import x509

    from ._options import TLSOptions
    from .ocsp import OCSPCache, Verdict

__all__ = ["ChainFacts", "ChainMemo"]

_UNSET: Any = object()


class ChainFacts:
    """One verified chain (leaf first): certificates, DER, and what is derived, once each.

    The lint verdict, the limits per profile, must-staple, the OCSP (leaf, issuer) pair and
    the responder request made from it. Build with :meth:`from_ders` or :meth:`from_certs`.
    """

    __slots__ = (
        "_limits", "_must_staple", "_pair", "_responders", "_staple", "_violation", "certs",
        "ders",
    )

    def __init__(self, certs: List[x509.Certificate], ders: List[bytes]) -> None:
        """Keep ``certs`` and their ``ders`` (the same chain, leaf first)."""
        self.certs = certs
        self.ders = ders
        self._violation: Any = _UNSET
        self._pair: Any = _UNSET
        self._limits: Dict[str, Optional[Tuple[int, int, str]]] = {}
        self._must_staple: Any = _UNSET
        self._responders: Any = _UNSET
        #: (staple DER, start, end, verdict, CertID): the last good staple, see check_staple.
        self._staple: Optional[Tuple[bytes, float, float, Verdict, Any]] = None

    @classmethod
    def from_ders(cls, ders: Sequence[bytes]) -> ChainFacts:
        """Parse ``ders`` (leaf first); ``ValueError`` when one does not parse."""
        from tlsplug.ocsp import load_certificate

        return cls([load_certificate(der) for der in ders], list(ders))

    @classmethod
    def from_certs(cls, certs: List[x509.Certificate]) -> ChainFacts:
        """Encode ``certs`` (leaf first) once: OCSP and the host check take DER."""
        from cryptography.hazmat.primitives.serialization import Encoding

        return cls(certs, [c.public_bytes(Encoding.DER) for c in certs])

    def limits(self, profile: str) -> Optional[Tuple[int, int, str]]:
        """``limits_violation`` of the chain under ``profile``, computed once."""
        if profile not in self._limits:
            from ._limits import limits_violation

            self._limits[profile] = limits_violation(self.certs, profile)
        return self._limits[profile]

    def violation(self) -> Optional[Tuple[int, int]]:
        """The strict lint's first (X509_V_ERR, depth), or None.

        ``strict_violation`` (what OpenSSL 3.0 checks and 3.2+/4.0 no longer do), then
        ``newer_violation`` (what 4.0 checks and 3.0 does not): whichever OpenSSL a backend
        runs, the chain it verified then passed both builds' strict checks. Where OpenSSL
        made the first kind itself the chain never gets here, so running it costs nothing.
        """
        if self._violation is _UNSET:
            from ._chainlint import newer_violation, strict_violation

            self._violation = strict_violation(self.certs) or newer_violation(self.certs)
        violation: Optional[Tuple[int, int]] = self._violation
        return violation

    def must_staple(self) -> bool:
        """Whether the leaf demands a stapled OCSP response (RFC 7633)."""
        if self._must_staple is _UNSET:
            from tlsplug.ocsp import must_staple

            self._must_staple = must_staple(self.certs[0])
        return bool(self._must_staple)

    def ocsp_pair(
        self, trust: Sequence[x509.Certificate] = ()
    ) -> Optional[Tuple[x509.Certificate, x509.Certificate]]:
        """(leaf, issuer) for the CertID of OCSP requests; None when no issuer is found.

        The issuer is looked up in the chain (remembered: it depends on the chain only),
        then in ``trust`` (a context's; not remembered, the facts are shared).
        """
        if self._pair is _UNSET:
            from tlsplug.ocsp import find_issuer

            issuer = find_issuer(self.certs[0], self.certs[1:]) if self.certs else None
            self._pair = (self.certs[0], issuer) if issuer is not None else None
        pair: Optional[Tuple[x509.Certificate, x509.Certificate]] = self._pair
        if pair is None and trust and self.certs:
            from tlsplug.ocsp import find_issuer

            issuer = find_issuer(self.certs[0], self.certs[1:], trust)
            return (self.certs[0], issuer) if issuer is not None else None
        return pair

    def responders(self) -> Any:
        """``prepare_responders`` of ``ocsp_pair`` (CertID, URLs); None without an issuer."""
        if self._responders is _UNSET:
            from .ocsp._fetch import prepare_responders

            pair = self.ocsp_pair()
            self._responders = prepare_responders(*pair) if pair is not None else None
        return self._responders

    def check_staple(
        self,
        staple: bytes,
        options: TLSOptions,
        *,
        backend: Optional[str] = None,
        trust: Sequence[x509.Certificate] = (),
        cache: Optional[OCSPCache] = None,
    ) -> Optional[Verdict]:
        """:func:`tlsplug.ocsp.check_staple` for this chain; a known staple costs a clock read.

        A server staples the same response until it fetches a fresher one, so the last
        "good" one is remembered with the window in which it stays good
        (``response_window``: thisUpdate, nextUpdate, the responder's validity); the same
        bytes inside it get the same verdict without a parse or a signature, and the OCSP
        cache is kept holding it as ``check_staple`` would. Anything else - another staple,
        the window passed, a verdict other than good - takes the full check.
        """
        memo = self._staple
        if (
            memo is not None
            and memo[0] == staple
            and memo[1] <= time.time() < memo[2]
            and options.check_ocsp_stapling
        ):
            from .ocsp import default_cache

            (default_cache() if cache is None else cache).keep(memo[4], memo[3])
            return memo[3]
        from .ocsp import check_staple
        from .ocsp._verify import cert_id, response_window

        pair = self.ocsp_pair()  # the issuer from the chain itself, not a context's trust
        found = pair or self.ocsp_pair(trust)
        verdict = check_staple(
            staple, self.certs, options, backend=backend, trust=trust, cache=cache,
            issuer=found[1] if found is not None else None,
        )
        if staple and pair is not None and verdict is not None and verdict.status == "good":
            window = response_window(staple, pair[0], pair[1])
            if window is not None and verdict.next_update is not None:
                self._staple = (bytes(staple), window[0], window[1], verdict, cert_id(*pair))
        return verdict


class ChainMemo:
    """A bounded, thread-safe map from a backend's chain key to ``ChainFacts``.

    ``get`` takes no lock and does no bookkeeping (a dict read is atomic): it runs on every
    handshake. Eviction is first in, first out; a pool's chains are few. ``for_leaf``
    answers for a resumed session, which shows no chain: the facts of the last verified
    chain with that leaf (OCSP needs its issuer; ``find_issuer`` checked the signature, so
    a remembered issuer is only ever used for a leaf it really issued).
    """

    def __init__(self, maxsize: int = 256) -> None:
        """Keep at most ``maxsize`` chains (0: remember nothing)."""
        self.maxsize = maxsize
        self._facts: Dict[Hashable, ChainFacts] = {}
        self._leaves: Dict[bytes, ChainFacts] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """The number of chains remembered."""
        return len(self._facts)

    def get(self, key: Hashable) -> Optional[ChainFacts]:
        """The facts remembered for ``key``, or None."""
        return self._facts.get(key)

    def put(self, key: Hashable, facts: ChainFacts) -> ChainFacts:
        """Remember ``facts`` for ``key`` (and for its leaf); return the facts to use.

        When another thread remembered the same chain first, its facts are returned, so
        every connection shares one object per chain (and each fact is computed once).
        """
        if self.maxsize <= 0:
            return facts
        with self._lock:
            known = self._facts.get(key)
            if known is not None:
                return known
            self._facts[key] = facts
            if facts.ders:
                self._leaves.pop(facts.ders[0], None)  # re-inserted last: evicted last
                self._leaves[facts.ders[0]] = facts
            while len(self._facts) > self.maxsize:
                del self._facts[next(iter(self._facts))]
            while len(self._leaves) > self.maxsize:
                del self._leaves[next(iter(self._leaves))]
        return facts

    def for_leaf(self, leaf: bytes) -> Optional[ChainFacts]:
        """The facts of the last verified chain remembered with this leaf (DER)."""
        return self._leaves.get(leaf)
