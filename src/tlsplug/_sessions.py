"""``SessionStore``: the last TLS session per (host, port, SNI), for automatic resumption.

Backend-neutral: a backend stores whatever its native session object is. Each context owns
one store, so a session is only ever offered by the context (hence the options, trust store
and client certificate) that negotiated it; the key holds the name sent as SNI and checked
against the certificate, so a session is never offered to another name on the same address.

When to take the session: under TLS 1.2 it is complete when the handshake is; under TLS 1.3
the server's NewSessionTicket messages arrive *after* the handshake and are processed by a
later read, so backends take the session when the connection is closed (after any reads),
not when the handshake ends. A connection closed before the tickets arrived leaves the
previous session in place.
"""

from __future__ import annotations

import collections
import socket
import threading
from typing import Any, Hashable, Optional, Tuple

__all__ = ["Resumption", "SessionKey", "SessionStore", "session_key"]

#: (peer host, peer port, normalised server name or None).
SessionKey = Tuple[Any, Any, Optional[str]]

#: Distinct peers remembered per context; a driver talks to a few servers (a replica set).
DEFAULT_MAXSIZE = 256


def session_key(sock: socket.socket, server_name: Optional[str]) -> Optional[SessionKey]:
    """(host, port, name) of the socket's peer, or ``None`` when it has no such address.

    ``server_name`` is the name as sent in SNI and matched against the certificate (IP
    literals included, though they are not sent as SNI), so it is part of the key.
    """
    try:
        peer = sock.getpeername()
    except OSError:
        return None
    if not isinstance(peer, tuple) or len(peer) < 2:
        return None  # AF_UNIX and friends: no (host, port) to key on
    return (peer[0], peer[1], server_name)


class SessionStore:
    """A bounded, thread-safe map from ``SessionKey`` to the last native session object."""

    def __init__(self, maxsize: int = DEFAULT_MAXSIZE) -> None:
        """Remember at most ``maxsize`` peers (least recently used dropped first)."""
        self.maxsize = maxsize
        self._lock = threading.Lock()
        self._sessions: collections.OrderedDict[Hashable, Any] = collections.OrderedDict()

    def __len__(self) -> int:
        """The number of remembered peers."""
        with self._lock:
            return len(self._sessions)

    def get(self, key: Optional[SessionKey]) -> Any:
        """The session remembered for ``key``, or ``None``."""
        if key is None:
            return None
        with self._lock:
            session = self._sessions.get(key)
            if session is not None:
                self._sessions.move_to_end(key)
            return session

    def put(self, key: Optional[SessionKey], session: Any) -> None:
        """Remember ``session`` as the one to offer ``key`` next (``None`` is ignored)."""
        if key is None or session is None:
            return
        with self._lock:
            self._sessions[key] = session
            self._sessions.move_to_end(key)
            while len(self._sessions) > self.maxsize:
                self._sessions.popitem(last=False)

    def discard(self, key: Optional[SessionKey]) -> None:
        """Forget the session of ``key`` (e.g. after the connection failed)."""
        if key is None:
            return
        with self._lock:
            self._sessions.pop(key, None)

    def clear(self) -> None:
        """Forget every session."""
        with self._lock:
            self._sessions.clear()


class Resumption:
    """One connection's view of its context's store: the session to offer, the one to keep.

    Every backend's resumption is this plus how its library hands a session over: when
    to take it at close (the TLS 1.3 tickets above) is the backend's ``remember``.
    """

    __slots__ = ("key", "store")

    def __init__(self, store: SessionStore, key: Optional[SessionKey]) -> None:
        """Remember sessions of ``key`` in ``store`` (None: a peer without an address)."""
        self.store = store
        self.key = key

    def stored(self) -> Any:
        """The session remembered for this peer, or None."""
        return self.store.get(self.key)

    def keep(self, session: Any) -> None:
        """Offer ``session`` to this peer next time (None is ignored)."""
        self.store.put(self.key, session)
