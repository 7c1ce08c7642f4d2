"""The checks after a pyOpenSSL handshake (``finish_handshake``), and the strict lint among them.

The ``X509_V_FLAG_X509_STRICT`` checks OpenSSL 4.0 dropped are reported where 3.0 reports them.

The checks themselves are the core's (``tlsplug.backend.openssl.strict_violation``, shared with any
backend on a newer OpenSSL). OpenSSL 3.0 makes them in ``check_extensions``, before the host
name (``check_id``), the CRL (``check_revocation``) and the signatures and dates
(``internal_verify``). To report the same first failure, the verify callback lets OpenSSL
continue past those later errors (``DEFERRED_ERRORS``), recording the first; once the
verified chain exists, :func:`chain_failure` runs the lint, then reports the deferred error.
The handshake never delivers data with a deferred error: ``finish_handshake`` raises it, and
a handshake that fails later (e.g. the server refusing our certificate) reports it first.
"""

from __future__ import annotations

from typing import Optional

from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import SSL

from tlsplug.backend import (
    NOT_DECIDED,
    LastDecision,
    TLSError,
    TLSOptions,
    chain_crl_error,
    check_identity,
    error_for_code,
    limits_error,
)
from tlsplug.backend.openssl import (
    X509_V_ERR_CA_BCONS_NOT_CRITICAL,
    X509_V_ERR_EMPTY_SUBJECT_SAN_NOT_CRITICAL,
    code_for_verify_error,
    newer_violation,
    strict_violation,
)

from ._resume import session_reused
from ._verify import (
    BACKEND_NAME,
    DEFERRED_ERRORS,
    ConnectionState,
    explain_strict,
    verify_error_string,
)

__all__ = [
    "DEFERRED_ERRORS",
    "X509_V_ERR_CA_BCONS_NOT_CRITICAL",
    "X509_V_ERR_EMPTY_SUBJECT_SAN_NOT_CRITICAL",
    "chain_failure",
    "finish_handshake",
    "strict_violation",
]


def chain_failure(conn: SSL.Connection, state: ConnectionState) -> Optional[TLSError]:
    """The error OpenSSL 3.0 would report first: a strict violation, else the deferred one."""
    host = state.server_hostname
    facts = None
    try:
        verifying = state.verifying
        if verifying is None:  # a state the context did not set up
            verifying = conn.get_context().get_verify_mode() != SSL.VERIFY_NONE
        if verifying:
            facts = state.chain_facts(conn)
    except SSL.Error:  # pragma: no cover - no chain was built
        facts = None
    violation = None
    if state.strict:
        # newer_violation: checks OpenSSL 4.0 makes itself, except the malformed-extension
        # one that neither build makes; running them all is harmless and keeps it simple.
        # Memoized per distinct chain (``_chains``): the verdict depends on its bytes only.
        if facts is not None:
            violation = facts.violation()
        else:
            violation = strict_violation([]) or newer_violation([])
    if violation is not None:
        errnum, depth = violation
        explained = explain_strict(
            errnum, depth, conn, state, backend=BACKEND_NAME,
            prefix=f"TLS handshake with {host} failed: ",
        )
        if explained is not None:  # which certificate broke which strict rule, and the fix
            return explained
        return error_for_code(
            code_for_verify_error(errnum),
            f"TLS handshake with {host} failed: certificate verify failed: "
            f"{verify_error_string(errnum)} (OpenSSL verify error {errnum} at depth "
            f"{depth}; a check made by tlsplug, see tlsplug.backend.openssl.strict_violation)",
            backend=BACKEND_NAME,
        )
    if state.deferred and state.verify_error is not None:
        errnum = state.verify_error
        return error_for_code(
            code_for_verify_error(errnum),
            f"TLS handshake with {host} failed: certificate verify failed: "
            f"{verify_error_string(errnum)} (OpenSSL verify error {errnum} at depth "
            f"{state.verify_depth})",
            backend=BACKEND_NAME,
        )
    return None


