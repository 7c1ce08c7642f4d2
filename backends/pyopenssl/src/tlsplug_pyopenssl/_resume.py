"""Automatic session resumption for the PyOpenSSL backend (see ``tlsplug.backend.SessionStore``).

The context offers the last session of the same (host, port, SNI) with ``set_session``
before the handshake; the socket gives its session back when it is closed.

Two OpenSSL facts shape this:

- ``SSL_free`` marks a session not resumable unless ``SSL_SENT_SHUTDOWN`` is set
  (``ssl_clear_bad_session``); ``PyOpenSSLSocket.close`` sets it.
- Under TLS 1.3 the tickets arrive after the handshake; each one processed by a read
  replaces the connection's session with a new, resumable one. The session present right
  after a full TLS 1.3 handshake has no ticket and must not replace a stored, good one, so
  the session is taken at close time and stored only if it changed since the handshake.
  pyOpenSSL cannot ask ``SSL_SESSION_has_ticket``, and the handshake-time session is not
  kept alive for the whole connection (an idle pool would hold one per connection): its
  address *and* its encoded size are noted instead. An address alone could be reused by
  a later ticket's session (OpenSSL sends two tickets; the first replacement frees the
  handshake-time session), but a session with a ticket also encodes the ticket, so it is
  larger than the ticket-less one it replaced. One non-blocking read at close gives
  tickets already in the socket buffer a chance (any data it returns is discarded: we
  are closing).
"""

from __future__ import annotations

import contextlib
from typing import Any, Optional, Tuple

from OpenSSL import SSL

from tlsplug.backend import Resumption as _Resumption
from tlsplug.backend import SessionKey, SessionStore

from ._chains import ChainFacts

__all__ = ["Resumption", "session_reused"]


def _fingerprint(conn: SSL.Connection) -> Tuple[int, int]:
    """(address, DER size) of ``conn``'s current session, without a Python ``Session``."""
    if _GET_SESSION is None:  # pragma: no cover
        session = conn.get_session()
        return (id(session), 0) if session is not None else (0, 0)
    pointer = _GET_SESSION(conn._ssl)
    if pointer == _ffi.NULL:
        return (0, 0)
    return (int(_ffi.cast("uintptr_t", pointer)), int(_I2D_SESSION(pointer, _ffi.NULL)))


class _Remembered:
    """A session and the verified chain of the handshake that made it.

    A resumed handshake carries no certificates: what the checks after it need to know
    about the peer's chain (``_chains.ChainFacts``: OCSP's leaf and issuer) is the chain of
    the full handshake the session comes from, kept with the session.
    """

    __slots__ = ("facts", "session")

    def __init__(self, session: SSL.Session, facts: Optional[ChainFacts]) -> None:
        self.session = session
        self.facts = facts


class Resumption(_Resumption):
    """The core's ``Resumption``, with pyOpenSSL's way of offering and taking a session."""

    __slots__ = ("_at_handshake", "offered")

    def __init__(self, store: SessionStore, key: Optional[SessionKey]) -> None:
        """Remember sessions of ``key`` in ``store``."""
        super().__init__(store, key)
        #: TLS 1.3: (address, size) of the session right after the handshake (see above).
        self._at_handshake: Optional[Tuple[int, int]] = None
        #: What was offered to the server (its chain facts serve a resumed handshake).
        self.offered: Optional[_Remembered] = None

    def offer(self, conn: SSL.Connection) -> None:
        """Before the handshake: resume the remembered session of this peer, if any."""
        remembered = self.stored()
        if isinstance(remembered, _Remembered):
            conn.set_session(remembered.session)
            self.offered = remembered

    def offered_facts(self, conn: SSL.Connection) -> Optional[ChainFacts]:
        """The chain facts of the offered session, if this handshake resumed it."""
        if self.offered is None or not session_reused(conn):
            return None
        return self.offered.facts

    def handshake_done(self, conn: SSL.Connection) -> None:
        """Note the session the handshake produced (TLS 1.3: not yet resumable)."""
        if conn.get_protocol_version_name() == "TLSv1.3":
            self._at_handshake = _fingerprint(conn)

    def remember(self, conn: SSL.Connection) -> None:
        """At close: store the connection's session if it can be resumed."""
        if self.key is None:
            return
        try:
            at_handshake = self._at_handshake
            if at_handshake is not None and _fingerprint(conn) == at_handshake:
                with contextlib.suppress(SSL.Error, OSError):
                    conn.recv(1)  # processes NewSessionTicket messages already received
                if _fingerprint(conn) == at_handshake and not _reused(conn):
                    return  # no ticket yet: keep the previous session
            session = conn.get_session()
        except (SSL.Error, OSError):
            return
        self._at_handshake = None
        if session is not None:
            self.keep(_Remembered(session, self._facts_of(conn)))

    def _facts_of(self, conn: SSL.Connection) -> Optional[ChainFacts]:
        state = conn.get_app_data()
        chain_facts = getattr(state, "chain_facts", None)
        facts = chain_facts(conn) if chain_facts is not None else None
        return facts if isinstance(facts, ChainFacts) else None


try:  # bound once: this runs on every handshake
    from OpenSSL._util import ffi as _ffi
    from OpenSSL._util import lib as _lib

    _SESSION_REUSED: Any = _lib.SSL_session_reused
except (ImportError, AttributeError):  # pragma: no cover
    _SESSION_REUSED = None
try:
    _GET_SESSION: Any = _lib.SSL_get_session  # borrowed: no reference is taken
    _I2D_SESSION: Any = _lib.i2d_SSL_SESSION  # with NULL: the encoded size only
except (NameError, AttributeError):  # pragma: no cover
    _GET_SESSION = _I2D_SESSION = None


def session_reused(conn: SSL.Connection) -> bool:
    """Whether ``conn``'s handshake resumed a session (``SSL_session_reused``)."""
    if _SESSION_REUSED is None:  # pragma: no cover
        return False
    return bool(_SESSION_REUSED(conn._ssl))


# A resumed TLS 1.3 session keeps its (still valid) ticket until new ones arrive.
_reused = session_reused
