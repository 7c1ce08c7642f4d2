"""The measurements, each run in interleaved rounds (A B A B ..., order rotated per round).

Every round measures every variant once, so drift (CPU frequency, the other core's load)
hits all of them alike; ratios are taken within a round and summarised over rounds.
"""

from __future__ import annotations

import re
import subprocess
import time
import warnings
from typing import Any, Callable, Dict, List, Optional

import tlsplug

from .clients import TLSPLUG_EXTRA, Address, Client, make_context

Samples = Dict[str, List[float]]


def rotate(items: List[str], r: int) -> List[str]:
    """``items`` starting at position ``r`` (so no variant always runs first)."""
    k = r % len(items)
    return items[k:] + items[:k]


def rounds(variants: List[str], count: int, one: Callable[[str], float]) -> Samples:
    """``one(variant)`` for every variant in each of ``count`` rotated rounds."""
    out: Samples = {v: [] for v in variants}
    for r in range(count):
        for v in rotate(variants, r):
            out[v].append(one(v))
    return out


#: Handshakes per variant before the next variant's turn, within a round.
BLOCK = 10


def handshakes(
    variants: List[str], address: Address, ca_file: str, resume: bool, count: int, n: int
) -> Dict[str, Any]:
    """Connections per second: connect, handshake, 1-byte ping, close; ``n`` per round.

    Within a round the variants take turns every ``BLOCK`` connections (order rotated per
    turn) and each one's time is summed: a burst of load from elsewhere on a shared
    machine lasts longer than a turn, so it lands on every variant rather than on one.
    """
    clients = {v: Client(v, ca_file, resume) for v in variants}
    reused: Dict[str, int] = {v: 0 for v in variants}
    for client in clients.values():  # warm up, and give the resuming clients a session
        for _ in range(2):
            conn = client.open(address)
            conn.ping()
            conn.close()

    def block(v: str, size: int) -> float:
        client = clients[v]
        start = time.perf_counter()
        for _ in range(size):
            conn = client.open(address)
            conn.ping()
            reused[v] += conn.reused
            conn.close()
        return time.perf_counter() - start

    samples: Samples = {v: [] for v in variants}
    for r in range(count):
        spent = {v: 0.0 for v in variants}
        done = 0
        turn = r
        while done < n:
            size = min(BLOCK, n - done)
            for v in rotate(variants, turn):
                spent[v] += block(v, size)
            done += size
            turn += 1
        for v in variants:
            samples[v].append(n / spent[v])
    return {"rate": samples, "reused": {v: reused[v] / (n * count) for v in variants}}


#: Transfers per variant and round (each moving ``total / PIECES``), taken in turns.
PIECES = 8


def bulk(
    variants: List[str], address: Address, ca_file: str, direction: str, chunk: int,
    total: int, count: int,
) -> Samples:
    """MiB/s moving ``total`` bytes in ``chunk``-sized calls (up: sendall, down: recv_into).

    Each round moves ``total`` per variant in ``PIECES`` transfers (one connection each,
    its handshake outside the timing), the variants taking turns piece by piece, so a burst
    of load from elsewhere lands on all of them (see ``handshakes``).
    """
    clients = {v: Client(v, ca_file, True) for v in variants}
    block = bytes(chunk)
    buf = bytearray(chunk)
    piece = max(chunk, (total // PIECES) // chunk * chunk)  # whole chunks per transfer
    pieces = max(1, total // piece)

    def one(v: str) -> float:
        conn = clients[v].open(address)
        try:
            start = time.perf_counter()
            if direction == "up":
                conn.upload(piece, block)
            else:
                conn.download(piece, buf)
            return time.perf_counter() - start
        finally:
            conn.close()

    samples: Samples = {v: [] for v in variants}
    for r in range(count):
        spent = {v: 0.0 for v in variants}
        for turn in range(pieces):
            for v in rotate(variants, r + turn):
                spent[v] += one(v)
        for v in variants:
            samples[v].append(piece * pieces / spent[v] / (1024 * 1024))
    return samples


def context_creation(
    variants: List[str], ca_file: Optional[str], count: int, n: int
) -> Dict[str, Samples]:
    """µs per context: raw (no cache), tlsplug first (cache cleared), tlsplug cached."""
    first: Samples = {v: [] for v in variants}
    cached: Samples = {v: [] for v in variants if v.startswith("tlsplug")}

    def timed(fn: Callable[[], Any], reps: int) -> float:
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        return (time.perf_counter() - start) / reps * 1e6

    def uncached(v: str) -> Any:
        tlsplug.clear_context_cache()
        return make_context(v, ca_file)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for r in range(count):
            for v in rotate(variants, r):
                first[v].append(timed(lambda v=v: uncached(v), n))  # type: ignore[misc]
                if v in cached:
                    make_context(v, ca_file)
                    # A new but equal TLSOptions, built outside the timing: what is timed
                    # is create_context itself, as a pool calls it per client.
                    options = _options(v, ca_file)
                    cached[v].append(timed(lambda o=options: tlsplug.create_context(o), n * 50))  # type: ignore[misc]
    return {"first": first, "cached": cached}


def _options(variant: str, ca_file: Optional[str]) -> tlsplug.TLSOptions:
    return tlsplug.TLSOptions(enabled=True, backend=variant.split("-", 1)[1], ca_file=ca_file,
                              **TLSPLUG_EXTRA)


_S_TIME = re.compile(r"(\d+) connections in ([\d.]+)s; ([\d.]+) connections/user sec")


def s_time(address: Address, version: str, mode: str, seconds: int) -> Optional[float]:
    """``openssl s_time`` connections per second (count / wall seconds), or None."""
    args = [
        "openssl", "s_time", "-connect", f"{address[0]}:{address[1]}", f"-{mode}",
        "-time", str(seconds), f"-{version}",
    ]
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _S_TIME.search(result.stdout)
    if match is None:
        return None
    return int(match.group(1)) / seconds
