"""Client CPU per handshake: what tlsplug adds after OpenSSL's own work, in microseconds.

    python -m bench.hotpath            # post-handshake checks (stdlib) + CPU per handshake
    python -m bench.hotpath --quick

Two measurements, both of the client process only, so other load on the machine inflates
them far less than a wall-clock rate:

* ``post-handshake µs``: the stdlib backend's checks after a handshake
  (``StdlibContext._after_handshake``: chain facts, lint, OCSP step) run over ``--conns``
  live connections in turn. Distinct connections, so every call sees new ``_ssl``
  certificate objects of an equal chain, as a pool's reconnects do.
* ``CPU µs/handshake``: ``time.process_time()`` over full handshakes + close_notify against
  ``bench.server`` (another process), raw ``ssl``/pyOpenSSL vs tlsplug, interleaved rounds.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import clients
from .clients import PAIRS, VARIANTS, available
from .shapes import SHAPES, write_shape


def _best_us(fn: Callable[[], None], calls: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best * 1e6


def post_handshake_us(address: Tuple[str, int], ca_file: str, conns: int, calls: int,
                      repeats: int) -> float:
    """µs per ``_after_handshake`` of the stdlib backend, cycling over ``conns`` connections."""
    import socket

    import tlsplug

    ctx: Any = tlsplug.create_context(tlsplug.TLSOptions(
        enabled=True, backend="stdlib", ca_file=ca_file, session_resumption=False,
        **clients.TLSPLUG_EXTRA,
    ))
    live = []
    for _ in range(conns):
        sock = socket.create_connection(address, timeout=30)
        live.append(ctx.ssl_context.wrap_socket(sock, server_hostname=clients.HOST))
    ring = [0]

    def one() -> None:
        i = ring[0] = (ring[0] + 1) % conns
        ctx._after_handshake(live[i], None)

    try:
        one()  # the first chain: parsed and linted once, outside the timing
        return _best_us(one, calls, repeats)
    finally:
        for tls in live:
            tls.close()


def cpu_per_handshake(variants: List[str], address: Tuple[str, int], ca_file: str,
                      rounds: int, n: int) -> Dict[str, List[float]]:
    """Client CPU µs per full handshake (connect, handshake, close_notify), per round."""
    made = {v: clients.Client(v, ca_file, False) for v in variants}
    for v in variants:  # warm: imports, first chain
        made[v].open(address).close()
    out: Dict[str, List[float]] = {v: [] for v in variants}
    for r in range(rounds):
        order = variants if r % 2 == 0 else variants[::-1]
        for v in order:
            client = made[v]
            t0 = time.process_time()
            for _ in range(n):
                client.open(address).close()
            out[v].append((time.process_time() - t0) / n * 1e6)
    return out


def _fmt(xs: List[float]) -> str:
    return f"{min(xs):7.1f} {statistics.median(xs):7.1f} {max(xs):7.1f}"


def main(argv: Optional[List[str]] = None) -> int:
    """Print both measurements for each certificate shape."""
    parser = argparse.ArgumentParser(prog="python -m bench.hotpath", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--shapes", default="ecdsa-int",
                        help=f"comma-separated, among {','.join(SHAPES)}")
    parser.add_argument("--conns", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args(argv)
    rounds = args.rounds or (2 if args.quick else 7)
    n = 20 if args.quick else 150
    calls = 200 if args.quick else 3000
    variants = available(VARIANTS)
    from .server import serve

    for shape in [s for s in args.shapes.split(",") if s]:
        with tempfile.TemporaryDirectory(prefix="tlsplug-hotpath-") as tmp:
            files = write_shape(shape, Path(tmp))
            mp = multiprocessing.get_context("spawn")
            ports_q: Any = mp.Queue()
            stop = mp.Event()
            proc = mp.Process(target=serve, args=(files["cert_file"], files["key_file"],
                                                  ports_q, stop), daemon=True)
            proc.start()
            try:
                address = ("127.0.0.1", ports_q.get(timeout=60)["tls13"])
                post = [post_handshake_us(address, files["ca_file"], args.conns, calls, 3)
                        for _ in range(max(1, rounds // 2))]
                cpu = cpu_per_handshake(variants, address, files["ca_file"], rounds, n)
            finally:
                stop.set()
                proc.join(5)
                if proc.is_alive():
                    proc.terminate()
        print(f"[{shape}] TLS 1.3 against bench.server; min / median / max")
        print(f"  stdlib post-handshake checks µs  {_fmt(post)}")
        for v in variants:
            print(f"  CPU µs/handshake {v:18s} {_fmt(cpu[v])}")
        for t, r in PAIRS.items():
            if t in cpu:
                extra = [a - b for a, b in zip(cpu[t], cpu[r])]
                print(f"  CPU µs added {t:22s} {_fmt(extra)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
