"""OCSP under asyncio: a slow responder never stalls the event loop.

The backends implement the ``DeferredOCSP`` hook, so ``tlsplug.aio`` asks the responders
itself, off the loop. A test double hides the hook to check the fallback for a backend
without it (its ``do_handshake`` asks the responders synchronously): the handshake steps
then run in a worker thread.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional, Tuple

import pytest

import tlsplug
import tlsplug.aio
from tlsplug import CertificateError, Feature, TLSOptions, ocsp
from tlsplug.testing.ocsp_responder import OCSPResponder
from tlsplug.testing.pki import CA, LeafCert
from tlsplug.testing.servers import TLSServer

Runner = Callable[..., Any]
TIMEOUT = 10.0
DELAY = 1.0  # the responder's answer delay, seconds
TICK = 0.01


class Ticker:
    """A task that sleeps TICK seconds in a loop and records the real gaps between ticks."""

    def __init__(self) -> None:
        """Not started: use ``async with``."""
        self.gaps: List[float] = []
        self._task: Optional[asyncio.Task[None]] = None

    async def _run(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(TICK)
            now = time.monotonic()
            self.gaps.append(now - last)
            last = now

    async def __aenter__(self) -> Ticker:
        """Start ticking."""
        self._task = asyncio.ensure_future(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop ticking."""
        assert self._task is not None
        self._task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self._task

    def assert_responsive(self, busy: float) -> None:
        """The loop kept ticking during the ``busy`` seconds: never blocked for the delay.

        A loop blocked by the responder shows one gap of about DELAY and a tick or two; the
        bounds (half of DELAY, five ticks) leave room for a loaded machine's scheduling.
        """
        assert len(self.gaps) >= 5, f"only {len(self.gaps)} ticks in {busy:.2f} s"
        assert max(self.gaps) < DELAY / 2, f"the loop stalled for {max(self.gaps):.3f} s"


class World:
    """A CA, an OCSP responder for it, and a localhost leaf naming the responder in its AIA."""

    def __init__(self, directory: Path) -> None:
        """Start the responder (stopped by the fixture)."""
        self.root = CA("aio ocsp root")
        self.ca = self.root.create_intermediate("aio ocsp intermediate")
        self.responder = OCSPResponder(self.ca, delay=DELAY).start()
        self.leaf: LeafCert = self.ca.issue_cert("localhost", ocsp_url=self.responder.url)
        self.responder.set_status(self.leaf, "good")
        self.revoked: LeafCert = self.ca.issue_cert("localhost", ocsp_url=self.responder.url)
        self.responder.set_status(self.revoked, "revoked")
        self.ca_file = str(self.root.write_cert(directory / "ca.pem"))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """A fresh OCSP world (fresh certificates: the process-wide OCSP cache cannot answer)."""
    w = World(tmp_path)
    yield w
    w.responder.stop()


class BlockingBuffer:
    """A backend's buffer with the DeferredOCSP hook hidden: it asks responders in do_handshake.

    That is what a backend without the hook does; ``tlsplug.aio`` must then step the
    handshake in a worker thread.
    """

    def __init__(self, inner: tlsplug.TLSBuffer) -> None:
        """Wrap ``inner`` (whose deferral stays off)."""
        self._inner = inner
        self.backend_name = inner.backend_name
        self.server_hostname = inner.server_hostname
        self.threads: List[bool] = []

    def do_handshake(self) -> None:
        """The backend's handshake, noting whether it ran on the main (loop) thread."""
        import threading

        self.threads.append(threading.current_thread() is threading.main_thread())
        self._inner.do_handshake()

    def __getattr__(self, name: str) -> Any:
        """The hook is hidden; everything else is the backend's buffer."""
        if name in ("defer_ocsp_endpoint_check", "deferred_ocsp_check", "record_ocsp_verdict"):
            raise AttributeError(name)
        return getattr(self._inner, name)


class BlockingContext:
    """A ``ClientContext`` handing out :class:`BlockingBuffer` objects."""

    def __init__(self, inner: tlsplug.ClientContext) -> None:
        """Wrap ``inner``."""
        self._inner = inner
        self.backend_name = inner.backend_name
        self.options = inner.options
        self.buffers: List[BlockingBuffer] = []

    def wrap_socket(self, sock: Any, server_hostname: Optional[str] = None) -> Any:
        """Unused here."""
        raise NotImplementedError

    def wrap_buffers(self, server_hostname: Optional[str] = None) -> Any:
        """The backend's buffer, without its hook."""
        buf = BlockingBuffer(self._inner.wrap_buffers(server_hostname))
        self.buffers.append(buf)
        return buf


