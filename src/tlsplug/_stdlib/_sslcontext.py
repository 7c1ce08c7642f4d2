"""Building the pinned ``ssl.SSLContext`` for a ``TLSOptions``: policy, trust, client cert, CRL.

Nothing is inherited from the interpreter's defaults that could differ between Python 3.9
and 3.13: protocol bounds, the cipher list, the verify flags and the relevant ``OP_*``
options are all assigned from ``policy_for(options)``.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
import warnings
from typing import NoReturn, Optional, Type

from tlsplug.backend import (
    ConfigurationError,
    Materials,
    TLSOptions,
    policy_for,
)

from ._translate import BACKEND_NAME

__all__ = ["build_ssl_context"]

# OpenSSL 3.0 option bits (openssl/ssl.h) that Python exposes only on some versions.
# SSL_OP_LEGACY_SERVER_CONNECT: ssl.OP_LEGACY_SERVER_CONNECT exists from Python 3.12.
_OP_LEGACY_SERVER_CONNECT = int(getattr(ssl, "OP_LEGACY_SERVER_CONNECT", 0x4))
# SSL_OP_IGNORE_UNEXPECTED_EOF: CPython 3.9.x and 3.10.0 set it by default, later versions
# do not (bpo-43794, gh-89051); cleared so an EOF during the handshake is an error everywhere.
_OP_IGNORE_UNEXPECTED_EOF = 0x80 if ssl.OPENSSL_VERSION_INFO >= (3, 0) else 0
_OP_NO_RENEGOTIATION = int(getattr(ssl, "OP_NO_RENEGOTIATION", 0))


def _config_error(option: str, path: Optional[str], message: str, code: str) -> ConfigurationError:
    where = f" {path!r}" if path else ""
    return ConfigurationError(
        f"{option}{where}: {message}", code=code, option=option, path=path, backend=BACKEND_NAME
    )


def _apply_policy(ctx: ssl.SSLContext, options: TLSOptions) -> None:
    policy = policy_for(options)
    with warnings.catch_warnings():
        # Python 3.10+ deprecates TLS 1.0/1.1 as settings (bpo-43880); the legacy profile
        # exists precisely to reach such servers, and says so with a SecurityWarning.
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = policy.minimum_version
        ctx.maximum_version = policy.maximum_version
    # Python cannot set TLS 1.3 suites; OpenSSL's defaults are policy.tls13_ciphersuites.
    ctx.set_ciphers(policy.ciphers)
    options_bits = int(ctx.options)
    options_bits |= int(ssl.OP_NO_COMPRESSION) | _OP_NO_RENEGOTIATION
    options_bits &= ~_OP_IGNORE_UNEXPECTED_EOF
    if policy.legacy_server_connect:
        # Pre-RFC 5746 servers: OpenSSL 3 refuses them unless this is set.
        options_bits |= _OP_LEGACY_SERVER_CONNECT
    else:
        options_bits &= ~_OP_LEGACY_SERVER_CONNECT
    ctx.options = ssl.Options(options_bits)
    # Assigned, not OR-ed into the defaults: 3.13's create_default_context adds STRICT and
    # PARTIAL_CHAIN (gh-107361), SSLContext() does not; the policy decides on every version.
    ctx.verify_flags = ssl.VerifyFlags(policy.verify_flags)
    # subjectAltName only (RFC 6125 §6.4.4); sets X509_CHECK_FLAG_NEVER_CHECK_SUBJECT.
    ctx.hostname_checks_common_name = False


def _load_trust(ctx: ssl.SSLContext, options: TLSOptions, materials: Materials) -> None:
    trust = materials.trust
    try:
        if trust.pem is not None:
            if b"TRUSTED CERTIFICATE" in trust.pem:
                # cadata reads plain CERTIFICATE blocks only; the file loader reads both.
                ctx.load_verify_locations(cafile=options.ca_file)
            else:
                ctx.load_verify_locations(cadata=trust.pem.decode("ascii"))
        elif trust.cafile or trust.capath:
            ctx.load_verify_locations(cafile=trust.cafile, capath=trust.capath)
    except (ssl.SSLError, OSError, UnicodeDecodeError) as exc:
        raise _config_error(
            "tlsCAFile", options.ca_file or trust.cafile or trust.capath,
            f"OpenSSL cannot load the trust store ({exc})", "invalid-file",
        ) from exc


def _load_crl(ctx: ssl.SSLContext, options: TLSOptions, materials: Materials) -> None:
    if materials.crl_pem is None:
        return
    # Python's ssl reads CRLs only from a PEM *file* (cadata skips CRL blocks), and only PEM:
    # load_materials already converted DER to PEM, so hand OpenSSL a private temporary copy.
    # Only the CRLs are copied: certificates in the CRL file must not become trust anchors.
    fd, path = tempfile.mkstemp(prefix="tlsplug-crl-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(materials.crl_pem)
        ctx.load_verify_locations(cafile=path)
    except (ssl.SSLError, OSError) as exc:
        raise _config_error(
            "tlsCRLFile", options.crl_file, f"OpenSSL cannot load the CRL ({exc})", "invalid-file"
        ) from exc
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


class _PasswordMissing(Exception):
    pass


class _PasswordCallback:
    """Answers OpenSSL's password request; never lets it fall back to a terminal prompt."""

    def __init__(self, password: Optional[str]) -> None:
        self.password = password
        self.asked = False

    def __call__(self) -> str:
        self.asked = True
        if self.password is None:
            raise _PasswordMissing
        return self.password


