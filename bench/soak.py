"""Soak: memory of long-running pools (RSS growth per 1,000 connections, idle bytes per connection).

    python -m bench --soak            # every path, ~2 minutes
    python -m bench --soak --quick    # the short version (part of ``python -m bench --quick``)

Each path runs in a fresh interpreter (``python -m bench.soak --child ...``), so what one path
leaves behind never counts against another. A path is one small function (``PATHS``): given
the server's address and CA file it returns ``open()``, which connects, completes a
handshake with every check, sends one ping (which also makes the client read the server's
TLS 1.3 tickets) and returns the connection's ``close``. Session resumption is on wherever
the path supports it, as a driver pool has it.

- **Growth**: after a warm-up, cycles of open/use/close; between cycles ``gc.collect()``
  and glibc's ``malloc_trim(0)`` (via ctypes) return what is free, then RSS is read. The
  growth is the least-squares slope of RSS over connections, per 1,000 connections.
  A tlsplug path above ``GROWTH_LIMIT_KIB`` makes the run fail (non-zero exit): that is
  the check CI's bench smoke runs. Raw paths are references and never fail the run (raw
  ``ssl`` reads ``SSLSocket.session`` at every close, as hand-written pools do, so on the
  interpreters with gh-116810 it shows that leak).
- **Idle**: ``IDLE`` connections opened and kept open; bytes per connection of RSS (one
  phase) and of Python allocations (``tracemalloc``, a second phase: tracing inflates RSS),
  tlsplug against the raw stack it wraps.

RSS is read from ``/proc/self/statm``: Linux only (elsewhere the soak says so and passes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import json
import os
import subprocess
import sys
import time
import tracemalloc
from typing import Any, Callable, Dict, List, Tuple

from . import clients

Close = Callable[[], None]
Open = Callable[[], Close]
Address = Tuple[str, int]

#: RSS growth allowed for a tlsplug path, KiB per 1,000 connections after warm-up (the
#: issue 24 acceptance target). The short soak measures 600 connections, where page-sized
#: steps weigh more: it allows 1 MiB, still a sixth of the gh-116810 leak (~6 MiB).
GROWTH_LIMIT_KIB = {"full": 300.0, "quick": 1024.0}
#: Idle bytes per connection allowed, tlsplug / raw: issue 24's targets for the sockets,
#: issue 20's (1.2) for the asyncio paths, against asyncio with a plain ssl.SSLContext
#: (pyOpenSSL has no asyncio stack of its own to compare with).
IDLE_TARGETS = {
    "tlsplug-stdlib": ("raw-ssl", 1.05), "tlsplug-pyopenssl": ("raw-pyopenssl", 0.8),
    "aio-stdlib": ("asyncio+ssl", 1.2), "aio-pyopenssl": ("asyncio+ssl", 1.2),
    "bridge-stdlib": ("asyncio+ssl", 1.2), "bridge-pyopenssl": ("asyncio+ssl", 1.2),
}

SETTINGS = {
    # warm-up connections, measured cycles, connections per cycle, idle connections
    "full": {"warmup": 500, "cycles": 6, "per_cycle": 500, "idle": 1000},
    "quick": {"warmup": 200, "cycles": 3, "per_cycle": 200, "idle": 150},
}


# -- the paths: one small function each --------------------------------------------------


def _blocking(variant: str) -> Callable[[Address, str], Open]:
    """A ``bench.clients`` variant: raw ssl / pyOpenSSL by hand, or tlsplug's wrap_socket."""

    def path(address: Address, ca_file: str) -> Open:
        client = clients.Client(variant, ca_file, True)  # resumption on

        def open_() -> Close:
            conn = client.open(address)
            conn.ping()
            return conn.close

        return open_

    return path


