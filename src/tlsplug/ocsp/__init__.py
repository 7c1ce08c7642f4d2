"""Backend-neutral OCSP for backend authors: staples, responders, must-staple, the cache.

A backend supplies only what its TLS library exposes — the peer's chain (leaf first) and
the stapled response, if any — and calls :func:`post_handshake_check` after the handshake
whenever ``options.check_ocsp_stapling`` holds::

    from tlsplug import ocsp

    verdict = ocsp.post_handshake_check(chain_der, staple, options, backend="mybackend")
    tls.ocsp_status = ocsp.status_text(verdict)   # "good (staple)", "soft-fail: ...", "off"

It raises ``CertificateError`` with code ``ocsp-revoked``, ``ocsp-invalid-response`` or
``ocsp-must-staple`` when the connection must not be used, and otherwise returns the
:class:`Verdict` to expose. A backend that must decide inside the handshake (PyOpenSSL's
OCSP client callback) calls :func:`check_staple` there, and :func:`check_responders` (or
:func:`check_responders_async`) after the handshake when :func:`check_staple` returned
``None`` or an ``unknown`` verdict. Inside an event loop's handshake, where nothing may
wait (asyncio's own SSL transport), :func:`post_handshake_check_nowait` decides what needs
no network and asks the responders in the background for the next connection.

Decisions, with their sources (MongoDB OCSP specification, "Suggested OCSP Behavior"):

* A staple must verify (RFC 6960 §3.2) for *this* certificate, or the handshake fails
  (items 2-3); ``revoked`` fails; ``good`` is cached.
* A valid staple saying ``unknown`` does not fail the handshake — PyMongo's
  ``_ocsp_callback`` accepts it, and item 10 says to fail only on explicitly invalid
  certificates — but it is not conclusive, so it is not cached and the certificate stays
  "unvalidated": the responders are asked when the endpoint check is enabled (item 7).
* A must-staple certificate (RFC 7633) without a staple fails even when the endpoint
  check is disabled (item 1).
* The cache is consulted only by the responder check, as PyMongo does: with
  ``tlsDisableOCSPEndpointCheck`` an unstapled certificate is never judged by OCSP.
* A response without ``nextUpdate`` is usable when it arrives but never cached.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Iterable, Optional, Sequence, Tuple, Union

from .._errors import error_for_code
from .._options import TLSOptions
from ._cache import CacheStats, OCSPCache, default_cache
from ._fetch import (
    MAX_RESPONSE_SIZE,
    check_responders,
    check_responders_async,
    describe,
    ocsp_urls,
)
from ._nowait import check_responders_nowait
from ._types import (
    ENDPOINT_CHECK_DISABLED,
    INVALID_RESPONSE,
    ISSUER_NOT_FOUND,
    NO_RESPONDER,
    PROBLEMS,
    RESPONDER_ERROR,
    RESPONDER_TIMEOUT,
    RESPONDER_UNREACHABLE,
    STATUS_UNKNOWN,
    CertIDKey,
    Verdict,
    status_text,
)
from ._verify import (
    CertLike,
    build_request,
    cert_id,
    find_issuer,
    load_certificate,
    must_staple,
    verify_response,
)

if TYPE_CHECKING:
    from cryptography import x509

__all__ = [
    "ENDPOINT_CHECK_DISABLED",
    "INVALID_RESPONSE",
    "ISSUER_NOT_FOUND",
    "MAX_RESPONSE_SIZE",
    "NO_RESPONDER",
    "PROBLEMS",
    "RESPONDER_ERROR",
    "RESPONDER_TIMEOUT",
    "RESPONDER_UNREACHABLE",
    "STATUS_UNKNOWN",
    "CacheStats",
    "CertIDKey",
    "CertLike",
    "OCSPCache",
    "Verdict",
    "build_request",
    "cert_id",
    "check_responders",
    "check_responders_async",
    "check_responders_nowait",
    "check_staple",
    "default_cache",
    "find_issuer",
    "load_certificate",
    "must_staple",
    "ocsp_urls",
    "post_handshake_check",
    "post_handshake_check_async",
    "post_handshake_check_nowait",
    "status_text",
    "verify_response",
]

LOG = logging.getLogger("tlsplug.ocsp")

# Users search for the text pyOpenSSL (and so PyMongo) shows for every staple failure.
_PYOPENSSL_TEXT = "invalid status response"


def _leaf(chain: Sequence[CertLike], backend: Optional[str]) -> Optional[x509.Certificate]:
    if not chain:
        return None
    try:
        return load_certificate(chain[0])
    except ValueError as exc:
        raise error_for_code(
            "cert-invalid", f"the peer's certificate cannot be parsed: {exc}", backend=backend
        ) from exc


def check_staple(
    staple: Optional[bytes],
    chain: Sequence[CertLike],
    options: TLSOptions,
    *,
    backend: Optional[str] = None,
    trust: Iterable[CertLike] = (),
    cache: Optional[OCSPCache] = None,
    issuer: Optional[CertLike] = None,
) -> Optional[Verdict]:
    """Decide on the stapled response (``None`` or ``b""`` when the server stapled nothing).

    ``chain`` is the peer's chain, leaf first (DER bytes or certificates); the issuer is
    looked up in it, then in ``trust`` - unless the caller passes the ``issuer`` it already
    found with :func:`find_issuer` (a backend remembering it per chain saves the look-up on
    every handshake). Raises ``CertificateError``: ``ocsp-revoked`` for a
    revoked staple, ``ocsp-invalid-response`` for a staple that fails RFC 6960 §3.2 (or
    whose issuer is unknown), ``ocsp-must-staple`` for a must-staple certificate without
    a staple. Returns the staple's verdict (``good``, cached; or ``unknown``), or ``None``
    when there is no staple to judge — the caller then runs the responder check if
    ``options.check_ocsp_endpoint``. Returns ``None`` at once when OCSP is off.
    """
    if not options.check_ocsp_stapling:
        return None
    leaf = _leaf(chain, backend)
    if leaf is None:
        if staple:
            raise error_for_code(
                "ocsp-invalid-response",
                f"{_PYOPENSSL_TEXT}: a response was stapled but the peer sent no certificate",
                backend=backend,
            )
        return None
    if not staple:
        if must_staple(leaf):
            # MongoDB OCSP spec item 1, RFC 7633 §4.2.3.1: hard fail, whatever the options.
            raise error_for_code(
                "ocsp-must-staple",
                f"{_PYOPENSSL_TEXT}: the certificate {describe(leaf)} requires a stapled "
                "OCSP response (TLS feature status_request, RFC 7633) and the server sent none",
                backend=backend,
            )
        return None
    if issuer is None:
        issuer = find_issuer(leaf, chain[1:], trust)
    if issuer is None:
        raise error_for_code(
            "ocsp-invalid-response",
            f"{_PYOPENSSL_TEXT}: cannot verify the stapled OCSP response for {describe(leaf)}: "
            "its issuer is neither in the peer's chain nor among the trusted certificates",
            backend=backend,
        )
    verdict = verify_response(staple, leaf, issuer, source="staple")
    if verdict.conclusive:
        # Spec caching section: a staple with a later nextUpdate replaces the entry.
        (default_cache() if cache is None else cache).put(cert_id(leaf, issuer), verdict)
    if verdict.status == "revoked":
        raise error_for_code(
            "ocsp-revoked",
            f"{_PYOPENSSL_TEXT}: the stapled OCSP response says the certificate "
            f"{describe(leaf)} is {verdict.reason}",
            backend=backend,
        )
    if verdict.status == "invalid":
        raise error_for_code(
            "ocsp-invalid-response",
            f"{_PYOPENSSL_TEXT}: the stapled OCSP response is not valid for the certificate "
            f"{describe(leaf)}: {verdict.reason}",
            backend=backend,
        )
    return verdict


def _staple_step(
    staple: Optional[bytes],
    chain: Sequence[CertLike],
    options: TLSOptions,
    backend: Optional[str],
    trust: Iterable[CertLike],
    cache: Optional[OCSPCache],
    stapling: bool,
) -> Optional[Verdict]:
    if not stapling:
        # The TLS library cannot request or show a staple (Python's ssl): must-staple cannot
        # be judged, so only the responders can speak (MongoDB OCSP spec, item 7).
        if staple:
            raise ValueError("stapling=False but a staple was given")
        return None
    return check_staple(staple, chain, options, backend=backend, trust=trust, cache=cache)


def _after_staple(
    staple_verdict: Optional[Verdict],
    chain: Sequence[CertLike],
    options: TLSOptions,
    trust: Iterable[CertLike],
) -> Union[Tuple[x509.Certificate, x509.Certificate], Verdict]:
    """The final verdict when no responder is needed, else the (leaf, issuer) to ask about."""
    if staple_verdict is not None and staple_verdict.ok:
        return staple_verdict
    if not chain:  # nothing to ask about (a backend bug, or an anonymous peer)
        return Verdict("unknown", "the peer sent no certificate", problem=ISSUER_NOT_FOUND)
    leaf = load_certificate(chain[0])
    if not options.check_ocsp_endpoint:
        if staple_verdict is not None:  # a valid staple saying "unknown": soft-fail
            LOG.warning(
                "OCSP soft-fail (%s) for %s: the stapled response says unknown and the "
                "endpoint check is disabled; connecting anyway",
                STATUS_UNKNOWN,
                describe(leaf),
            )
            return staple_verdict
        # The user chose not to contact responders: not worth a warning on every connection.
        LOG.debug("OCSP: no staple and the endpoint check is disabled")
        return Verdict(
            "unknown",
            "no stapled response and the OCSP endpoint check is disabled",
            problem=ENDPOINT_CHECK_DISABLED,
        )
    issuer = find_issuer(leaf, chain[1:], trust)
    if issuer is None:
        if not _http_urls(leaf):
            # No responder to ask in the first place (e.g. a directly trusted self-signed
            # leaf, which is its own issuer): nothing failed, so DEBUG as check_responders
            # does for a certificate without a responder (docs/design.md, OCSP).
            if LOG.isEnabledFor(logging.DEBUG):
                LOG.debug("OCSP: the certificate names no responder: %s", describe(leaf))
            return Verdict("unknown", "the certificate names no HTTP OCSP responder",
                           problem=NO_RESPONDER)
        reason = "the certificate's issuer is not in the peer's chain: responders cannot be asked"
        LOG.warning("OCSP soft-fail (%s) for %s: %s", ISSUER_NOT_FOUND, describe(leaf), reason)
        return Verdict("unknown", reason, problem=ISSUER_NOT_FOUND)
    return leaf, issuer


def _http_urls(cert: x509.Certificate) -> bool:
    try:
        return any(url.lower().startswith(("http://", "https://")) for url in ocsp_urls(cert))
    except ValueError:  # an AIA that does not decode: the responder step reports it
        return True


def _before_responders(
    chain: Sequence[CertLike],
    staple: Optional[bytes],
    options: TLSOptions,
    backend: Optional[str],
    trust: Iterable[CertLike],
    cache: Optional[OCSPCache],
    stapling: bool,
) -> Union[Verdict, Tuple[x509.Certificate, x509.Certificate], None]:
    """None (OCSP off), the final verdict, or the (leaf, issuer) responders must judge."""
    if not options.check_ocsp_stapling:
        return None
    trusted = list(trust)
    verdict = _staple_step(staple, chain, options, backend, trusted, cache, stapling)
    return _after_staple(verdict, chain, options, trusted)


def post_handshake_check(
    chain: Sequence[CertLike],
    staple: Optional[bytes],
    options: TLSOptions,
    *,
    backend: Optional[str] = None,
    trust: Iterable[CertLike] = (),
    cache: Optional[OCSPCache] = None,
    stapling: bool = True,
) -> Optional[Verdict]:
    """The whole OCSP decision after a handshake; returns the verdict or raises.

    ``chain``: the peer's certificates, leaf first (the verified chain when the backend has
    it, which also holds the root); ``staple``: the stapled response or ``None``/``b""``;
    ``trust``: extra certificates to find the issuer in (e.g. the CA file's). Runs
    :func:`check_staple`, then — when nothing conclusive was stapled and
    ``options.check_ocsp_endpoint`` — :func:`check_responders` with ``options.ocsp_timeout``.
    Returns ``None`` when the options turn OCSP off; give the result to
    :func:`status_text` for the connection's ``ocsp_status``.

    ``stapling=False`` is for a backend whose TLS library cannot request staples at all
    (the stdlib backend): the staple step, must-staple included, is skipped, since a
    must-staple certificate would otherwise always fail there; only responders are asked.
    """
    nxt = _before_responders(chain, staple, options, backend, trust, cache, stapling)
    if nxt is None or isinstance(nxt, Verdict):
        return nxt
    leaf, issuer = nxt
    return check_responders(
        leaf, issuer, timeout=options.ocsp_timeout, cache=cache, backend=backend
    )


async def post_handshake_check_async(
    chain: Sequence[CertLike],
    staple: Optional[bytes],
    options: TLSOptions,
    *,
    backend: Optional[str] = None,
    trust: Iterable[CertLike] = (),
    cache: Optional[OCSPCache] = None,
    stapling: bool = True,
) -> Optional[Verdict]:
    """:func:`post_handshake_check` for asyncio: the responder check runs off the loop."""
    nxt = _before_responders(chain, staple, options, backend, trust, cache, stapling)
    if nxt is None or isinstance(nxt, Verdict):
        return nxt
    leaf, issuer = nxt
    return await check_responders_async(
        leaf, issuer, timeout=options.ocsp_timeout, cache=cache, backend=backend
    )


def post_handshake_check_nowait(
    chain: Sequence[CertLike],
    staple: Optional[bytes],
    options: TLSOptions,
    *,
    backend: Optional[str] = None,
    trust: Iterable[CertLike] = (),
    cache: Optional[OCSPCache] = None,
    stapling: bool = True,
) -> Optional[Verdict]:
    """``post_handshake_check`` that never waits for a responder: for an event loop's handshake.

    Everything that needs no network is decided here (the staple, must-staple, a cached
    answer); when only a responder could speak, :func:`check_responders_nowait` asks it in
    the background and this connection soft-fails (``_nowait``'s docstring says why).
    """
    nxt = _before_responders(chain, staple, options, backend, trust, cache, stapling)
    if nxt is None or isinstance(nxt, Verdict):
        return nxt
    leaf, issuer = nxt
    return check_responders_nowait(
        leaf, issuer, timeout=options.ocsp_timeout, cache=cache, backend=backend
    )
