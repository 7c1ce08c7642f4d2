"""Every check after a stdlib handshake, in order, and what a context remembers of them.

One function for the three ways a stdlib connection completes its handshake (a blocking
``wrap_socket``, the sans-IO buffer, and ``create_ssl_context``'s ``SSLObject``/``SSLSocket``),
so the order - the newer-OpenSSL lint and the profile's limits, CA CRLs, the host name, then
OCSP (must-staple fails closed, then the responder step) - is written once (``_checks.py``,
``_ocsp.py``).

Most of those checks are pure functions of the verified chain, the host and the context's
options and trust anchors: the lint, the limits, the host name, must-staple and the OCSP
request (``ChainFacts`` already computes each once per distinct chain). A context remembers
which (chain, host) passed them (``Passed``): a pool reconnecting to the same servers then
re-runs only what can change from one handshake to the next - a CA CRL (it expires) and the
OCSP cache (another context may have learned "revoked" since).

The last decision of a context is kept whole (the core's ``LastDecision``, keyed by the
chain as ``ssl`` holds it): when nothing in it can change but the OCSP cache, the next
handshake with an equal chain and host takes it after one look at the cache's generation.

Why remember more than ``ChainFacts`` does: right after OpenSSL's handshake the processor's
caches hold OpenSSL's and the peer's work, not tlsplug's code. The checks that take 15 µs
called in a loop took about 140 µs measured inside real handshakes (asyncio against nginx,
2 cores, ``bench/bridge.py``), which is what put ``create_ssl_context`` in asyncio 3-4 %
behind a plain ``ssl.SSLContext``. The fewer Python objects the path touches, the less of
that it pays.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from tlsplug.backend import (
    NOT_DECIDED,
    ChainFacts,
    LastDecision,
    Materials,
    TLSOptions,
    chain_crl_error,
)

from ._chains import CHAINS, PeerChains, native_chain
from ._checks import check_chain_after_handshake, check_hostname_after_handshake
from ._ocsp import StdlibOCSP
from ._translate import BACKEND_NAME

__all__ = ["Passed", "check_after_handshake"]

#: How many (chain, host) pairs a context remembers: a driver's pool talks to a handful of
#: servers. Past it the memory starts over (a miss only costs the full checks).
MAX_PASSED = 64


class Passed:
    """The (verified chain, host) pairs that passed a context's pure checks; thread-safe.

    Each maps to the OCSP step those checks prepared (``StdlibOCSP.step``). The chain is
    the ``ChainFacts`` object itself (``CHAINS`` hands out one per distinct chain; compared
    by identity, so a chain evicted there and parsed again is simply checked again).
    ``last`` is the context's last whole decision (see above). Reads and writes are single
    dict or attribute operations, atomic in CPython: no lock.
    """

    __slots__ = ("_entries", "last")

    def __init__(self) -> None:
        """Nothing remembered."""
        self._entries: Dict[Tuple[ChainFacts, Optional[str]], Any] = {}
        #: Keyed by the chain as ssl's certificate objects (``native_chain``).
        self.last = LastDecision()

    def get(self, facts: ChainFacts, host: Optional[str]) -> Any:
        """The remembered OCSP step for ``facts`` and ``host``, or None."""
        return self._entries.get((facts, host))

    def put(self, facts: ChainFacts, host: Optional[str], step: Any) -> None:
        """Remember that ``facts`` and ``host`` passed, with their OCSP ``step``."""
        entries = self._entries
        if len(entries) >= MAX_PASSED:
            entries.clear()
        entries[(facts, host)] = step

    def clear(self) -> None:
        """Forget everything (the next handshake to each server runs every check)."""
        self._entries.clear()
        self.last.forget()

    def __len__(self) -> int:
        return len(self._entries)


def check_after_handshake(
    conn: Any,
    options: Optional[TLSOptions],
    materials: Optional[Materials],
    host: Optional[str],
    tracker: Optional[StdlibOCSP],
    passed: Optional[Passed] = None,
) -> None:
    """Run every check after ``conn``'s completed handshake, up to OCSP's responder step.

    ``options`` None skips the chain checks (a buffer built without them); ``host`` is the
    normalised name the core matcher checks (None: not checked); ``tracker`` gets the OCSP
    step (the caller finishes it: at once, without waiting, or deferred to ``tlsplug.aio``).
    With ``passed``, a verified chain and host that passed before skip the pure checks.
    """
    if passed is None or options is None or tracker is None or tracker.done:
        _check_all(conn, options, materials, host, tracker)
        return
    # The hit path touches as little as it can (see above).
    natives = native_chain(conn)  # a full handshake's verified chain (none: resumed, 3.9)
    if not natives:
        _check_all(conn, options, materials, host, tracker)
        return
    verdict = passed.last.recall(natives, host)
    if verdict is not NOT_DECIDED:
        tracker.record(verdict)
        return
    facts = CHAINS.lookup(natives)
    if facts is None:
        _check_all(conn, options, materials, host, tracker)
        return
    crls = materials.crls if materials is not None and options.check_crl else ()
    step = passed.get(facts, host)
    if step is None:
        _check_all(conn, options, materials, host, tracker)
        step = tracker.step()
        if step is None:
            return
        passed.put(facts, host, step)
    else:
        if crls:  # a CRL expires: judged every handshake
            error = chain_crl_error(facts.certs, crls, backend=BACKEND_NAME)
            if error is not None:
                raise error
        tracker.resume(step)
    generation = LastDecision.generation()  # read before the cache is consulted
    if tracker.settle() and not crls:
        passed.last.remember(natives, host, generation, tracker.verdict)


def _check_all(
    conn: Any,
    options: Optional[TLSOptions],
    materials: Optional[Materials],
    host: Optional[str],
    tracker: Optional[StdlibOCSP],
) -> None:
    peer = PeerChains(conn)  # each form of the chain read from ssl once
    if options is not None:  # _checks.py: the checks a newer OpenSSL makes, limits, CRLs
        check_chain_after_handshake(conn, options, peer, materials)
    if host is not None:  # the core matcher (it normalises ``host``: a cache hit)
        check_hostname_after_handshake(peer.leaf(), host)
    if tracker is not None and not tracker.done:
        tracker.after_handshake(conn, peer)  # must-staple fails closed here