def _load_client_cert(ctx: ssl.SSLContext, options: TLSOptions) -> None:
    path = options.certificate_key_file
    if path is None:
        return
    callback = _PasswordCallback(options.certificate_key_file_password)
    try:
        ctx.load_cert_chain(path, password=callback)
    except _PasswordMissing:
        _raise_client(path, "the private key is encrypted and no password was given",
                      "password-required", None)
    except ssl.SSLError as exc:
        # The file passed load_materials' checks; it changed since, or OpenSSL disagrees.
        reason = str(getattr(exc, "reason", "") or exc).upper()
        if "KEY_VALUES_MISMATCH" in reason:
            _raise_client(path, "the private key does not match the certificate",
                          "key-mismatch", exc)
        if callback.asked:
            # OpenSSL 3 reports a failed decryption only as "[SSL] PEM lib", no reason.
            _raise_client(path, "the password does not decrypt the key", "bad-password", None)
        _raise_client(path, f"OpenSSL cannot load it ({exc})", "invalid-file", exc)
    except OSError as exc:
        _raise_client(path, f"cannot read it ({exc.strerror or exc})", "file-unreadable", exc)


def _raise_client(path: str, message: str, code: str, cause: Optional[BaseException]) -> NoReturn:
    option = (
        "tlsCertificateKeyFilePassword" if code == "bad-password" else "tlsCertificateKeyFile"
    )
    # Never chain password failures: the native text may echo key material.
    raise _config_error(option, path, message, code) from cause


def build_ssl_context(
    options: TLSOptions, materials: Materials, cls: Type[ssl.SSLContext] = ssl.SSLContext
) -> ssl.SSLContext:
    """A client ``ssl.SSLContext`` carrying out ``options`` exactly, files already checked.

    ``cls``: an ``ssl.SSLContext`` subclass to build (``tlsplug.create_ssl_context``'s).
    """
    ctx = cls(ssl.PROTOCOL_TLS_CLIENT)
    _apply_policy(ctx, options)
    if options.alpn_protocols:
        ctx.set_alpn_protocols(list(options.alpn_protocols))
    if options.verify_certificates:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.check_hostname = options.verify_hostname
    else:
        # check_hostname must go first: CERT_NONE is refused while it is on. The hostname,
        # when still required, is checked after the handshake (see _context.py).
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    _load_trust(ctx, options, materials)
    _load_crl(ctx, options, materials)
    _load_client_cert(ctx, options)
    return ctx
