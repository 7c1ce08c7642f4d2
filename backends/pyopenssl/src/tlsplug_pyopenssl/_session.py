"""Automatic session resumption for the PyOpenSSL backend (see ``tlsplug.backend.SessionStore``).

The context offers the last session of the same (host, port, SNI) with ``set_session``
before the handshake; the socket gives its session back when it is closed.

Two OpenSSL facts shape this:

- ``SSL_free`` marks a session not resumable unless ``SSL_SENT_SHUTDOWN`` is set
  (``ssl_clear_bad_session``); ``PyOpenSSLSocket.close`` sets it.
- Under TLS 1.3 the tickets arrive after the handshake; each one processed by a read
  replaces the connection's session with a new, resumable one. The session present right
  after a full TLS 1.3 handshake has no ticket and must not replace a stored, good one, so
  the session is taken at close time and stored only if it changed since the handshake
  (pyOpenSSL cannot ask ``SSL_SESSION_has_ticket``; the handshake-time session is held,
  so its address cannot be reused meanwhile). One non-blocking read at close gives tickets
  already in the socket buffer a chance (any data it returns is discarded: we are closing).
"""

from __future__ import annotations

import contextlib
from typing import Any, Optional

from OpenSSL import SSL

from tlsplug.backend import SessionKey, SessionStore

__all__ = ["Resumption"]


def _pointer(session: Optional[SSL.Session]) -> Any:
    return getattr(session, "_session", None)


class Resumption:
    """The session store of a context and the key of one connection."""

    __slots__ = ("_at_handshake", "_tls13", "key", "store")

    def __init__(self, store: SessionStore, key: Optional[SessionKey]) -> None:
        """Remember sessions of ``key`` in ``store``."""
        self.store = store
        self.key = key
        self._at_handshake: Optional[SSL.Session] = None
        self._tls13 = False

    def offer(self, conn: SSL.Connection) -> None:
        """Before the handshake: resume the remembered session of this peer, if any."""
        session = self.store.get(self.key)
        if session is not None:
            conn.set_session(session)

    def handshake_done(self, conn: SSL.Connection) -> None:
        """Note the session the handshake produced (TLS 1.3: not yet resumable)."""
        self._tls13 = conn.get_protocol_version_name() == "TLSv1.3"
        if self._tls13:
            self._at_handshake = conn.get_session()

    def remember(self, conn: SSL.Connection) -> None:
        """At close: store the connection's session if it can be resumed."""
        if self.key is None:
            return
        try:
            session = conn.get_session()
            if self._tls13 and _pointer(session) == _pointer(self._at_handshake):
                with contextlib.suppress(SSL.Error, OSError):
                    conn.recv(1)  # processes NewSessionTicket messages already received
                session = conn.get_session()
                if _pointer(session) == _pointer(self._at_handshake) and not _reused(conn):
                    return  # no ticket yet: keep the previous session
        except (SSL.Error, OSError):
            return
        self._at_handshake = None
        if session is not None:
            self.store.put(self.key, session)


def _reused(conn: SSL.Connection) -> bool:
    # A resumed TLS 1.3 session keeps its (still valid) ticket until new ones arrive.
    try:
        from OpenSSL._util import lib

        return bool(lib.SSL_session_reused(conn._ssl))
    except (ImportError, AttributeError):  # pragma: no cover
        return False