def _asyncio(kind: str, backend: str = "") -> Callable[[Address, str], Open]:
    """One event loop, one shared context, asyncio streams: ``kind`` says whose.

    ``aio``: ``tlsplug.aio.open_connection`` with a tlsplug context; ``bridge``:
    ``asyncio.open_connection`` with ``tlsplug.create_ssl_context`` (how asyncpg or httpx
    use tlsplug); ``raw``: ``asyncio.open_connection`` with a plain ``ssl.SSLContext``,
    the reference of both.
    """

    def path(address: Address, ca_file: str) -> Open:
        import ssl

        import tlsplug
        import tlsplug.aio

        options = tlsplug.TLSOptions(enabled=True, backend=backend or None, ca_file=ca_file)
        loop = asyncio.new_event_loop()
        request, end = clients.PING
        if kind == "aio":
            ctx: Any = tlsplug.create_context(options)

            def opener() -> Any:
                return tlsplug.aio.open_connection(
                    address[0], address[1], context=ctx, server_hostname=clients.HOST
                )
        else:
            ctx = (tlsplug.create_ssl_context(options) if kind == "bridge"
                   else ssl.create_default_context(cafile=ca_file))

            def opener() -> Any:
                return asyncio.open_connection(
                    address[0], address[1], ssl=ctx, server_hostname=clients.HOST
                )

        async def connect() -> Any:
            reader, writer = await opener()
            writer.write(request)
            answer = b""
            while not answer.endswith(end):
                chunk = await reader.read(4096)
                if not chunk:
                    raise RuntimeError(f"bad ping answer {answer!r}")
                answer += chunk
            return writer

        async def close(writer: Any) -> None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

        def open_() -> Close:
            writer = loop.run_until_complete(connect())
            return lambda: loop.run_until_complete(close(writer))

        return open_

    return path


#: Every path the soak runs (those that need PyOpenSSL only when it is installed).
PATHS: Dict[str, Callable[[Address, str], Open]] = {
    "raw-ssl": _blocking("raw-ssl"),
    "tlsplug-stdlib": _blocking("tlsplug-stdlib"),
    "raw-pyopenssl": _blocking("raw-pyopenssl"),
    "tlsplug-pyopenssl": _blocking("tlsplug-pyopenssl"),
    "asyncio+ssl": _asyncio("raw"),
    "aio-stdlib": _asyncio("aio", "stdlib"),
    "aio-pyopenssl": _asyncio("aio", "pyopenssl"),
    "bridge-stdlib": _asyncio("bridge", "stdlib"),
    "bridge-pyopenssl": _asyncio("bridge", "pyopenssl"),
}


def available_paths() -> List[str]:
    """The paths that can run here."""
    import tlsplug

    have_pyopenssl = "pyopenssl" in tlsplug.available_backends()
    return [p for p in PATHS if have_pyopenssl or "pyopenssl" not in p]


# -- measuring, in the child process ------------------------------------------------------


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _trim() -> Callable[[], None]:
    try:
        libc = ctypes.CDLL("libc.so.6")
        malloc_trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc: gc only
        return gc.collect

    def settle() -> None:
        gc.collect()
        malloc_trim(0)

    return settle


