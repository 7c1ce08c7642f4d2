"""Read and validate the files an option set names, once, with precise error codes.

Every backend loads its trust store, client certificate and CRL from ``Materials`` so that a
bad file fails the same way everywhere, before any socket exists, naming the option and the
path and never the password.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import ssl
import stat
from typing import TYPE_CHECKING, List, Optional

from ._errors import ConfigurationError
from ._options import TLSOptions

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

__all__ = ["Materials", "load_materials", "system_trust"]

#: Larger files are refused: a CA bundle is ~200 KiB; this only stops accidents and attacks.
MAX_FILE_SIZE = 16 * 1024 * 1024

_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL
)


@dataclasses.dataclass(frozen=True)
class Trust:
    """Where trusted roots come from: tlsCAFile contents, or a system/certifi file and dir."""

    source: str
    pem: Optional[bytes] = None
    cafile: Optional[str] = None
    capath: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class Materials:
    """Everything a backend needs from files, already parsed and checked."""

    trust: Trust
    #: The client certificate chain, leaf first (cryptography objects).
    client_chain: List[x509.Certificate] = dataclasses.field(default_factory=list)
    #: The client's private key, decrypted in memory only.
    client_key: Optional[PrivateKeyTypes] = dataclasses.field(default=None, repr=False)
    #: The CRLs of tlsCRLFile, converted to PEM whatever the file's encoding.
    crl_pem: Optional[bytes] = None
    crls: List[x509.CertificateRevocationList] = dataclasses.field(default_factory=list)


def _error(option: str, path: str, message: str, code: str) -> ConfigurationError:
    return ConfigurationError(f"{option} {path!r}: {message}", code=code, option=option, path=path)


def read_option_file(option: str, path: str) -> bytes:
    """Read a file named by an option, mapping every OS failure to a ``ConfigurationError``."""
    try:
        # O_NONBLOCK: opening a FIFO nobody writes to would otherwise block forever; the
        # descriptor is refused below unless it is a regular file (where the flag is a no-op).
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
        with open(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if stat.S_ISDIR(info.st_mode):
                raise IsADirectoryError(errno.EISDIR, "Is a directory")
            if not stat.S_ISREG(info.st_mode):
                raise _error(
                    option, path, "is not a regular file (a pipe, socket or device)",
                    "invalid-file",
                )
            if info.st_size > MAX_FILE_SIZE:
                raise _error(option, path, f"larger than {MAX_FILE_SIZE} bytes", "invalid-file")
            data = handle.read(MAX_FILE_SIZE + 1)
    except FileNotFoundError as exc:
        raise _error(option, path, "no such file", "file-not-found") from exc
    except IsADirectoryError as exc:
        raise _error(option, path, "is a directory, not a file", "invalid-file") from exc
    except PermissionError as exc:
        raise _error(option, path, "permission denied", "file-unreadable") from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _error(option, path, "symbolic link loop", "file-not-found") from exc
        if exc.errno in (errno.ENOTDIR, errno.ENAMETOOLONG):
            # "/etc/hosts/ca.pem": a path that cannot name a file is not an access problem.
            raise _error(option, path, exc.strerror or str(exc), "file-not-found") from exc
        raise _error(option, path, exc.strerror or str(exc), "file-unreadable") from exc
    if len(data) > MAX_FILE_SIZE:
        raise _error(option, path, f"larger than {MAX_FILE_SIZE} bytes", "invalid-file")
    if not data.strip():
        raise _error(option, path, "is empty", "invalid-file")
    return data


def _blocks(data: bytes, kinds: tuple[str, ...]) -> List[bytes]:
    return [m.group(0) for m in _PEM_BLOCK.finditer(data) if m.group(1).decode() in kinds]


def system_trust() -> Trust:
    """The system store as Python's OpenSSL sees it, or certifi when it is empty or absent."""
    paths = ssl.get_default_verify_paths()
    cafile = paths.cafile if paths.cafile and os.path.isfile(paths.cafile) else None
    capath = paths.capath if paths.capath and os.path.isdir(paths.capath) else None
    if capath is not None and not any(n.endswith(".0") for n in os.listdir(capath)):
        capath = None  # a directory without hashed links is of no use to OpenSSL
    if cafile or capath:
        return Trust(source=f"system store ({cafile or capath})", cafile=cafile, capath=capath)
    import certifi  # only when the system store is empty (containers, macOS/Windows builds)

    where = certifi.where()
    return Trust(source=f"certifi ({where})", cafile=where)


