"""The exception tree of docs/design.md: a stable ``code`` per failure, a hint, the backend."""

from __future__ import annotations

import re
import ssl
from typing import ClassVar, Dict, FrozenSet, Optional

from ._codes import (
    ALL_CODES,
    CERT_UNTRUSTED,
    CERTIFICATE_CODES,
    CONFIGURATION_CODES,
    HANDSHAKE_CODES,
    HANDSHAKE_FAILURE,
    INVALID_FILE,
    INVALID_OPTION,
    ErrorCode,
)

__all__ = [
    "ALL_CODES",
    "CertificateError",
    "ConfigurationError",
    "HandshakeError",
    "OptionWarning",
    "SecurityWarning",
    "TLSError",
    "error_for_code",
    "option_error",
]

# Default hints: the troubleshooting knowledge users otherwise search the web for.
_HINTS: Dict[ErrorCode, str] = {
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

    codes: ClassVar[FrozenSet[ErrorCode]] = frozenset()
    default_code: ClassVar[ErrorCode] = HANDSHAKE_FAILURE

    def __init__(
        self,
        message: str,
        *,
        code: Optional[ErrorCode] = None,
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
        self.code: ErrorCode = code
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

    codes = CONFIGURATION_CODES
    default_code: ClassVar[ErrorCode] = INVALID_OPTION


class HandshakeError(TLSError, ssl.SSLError):
    """The TLS connection could not be established (or broke) for a non-certificate reason.

    Also an ``ssl.SSLError`` (so an ``OSError``): drivers written for ``ssl`` catch it
    unchanged. ``reason`` and ``library`` are those of the native error when it has them.
    """

    codes = HANDSHAKE_CODES
    default_code: ClassVar[ErrorCode] = HANDSHAKE_FAILURE

    def __str__(self) -> str:
        # OSError.__str__ would render "(errno, strerror)"; keep the TLSError form.
        return TLSError.__str__(self)

    # -- ssl.SSLError's attributes (set by _ssl.c on native errors, absent otherwise) ------

    # typeshed types these ``str``/``int``; _ssl.c itself leaves ``library`` None when OpenSSL
    # names no library, and a tlsplug refusal may have no X509 error number.
    @property
    def reason(self) -> str:
        """The native error's reason (e.g. ``"WRONG_VERSION_NUMBER"``), else from the code."""
        if "_reason" in self.__dict__:
            return self.__dict__["_reason"]  # type: ignore[no-any-return]
        native = _native_attr(self, "reason")
        if isinstance(native, str):
            return native
        return self._default_reason()

    @reason.setter
    def reason(self, value: str) -> None:
        self.__dict__["_reason"] = value

    @property  # type: ignore[override]
    def library(self) -> Optional[str]:
        """The native error's OpenSSL library (e.g. ``"SSL"``), or None."""
        if "_library" in self.__dict__:
            return self.__dict__["_library"]  # type: ignore[no-any-return]
        native = _native_attr(self, "library")
        return native if isinstance(native, str) else None

    @library.setter
    def library(self, value: Optional[str]) -> None:
        self.__dict__["_library"] = value

    def _default_reason(self) -> str:
        return self.code.upper().replace("-", "_")


class CertificateError(HandshakeError, ssl.SSLCertVerificationError):
    """The peer's certificate was refused: untrusted, expired, wrong host, revoked, ...

    Also an ``ssl.SSLCertVerificationError`` (so a ``ValueError``), with its
    ``verify_code`` (the ``X509_V_ERR_*`` number) and ``verify_message``.
    """

    codes = CERTIFICATE_CODES
    default_code: ClassVar[ErrorCode] = CERT_UNTRUSTED

    @property  # type: ignore[override]
    def verify_code(self) -> Optional[int]:
        """The OpenSSL ``X509_V_ERR_*`` number of the refusal (as ``ssl`` reports it).

        From the native error, else from the message (both backends write "OpenSSL verify
        error N"), else the number OpenSSL uses for the code (``ocsp-revoked`` as
        ``X509_V_ERR_CERT_REVOKED``); None for OCSP response problems, which have none.
        """
        if "_verify_code" in self.__dict__:
            return self.__dict__["_verify_code"]  # type: ignore[no-any-return]
        native = _native_attr(self, "verify_code")
        if isinstance(native, int):
            return native
        found = _VERIFY_ERROR_IN_MESSAGE.search(self.message)
        if found:
            return int(found.group(1))
        return _VERIFY_CODES.get(self.code)

    @verify_code.setter
    def verify_code(self, value: Optional[int]) -> None:
        self.__dict__["_verify_code"] = value

    @property
    def verify_message(self) -> str:
        """The native error's verify message, else this error's message."""
        if "_verify_message" in self.__dict__:
            return self.__dict__["_verify_message"]  # type: ignore[no-any-return]
        native = _native_attr(self, "verify_message")
        return native if isinstance(native, str) and native else self.message

    @verify_message.setter
    def verify_message(self, value: str) -> None:
        self.__dict__["_verify_message"] = value

    def _default_reason(self) -> str:
        return "CERTIFICATE_VERIFY_FAILED"  # what ssl reports for every verification failure


# X509_V_ERR_* numbers (openssl/x509_vfy.h), for errors no OpenSSL verify callback numbered.
_VERIFY_CODES: Dict[ErrorCode, int] = {
    "cert-untrusted": 20,  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    "cert-not-yet-valid": 9,  # X509_V_ERR_CERT_NOT_YET_VALID
    "cert-expired": 10,  # X509_V_ERR_CERT_HAS_EXPIRED
    "cert-revoked": 23,  # X509_V_ERR_CERT_REVOKED
    "ocsp-revoked": 23,
    "hostname-mismatch": 62,  # X509_V_ERR_HOSTNAME_MISMATCH
}
_VERIFY_ERROR_IN_MESSAGE = re.compile(r"OpenSSL verify error (\d+)")


def _native_attr(error: BaseException, name: str) -> object:
    """``name`` of the first native error in ``error``'s cause chain that has it."""
    seen = 0
    cause = error.__cause__
    while cause is not None and seen < 8:
        if not isinstance(cause, TLSError):
            value = getattr(cause, name, None)
            if value is not None:
                return value
        cause = cause.__cause__
        seen += 1
    return None


class SecurityWarning(UserWarning):
    """An option weakens security (no verification, legacy protocol versions)."""


def error_for_code(
    code: ErrorCode,
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


def option_error(
    option: str,
    path: Optional[str],
    message: str,
    code: ErrorCode = INVALID_FILE,
    *,
    backend: Optional[str] = None,
    hint: Optional[str] = None,
) -> ConfigurationError:
    """The ``ConfigurationError`` for a bad option value or file: ``"{option} {path!r}: ..."``.

    The one spelling of "this option (and this path) is wrong" for the core's file loading
    and every backend's own loading of the same files.
    """
    where = f" {path!r}" if path else ""
    return ConfigurationError(
        f"{option}{where}: {message}", code=code, option=option, path=path, backend=backend,
        hint=hint,
    )


class OptionWarning(UserWarning):
    """A connection-string option was ignored (invalid value) or given twice."""
