"""Automatic session resumption for the stdlib backend (see ``tlsplug._sessions``).

The context offers the last session of the same (host, port, SNI) to ``wrap_socket``; the
socket hands its session back when it is closed. Under TLS 1.3 the tickets arrive after
the handshake and ``SSLSocket.session`` only carries one once a read has processed them, so
the session is taken at close time; if no ticket was seen yet, one non-blocking read gives
tickets already in the socket buffer a chance (data it returns is discarded: the
connection is closing).

Reading ``SSLSocket.session`` leaks a copy of the session (~6 KiB with the peer's
certificates) on every read in CPython 3.10.0-3.12.6 and 3.13.0 (gh-116810, fixed by
gh-123249 in 3.12.7 and 3.13.1; 3.9 and 3.14 are not affected; docs/howto/pools.md). On
those interpreters the session is read only when the stored one is absent or stale: the
handshake did not resume it, or half of its lifetime has passed. A resumed TLS 1.3
connection then leaves the stored ticket in place (it stays valid for its lifetime), so
a pool that reconnects all day reads the getter once per peer and ticket lifetime
instead of once per connection. Elsewhere every connection hands back its fresh ticket,
as RFC 8446 §C.4 recommends (one ticket per connection).
"""

from __future__ import annotations

import contextlib
import ssl
import sys
import time
from typing import Optional, Sequence

from tlsplug.backend import Resumption as _Resumption

__all__ = ["GETTER_LEAKS", "Resumption", "getter_leaks"]


def getter_leaks(version: Sequence[int], implementation: str = "cpython") -> bool:
    """Whether ``SSLSocket.session`` leaks on this interpreter (gh-116810)."""
    if implementation != "cpython":
        return False
    release = tuple(version[:3])
    # Introduced in 3.10 (the OpenSSL 1.1.0 workaround lost its #ifdef and its copy leaks);
    # the fix was backported to 3.12 and 3.13 only (3.10 and 3.11 take security fixes only).
    return (3, 10, 0) <= release < (3, 12, 7) or release == (3, 13, 0)


#: The clock the sessions' lifetimes are read against (seconds since the epoch).
_clock = time.time

#: Whether this interpreter's ``SSLSocket.session`` getter leaks (see the module docstring).
GETTER_LEAKS: bool = getter_leaks(tuple(sys.version_info[:3]), sys.implementation.name)


def _fresh(session: Optional[ssl.SSLSession], now: float) -> bool:
    """Whether ``session`` has more than half of its lifetime left (never reads the socket)."""
    if session is None:
        return False
    try:
        lifetime = float(session.timeout)
        hint = float(session.ticket_lifetime_hint)
        if hint > 0:
            lifetime = min(lifetime, hint)
        return now < float(session.time) + lifetime / 2
    except (AttributeError, TypeError, ValueError):  # pragma: no cover - defensive
        return False


class Resumption(_Resumption):
    """The core's ``Resumption``, with ssl's way of taking the session at close."""

    __slots__ = ()

    def offer(self) -> Optional[ssl.SSLSession]:
        """The session to resume, if one is remembered for this peer."""
        session: Optional[ssl.SSLSession] = self.stored()
        return session

    def remember(self, sock: ssl.SSLSocket) -> None:
        """Store the connection's session if it can be resumed; ``sock`` is non-blocking.

        Where the getter leaks (``GETTER_LEAKS``), ``SSLSocket.session`` is read only when
        the stored session is absent or stale, and at most once (see the module docstring).
        """
        if self.key is None:
            return
        leaky = GETTER_LEAKS
        try:
            version = sock.version()
            reused = sock.session_reused
            if version != "TLSv1.3" and reused:
                # A resumed TLS 1.2 session is the one the store already holds (renewed
                # tickets aside, which fail once and heal with a full handshake), and
                # ``SSLSocket.session`` is not free: CPython copies the session through
                # i2d/d2i on every call (Modules/_ssl.c, _ssl_session_dup), ~150 µs here.
                return
            if leaky:
                if reused and _fresh(self.stored(), _clock()):
                    return  # the stored ticket still resumes: no getter call, no leak
                if version == "TLSv1.3":
                    with contextlib.suppress(Exception):
                        sock.recv(1)  # processes NewSessionTicket messages already received
                session = sock.session  # the one read of this connection
            else:
                session = sock.session
                if version == "TLSv1.3" and not (session is not None and session.has_ticket):
                    with contextlib.suppress(Exception):
                        sock.recv(1)  # processes NewSessionTicket messages already received
                    session = sock.session
        except (ssl.SSLError, OSError, ValueError):
            return
        if session is None:
            return
        # A TLS 1.3 session without a ticket cannot be resumed: keep the previous one.
        if session.has_ticket or (version != "TLSv1.3" and session.id):
            self.keep(session)