def _load_trust(path: str) -> Trust:
    from cryptography import x509

    data = read_option_file("tlsCAFile", path)
    blocks = _blocks(data, ("CERTIFICATE", "TRUSTED CERTIFICATE"))
    if not blocks:
        raise _error("tlsCAFile", path, "no PEM certificate found", "invalid-file")
    for block in blocks:
        if b"TRUSTED CERTIFICATE" in block[:40]:
            continue  # OpenSSL's trusted format: loaded by OpenSSL, not cryptography
        try:
            x509.load_pem_x509_certificate(block)
        except ValueError as exc:
            raise _error(
                "tlsCAFile", path, f"malformed certificate ({exc})", "invalid-file"
            ) from exc
    return Trust(source=f"tlsCAFile ({path})", pem=b"\n".join(blocks) + b"\n")


def encode_password(password: Optional[str], path: str) -> Optional[bytes]:
    """The password as UTF-8, or ``ConfigurationError`` that shows nothing of it.

    ``os.environ`` and ``sys.argv`` hand undecodable bytes over as lone surrogates
    (PEP 383), which UTF-8 cannot encode; the ``UnicodeEncodeError`` would carry the whole
    password in its ``object`` and ``repr()``. The check runs outside any ``except`` block,
    so the error has no ``__cause__`` and no ``__context__`` to leak it either.
    """
    if password is None:
        return None
    encodable = True
    try:
        secret = password.encode("utf-8")
    except UnicodeEncodeError:
        encodable = False
    if not encodable:
        raise _error(
            "tlsCertificateKeyFilePassword", path,
            "the password is not valid Unicode text (it holds a lone surrogate, e.g. from "
            "undecodable bytes in an environment variable): decode it correctly",
            "invalid-option",
        )
    return secret


def _load_client(
    path: str, password: Optional[str]
) -> tuple[List[x509.Certificate], PrivateKeyTypes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    option = "tlsCertificateKeyFile"
    data = read_option_file(option, path)
    certs = _blocks(data, ("CERTIFICATE",))
    keys = _blocks(
        data, ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY")
    )
    if not certs:
        raise _error(option, path, "no PEM certificate found", "invalid-file")
    if not keys:
        raise _error(
            option, path, "no private key found: the file must hold the certificate and its key",
            "invalid-file",
        )
    try:
        chain = [x509.load_pem_x509_certificate(block) for block in certs]
    except ValueError as exc:
        raise _error(option, path, f"malformed certificate ({exc})", "invalid-file") from exc
    secret = encode_password(password, path)
    try:
        key = serialization.load_pem_private_key(keys[0], password=secret)
    except TypeError:
        if secret is None:
            raise _error(
                option, path, "the private key is encrypted and no password was given",
                "password-required",
            ) from None
        raise _error(
            "tlsCertificateKeyFilePassword", path,
            "a password was given but the private key is not encrypted", "bad-password",
        ) from None
    except ValueError as exc:
        if secret is not None and b"ENCRYPTED" in keys[0]:
            # Never chain: some cryptography versions put input material in the message.
            raise _error(
                "tlsCertificateKeyFilePassword", path, "the password does not decrypt the key",
                "bad-password",
            ) from None
        raise _error(option, path, f"malformed private key ({exc})", "invalid-file") from None
    except Exception as exc:  # unsupported algorithm and the like
        raise _error(option, path, f"unusable private key ({type(exc).__name__})",
                     "invalid-file") from None
    if _public_der(chain[0].public_key()) != _public_der(key.public_key()):
        raise _error(option, path, "the private key does not match the certificate",
                     "key-mismatch")
    return chain, key


def _public_der(public_key: object) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _load_crls(path: str) -> List[x509.CertificateRevocationList]:
    from cryptography import x509

    data = read_option_file("tlsCRLFile", path)
    try:
        if b"-----BEGIN" in data:
            blocks = _blocks(data, ("X509 CRL",))
            if not blocks:
                raise ValueError("no PEM X509 CRL block")
            return [x509.load_pem_x509_crl(block) for block in blocks]
        return [x509.load_der_x509_crl(data)]
    except ValueError as exc:
        raise _error(
            "tlsCRLFile", path, f"not a CRL in PEM or DER ({exc})", "invalid-file"
        ) from exc


def load_materials(options: TLSOptions) -> Materials:
    """Read every file ``options`` names and check it; raise ``ConfigurationError`` if bad."""
    from cryptography.hazmat.primitives import serialization

    trust = _load_trust(options.ca_file) if options.ca_file else system_trust()
    chain: List[x509.Certificate] = []
    key: Optional[PrivateKeyTypes] = None
    if options.certificate_key_file:
        chain, key = _load_client(
            options.certificate_key_file, options.certificate_key_file_password
        )
    crls: List[x509.CertificateRevocationList] = []
    crl_pem = None
    if options.crl_file and options.check_crl:
        crls = _load_crls(options.crl_file)
        crl_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in crls)
    return Materials(trust=trust, client_chain=chain, client_key=key, crl_pem=crl_pem, crls=crls)
