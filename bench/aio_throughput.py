"""Throughput of tlsplug.aio (each backend) against asyncio's own TLS, in one interleaved run.

    python bench/aio_throughput.py [--quick] [--size MiB] [--rounds N]

A TLS echo server (Python's ssl, one thread per connection) runs in a separate process.
Each round, every client variant opens a connection and echoes SIZE MiB in 64 KiB chunks
(writing with drain() while reading concurrently); variants run one after another inside
the round, in a rotating order, so drift (CPU frequency, other load) hits them alike.
Reported: MiB/s of payload (one direction) as min/median/max, and the per-round ratio
tlsplug.aio / asyncio+ssl. The reference is ``asyncio.open_connection(ssl=ctx)`` with a plain
``ssl.create_default_context(cafile=...)``. Both sides negotiate TLS 1.3 with the same suite
(printed), so the ratio measures the I/O layer, not the cryptography.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import ssl
import statistics
import sys
import tempfile
import threading
import time
from typing import Any, Awaitable, Callable, Dict, List, Tuple

import tlsplug
import tlsplug.aio

CHUNK = 64 * 1024
MiB = 1024 * 1024
Streams = Tuple[asyncio.StreamReader, asyncio.StreamWriter]
Opener = Callable[[str, int], Awaitable[Streams]]


def _serve(cert: str, key: str, ready: Any) -> None:
    """The echo server process: ssl, one thread per connection, 256 KiB reads."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    ready.put(listener.getsockname()[1])

    def echo(conn: socket.socket) -> None:
        with ctx.wrap_socket(conn, server_side=True) as tls:
            buf = bytearray(256 * 1024)
            view = memoryview(buf)
            try:
                while True:
                    n = tls.recv_into(buf)
                    if not n:
                        return
                    tls.sendall(view[:n])
            except (OSError, ssl.SSLError):
                return

    while True:
        conn, _ = listener.accept()
        threading.Thread(target=echo, args=(conn,), daemon=True).start()


async def echo_round(opener: Opener, port: int, size: int) -> Tuple[float, str]:
    """Echo ``size`` bytes through one fresh connection; return (seconds, cipher)."""
    reader, writer = await opener("127.0.0.1", port)
    cipher = writer.get_extra_info("cipher")
    block = b"\xa5" * CHUNK

    async def send() -> None:
        for _ in range(size // CHUNK):
            writer.write(block)
            await writer.drain()

    start = time.perf_counter()
    sender = asyncio.ensure_future(send())
    got = 0
    while got < size:
        data = await reader.read(1 << 20)
        if not data:
            raise RuntimeError("server closed early")
        got += len(data)
    await sender
    elapsed = time.perf_counter() - start
    writer.close()
    await writer.wait_closed()
    return elapsed, f"{cipher[1]} {cipher[0]}" if cipher else "?"


def openers(ca_file: str) -> Dict[str, Opener]:
    """The reference (asyncio + ssl.SSLContext) and tlsplug.aio per installed backend."""
    plain = ssl.create_default_context(cafile=ca_file)

    async def reference(host: str, port: int) -> Streams:
        return await asyncio.open_connection(
            host, port, ssl=plain, server_hostname="localhost", limit=2**16)

    out: Dict[str, Opener] = {"asyncio+ssl": reference}
    for name in tlsplug.available_backends():
        ctx = tlsplug.create_context(tlsplug.TLSOptions(enabled=True, backend=name,
                                                        ca_file=ca_file))

        async def tls(host: str, port: int, ctx: tlsplug.ClientContext = ctx) -> Streams:
            return await tlsplug.aio.open_connection(
                host, port, context=ctx, server_hostname="localhost")

        out[f"tlsplug.aio[{name}]"] = tls
    return out


def main() -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="16 MiB x 5 rounds")
    parser.add_argument("--size", type=int, default=None, help="MiB per round (default 64)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 7, min 5)")
    args = parser.parse_args()
    size = (args.size or (16 if args.quick else 64)) * MiB
    rounds = max(5, args.rounds or (5 if args.quick else 7))

    from tlsplug.testing.pki import make_pki

    pki = make_pki()
    with tempfile.TemporaryDirectory(prefix="tlsplug-bench-") as tmp:
        files = pki.write(tmp)
        mp = multiprocessing.get_context("spawn")
        ready = mp.Queue()
        server = mp.Process(target=_serve, args=(str(files.server.cert_file),
                                                 str(files.server.key_file), ready), daemon=True)
        server.start()
        try:
            port = int(ready.get(timeout=30))
            variants = openers(str(files.ca_file))
            results = asyncio.run(run_all(variants, port, size, rounds))
        finally:
            server.terminate()
            server.join(5)
    report(results, size, rounds)
    return 0


async def run_all(
    variants: Dict[str, Opener], port: int, size: int, rounds: int
) -> Dict[str, Tuple[List[float], str]]:
    """Every round runs every variant once, in a rotating order (one warm-up round first)."""
    names = list(variants)
    for name in names:  # warm-up: imports, session caches, page faults
        await echo_round(variants[name], port, min(size, 4 * MiB))
    times: Dict[str, List[float]] = {n: [] for n in names}
    ciphers: Dict[str, str] = {}
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            seconds, ciphers[name] = await echo_round(variants[name], port, size)
            times[name].append(seconds)
    return {n: (times[n], ciphers[n]) for n in names}


def report(results: Dict[str, Tuple[List[float], str]], size: int, rounds: int) -> None:
    """MiB/s per variant and the per-round ratios against asyncio+ssl."""
    print(f"python {sys.version.split()[0]}, {ssl.OPENSSL_VERSION}; "
          f"{size // MiB} MiB echoed per round in {CHUNK // 1024} KiB chunks, {rounds} rounds")
    print(f"{'variant':<26}{'min':>9}{'median':>9}{'max':>9}  MiB/s   cipher")
    rates = {n: [size / MiB / t for t in ts] for n, (ts, _) in results.items()}
    for name, (_, cipher) in results.items():
        r = rates[name]
        print(f"{name:<26}{min(r):>9.0f}{statistics.median(r):>9.0f}{max(r):>9.0f}         "
              f"{cipher}")
    ref = rates["asyncio+ssl"]
    print("ratio to asyncio+ssl (per round; >1 is faster)")
    for name, r in rates.items():
        if name == "asyncio+ssl":
            continue
        ratios = [a / b for a, b in zip(r, ref)]
        print(f"{name:<26}{min(ratios):>9.2f}{statistics.median(ratios):>9.2f}"
              f"{max(ratios):>9.2f}")


if __name__ == "__main__":
    sys.exit(main())
