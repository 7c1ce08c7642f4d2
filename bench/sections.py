"""Sections of ``python -m bench`` beyond the base run: certificate shapes, tlsplug.aio.

``shapes``: full TLS 1.3 handshakes, tlsplug / raw on each backend, for every shape of
``bench.shapes`` (RSA-2048 and ECDSA P-256 leaves, with and without an intermediate)
against both a Python ``ssl`` server (``bench.server``) and nginx (when installed). The
raw clients end their connections with close_notify as tlsplug does (``bench.clients``).

``aio``: ``tlsplug.aio`` on each backend against ``asyncio`` + a plain ``ssl.SSLContext``
connections per second (connect, handshake, a ping to ``bench.server``, close) and echo
throughput in 64 KiB chunks (``bench.aio_throughput``'s echo server), interleaved rounds.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

from . import aio_throughput, clients, measure, nginx_server, report
from .shapes import SHAPES, write_shape

MiB = 1024 * 1024


def _python_server(files: Dict[str, str]) -> Tuple[Any, Any, Dict[str, int]]:
    from .server import serve

    mp = multiprocessing.get_context("spawn")
    ports_q: Any = mp.Queue()
    stop = mp.Event()
    proc = mp.Process(target=serve, args=(files["cert_file"], files["key_file"], ports_q, stop),
                      daemon=True)
    proc.start()
    return proc, stop, ports_q.get(timeout=60)


def _servers(files: Dict[str, str]) -> Iterator[Tuple[str, Tuple[str, int], Tuple[bytes, bytes]]]:
    """(name, address, ping) of each handshake server for ``files``, stopped afterwards."""
    from .server import PING

    proc, stop, ports = _python_server(files)
    try:
        yield "python ssl", ("127.0.0.1", ports["tls13"]), PING
    finally:
        stop.set()
        proc.join(5)
        if proc.is_alive():
            proc.terminate()
    if nginx_server.binary() is None:
        return
    nginx = nginx_server.NginxServers(files["cert_file"], files["key_file"], None).start()
    try:
        yield "nginx", ("127.0.0.1", nginx.ports["tls13"]), nginx_server.PING
    finally:
        nginx.stop()


def shapes(table: report.Table, variants: List[str], pairs: Dict[str, str],
           s: Dict[str, Any]) -> Dict[str, Any]:
    """Full-handshake ratios per certificate shape and server (target 0.98)."""
    out: Dict[str, Any] = {}
    saved_ping = clients.PING
    try:
        for shape in SHAPES:
            with tempfile.TemporaryDirectory(prefix="tlsplug-bench-shape-") as tmp:
                files = write_shape(shape, Path(tmp))
                for server, address, ping in _servers(files):
                    clients.PING = ping
                    got = measure.handshakes(variants, address, files["ca_file"], False,
                                             s["rounds"], s["handshakes"])
                    out[f"{shape} {server}"] = got
                    metric = f"full hs/s TLS 1.3 {shape}, {server}"
                    for t, r in pairs.items():
                        table.add(metric, f"{t} / {r}",
                                  report.ratio(got["rate"][t], got["rate"][r]), 0.98)
    finally:
        clients.PING = saved_ping
    return out


async def _connect_round(opener: aio_throughput.Opener, port: int, n: int) -> float:
    """Connections per second against ``bench.server``: handshake, ping, close."""
    from .server import PING

    start = time.perf_counter()
    for _ in range(n):
        reader, writer = await opener("127.0.0.1", port)
        writer.write(PING[0])
        if await reader.readexactly(len(PING[1])) != PING[1]:
            raise RuntimeError("bad ping answer")
        writer.close()
        await writer.wait_closed()
    return n / (time.perf_counter() - start)


async def _aio_rounds(variants: Dict[str, aio_throughput.Opener], ports: Tuple[int, int],
                      size: int, rounds: int, n: int) -> Dict[str, Dict[str, List[float]]]:
    """Per round, every variant's rate and echo throughput, taken in turns.

    Connections in blocks of ``measure.BLOCK`` and the echo in ``measure.PIECES`` transfers,
    the variants taking turns (order rotated per turn) and each one's time summed, as
    ``measure.handshakes`` does: a burst of load from elsewhere lands on all of them.
    """
    ping_port, echo_port = ports
    names = list(variants)
    for name in names:  # warm-up: imports, first chain
        await _connect_round(variants[name], ping_port, 2)
    rate: Dict[str, List[float]] = {k: [] for k in names}
    mibs: Dict[str, List[float]] = {k: [] for k in names}
    piece = max(aio_throughput.CHUNK, size // measure.PIECES // aio_throughput.CHUNK
                * aio_throughput.CHUNK)
    for r in range(rounds):
        spent = {k: 0.0 for k in names}
        done, turn = 0, r
        while done < n:
            block = min(measure.BLOCK, n - done)
            for name in measure.rotate(names, turn):
                spent[name] += block / await _connect_round(variants[name], ping_port, block)
            done += block
            turn += 1
        echo = {k: 0.0 for k in names}
        for turn in range(max(1, size // piece)):
            for name in measure.rotate(names, r + turn):
                seconds, _ = await aio_throughput.echo_round(variants[name], echo_port, piece)
                echo[name] += seconds
        for name in names:
            rate[name].append(n / spent[name])
            mibs[name].append(piece * max(1, size // piece) / MiB / echo[name])
    return {"rate": rate, "echo": mibs}


def aio(table: report.Table, s: Dict[str, Any], ca_file: Optional[str] = None) -> Dict[str, Any]:
    """tlsplug.aio / asyncio+ssl: connections per second and 64 KiB echo MiB/s."""
    size = 8 * MiB if s["rounds"] <= 2 else 64 * MiB
    with tempfile.TemporaryDirectory(prefix="tlsplug-bench-aio-") as tmp:
        files = write_shape("ecdsa-int", Path(tmp))
        mp = multiprocessing.get_context("spawn")
        ready: Any = mp.Queue()
        server = mp.Process(target=aio_throughput._serve,
                            args=(files["cert_file"], files["key_file"], ready), daemon=True)
        server.start()
        proc, stop, ports = _python_server(files)
        try:
            port = int(ready.get(timeout=30))
            variants = aio_throughput.openers(files["ca_file"])
            got = asyncio.run(_aio_rounds(variants, (ports["tls13"], port), size, s["rounds"],
                                          max(10, s["handshakes"] // 2)))
        finally:
            server.terminate()
            server.join(5)
            stop.set()
            proc.join(5)
    for kind, metric, target in (("rate", "aio connections/s", 0.97),
                                 ("echo", "aio echo 64KiB chunks MiB/s", 0.97)):
        ref = got[kind]["asyncio+ssl"]
        for name, values in got[kind].items():
            if name != "asyncio+ssl":
                table.add(metric, f"{name} / asyncio+ssl", report.ratio(values, ref), target)
        for name, values in got[kind].items():
            table.add(metric, name, report.summary(values),
                      unit="/s" if kind == "rate" else "MiB/s")
    return got
