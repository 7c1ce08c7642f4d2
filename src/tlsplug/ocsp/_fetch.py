"""Asking the OCSP responders named in a certificate, in parallel, within one deadline.

MongoDB OCSP spec, "Suggested OCSP Behavior" item 7: send the requests to all responders
in parallel; the first valid response that concretely marks the certificate good or
revoked is used; one timeout (default five seconds) for all of them. Item 10: anything
else soft-fails. HTTP is RFC 6960 Appendix A.1 (POST ``application/ocsp-request``) over
``urllib`` so that the proxy environment variables are honoured.
"""

from __future__ import annotations

import functools
import logging
import queue
import socket
import threading
import time
import urllib.parse
from typing import TYPE_CHECKING, List, Optional, Tuple

from .._errors import error_for_code
from .._memo import IdentityMemo
from ._cache import OCSPCache, default_cache
from ._types import (
    INVALID_RESPONSE,
    NO_RESPONDER,
    PROBLEMS,
    RESPONDER_ERROR,
    RESPONDER_TIMEOUT,
    RESPONDER_UNREACHABLE,
    CertIDKey,
    Verdict,
)
from ._verify import (
    CertLike,
    build_request,
    cert_id,
    load_certificate,
    verify_response,
)

if TYPE_CHECKING:
    import urllib.request

    from cryptography import x509

__all__ = [
    "MAX_RESPONSE_SIZE",
    "check_prepared",
    "check_responders",
    "check_responders_async",
    "decided_without_request",
    "describe",
    "ocsp_urls",
    "prepare_responders",
    "redact_url",
]

LOG = logging.getLogger("tlsplug.ocsp")
MAX_RESPONSE_SIZE = 64 * 1024
"""Bytes read from a responder at most; a larger body is refused (real responses are < 4 KiB)."""

_SCHEMES = ("http", "https")
_opener: Optional[urllib.request.OpenerDirector] = None
_opener_lock = threading.Lock()


def _get_opener() -> urllib.request.OpenerDirector:
    """One opener for the process: proxies from the environment, bounded redirects."""
    global _opener
    with _opener_lock:
        if _opener is None:
            import urllib.request

            class _Redirects(urllib.request.HTTPRedirectHandler):
                max_redirections = 5  # urllib also stops a loop after 4 visits of one URL

                def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
                    # Never follow a responder to ftp: or anything but HTTP(S).
                    if urllib.parse.urlsplit(newurl).scheme not in _SCHEMES:
                        return None
                    return super().redirect_request(req, fp, code, msg, headers, newurl)

            _opener = urllib.request.build_opener(_Redirects)
            _opener.addheaders = [("User-Agent", "tlsplug-ocsp")]
        return _opener


def redact_url(url: str) -> str:
    """``url`` without user information, fit for logs and messages."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def describe(cert: x509.Certificate) -> str:
    """A short identification of a certificate for log lines: subject and serial."""
    return f"{cert.subject.rfc4514_string() or '<empty subject>'} (serial {cert.serial_number:#x})"


def ocsp_urls(cert: CertLike) -> List[str]:
    """The OCSP responder URLs of the certificate's AIA extension (RFC 5280 §4.2.2.1), in order."""
    return list(_ocsp_urls(load_certificate(cert)))


@functools.lru_cache(maxsize=256)
def _ocsp_urls(certificate: x509.Certificate) -> Tuple[str, ...]:
    from cryptography import x509
    from cryptography.x509.oid import AuthorityInformationAccessOID

    try:
        aia = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
    except (x509.ExtensionNotFound, ValueError):
        return ()
    urls: List[str] = []
    for description in aia.value:
        location = description.access_location
        if (
            description.access_method == AuthorityInformationAccessOID.OCSP
            and isinstance(location, x509.UniformResourceIdentifier)
            and location.value not in urls
        ):
            urls.append(location.value)
    return tuple(urls)


def _soft(status: str, problem: str, reason: str) -> Verdict:
    # One line: urllib's redirect-loop message, for one, spans several.
    return Verdict(status, " ".join(reason.split()), source="responder", problem=problem)


_NO_RESPONDER = _soft("unknown", NO_RESPONDER, "the certificate names no HTTP OCSP responder")