def finish_handshake(conn: SSL.Connection, state: ConnectionState, options: TLSOptions) -> None:
    """The checks OpenSSL did not make inside the handshake; raise ``CertificateError``."""
    decided = state.decided
    if decided is not None and _recalled(conn, state, decided):
        state.handshake_done = True
        return
    host = state.server_hostname
    if state.strict and options.verify_certificates and not session_reused(conn):
        # The strict lint, then any error verification deferred for it (below).
        failure = chain_failure(conn, state)
        if failure is not None:
            raise failure
    if state.ocsp is not None:
        # The staple, where OpenSSL's status callback would refuse it (``_ocsp``: why it is
        # judged here): after the lint and the deferred errors, which OpenSSL 3.0 reports
        # first (so does the stdlib backend), before the limits and the CRLs.
        state.ocsp.judge_staple(conn)
    if options.verify_certificates and not session_reused(conn):
        # The profile's signature and key floor (docs/design.md, Legacy limits); the
        # security level OpenSSL needs for TLS 1.0 would let MD5 and 512-bit RSA through.
        facts = state.chain_facts(conn)
        violation = facts.limits(options.profile) if facts is not None else None
        if violation is not None:
            raise limits_error(violation, backend=BACKEND_NAME)
        if state.crls and facts is not None and options.check_crl:
            # OpenSSL checked the leaf's CRL; the CA certificates' are the core's.
            crl_error = chain_crl_error(facts.certs, state.crls, backend=BACKEND_NAME)
            if crl_error is not None:
                raise crl_error
    if host and options.verify_hostname and state.identity is not None:
        # The core matcher decides in every mode (docs/design.md, Identity); OpenSSL's check
        # inside the handshake (configure_hostname) refuses nothing more, only earlier.
        facts = state.chain_facts(conn) if options.verify_certificates else None
        if facts is not None and facts.ders:
            der: Optional[bytes] = facts.ders[0]  # the verified leaf, already encoded
        else:
            cert = conn.get_peer_certificate(as_cryptography=True)
            der = cert.public_bytes(Encoding.DER) if cert is not None else None
        check_identity(der, state.identity, backend=BACKEND_NAME)
    if decided is not None:
        _remember(conn, state, options, decided)
    # Only now: a failed check must fail again if the caller retries do_handshake().
    state.handshake_done = True


def _plain(conn: SSL.Connection, state: ConnectionState) -> bool:
    # A full handshake whose verification reported nothing: what a LastDecision is about.
    return bool(state.verifying) and state.verify_error is None and not session_reused(conn)


def _recalled(conn: SSL.Connection, state: ConnectionState, decided: LastDecision) -> bool:
    """Whether the context's last decision applies (``tlsplug.backend.LastDecision``).

    Checked: a full handshake, verification reported nothing, the server stapled nothing,
    the chain (by its fingerprints, ``_chains``) and host are the last decision's, and the
    OCSP cache stored nothing since. The decision is then this handshake's: the lint, the
    limits, the host name and the OCSP step would reach it again, at the cost of the
    function calls a pool's every reconnect would pay with cold caches.
    """
    tracker = state.ocsp
    if not _plain(conn, state) or (tracker is not None and not tracker.nothing_stapled(conn)):
        return False
    facts = state.chain_facts(conn)
    if facts is None:
        return False
    verdict = decided.recall(facts, state.server_hostname)
    if verdict is NOT_DECIDED:
        return False
    if tracker is not None:
        tracker.recalled(verdict)
    return True


def _remember(
    conn: SSL.Connection, state: ConnectionState, options: TLSOptions, decided: LastDecision
) -> None:
    """Keep this handshake's decision when nothing but the OCSP cache could change it."""
    if not _plain(conn, state) or (state.crls and options.check_crl):
        return  # a CRL expires: judged on every handshake
    facts = state.chain_facts(conn)
    if facts is None:
        return
    generation = decided.generation()  # read before the cache is consulted
    tracker = state.ocsp
    if tracker is None:  # OCSP off
        decided.remember(facts, state.server_hostname, generation, None)
    elif tracker.settle(conn):  # no staple, no responder, nothing cached
        decided.remember(facts, state.server_hostname, generation, tracker.verdict)
