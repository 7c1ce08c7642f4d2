"""The ``X509_V_FLAG_X509_STRICT`` checks OpenSSL 4.0 dropped, reported where 3.0 reports them.

The checks themselves are the core's (``tlsplug.backend.strict_violation``, shared with any
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

from OpenSSL import SSL

from tlsplug.backend import (
    X509_V_ERR_CA_BCONS_NOT_CRITICAL,
    X509_V_ERR_EMPTY_SUBJECT_SAN_NOT_CRITICAL,
    TLSError,
    code_for_verify_error,
    error_for_code,
    newer_violation,
    strict_violation,
)

from ._verify import DEFERRED_ERRORS, ConnectionState, explain_strict, verify_error_string

__all__ = [
    "DEFERRED_ERRORS",
    "X509_V_ERR_CA_BCONS_NOT_CRITICAL",
    "X509_V_ERR_EMPTY_SUBJECT_SAN_NOT_CRITICAL",
    "chain_failure",
    "strict_violation",
]

def _backend_name() -> str:
    from ._translate import BACKEND_NAME

    return BACKEND_NAME


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
            errnum, depth, conn, state, backend=_backend_name(),
            prefix=f"TLS handshake with {host} failed: ",
        )
        if explained is not None:  # which certificate broke which strict rule, and the fix
            return explained
        return error_for_code(
            code_for_verify_error(errnum),
            f"TLS handshake with {host} failed: certificate verify failed: "
            f"{verify_error_string(errnum)} (OpenSSL verify error {errnum} at depth "
            f"{depth}; a check made by tlsplug, see tlsplug.backend.strict_violation)",
            backend=_backend_name(),
        )
    if state.deferred and state.verify_error is not None:
        errnum = state.verify_error
        return error_for_code(
            code_for_verify_error(errnum),
            f"TLS handshake with {host} failed: certificate verify failed: "
            f"{verify_error_string(errnum)} (OpenSSL verify error {errnum} at depth "
            f"{state.verify_depth})",
            backend=_backend_name(),
        )
    return None
