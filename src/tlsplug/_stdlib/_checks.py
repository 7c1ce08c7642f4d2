"""The checks after a stdlib handshake: the chain lint, the profile's limits, CA CRLs, the host.

The chain checks a newer OpenSSL makes and Python's OpenSSL 3.0 does not (docs/design.md).

"Where the two OpenSSL builds still judge a chain differently, the backend that is more
lenient adds the missing check itself": after a verified handshake under the modern profile
(X509_STRICT), the verified chain goes through the core's lint (``ChainFacts.violation``,
whose ``newer_violation`` is what 3.0 misses; its ``strict_violation`` half is what a Python
built on OpenSSL 3.2+ would miss). It runs
after the handshake, so it cannot precede a later-stage OpenSSL error (host name, CRL,
dates) the way the PyOpenSSL backend's deferred lint does: the verdict is the same, the
code can then differ - only when a chain has two defects, which no scenario generates.

The host name: Python's ssl also checks it inside the handshake when the chain is verified
(OpenSSL's ``X509_check_host``, which decides first, as in docs/design.md's precedence); the
core matcher (``tlsplug.backend.check_identity``) accepts nothing OpenSSL refuses, and runs
in every mode - also under ``tlsAllowInvalidCertificates``, where ssl refuses
``check_hostname`` with ``CERT_NONE`` - so the verdict is the core's on every backend
(docs/design.md, Identity).
"""

from __future__ import annotations

import ssl
from typing import Any, List, Optional, Sequence, Tuple

from tlsplug.backend import (
    Materials,
    TLSError,
    TLSOptions,
    chain_crl_error,
    check_identity,
    error_for_code,
    limits_error,
    limits_violation,
    policy_for,
    server_identity,
)
from tlsplug.backend.openssl import (
    X509_V_FLAG_X509_STRICT,
    code_for_verify_error,
    is_strict_rule,
    newer_violation,
    strict_refusal,
)
from tlsplug.ocsp import load_certificate

from ._chains import PeerChains, unverified_chain
from ._translate import BACKEND_NAME

__all__ = [
    "check_chain_after_handshake", "check_hostname_after_handshake", "strict_verify_error",
]


def check_chain_after_handshake(
    conn: Any, options: TLSOptions, peer: PeerChains, materials: Optional[Materials] = None
) -> None:
    """Raise ``CertificateError`` when the verified chain fails a newer OpenSSL's checks,
    the profile's signature and key limits (``tlsplug.backend.limits_violation``), or a CRL
    of ``materials`` revokes one of its CA certificates (``tlsplug.backend.chain_crl_error``).
    """
    if not options.verify_certificates:
        return
    if getattr(conn, "session_reused", False):
        # A resumed session shows no chain; it was linted when the session was made.
        return
    anchors = _anchors(materials)
    if policy_for(options).verify_flags & X509_V_FLAG_X509_STRICT:
        _check_strict(peer, anchors)
    _check_limits(options, peer, anchors)
    crls = materials.crls if materials is not None else ()
    if crls and options.check_crl:
        facts = peer.facts() if peer.verified() else None
        # Python 3.9 shows no verified chain: only the leaf's CRL (OpenSSL's) is checked.
        error = chain_crl_error(facts.certs, crls, backend=BACKEND_NAME) if facts else None
        if error is not None:
            raise error


def _anchors(materials: Optional[Materials]) -> Sequence[Any]:
    # The explicit trust anchors (tlsCAFile, ca_data, tlsCADirectory), parsed once.
    return materials.trust.certs if materials is not None else ()


def _check_limits(options: TLSOptions, peer: PeerChains, anchors: Sequence[Any]) -> None:
    # After the strict lint: OpenSSL's check_auth_level follows check_extensions.
    facts = peer.facts() if peer.verified() else None
    if facts is not None:
        violation = facts.limits(options.profile)
    else:
        certs = _visible_chain(peer, anchors)
        violation = limits_violation(certs, options.profile, complete=False) if certs else None
    if violation is not None:
        raise limits_error(violation, backend=BACKEND_NAME)


def _visible_chain(peer: PeerChains, anchors: Sequence[Any]) -> List[Any]:
    try:
        certs = [load_certificate(der) for der in peer.unverified()]
    except ValueError:
        return []
    if certs:
        # Python 3.9 shows only the leaf: add the trust anchors that issued the top
        # certificate (the intermediates a server sends stay invisible there).
        top = certs[-1]
        certs += [t for t in anchors if t.subject == top.issuer and t != top]
    return certs


def _check_strict(peer: PeerChains, anchors: Sequence[Any]) -> None:
    if peer.verified():
        # Linted once per distinct chain: a pool sees the same chain on every connection.
        facts = peer.facts()
        if facts is not None:
            _raise_for(facts.violation(), facts.certs, anchors)
        return
    certs = _visible_chain(peer, anchors)
    _raise_for(newer_violation(certs), certs, anchors)


def _raise_for(
    violation: Optional[Tuple[int, int]], certs: Any, anchors: Sequence[Any]
) -> None:
    if violation is None:
        return
    errnum, depth = violation
    refusal = strict_refusal(
        errnum, depth=depth, peers=list(certs), anchors=anchors,
        backend=BACKEND_NAME,
    )
    if refusal is not None:
        raise refusal
    raise error_for_code(  # pragma: no cover - every lint number is a named strict rule
        code_for_verify_error(errnum),
        f"certificate verify failed: OpenSSL verify error {errnum} at depth {depth}",
        backend=BACKEND_NAME,
    )


def strict_verify_error(
    exc: BaseException, conn: Any, materials: Optional[Materials]
) -> Optional[TLSError]:
    """The precise refusal for a verify error only the strict profile makes, else None.

    OpenSSL's own text ("CA cert does not include key usage extension") names neither the
    certificate nor the fix; ``strict_refusal`` does, from the chain the server sent (3.10+;
    3.9 shows none) and the explicit trust anchors.
    """
    if not isinstance(exc, ssl.SSLCertVerificationError) or not is_strict_rule(exc.verify_code):
        return None
    peers: List[Any] = []
    try:
        peers = [load_certificate(der) for der in unverified_chain(conn, None)]
    except ValueError:
        peers = []
    return strict_refusal(
        exc.verify_code, depth=None, peers=peers, anchors=_anchors(materials),
        backend=BACKEND_NAME,
    )


def check_hostname_after_handshake(leaf_der: Optional[bytes], host: str) -> None:
    """Raise ``CertificateError(hostname-mismatch)`` unless the leaf names ``host``."""
    # ``host`` is already normalised; normalising again is a cache hit.
    check_identity(leaf_der, server_identity(host, backend=BACKEND_NAME), backend=BACKEND_NAME)
