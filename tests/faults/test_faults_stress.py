"""32 threads hammering one context: no unexpected error, every revoked peer refused, no deadlock.

The number of handshakes per thread is ``$TLSPLUG_STRESS_HANDSHAKES``; by default 1,000
under ``HYPOTHESIS_PROFILE=deep`` or ``TLSPLUG_STRESS=full``, else 30 (a quick run).
"""

from __future__ import annotations

import collections
import os
import sys
import threading
import time
import traceback
from typing import Counter, Dict, List, Tuple

import pytest
from faults_support import TIMEOUT, backend_names, handshake_outcome, make_context

from tlsplug.backend import ClientContext
from tlsplug.testing.ocsp_responder import OCSPResponder
from tlsplug.testing.pki import CA
from tlsplug.testing.servers import TLSServer

THREADS = 32


def handshakes_per_thread() -> int:
    """How many handshakes each thread makes in this run."""
    explicit = os.environ.get("TLSPLUG_STRESS_HANDSHAKES")
    if explicit:
        return max(1, int(explicit))
    full = (os.environ.get("HYPOTHESIS_PROFILE") == "deep"
            or os.environ.get("TLSPLUG_STRESS") == "full")
    return 1000 if full else 30


def _thread_dump() -> str:
    frames = sys._current_frames()
    out = []
    for thread in threading.enumerate():
        frame = frames.get(thread.ident or -1)
        if frame is not None:
            out.append(f"--- {thread.name}\n" + "".join(traceback.format_stack(frame)[-6:]))
    return "\n".join(out)


def hammer(ctx: ClientContext, servers: Dict[str, Tuple[str, int]],
           expected: Dict[str, str], per_thread: int) -> Tuple[Counter[str], List[str], float]:
    """Run THREADS threads of ``per_thread`` handshakes alternating over ``servers``.

    Returns (outcome counts, unexpected outcomes, seconds); fails the test on a deadlock,
    judged by a watchdog far above any healthy run (not a performance assertion).
    """
    counts: Counter[str] = collections.Counter()
    unexpected: List[str] = []
    lock = threading.Lock()
    names = sorted(servers)
    stop = threading.Event()

    def worker(index: int) -> None:
        local: Counter[str] = collections.Counter()
        bad: List[str] = []
        for i in range(per_thread):
            if stop.is_set():
                break
            name = names[(index + i) % len(names)]
            try:
                outcome = handshake_outcome(ctx, servers[name], "localhost", timeout=TIMEOUT)
            except Exception as exc:  # anything that is not a TLSError is a bug
                outcome = f"raised {type(exc).__name__}: {exc}"
            local[f"{name}:{outcome}"] += 1
            if outcome != expected[name]:
                bad.append(f"{name}: {outcome}")
        with lock:
            counts.update(local)
            unexpected.extend(bad)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True, name=f"stress-{i}")
               for i in range(THREADS)]
    watchdog = 60.0 + per_thread * THREADS / 25.0  # 25 handshakes/s would be pathological
    start = time.monotonic()
    for thread in threads:
        thread.start()
    deadline = start + watchdog
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    took = time.monotonic() - start
    if any(t.is_alive() for t in threads):
        stop.set()
        pytest.fail(f"deadlock or livelock: threads still running after {watchdog:.0f} s\n"
                    + _thread_dump())
    return counts, unexpected, took


@pytest.fixture(scope="module")
def root() -> CA:
    """The CA of every server here."""
    return CA("faults stress root")


@pytest.mark.parametrize("backend", backend_names())
def test_crl_stress(root: CA, backend: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """One context with a CRL: good peers always connect, the revoked one is always refused."""
    directory = tmp_path_factory.mktemp("faults-stress")
    good = root.issue_cert("localhost")
    revoked = root.issue_cert("localhost")
    ca_file = str(root.write_cert(directory / "ca.pem"))
    crl_file = str(root.write_crl(directory / "crl.pem", [revoked]))
    ctx = make_context(backend, ca_file=ca_file, crl_file=crl_file)
    per_thread = handshakes_per_thread()
    with TLSServer(cert=good, timeout=TIMEOUT) as good_server, \
            TLSServer(cert=revoked, timeout=TIMEOUT) as revoked_server:
        counts, unexpected, took = hammer(
            ctx, {"good": good_server.address, "revoked": revoked_server.address},
            {"good": "ok", "revoked": "cert-revoked"}, per_thread)
    total = THREADS * per_thread
    print(f"\n{backend} CRL: {total} handshakes in {took:.1f} s ({total / took:.0f}/s): "
          f"{dict(counts)}")
    assert unexpected == [], collections.Counter(unexpected).most_common(5)
    assert sum(counts.values()) == total
    assert counts["revoked:cert-revoked"] == total // 2


@pytest.mark.parametrize("backend", backend_names())
def test_ocsp_stress(root: CA, backend: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """One context and the shared OCSP cache: revoked-by-OCSP peers are always refused."""
    import tlsplug
    from tlsplug.backend import Feature

    if Feature.OCSP_ENDPOINT not in tlsplug.get_backend(backend).features:
        pytest.skip(f"{backend} declares no Feature.OCSP_ENDPOINT")
    directory = tmp_path_factory.mktemp("faults-stress-ocsp")
    ca_file = str(root.write_cert(directory / "ca.pem"))
    per_thread = handshakes_per_thread()
    with OCSPResponder(root) as responder:
        good = root.issue_cert("localhost", ocsp_url=responder.url)
        revoked = root.issue_cert("localhost", ocsp_url=responder.url)
        responder.set_status(good, "good")
        responder.set_status(revoked, "revoked")
        ctx = make_context(backend, ca_file=ca_file)
        with TLSServer(cert=good, timeout=TIMEOUT) as good_server, \
                TLSServer(cert=revoked, timeout=TIMEOUT) as revoked_server:
            counts, unexpected, took = hammer(
                ctx, {"good": good_server.address, "revoked": revoked_server.address},
                {"good": "ok", "revoked": "ocsp-revoked"}, per_thread)
        requests = responder.requests
    total = THREADS * per_thread
    print(f"\n{backend} OCSP: {total} handshakes in {took:.1f} s ({total / took:.0f}/s), "
          f"{requests} responder requests: {dict(counts)}")
    assert unexpected == [], collections.Counter(unexpected).most_common(5)
    assert counts["revoked:ocsp-revoked"] == total // 2
    # The cache answers once it holds both verdicts: at most one miss per thread and leaf.
    assert requests <= 2 * THREADS, requests
