"""asyncio streams over any tlsplug backend, with the same checks and errors as blocking sockets.

::

    reader, writer = await tlsplug.aio.open_connection("db.example.com", 27017, opts, timeout=10)
    writer.write(b"..."); await writer.drain(); data = await reader.read(4096)
    writer.get_extra_info("peercert"); writer.get_extra_info("tlsplug").version()
    writer.close(); await writer.wait_closed()

    # STARTTLS / PostgreSQL SSLRequest: plaintext first, then TLS on the same connection.
    reader, writer = await asyncio.open_connection(host, 5432)
    writer.write(SSL_REQUEST); await writer.drain()
    if await reader.readexactly(1) == b"S":
        reader, writer = await tlsplug.aio.start_tls(reader, writer, opts, server_hostname=host)

asyncio's own TLS needs an ``ssl.SSLContext``; tlsplug instead drives the backend's sans-IO
``ClientContext.wrap_buffers`` object over a plain TCP transport, so PyOpenSSL (staples,
must-staple, legacy servers) works under asyncio exactly as with blocking sockets. The
streams are the standard ``asyncio.StreamReader``/``StreamWriter``, fed by an unmodified
``asyncio.StreamReaderProtocol`` (see ``tlsplug.aio._protocol`` for the layering and the flow
control). ``writer.get_extra_info`` answers ``"peercert"``, ``"cipher"``, ``"tlsplug"`` (the
``TLSBuffer``: ``version()``, ``cipher()``, ``getpeercert()``, ``peer_chain()``...),
``"ssl_object"`` (the same object, for code written for asyncio's SSL transport),
``"ocsp_status"``, ``"tlsplug_context"``, and the socket's ``"socket"``, ``"peername"``,
``"sockname"``.

Errors are the tlsplug exceptions of the blocking path with the same codes; ``timeout``
bounds the connection and the handshake (and the OCSP checks that follow it) together and
ends in ``HandshakeError(code="timeout")``. On any failure, timeout or cancellation the
socket is closed before the coroutine returns.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Optional, Tuple, TypeVar, Union

from .._connect import connect_error
from .._errors import ConfigurationError, HandshakeError, TLSError
from .._hostname import server_identity
from .._options import TLSOptions
from .._protocols import ClientContext, Feature
from .._registry import create_context, get_backend
from ._protocol import DeferredOCSP, TLSProtocol, TLSTransport

__all__ = ["open_connection", "start_tls", "upgrade"]

_DEFAULT_LIMIT = 2**16  # asyncio.streams._DEFAULT_LIMIT
_T = TypeVar("_T")


def _context(
    options: Union[TLSOptions, ClientContext, None], context: Optional[ClientContext]
) -> ClientContext:
    if context is not None:
        if options is not None:
            raise ConfigurationError(
                "give options or context, not both", code="conflicting-options",
                hint="A context already carries its options (context.options).",
            )
        return context
    if options is None or isinstance(options, TLSOptions):
        return create_context(options)
    return options  # a ClientContext passed positionally


def _offload_handshake(ctx: ClientContext, buffer: object) -> bool:
    """Whether the buffer's handshake steps must leave the loop (they may block on HTTP)."""
    if isinstance(buffer, DeferredOCSP):
        return False  # responders are asked by tlsplug.aio itself, off-loop
    if not ctx.options.check_ocsp_endpoint:
        return False
    return Feature.OCSP_ENDPOINT in _backend_features(ctx.backend_name)


def _backend_features(name: str) -> frozenset[Feature]:
    try:
        return frozenset(get_backend(name).features)
    except ConfigurationError:
        return frozenset()  # a context from an unregistered backend: trust it not to block


async def _settle(task: asyncio.Future[Any]) -> None:
    """Wait for a cancelled task to finish its cleanup; never raise its outcome."""
    if not task.done():
        await asyncio.wait({task})
    if not task.cancelled():
        task.exception()  # retrieved: no "exception was never retrieved" log


async def _bounded(
    work: Awaitable[_T], proto: TLSProtocol, timeout: Optional[float], what: str, backend: str
) -> _T:
    """Run ``work`` within ``timeout``; on timeout or cancellation close the socket first.

    ``asyncio.wait_for`` is avoided: before 3.12 it can lose a result that completes while
    the caller is being cancelled (bpo-37658, gh-86296), which here would leak an open
    socket; and ``asyncio.timeout`` only exists from 3.11.
    """
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except asyncio.CancelledError:
        task.cancel()
        await _settle(task)
        proto.abort()
        await proto.wait_lost()
        raise
    if not done:
        task.cancel()
        await _settle(task)
        proto.abort()
        await proto.wait_lost()
        raise HandshakeError(
            f"TLS connection to {what} timed out after {timeout:g} s (connect and handshake)",
            code="timeout", backend=backend,
        )
    if task.cancelled() or task.exception() is not None:
        proto.abort()
        await proto.wait_lost()
    return task.result()


