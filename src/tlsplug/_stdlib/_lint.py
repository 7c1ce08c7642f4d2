"""The chain checks a newer OpenSSL makes and Python's OpenSSL 3.0 does not (docs/design.md).

"Where the two OpenSSL builds still judge a chain differently, the backend that is more
lenient adds the missing check itself": after a verified handshake under the modern profile
(X509_STRICT), the verified chain goes through ``tlsplug.backend.newer_violation``. It runs
after the handshake, so it cannot precede a later-stage OpenSSL error (host name, CRL,
dates) the way the PyOpenSSL backend's deferred lint does: the verdict is the same, the
code can then differ - only when a chain has two defects, which no scenario generates.
"""

from __future__ import annotations

import functools
import os
from typing import Any, List, Optional, Sequence, Tuple

from tlsplug.backend import (
    X509_V_FLAG_X509_STRICT,
    TLSOptions,
    chain_crl_error,
    code_for_verify_error,
    error_for_code,
    limits_error,
    limits_violation,
    newer_violation,
    policy_for,
)
from tlsplug.ocsp import load_certificate

from ._chains import PeerChains
from ._translate import BACKEND_NAME

__all__ = ["check_chain_after_handshake"]


def check_chain_after_handshake(
    conn: Any, options: TLSOptions, peer: PeerChains, crls: Sequence[Any] = ()
) -> None:
    """Raise ``CertificateError`` when the verified chain fails a newer OpenSSL's checks,
    the profile's signature and key limits (``tlsplug.backend.limits_violation``), or a CRL
    of ``crls`` revokes one of its CA certificates (``tlsplug.backend.chain_crl_error``)."""
    if not options.verify_certificates:
        return
    if getattr(conn, "session_reused", False):
        # A resumed session shows no chain; it was linted when the session was made.
        return
    if policy_for(options).verify_flags & X509_V_FLAG_X509_STRICT:
        _check_strict(options, peer)
    _check_limits(options, peer)
    if crls and options.check_crl:
        facts = peer.facts() if peer.verified() else None
        # Python 3.9 shows no verified chain: only the leaf's CRL (OpenSSL's) is checked.
        error = chain_crl_error(facts.certs, crls, backend=BACKEND_NAME) if facts else None
        if error is not None:
            raise error


def _check_limits(options: TLSOptions, peer: PeerChains) -> None:
    # After the strict lint: OpenSSL's check_auth_level follows check_extensions.
    facts = peer.facts() if peer.verified() else None
    if facts is not None:
        violation = facts.limits(options.profile)
    else:
        certs = _visible_chain(options, peer)
        violation = limits_violation(certs, options.profile, complete=False) if certs else None
    if violation is not None:
        raise limits_error(violation, backend=BACKEND_NAME)


def _visible_chain(options: TLSOptions, peer: PeerChains) -> List[Any]:
    try:
        certs = [load_certificate(der) for der in peer.unverified()]
    except ValueError:
        return []
    if certs:
        # Python 3.9 shows only the leaf: add the anchors of tlsCAFile that issued the top
        # certificate (the intermediates a server sends stay invisible there).
        certs += _anchors_for(certs[-1], options)
    return certs


def _check_strict(options: TLSOptions, peer: PeerChains) -> None:
    if peer.verified():
        # Linted once per distinct chain: a pool sees the same chain on every connection.
        facts = peer.facts()
        _raise_for(facts.violation() if facts is not None else None)
        return
    _raise_for(newer_violation(_visible_chain(options, peer)))


def _raise_for(violation: Optional[Tuple[int, int]]) -> None:
    if violation is None:
        return
    errnum, depth = violation
    raise error_for_code(
        code_for_verify_error(errnum),
        f"certificate verify failed: OpenSSL verify error {errnum} at depth {depth} "
        "(a check a newer OpenSSL makes, made by tlsplug for Python's OpenSSL; see "
        "tlsplug.backend.newer_violation)",
        backend=BACKEND_NAME,
    )


def _anchors_for(cert: Any, options: TLSOptions) -> List[Any]:
    if options.ca_file is None:
        return []
    try:
        stat = os.stat(options.ca_file)
    except OSError:
        return []
    trusted = _ca_file_certificates(options.ca_file, stat.st_mtime_ns, stat.st_size)
    return [t for t in trusted if t.subject == cert.issuer and t != cert]


@functools.lru_cache(maxsize=16)
def _ca_file_certificates(path: str, mtime_ns: int, size: int) -> Tuple[Any, ...]:
    # Read once per version of the file, not per handshake (Python 3.9 only: later versions
    # show the verified chain, and resumed sessions are not linted again).
    from cryptography import x509

    try:
        with open(path, "rb") as handle:
            return tuple(x509.load_pem_x509_certificates(handle.read()))
    except (OSError, ValueError):
        return ()