def _query(
    url: str,
    request_der: bytes,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    deadline: float,
    cache: OCSPCache,
) -> Verdict:
    """POST the request to one responder and verify the answer; never raises."""
    import http.client
    import urllib.error
    import urllib.request

    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return _soft("unknown", RESPONDER_TIMEOUT, "no time left")
    request = urllib.request.Request(
        url,
        data=request_der,
        headers={
            "Content-Type": "application/ocsp-request",
            "Accept": "application/ocsp-response",
        },
        method="POST",
    )
    try:
        with _get_opener().open(request, timeout=remaining) as reply:
            code = reply.getcode()
            body = reply.read(MAX_RESPONSE_SIZE + 1)
    except urllib.error.HTTPError as exc:  # 4xx, 5xx, redirect loops
        exc.close()
        return _soft("unknown", RESPONDER_ERROR, f"HTTP {exc.code} {exc.reason}")
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (socket.timeout, TimeoutError)):
            return _soft("unknown", RESPONDER_TIMEOUT, "timed out")
        return _soft("unknown", RESPONDER_UNREACHABLE, f"unreachable ({exc.reason})")
    except (socket.timeout, TimeoutError):
        return _soft("unknown", RESPONDER_TIMEOUT, "timed out")
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return _soft("unknown", RESPONDER_UNREACHABLE, f"{type(exc).__name__}: {exc}")
    if code != 200:  # 1xx/3xx that urllib did not turn into an HTTPError
        return _soft("unknown", RESPONDER_ERROR, f"HTTP {code}")
    if len(body) > MAX_RESPONSE_SIZE:
        return _soft("invalid", INVALID_RESPONSE, f"response larger than {MAX_RESPONSE_SIZE} bytes")
    verdict = verify_response(body, cert, issuer, source="responder")
    if verdict.conclusive:
        # Also when it arrives after the deadline: the next connection finds it.
        cache.put(cert_id(cert, issuer), verdict)
    return verdict


def _worker(
    url: str,
    request_der: bytes,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    deadline: float,
    cache: OCSPCache,
    results: queue.Queue[tuple[str, Verdict]],
) -> None:
    try:
        verdict = _query(url, request_der, cert, issuer, deadline, cache)
    except Exception as exc:  # a bug must not leave the caller waiting for the deadline
        verdict = _soft("invalid", INVALID_RESPONSE, f"{type(exc).__name__}: {exc}")
    results.put((url, verdict))


def _revoked_error(verdict: Verdict, cert: x509.Certificate, backend: Optional[str]) -> Exception:
    where = {"cache": "a cached OCSP response", "responder": "the OCSP responder"}
    return error_for_code(
        "ocsp-revoked",
        f"the certificate {describe(cert)} is revoked according to "
        f"{where.get(verdict.source, 'OCSP')}: {verdict.reason}",
        backend=backend,
    )


def _combine(outcomes: List[tuple[str, Verdict]]) -> Verdict:
    """One soft-fail verdict from every responder's inconclusive outcome."""
    rank = {problem: i for i, problem in enumerate(PROBLEMS)}
    best = max(outcomes, key=lambda item: rank.get(item[1].problem or "", -1))[1]
    reason = "; ".join(f"{redact_url(url)}: {v.reason}" for url, v in outcomes)
    status = "unknown" if best.status == "unknown" else "invalid"
    return Verdict(status, reason, source="responder", problem=best.problem)


_Prepared = Tuple["x509.Certificate", "x509.Certificate", CertIDKey, Tuple[str, ...]]
# (cert, issuer, CertID, HTTP responder URLs) by the identity of the objects passed (see
# _memo.py): each handshake to the same server asks again with the same objects.
_PREPARED: IdentityMemo[_Prepared] = IdentityMemo()


def _prepared(cert: CertLike, issuer: CertLike) -> _Prepared:
    hit = _PREPARED.get(cert, issuer)
    if hit is not None:
        return hit
    certificate, issuer_cert = load_certificate(cert), load_certificate(issuer)
    urls = tuple(
        u for u in ocsp_urls(certificate) if urllib.parse.urlsplit(u).scheme in _SCHEMES
    )
    prepared: _Prepared = (certificate, issuer_cert, cert_id(certificate, issuer_cert), urls)
    if certificate is cert and issuer_cert is issuer:  # objects, not bytes: worth keeping
        _PREPARED.put((cert, issuer), prepared)
    return prepared


def check_responders(
    cert: CertLike,
    issuer: CertLike,
    *,
    timeout: float,
    cache: Optional[OCSPCache] = None,
    backend: Optional[str] = None,
) -> Verdict:
    """Ask every OCSP responder of ``cert`` in parallel within ``timeout`` seconds in total.

    A warm ``cache`` (default: :func:`default_cache`) answers without any request. The
    first valid ``good`` answer is returned; ``revoked`` (fresh or cached) raises
    ``CertificateError(code="ocsp-revoked")``. Every other outcome — no responder URL,
    unreachable, slow, HTTP error, oversized or malformed or invalid response, status
    unknown — soft-fails: the returned verdict is ``unknown``/``invalid`` with a problem
    from :data:`PROBLEMS` and the reason, and a WARNING goes to the ``tlsplug.ocsp`` logger.
    Never blocks longer than ``timeout`` (requests still running are abandoned to daemon
    threads, which end at the same deadline).
    """
    if not timeout > 0:
        raise ValueError("timeout must be a positive number of seconds")
    return check_prepared(_prepared(cert, issuer), timeout=timeout, cache=cache, backend=backend)