async def open_connection(
    host: str,
    port: int,
    options: Union[TLSOptions, ClientContext, None] = None,
    *,
    context: Optional[ClientContext] = None,
    server_hostname: Optional[str] = None,
    timeout: Optional[float] = None,
    limit: int = _DEFAULT_LIMIT,
    **connection_kwargs: Any,
) -> Tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to ``host:port``, complete a verified TLS handshake, return the streams.

    ``options`` (a ``TLSOptions``) or ``context`` (a ``ClientContext`` built once and shared,
    which also keeps TLS sessions for resumption) choose the backend and the checks.
    ``server_hostname`` defaults to ``host``. ``timeout`` (seconds, ``None`` = no bound)
    covers connect + handshake + OCSP. ``limit`` is the ``StreamReader`` limit;
    ``connection_kwargs`` go to ``loop.create_connection`` (``local_addr``,
    ``happy_eyeballs_delay``...). Raises ``ConfigurationError`` before connecting,
    ``HandshakeError``/``CertificateError`` (also ``OSError``) afterwards.
    """
    loop = asyncio.get_running_loop()
    ctx = _context(options, context)
    if server_hostname is not None and isinstance(host, str):
        # The dialled name too: "127.0.0.010" dials 127.0.0.8 (docs/design.md, Identity).
        server_identity(host, option="host", backend=ctx.backend_name)
    buffer = ctx.wrap_buffers(server_hostname if server_hostname is not None else host)
    reader = asyncio.StreamReader(limit=limit, loop=loop)
    app = asyncio.StreamReaderProtocol(reader, loop=loop)
    proto = TLSProtocol(
        loop, buffer, app, app_attached=False,
        offload_handshake=_offload_handshake(ctx, buffer),
        extra={"tlsplug_context": ctx},
    )

    async def establish() -> None:
        try:
            await loop.create_connection(lambda: proto, host, port, **connection_kwargs)
        except TLSError:
            raise
        except OSError as exc:
            # The blocking path (tlsplug.connect) reports these the same way.
            raise connect_error(exc, host, port, ctx.backend_name) from exc
        await proto.wait_open()

    await _bounded(establish(), proto, timeout, f"{host}:{port}", ctx.backend_name)
    writer = asyncio.StreamWriter(proto.app_transport, app, reader, loop)
    return reader, writer


async def start_tls(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    options: Union[TLSOptions, ClientContext, None] = None,
    *,
    context: Optional[ClientContext] = None,
    server_hostname: Optional[str],
    timeout: Optional[float] = None,
) -> Tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Upgrade a plaintext asyncio connection to verified TLS, in place (STARTTLS, SSLRequest).

    Works like ``StreamWriter.start_tls`` of Python 3.11+ (gh-79156), but on 3.9+ and with
    any backend: the socket transport gets a new protocol (``transport.set_protocol``) that
    feeds the same ``StreamReaderProtocol``, and the given ``reader`` and ``writer`` (also
    returned, for convenience) carry plaintext over TLS from then on. Bytes already
    buffered in ``reader`` are handed to TLS as the start of the server's answer, so the
    caller must not have read ahead past the plaintext preamble — safe for PostgreSQL's
    ``'S'`` and SMTP/IMAP's STARTTLS replies, after which the server sends nothing until the
    ClientHello. If the upgrade fails, times out or is cancelled, the connection is closed
    (a half-done TLS handshake leaves nothing usable) and the error is raised.
    """
    loop = asyncio.get_running_loop()
    ctx = _context(options, context)
    buffer = ctx.wrap_buffers(server_hostname)
    transport = writer.transport
    app = getattr(writer, "_protocol", None)
    if not isinstance(app, asyncio.StreamReaderProtocol) or not isinstance(
        transport, asyncio.Transport
    ):
        raise TypeError("start_tls needs streams from asyncio.open_connection (or alike)")
    if isinstance(transport, TLSTransport):
        raise RuntimeError("the connection already speaks TLS")
    if reader.exception() is not None or reader.at_eof() or transport.is_closing():
        raise HandshakeError(
            "the connection was closed before the TLS upgrade", code="connection-closed",
            backend=ctx.backend_name,
        )
    await writer.drain()
    # The reader's buffer is private (StreamReader._buffer): CPython's StreamWriter.start_tls
    # needs no carry-over only because it never lets SSLProtocol see plaintext bytes either.
    pending: bytearray = getattr(reader, "_buffer", bytearray())
    carry = bytes(pending)
    pending.clear()

    def retarget(tls_transport: TLSTransport) -> None:
        # What StreamWriter.start_tls does (Lib/asyncio/streams.py, 3.11+): the stream
        # objects keep working, now over TLS. The old transport must not stay referenced by
        # the writer: 3.13's StreamWriter.__del__ closes a transport that is not closing.
        writer._transport = tls_transport  # type: ignore[attr-defined]
        reader._transport = tls_transport  # type: ignore[attr-defined]
        app._transport = tls_transport  # type: ignore[attr-defined]

    proto = TLSProtocol(
        loop, buffer, app, app_attached=True,
        offload_handshake=_offload_handshake(ctx, buffer), carry_over=carry,
        extra={"tlsplug_context": ctx}, on_open=retarget,
    )
    transport.set_protocol(proto)
    # The reader may have paused the socket while its buffer was full; it is empty now.
    if getattr(reader, "_paused", False):
        reader._paused = False  # type: ignore[attr-defined]
    if not transport.is_reading():
        transport.resume_reading()
    proto.connection_made(transport)
    peer = transport.get_extra_info("peername")
    what = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(server_hostname)
    await _bounded(proto.wait_open(), proto, timeout, what, ctx.backend_name)
    return reader, writer


upgrade = start_tls
"""Alias of :func:`start_tls`."""
