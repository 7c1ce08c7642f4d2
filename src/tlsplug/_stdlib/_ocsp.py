"""OCSP for the stdlib backend: responder checks after the handshake, must-staple fails closed.

Python's ``ssl`` can neither request a stapled response (no ``status_request`` extension,
RFC 6066 §8) nor show one, so:

* **Responders** (MongoDB OCSP specification, "Suggested OCSP Behavior" item 7): after the
  handshake the verified chain gives the leaf's issuer, needed for the CertID (RFC 6960
  §4.1.1); :func:`tlsplug.ocsp.post_handshake_check` with ``stapling=False`` asks the
  responders of the leaf's AIA. The verified chain is public from Python 3.13
  (``get_verified_chain``) and on the private ``_sslobj`` from 3.10 (gh-109109). **Python
  3.9 exposes only the leaf**: the issuer is known there only when the CA file happens to
  hold it (a leaf issued by a root), so the check would depend on the chain's shape — the
  common intermediate-issued leaf would always soft-fail. ``Feature.OCSP_ENDPOINT`` is
  therefore declared from 3.10 only, and on 3.9 no responder is asked (``ocsp_status`` is
  "soft-fail: issuer not found", logged once per process).
* **Must-staple** (RFC 7633): a leaf with the TLS feature ``status_request`` requires a
  staple that Python's ssl cannot check. Accepting it would silently drop the MongoDB
  spec's hard failure (item 1); failing with ``ocsp-must-staple`` would blame a server that
  may well staple. Project decision: fail closed with
  ``ConfigurationError(code="unsupported-option")`` after the handshake (the connection is
  closed), so "unsupported-option is the only allowed difference between backends" holds.
"""

from __future__ import annotations

import logging
import ssl
import sys
import threading
from collections import OrderedDict
from typing import Any, Dict, List, Optional

from tlsplug.backend import ConfigurationError, TLSOptions

from ._translate import BACKEND_NAME

__all__ = ["HAS_VERIFIED_CHAIN", "StdlibOCSP", "verified_chain"]

LOG = logging.getLogger("tlsplug.ocsp")

#: Whether this Python exposes the verified chain (3.10+; public from 3.13).
HAS_VERIFIED_CHAIN: bool = sys.version_info >= (3, 10)

_MUST_STAPLE_HINT = (
    "Use tlsBackend=pyopenssl (pip install 'tlsplug[pyopenssl]'), which checks stapled "
    "responses, or set tlsDisableCertificateRevocationCheck=true to accept the risk."
)
_NO_CHAIN_REASON = (
    "Python 3.9's ssl module exposes only the peer's leaf certificate, not its issuer: "
    "OCSP responders are not asked (Python 3.10+ or tlsBackend=pyopenssl can)"
)
_warned_no_chain = threading.Event()


