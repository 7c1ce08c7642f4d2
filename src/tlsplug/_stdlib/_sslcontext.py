"""Building the pinned ``ssl.SSLContext`` for a ``TLSOptions``: policy, trust, client cert, CRL.

Nothing is inherited from the interpreter's defaults that could differ between Python 3.9
and 3.13: protocol bounds, the cipher list, the verify flags and the relevant ``OP_*``
options are all assigned from ``policy_for(options)``.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import sys
import tempfile
import warnings
from typing import NoReturn, Optional, Type

from tlsplug.backend import (
    ConfigurationError,
    ErrorCode,
    Materials,
    TLSOptions,
    Trust,
    codes,
    option_error,
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


def _trust_option(options: TLSOptions) -> str:
    for field, name in (("ca_file", "tlsCAFile"), ("ca_data", "ca_data"),
                        ("ca_dir", "tlsCADirectory")):
        if getattr(options, field) is not None:
            return name
    return "tlsTrustStore"


def _is_truststore(ctx: ssl.SSLContext) -> bool:
    return type(ctx).__module__.startswith("truststore")


def _install_trust(ctx: ssl.SSLContext, options: TLSOptions, trust: Trust) -> None:
    try:
        if trust.certs:  # parsed once by load_materials; cadata takes them as DER
            ctx.load_verify_locations(cadata=b"".join(trust.ders))
        if (trust.cafile or trust.capath) and not _is_truststore(ctx):
            # The system store, certifi, or a tlsCAFile in OpenSSL's TRUSTED CERTIFICATE
            # format (cadata reads plain CERTIFICATE blocks only). With the OS verifier,
            # truststore loads what the platform trusts itself.
            ctx.load_verify_locations(cafile=trust.cafile, capath=trust.capath)
    except (ssl.SSLError, OSError, UnicodeDecodeError) as exc:
        raise option_error(
            _trust_option(options), options.ca_file or options.ca_dir or trust.cafile
            or trust.capath, f"OpenSSL cannot load the trust store ({exc})", codes.INVALID_FILE,
            backend=BACKEND_NAME,
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
        raise option_error(
            "tlsCRLFile", options.crl_file, f"OpenSSL cannot load the CRL ({exc})",
            codes.INVALID_FILE, backend=BACKEND_NAME,
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
    if options.certificate_key_data is not None:
        _load_client_from_memory(ctx, options, options.certificate_key_data)
        return
    path = options.certificate_key_file
    if path is None:
        return
    _load_chain(ctx, options, path, options.private_key_file, path)


def _load_chain(ctx: ssl.SSLContext, options: TLSOptions, certfile: str,
                keyfile: Optional[str], shown: Optional[str]) -> None:
    callback = _PasswordCallback(options.certificate_key_file_password)
    try:
        ctx.load_cert_chain(certfile, keyfile, password=callback)
    except _PasswordMissing:
        _raise_client(options, shown, "the private key is encrypted and no password was given",
                      codes.PASSWORD_REQUIRED, None)
    except ssl.SSLError as exc:
        # The file passed load_materials' checks; it changed since, or OpenSSL disagrees.
        reason = str(getattr(exc, "reason", "") or exc).upper()
        if "KEY_VALUES_MISMATCH" in reason:
            _raise_client(options, shown, "the private key does not match the certificate",
                          codes.KEY_MISMATCH, exc)
        if callback.asked:
            # OpenSSL 3 reports a failed decryption only as "[SSL] PEM lib", no reason.
            _raise_client(options, shown, "the password does not decrypt the key",
                          codes.BAD_PASSWORD, None)
        _raise_client(options, shown, f"OpenSSL cannot load it ({exc})", codes.INVALID_FILE,
                      exc if shown is not None else None)
    except OSError as exc:
        _raise_client(options, shown, f"cannot read it ({exc.strerror or exc})",
                      codes.FILE_UNREADABLE, exc)


def _load_client_from_memory(ctx: ssl.SSLContext, options: TLSOptions,
                             data: str | bytes) -> None:
    """Hand in-memory key material to OpenSSL without a file on any disk.

    Python's ssl loads a client key only from a path (load_cert_chain; there is no cadata
    for keys, bpo-16487). A memfd (memfd_create(2), Linux) is anonymous memory with a path
    under /proc/self/fd: never a regular file, never in TMPDIR or /dev/shm. Where it does not
    exist the option is refused rather than written to a temporary file.
    """
    create = getattr(os, "memfd_create", None)
    if create is None or not os.path.isdir("/proc/self/fd"):
        raise ConfigurationError(
            "certificate_key_data: Python's ssl can load a key only from a file, and this "
            "platform has no memfd to keep it off the disk",
            code=codes.UNSUPPORTED_OPTION, option="certificate_key_data", backend=BACKEND_NAME,
            hint="Use tlsBackend=pyopenssl (it loads keys from memory) or a key file.",
        )
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    fd = create("tlsplug-client-identity", getattr(os, "MFD_CLOEXEC", 1))
    try:
        view = memoryview(raw)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        _load_chain(ctx, options, f"/proc/self/fd/{fd}", None, None)
    finally:
        os.close(fd)


def _raise_client(options: TLSOptions, path: Optional[str], message: str, code: ErrorCode,
                  cause: Optional[BaseException]) -> NoReturn:
    if code == codes.BAD_PASSWORD:
        option = "tlsCertificateKeyFilePassword"
    elif path is None:
        option = "certificate_key_data"
    elif code == codes.KEY_MISMATCH and options.private_key_file is not None:
        option = "tlsPrivateKeyFile"
    else:
        option = "tlsCertificateKeyFile"
    # Never chain password failures: the native text may echo key material.
    raise option_error(option, path, message, code, backend=BACKEND_NAME) from cause


def _new_context(materials: Materials, cls: Type[ssl.SSLContext]) -> ssl.SSLContext:
    if materials.trust.os_verifier and cls is ssl.SSLContext:
        # trust_store="os": the platform verifier (truststore; os_trust() checked it exists).
        import truststore

        return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if materials.trust.os_verifier and not sys.platform.startswith("linux"):
        # The bridge's context is itself the ssl.SSLContext a library holds; truststore's
        # wraps another one. On Linux its store is OpenSSL's bundle, loaded below instead.
        raise option_error(
            "tlsTrustStore", None,
            f"=os through create_ssl_context is not supported on {sys.platform}",
            codes.UNSUPPORTED_OPTION, backend=BACKEND_NAME,
        )
    return cls(ssl.PROTOCOL_TLS_CLIENT)


def build_ssl_context(
    options: TLSOptions, materials: Materials, cls: Type[ssl.SSLContext] = ssl.SSLContext
) -> ssl.SSLContext:
    """A client ``ssl.SSLContext`` carrying out ``options`` exactly, files already checked.

    ``cls``: an ``ssl.SSLContext`` subclass to build (``tlsplug.create_ssl_context``'s).
    """
    ctx = _new_context(materials, cls)
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
    _install_trust(ctx, options, materials.trust)
    _load_crl(ctx, options, materials)
    _load_client_cert(ctx, options)
    return ctx
