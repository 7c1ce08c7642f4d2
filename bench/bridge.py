"""``tlsplug.create_ssl_context`` inside asyncio's own SSL transport, against a plain context.

Variants (each an ``ssl.SSLContext`` given to ``asyncio.open_connection(ssl=...)``):

- ``asyncio+ssl``: ``ssl.create_default_context(cafile=...)``, the reference;
- ``asyncio+create_ssl_context[stdlib]``: the stdlib route (ssl's machinery plus tlsplug's
  checks in ``do_handshake``), target >= 0.97x of the reference;
- ``asyncio+create_ssl_context[pyopenssl]``: the routed path (``BufferSSLObject`` over the
  backend's sans-IO buffer), measured and reported, when tlsplug-pyopenssl is installed.

Measured in interleaved rounds (rotating order): full handshakes per second (handshake, the
ping, close; no session resumption on any variant) and 64 KiB-chunk bulk transfers up and
down, in MiB/s. Servers: ``bench.server``'s protocol (``U``/``D`` commands) for bulk, the
handshake listener ``python -m bench`` chose (nginx when installed) for handshakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
import time
from typing import Any, Awaitable, Callable, Dict, List, Tuple

import tlsplug

CHUNK = 64 * 1024
MiB = 1024 * 1024
Opener = Callable[[Tuple[str, int]], Awaitable[Tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
REFERENCE = "asyncio+ssl"


def contexts(ca_file: str) -> Dict[str, ssl.SSLContext]:
    """The reference context and one ``create_ssl_context`` per installed backend."""
    out: Dict[str, ssl.SSLContext] = {REFERENCE: ssl.create_default_context(cafile=ca_file)}
    for name in tlsplug.available_backends():
        out[f"asyncio+create_ssl_context[{name}]"] = tlsplug.create_ssl_context(
            tlsplug.TLSOptions(enabled=True, backend=name, ca_file=ca_file)
        )
    return out


async def _open(ctx: ssl.SSLContext, address: Tuple[str, int]) -> Any:
    return await asyncio.open_connection(*address, ssl=ctx, server_hostname="localhost")


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def handshakes(ctx: ssl.SSLContext, address: Tuple[str, int], count: int,
                     ping: Tuple[bytes, bytes]) -> float:
    """Full handshakes per second: connect, ping, close, ``count`` times in a row."""
    start = time.perf_counter()
    for _ in range(count):
        reader, writer = await _open(ctx, address)
        writer.write(ping[0])
        await writer.drain()
        got = b""
        while not got.endswith(ping[1]):
            data = await reader.read(256)
            if not data:
                break
            got += data
        await _close(writer)
    return count / (time.perf_counter() - start)


async def bulk(ctx: ssl.SSLContext, address: Tuple[str, int], direction: str,
               total: int) -> float:
    """MiB/s of ``total`` bytes moved in 64 KiB chunks (``bench.server``'s U/D commands)."""
    reader, writer = await _open(ctx, address)
    try:
        block = b"\xa5" * CHUNK
        start = time.perf_counter()
        if direction == "up":
            writer.write(b"U" + struct.pack("!Q", total))
            for _ in range(total // CHUNK):
                writer.write(block)
                await writer.drain()
            assert await reader.readexactly(1) == b"K"
        else:
            writer.write(b"D" + struct.pack("!QI", total, CHUNK))
            await writer.drain()
            got = 0
            while got < total:
                data = await reader.read(CHUNK)
                if not data:
                    raise RuntimeError("server closed early")
                got += len(data)
        return total / MiB / (time.perf_counter() - start)
    finally:
        await _close(writer)


def run(ca_file: str, handshake_address: Tuple[str, int], bulk_address: Tuple[str, int],
        ping: Tuple[bytes, bytes], rounds: int, count: int, total: int) -> Dict[str, Any]:
    """Every measurement, interleaved: {"handshakes"|"bulk up"|"bulk down": {variant: [..]}}.

    Within a round the variants take turns (order rotated per turn), each one's time
    summed: handshakes in blocks of ``measure.BLOCK``, bulk in ``measure.PIECES``
    transfers, as ``bench.measure`` does, so a burst of load lands on every variant.
    """
    from .measure import BLOCK, PIECES, rotate

    ctxs = contexts(ca_file)
    names = list(ctxs)
    piece = max(CHUNK, total // PIECES // CHUNK * CHUNK)
    pieces = max(1, total // piece)

    async def main() -> Dict[str, Dict[str, List[float]]]:
        out: Dict[str, Dict[str, List[float]]] = {
            k: {n: [] for n in names} for k in ("handshakes", "bulk up", "bulk down")
        }
        for name in names:  # warm-up: imports, page faults, the context caches
            await handshakes(ctxs[name], handshake_address, 3, ping)
            await bulk(ctxs[name], bulk_address, "down", 4 * MiB)
        for r in range(rounds):
            spent = {n: 0.0 for n in names}
            done, turn = 0, r
            while done < count:
                block = min(BLOCK, count - done)
                for name in rotate(names, turn):
                    spent[name] += block / await handshakes(
                        ctxs[name], handshake_address, block, ping)
                done += block
                turn += 1
            for name in names:
                out["handshakes"][name].append(count / spent[name])
            for direction in ("up", "down"):
                moved = {n: 0.0 for n in names}
                for turn in range(pieces):
                    for name in rotate(names, r + turn):
                        moved[name] += piece / MiB / await bulk(
                            ctxs[name], bulk_address, direction, piece)
                for name in names:
                    out[f"bulk {direction}"][name].append(piece * pieces / MiB / moved[name])
        return out

    return asyncio.run(main())