class _IssuerMemory:
    """Leaf DER -> issuer DER, learned from verified chains; bounded, thread-safe.

    A resumed TLS 1.3 session shows only the leaf (no verified chain, no intermediates), but
    the responder check needs the issuer for the CertID (RFC 6960 §4.1.1) — also to find the
    earlier answer in the OCSP cache. ``find_issuer`` checks the signature, so a remembered
    issuer is only ever used for a leaf it really issued.
    """

    def __init__(self, maxsize: int = 1024) -> None:
        self._items: OrderedDict[bytes, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._maxsize = maxsize

    def learn(self, chain: List[bytes]) -> None:
        if len(chain) < 2:
            return
        with self._lock:
            self._items[chain[0]] = chain[1]
            self._items.move_to_end(chain[0])
            while len(self._items) > self._maxsize:
                self._items.popitem(last=False)

    def recall(self, leaf: bytes) -> Optional[bytes]:
        with self._lock:
            return self._items.get(leaf)


_ISSUERS = _IssuerMemory()


def _as_der(items: Any) -> Optional[List[bytes]]:
    if not items:
        return None
    out: List[bytes] = []
    for cert in items:
        if isinstance(cert, (bytes, bytearray)):
            out.append(bytes(cert))
        else:  # _ssl.Certificate (3.10-3.12)
            out.append(cert.public_bytes(ssl._ssl.ENCODING_DER))  # type: ignore[attr-defined]
    return out


def verified_chain(conn: Any) -> Optional[List[bytes]]:
    """The verified chain (leaf first, trust anchor last) of an SSLSocket/SSLObject, as DER.

    None on Python 3.9, and when OpenSSL kept no verified chain (a resumed session): the
    caller then falls back to the chain the peer sent.
    """
    getter = getattr(conn, "get_verified_chain", None)  # 3.13+
    if getter is None:
        getter = getattr(getattr(conn, "_sslobj", None), "get_verified_chain", None)
    if getter is None:
        return None
    try:
        return _as_der(getter())
    except (ValueError, ssl.SSLError):
        return None


class StdlibOCSP:
    """The post-handshake OCSP step of one connection (socket or sans-IO object)."""

    def __init__(self, options: TLSOptions) -> None:
        """Nothing decided yet; ``defer`` is set by ``tlsplug.aio`` (the DeferredOCSP hook)."""
        self.options = options
        self.defer = False
        self.done = False
        self.verdict: Any = None
        self._pending: Optional[Dict[str, Any]] = None

    def after_handshake(self, conn: Any, peer_chain: List[bytes]) -> None:
        """Decide what needs no network; raise for must-staple; keep the responder step.

        ``conn`` is the ``ssl.SSLSocket``/``SSLObject``; ``peer_chain`` the chain the peer
        sent (used when no verified chain is available, e.g. on a resumed session).
        """
        options = self.options
        if not options.check_ocsp_stapling:
            self.record(None)
            return
        from tlsplug import ocsp  # cryptography only when OCSP is on and a peer was verified

        leaf = conn.getpeercert(True)
        if not leaf:
            self.record(None)
            return
        if ocsp.must_staple(leaf):
            raise ConfigurationError(
                "the server's certificate requires OCSP stapling (TLS feature status_request, "
                "RFC 7633), which Python's ssl module cannot request or check; refusing the "
                "connection rather than skipping a check the certificate demands",
                code="unsupported-option",
                backend=BACKEND_NAME,
                option="tlsBackend",
                hint=_MUST_STAPLE_HINT,
            )
        if not HAS_VERIFIED_CHAIN:
            if not _warned_no_chain.is_set():
                _warned_no_chain.set()
                LOG.warning("OCSP soft-fail (%s): %s", ocsp.ISSUER_NOT_FOUND, _NO_CHAIN_REASON)
            self.record(ocsp.Verdict("unknown", _NO_CHAIN_REASON, problem=ocsp.ISSUER_NOT_FOUND))
            return
        chain = verified_chain(conn)
        if chain:
            _ISSUERS.learn(chain)
        else:  # a resumed session: the chain the peer sent, else the issuer seen before
            chain = list(peer_chain or [leaf])
            remembered = _ISSUERS.recall(leaf)
            if len(chain) < 2 and remembered is not None:
                chain.append(remembered)
        kwargs: Dict[str, Any] = {
            "chain": chain,
            "staple": None,
            "options": options,
            "backend": BACKEND_NAME,
            "stapling": False,  # no staple can be seen: skip the staple step (ocsp.py)
        }
        if not options.check_ocsp_endpoint:
            self.record(ocsp.post_handshake_check(**kwargs))  # no network: decide now
            return
        self._pending = kwargs

    def pending(self) -> Optional[Dict[str, Any]]:
        """Keyword arguments for ``ocsp.post_handshake_check(_async)``, or None when decided."""
        return None if self.done else self._pending

    def finish_sync(self) -> None:
        """Ask the responders now, blocking up to ``ocsp_timeout`` (blocking callers)."""
        kwargs = self.pending()
        if kwargs is not None:
            from tlsplug import ocsp

            self.record(ocsp.post_handshake_check(**kwargs))

    def record(self, verdict: Any) -> None:
        """Keep the final verdict (for ``ocsp_status``)."""
        self.verdict = verdict
        self.done = True
        self._pending = None

    @property
    def status(self) -> Optional[str]:
        """``ocsp_status``: ``tlsplug.ocsp.status_text`` once decided, else None."""
        if not self.done:
            return None
        if self.verdict is None:
            return "off"  # = ocsp.status_text(None), without importing cryptography
        return str(self.verdict.summary)