def prepare_responders(cert: x509.Certificate, issuer: x509.Certificate) -> _Prepared:
    """(cert, issuer, CertID, HTTP responder URLs): what :func:`check_prepared` takes.

    A pure function of the two certificates: a backend keeps it with the chain it came from
    (one decision per distinct chain) and hands it to :func:`check_prepared` every handshake.
    """
    return _prepared(cert, issuer)


def check_prepared(
    prepared: _Prepared,
    *,
    timeout: float,
    cache: Optional[OCSPCache] = None,
    backend: Optional[str] = None,
) -> Verdict:
    """:func:`check_responders` for what :func:`prepare_responders` returned.

    The cache is consulted on every call, a leaf naming no responder included: another
    context may have learned "revoked" from a staple since.
    """
    store = default_cache() if cache is None else cache
    decided = decided_without_request(prepared, cache=store, backend=backend)
    if decided is not None:
        return decided
    return _ask(prepared, store, timeout, backend)


def decided_without_request(
    prepared: _Prepared, *, cache: Optional[OCSPCache] = None, backend: Optional[str] = None
) -> Optional[Verdict]:
    """:func:`check_prepared` when it needs no request (a cached answer, or no responder to
    ask), else None: what a backend decides before handing the rest to an event loop."""
    certificate, _, key, http_urls = prepared
    cached = (default_cache() if cache is None else cache).get(key)
    if cached is not None:
        if cached.status == "revoked":
            raise _revoked_error(cached, certificate, backend)
        return cached
    if not http_urls:
        # Most private CAs (and Let's Encrypt since 2025) name no responder: nothing failed,
        # so a WARNING on every connection would only teach users to silence the logger.
        verdict = _NO_RESPONDER  # immutable: one object serves every connection
        if LOG.isEnabledFor(logging.DEBUG):  # describe() is not free: once per connection
            LOG.debug("OCSP: %s for %s", verdict.reason, describe(certificate))
        return verdict
    return None


def _ask(prepared: _Prepared, store: OCSPCache, timeout: float, backend: Optional[str]) -> Verdict:
    """Ask every responder of ``prepared`` in parallel (the cache was consulted already)."""
    certificate, issuer_cert, _, http_urls = prepared
    urls = list(http_urls)
    request_der = build_request(certificate, issuer_cert)
    deadline = time.monotonic() + timeout
    results: queue.Queue[tuple[str, Verdict]] = queue.Queue()
    for url in urls:
        threading.Thread(
            target=_worker,
            args=(url, request_der, certificate, issuer_cert, deadline, store, results),
            name="tlsplug-ocsp",
            daemon=True,
        ).start()
    outcomes: List[tuple[str, Verdict]] = []
    answered = set()
    while len(outcomes) < len(urls):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            url, verdict = results.get(timeout=remaining)
        except queue.Empty:
            break
        answered.add(url)
        if verdict.status == "revoked":
            raise _revoked_error(verdict, certificate, backend)
        if verdict.status == "good":
            return verdict
        outcomes.append((url, verdict))
    for url in urls:
        if url not in answered:
            outcomes.append(
                (url, _soft("unknown", RESPONDER_TIMEOUT, f"no answer within {timeout:g} s"))
            )
    return _warn(certificate, _combine(outcomes))


def _warn(cert: x509.Certificate, verdict: Verdict) -> Verdict:
    LOG.warning(
        "OCSP soft-fail (%s) for %s: %s; connecting anyway",
        verdict.problem,
        describe(cert),
        verdict.reason,
    )
    return verdict


async def check_responders_async(
    cert: CertLike,
    issuer: CertLike,
    *,
    timeout: float,
    cache: Optional[OCSPCache] = None,
    backend: Optional[str] = None,
) -> Verdict:
    """:func:`check_responders` for asyncio: requests run in the loop's default executor.

    What needs no request - a cached answer, a leaf naming no responder - is decided on the
    loop at once: a pool of private-CA connections would otherwise pay a thread hand-off
    per handshake for nothing (bench/: aio connections/s).
    """
    import asyncio

    if not timeout > 0:
        raise ValueError("timeout must be a positive number of seconds")
    prepared = _prepared(cert, issuer)
    store = default_cache() if cache is None else cache
    decided = decided_without_request(prepared, cache=store, backend=backend)
    if decided is not None:
        return decided
    loop = asyncio.get_running_loop()
    call = functools.partial(_ask, prepared, store, timeout, backend)
    return await loop.run_in_executor(None, call)