def _slope(points: List[Tuple[int, int]]) -> float:
    """Least-squares slope of (x, y) points."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else 0.0


def measure(name: str, address: Address, ca_file: str, s: Dict[str, int]) -> Dict[str, Any]:
    """Growth and idle figures of one path (run in a fresh interpreter)."""
    settle = _trim()
    open_ = PATHS[name](address, ca_file)
    for _ in range(s["warmup"]):
        open_()()
    settle()
    points = [(0, _rss())]
    blocks = [sys.getallocatedblocks()]
    started = time.perf_counter()
    for cycle in range(1, s["cycles"] + 1):
        for _ in range(s["per_cycle"]):
            open_()()
        settle()
        points.append((cycle * s["per_cycle"], _rss()))
        blocks.append(sys.getallocatedblocks())
    elapsed = time.perf_counter() - started
    total = s["cycles"] * s["per_cycle"]

    # Idle, RSS: open, settle, read; close them all.
    settle()
    before = _rss()
    held = [open_() for _ in range(s["idle"])]
    settle()
    idle_rss = (_rss() - before) / len(held)
    for close in held:
        close()
    del held
    # Idle, Python allocations (tracemalloc in its own phase: tracing costs RSS itself).
    settle()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    held = [open_() for _ in range(s["idle"])]
    gc.collect()
    idle_py = (tracemalloc.get_traced_memory()[0] - base) / len(held)
    tracemalloc.stop()
    for close in held:
        close()
    return {
        "path": name,
        "growth_kib_per_1000": _slope(points) * 1000 / 1024,
        "rss_series_mib": [round(y / 2**20, 2) for _, y in points],
        "blocks_per_1000": (blocks[-1] - blocks[0]) * 1000 / total,
        "connections_per_s": total / elapsed,
        "idle_rss_bytes": idle_rss,
        "idle_python_bytes": idle_py,
        "connections": total,
    }


def _child(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak")
    parser.add_argument("--child", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca-file", required=True)
    parser.add_argument("--settings", required=True, help="JSON")
    args = parser.parse_args(argv)
    result = measure(args.child, ("127.0.0.1", args.port), args.ca_file,
                     json.loads(args.settings))
    print(json.dumps(result))
    return 0


# -- the parent: one child per path, the table, the verdict ----------------------------------


def _raise_fd_limit() -> None:
    """Room for the idle connections (the server process inherits the limit)."""
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def run(port: int, ca_file: str, quick: bool) -> Tuple[bool, Dict[str, Any]]:
    """Soak every available path against the bench server on ``port``; (passed, results)."""
    if not os.path.exists("/proc/self/statm"):
        print("soak: RSS is read from /proc (Linux only): skipped")
        return True, {}
    mode = "quick" if quick else "full"
    s = SETTINGS[mode]
    limit = GROWTH_LIMIT_KIB[mode]
    results: Dict[str, Dict[str, Any]] = {}
    for name in available_paths():
        cmd = [sys.executable, "-m", "bench.soak", "--child", name, "--port", str(port),
               "--ca-file", ca_file, "--settings", json.dumps(s)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900,
                              cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        if done.returncode != 0:
            raise RuntimeError(f"soak path {name} failed:\n{done.stderr}")
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
    passed, text = report(results, s, limit)
    print(text)
    return passed, {"settings": s, "limit_kib_per_1000": limit, "paths": results}


def report(
    results: Dict[str, Dict[str, Any]], s: Dict[str, int], limit: float
) -> Tuple[bool, str]:
    """The soak table and whether every tlsplug path grew by at most ``limit`` KiB/1000."""
    lines = [
        f"soak: {s['warmup']} warm-up, {s['cycles']} x {s['per_cycle']} measured, "
        f"{s['idle']} idle connections per path (Python {sys.version.split()[0]})",
        f"{'path':<20} {'growth KiB/1000':>16} {'blocks/1000':>12} {'conn/s':>8} "
        f"{'idle RSS B':>11} {'idle py B':>10}  verdict",
    ]
    passed = True
    for name, r in results.items():
        growth = r["growth_kib_per_1000"]
        if name.startswith("raw-") or name == "asyncio+ssl":
            verdict = "reference"
        elif growth <= limit:
            verdict = f"<= {limit:g} ok"
        else:
            verdict = f"> {limit:g} FAIL"
            passed = False
        lines.append(
            f"{name:<20} {growth:>16.1f} {r['blocks_per_1000']:>12.0f} "
            f"{r['connections_per_s']:>8.0f} {r['idle_rss_bytes']:>11.0f} "
            f"{r['idle_python_bytes']:>10.0f}  {verdict}"
        )
    for name, (raw, target) in IDLE_TARGETS.items():
        if name in results and raw in results:
            ratio = results[name]["idle_rss_bytes"] / max(results[raw]["idle_rss_bytes"], 1.0)
            ok = "ok" if ratio <= target else "HIGH"
            lines.append(f"idle RSS per connection {name} / {raw}: {ratio:.3f} "
                         f"(target <= {target:g}) {ok}")
    lines.append("soak: " + ("passed" if passed else
                             f"FAILED: a tlsplug path grew more than {limit:g} KiB "
                             "per 1,000 connections"))
    return passed, "\n".join(lines)


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
