"""Automatic session resumption for the stdlib backend (see ``tlsplug._sessions``).

The context offers the last session of the same (host, port, SNI) to ``wrap_socket``; the
socket hands its session back when it is closed. Under TLS 1.3 the tickets arrive after
the handshake and ``SSLSocket.session`` only carries one once a read has processed them, so
the session is taken at close time; if no ticket was seen yet, one non-blocking read gives
tickets already in the socket buffer a chance (data it returns is discarded: the
connection is closing).
"""

from __future__ import annotations

import contextlib
import ssl
from typing import Optional

from tlsplug.backend import SessionKey, SessionStore

__all__ = ["Resumption"]


class Resumption:
    """The session store of a context and the key of one connection."""

    __slots__ = ("key", "store")

    def __init__(self, store: SessionStore, key: Optional[SessionKey]) -> None:
        """Remember sessions of ``key`` in ``store``."""
        self.store = store
        self.key = key

    def offer(self) -> Optional[ssl.SSLSession]:
        """The session to resume, if one is remembered for this peer."""
        session: Optional[ssl.SSLSession] = self.store.get(self.key)
        return session

    def remember(self, sock: ssl.SSLSocket) -> None:
        """Store the connection's session if it can be resumed; ``sock`` is non-blocking."""
        if self.key is None:
            return
        try:
            version = sock.version()
            if version != "TLSv1.3" and sock.session_reused:
                # A resumed TLS 1.2 session is the one the store already holds (renewed
                # tickets aside, which fail once and heal with a full handshake), and
                # ``SSLSocket.session`` is not free: CPython copies the session through
                # i2d/d2i on every call (Modules/_ssl.c, _ssl_session_dup), ~150 µs here.
                return
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
            self.store.put(self.key, session)