def make_context(backend_name: str, world: World) -> tlsplug.ClientContext:
    """A context trusting the world's root, with a generous OCSP timeout."""
    features = tlsplug.get_backend(backend_name).features
    if Feature.OCSP_ENDPOINT not in features:
        pytest.skip(f"{backend_name} does not ask OCSP responders here")
    opts = TLSOptions(enabled=True, backend=backend_name, ca_file=world.ca_file, ocsp_timeout=5.0)
    return tlsplug.create_context(opts)


def test_post_handshake_check_async_keeps_loop_responsive(world: World, aio_run: Runner) -> None:
    """post_handshake_check_async waits DELAY s for the responder while the loop ticks."""
    opts = TLSOptions(enabled=True, ocsp_timeout=5.0)

    async def main() -> Tuple[Any, float, Ticker]:
        async with Ticker() as ticker:
            start = time.monotonic()
            verdict = await ocsp.post_handshake_check_async(
                [world.leaf.cert_der, world.ca.cert_der], None, opts, backend="test",
                stapling=False)
            return verdict, time.monotonic() - start, ticker

    verdict, busy, ticker = aio_run(main())
    assert verdict.status == "good"
    assert busy >= DELAY * 0.9
    assert world.responder.requests >= 1
    ticker.assert_responsive(busy)


def test_open_connection_asks_responder_off_loop(
    backend_name: str, world: World, aio_run: Runner
) -> None:
    """open_connection awaits a slow OCSP responder (backend's hook) while the loop ticks."""
    ctx = make_context(backend_name, world)

    async def main() -> Tuple[Optional[str], float, Ticker]:
        with TLSServer(cert=world.leaf) as server:
            async with Ticker() as ticker:
                start = time.monotonic()
                reader, writer = await tlsplug.aio.open_connection(
                    *server.address, context=ctx, server_hostname="localhost", timeout=TIMEOUT)
                busy = time.monotonic() - start
                writer.write(b"ocsp ok")
                assert await reader.readexactly(7) == b"ocsp ok"
                status = writer.get_extra_info("ocsp_status")
                writer.close()
                await writer.wait_closed()
            return status, busy, ticker

    status, busy, ticker = aio_run(main())
    assert status == "good (responder)"
    assert busy >= DELAY * 0.9
    ticker.assert_responsive(busy)


def test_open_connection_ocsp_revoked(backend_name: str, world: World, aio_run: Runner) -> None:
    """A responder saying revoked fails open_connection with ocsp-revoked, socket closed."""
    world.responder.configure(delay=0.0)
    ctx = make_context(backend_name, world)

    async def main() -> None:
        with TLSServer(cert=world.revoked) as server:
            await tlsplug.aio.open_connection(
                *server.address, context=ctx, server_hostname="localhost", timeout=TIMEOUT)

    with pytest.raises(CertificateError) as info:
        aio_run(main())
    assert info.value.code == "ocsp-revoked"
    assert info.value.backend == backend_name


def test_blocking_handshake_runs_off_loop(
    backend_name: str, world: World, aio_run: Runner
) -> None:
    """A backend without the hook that blocks in do_handshake is stepped in a worker thread."""
    ctx = BlockingContext(make_context(backend_name, world))

    async def main() -> Tuple[float, Ticker]:
        with TLSServer(cert=world.leaf) as server:
            async with Ticker() as ticker:
                start = time.monotonic()
                reader, writer = await tlsplug.aio.open_connection(
                    *server.address, context=ctx, server_hostname="localhost", timeout=TIMEOUT)
                busy = time.monotonic() - start
                writer.write(b"threaded")
                assert await reader.readexactly(8) == b"threaded"
                writer.close()
                await writer.wait_closed()
            return busy, ticker

    busy, ticker = aio_run(main())
    buf = ctx.buffers[-1]
    assert buf.threads
    assert not any(buf.threads), "do_handshake ran on the loop's thread"
    assert buf.ocsp_status == "good (responder)"
    ticker.assert_responsive(busy)


def test_timeout_while_responder_is_slow(
    backend_name: str, world: World, aio_run: Runner
) -> None:
    """The timeout fires while a worker thread waits on the responder; nothing leaks."""
    world.responder.configure(delay=2.0)
    ctx = BlockingContext(make_context(backend_name, world))

    async def main() -> float:
        with TLSServer(cert=world.leaf) as server:
            start = time.monotonic()
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                with pytest.raises(tlsplug.HandshakeError) as info:
                    await tlsplug.aio.open_connection(
                        *server.address, context=ctx, server_hostname="localhost", timeout=0.5)
            assert info.value.code == "timeout"
            return time.monotonic() - start

    assert aio_run(main()) < 1.5
