"""The exception tree of docs/design.md: a stable ``code`` per failure, a hint, the backend."""

from __future__ import annotations

import ssl
from typing import ClassVar, FrozenSet, Optional

__all__ = [
    "CertificateError",
    "ConfigurationError",
    "HandshakeError",
    "OptionWarning",
    "SecurityWarning",
    "TLSError",
]

# Default hints: the troubleshooting knowledge users otherwise search the web for.
_HINTS = {
    "invalid-option": (
        "Check the value of the option named above; `tlsplug options --help` lists every "
        "option and the values it takes."
    ),
    "conflicting-options": "Give only one of the conflicting options.",
    "unknown-option": "Check the spelling of the option name.",
    "file-not-found": "Check the path; relative paths are resolved from the current directory.",
    "file-unreadable": "Check the file's permissions for the user running the program.",
    "invalid-file": "The file must be PEM (or DER for a CRL) of the kind the option expects.",
    "key-mismatch": (
        "tlsCertificateKeyFile must hold the client certificate and the private key that "
        "belongs to it."
    ),
    "bad-password": (
        "Check tlsCertificateKeyFilePassword; in a connection string, percent-encode its "
        "reserved characters."
    ),
    "password-required": "The private key is encrypted: set tlsCertificateKeyFilePassword.",
    "backend-not-found": "Choose one of the installed backends (`tlsplug backends`).",
    "backend-unavailable": "The backend's package is installed but cannot be loaded.",
    "unsupported-option": "Choose a backend that supports this option (see `tlsplug backends`).",
    "protocol-version": (
        "The server and client share no TLS version. Old servers need tlsProfile=legacy. "
        "OpenSSL in use: " + ssl.OPENSSL_VERSION + "."
    ),
    "no-shared-cipher": (
        "The server offers no cipher suite the client accepts; a server older than 2018 "
        "(e.g. MongoDB < 4.0) needs tlsProfile=legacy."
    ),
    "handshake-failure": "The TLS handshake failed; the server's log usually says why.",
    "connection-closed": "The peer closed the connection; is this the TLS port?",
    "connect-failed": "Check the host, the port and that the server runs.",
    "not-tls": "The peer does not speak TLS on this port: check the port or disable tls.",
    "timeout": "The peer did not answer in time; check the address and the firewall.",
    # Backends replace it with _hints.untrusted_hint, which knows the trust source in use.
    "cert-untrusted": (
        "The server's certificate chain does not lead to a trusted root: tlsCAFile must "
        "hold the CA that issued it."
    ),
    "cert-expired": "The server's certificate has expired; renew it on the server.",
    "cert-not-yet-valid": (
        "The server's certificate is not valid yet: check both machines' clocks."
    ),
    "hostname-mismatch": (
        "Connect with a name listed in the certificate's subjectAltName (the common name "
        "is not used)."
    ),
    "cert-revoked": "The server's certificate is revoked by the CRL given in tlsCRLFile.",
    "ocsp-revoked": "The server's certificate is revoked according to OCSP.",
    "ocsp-invalid-response": (
        "The OCSP response stapled by the server is not valid for its certificate."
    ),
    "ocsp-must-staple": (
        "The certificate requires an OCSP staple (must-staple) and the server sent none: "
        "enable OCSP stapling on the server."
    ),
    "cert-invalid": "The server's certificate is malformed or violates RFC 5280.",
}


class TLSError(Exception):
    """Base of every tlsplug error: carries ``code``, ``backend`` and ``hint``."""

    codes: ClassVar[FrozenSet[str]] = frozenset()
    default_code: ClassVar[str] = "handshake-failure"

    def __init__(
        self,
        message: str,
        *,
        code: Optional[str] = None,
        backend: Optional[str] = None,
        hint: Optional[str] = None,
        option: Optional[str] = None,
        path: Optional[str] = None,
    ) -> None:
        code = code or self.default_code
        if self.codes and code not in self.codes:
            raise AssertionError(f"{type(self).__name__} has no code {code!r}")
        super().__init__(message)
        self.message = message
        self.code = code
        self.backend = backend
        self.hint = hint if hint is not None else _HINTS.get(code, "")
        self.option = option
        self.path = path

    def __str__(self) -> str:
        text = f"[{self.code}] {self.message}"
        if self.backend:
            text += f" (backend: {self.backend})"
        if self.hint:
            text += f" Hint: {self.hint}"
        return text

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only constructor: pickle (multiprocessing, pytest-xdist) needs help.
        return (_rebuild, (type(self), self.message, self.__dict__.copy()))


def _rebuild(cls: type[TLSError], message: str, state: dict[str, object]) -> TLSError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class ConfigurationError(TLSError, ValueError):
    """Invalid options or files, or an unusable backend; raised before any socket exists."""

    codes = frozenset(
        {
            "invalid-option",
            "conflicting-options",
            "unknown-option",
            "file-not-found",
            "file-unreadable",
            "invalid-file",
            "key-mismatch",
            "bad-password",
            "password-required",
            "backend-not-found",
            "backend-unavailable",
            "unsupported-option",
        }
    )
    default_code = "invalid-option"


class HandshakeError(TLSError, OSError):
    """The TLS connection could not be established (or broke) for a non-certificate reason."""

    codes = frozenset(
        {
            "protocol-version",
            "no-shared-cipher",
            "handshake-failure",
            "connection-closed",
            "connect-failed",
            "not-tls",
            "timeout",
        }
    )
    default_code = "handshake-failure"

    def __str__(self) -> str:
        # OSError.__str__ would render "(errno, strerror)"; keep the TLSError form.
        return TLSError.__str__(self)


class CertificateError(HandshakeError, ValueError):
    """The peer's certificate was refused: untrusted, expired, wrong host, revoked, ..."""

    codes = frozenset(
        {
            "cert-untrusted",
            "cert-expired",
            "cert-not-yet-valid",
            "hostname-mismatch",
            "cert-revoked",
            "ocsp-revoked",
            "ocsp-invalid-response",
            "ocsp-must-staple",
            "cert-invalid",
        }
    )
    default_code = "cert-untrusted"


class SecurityWarning(UserWarning):
    """An option weakens security (no verification, legacy protocol versions)."""


HANDSHAKE_CODES = HandshakeError.codes
CERTIFICATE_CODES = CertificateError.codes
CONFIGURATION_CODES = ConfigurationError.codes
ALL_CODES = HANDSHAKE_CODES | CERTIFICATE_CODES | CONFIGURATION_CODES


def error_for_code(
    code: str,
    message: str,
    *,
    backend: Optional[str] = None,
    hint: Optional[str] = None,
    option: Optional[str] = None,
    path: Optional[str] = None,
) -> TLSError:
    """Build the exception of the right class for ``code`` (used by backends' translators)."""
    cls: type[TLSError]
    if code in CERTIFICATE_CODES:
        cls = CertificateError
    elif code in HANDSHAKE_CODES:
        cls = HandshakeError
    elif code in CONFIGURATION_CODES:
        cls = ConfigurationError
    else:
        raise ValueError(f"unknown error code {code!r}")
    return cls(message, code=code, backend=backend, hint=hint, option=option, path=path)


class OptionWarning(UserWarning):
    """A connection-string option was ignored (invalid value) or given twice."""
