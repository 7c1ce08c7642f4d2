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
import sys
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple, Union

from ._codes import ErrorCode
from ._errors import ConfigurationError, option_error
from ._options import TLSOptions, fingerprint

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

__all__ = [
    "Materials",
    "Trust",
    "ca_file_certificates",
    "certifi_trust",
    "describe_trust",
    "load_materials",
    "os_trust",
    "system_trust",
]

#: Larger files are refused: a CA bundle is ~200 KiB; this only stops accidents and attacks.
MAX_FILE_SIZE = 16 * 1024 * 1024

_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL
)


@dataclasses.dataclass(frozen=True)
class Trust:
    """Where trusted roots come from, as every backend loads them, parsed once.

    ``certs``: the plain CERTIFICATE blocks of tlsCAFile, ca_data and tlsCADirectory, parsed
    when the files were read (may be empty: an empty directory trusts nothing); ``ders``
    and ``pem`` are the same certificates encoded. ``cafile``/``capath``: files OpenSSL reads
    itself (the system store, certifi, or a tlsCAFile holding OpenSSL's TRUSTED
    CERTIFICATE blocks); ``os_verifier``: trust_store="os", the platform verifier through
    the ``truststore`` package where the backend can use it. ``source`` says it in words.
    Every consumer (the backends' native stores, OCSP's issuer look-up, the strict
    lint's explanations) reads these objects; none parses the files again.
    """

    source: str
    pem: Optional[bytes] = None
    cafile: Optional[str] = None
    capath: Optional[str] = None
    os_verifier: bool = False
    certs: Tuple[x509.Certificate, ...] = ()
    #: What is derived lazily (DER, ``cafile``'s certificates): computed once, then kept.
    _derived: Dict[str, Any] = dataclasses.field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        if self.pem and not self.certs:
            # A Trust built from PEM alone (the field came first): parsed here, once.
            from cryptography import x509

            certs = tuple(x509.load_pem_x509_certificates(self.pem))
            object.__setattr__(self, "certs", certs)

    @property
    def ders(self) -> Tuple[bytes, ...]:
        """``certs`` as DER (encoded on first use)."""
        ders = self._derived.get("ders")
        if ders is None:
            from cryptography.hazmat.primitives.serialization import Encoding

            ders = self._derived["ders"] = tuple(c.public_bytes(Encoding.DER) for c in self.certs)
        return ders

    def certificates(self) -> Tuple[x509.Certificate, ...]:
        """Every trusted certificate that can be listed: ``certs``, then ``cafile``'s.

        ``cafile`` (e.g. the system bundle, large) is read on first use only, and once;
        its TRUSTED CERTIFICATE blocks, a ``capath`` directory and the OS verifier's store
        cannot be listed (``complete()`` says whether anything was left out).
        """
        listed = self._derived.get("listed")
        if listed is None:
            listed, complete = self._list_cafile()
            self._derived["complete"] = complete
            listed = self._derived["listed"] = self.certs + listed
        return listed

    def complete(self) -> bool:
        """Whether ``certificates()`` is every certificate this store trusts."""
        self.certificates()
        return bool(self._derived["complete"])

    def _list_cafile(self) -> Tuple[Tuple[x509.Certificate, ...], bool]:
        complete = self.capath is None and not (self.os_verifier and self.cafile is None)
        if not self.cafile:
            return (), complete
        from cryptography import x509

        try:
            with open(self.cafile, "rb") as handle:
                data = handle.read(MAX_FILE_SIZE + 1)
        except OSError:
            return (), False
        certs: List[x509.Certificate] = []
        for block in _blocks(data, ("CERTIFICATE",)):
            try:
                certs.append(x509.load_pem_x509_certificate(block))
            except ValueError:  # OpenSSL may still read it: the listing is incomplete
                complete = False
        return tuple(certs), complete and not _blocks(data, ("TRUSTED CERTIFICATE",))


@dataclasses.dataclass(frozen=True)
class Materials:
    """Everything a backend needs from files and in-memory data, already parsed and checked."""

    trust: Trust
    #: The client certificate chain, leaf first (cryptography objects).
    client_chain: List[x509.Certificate] = dataclasses.field(default_factory=list)
    #: The client's private key, decrypted in memory only.
    client_key: Optional[PrivateKeyTypes] = dataclasses.field(default=None, repr=False)
    #: The CRLs of tlsCRLFile, converted to PEM whatever the file's encoding.
    crl_pem: Optional[bytes] = None
    crls: List[x509.CertificateRevocationList] = dataclasses.field(default_factory=list)
    #: Where the client identity came from: "file", "files" (a separate key) or "memory".
    client_source: Optional[str] = None


# The password is right in the key's own tool but wrong here: usually a connection string
# that did not percent-encode it (RFC 3986: '&', '%', '@', ':', '/' ... end or change it).
_BAD_PASSWORD_HINT = (
    "Check tlsCertificateKeyFilePassword; in a connection string, percent-encode its reserved "
    "characters (e.g. '%' as %25, '&' as %26, '@' as %40)."
)


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
                raise option_error(
                    option, path, "is not a regular file (a pipe, socket or device)",
                    "invalid-file",
                )
            if info.st_size > MAX_FILE_SIZE:
                raise option_error(
                    option, path, f"larger than {MAX_FILE_SIZE} bytes", "invalid-file"
                )
            data = handle.read(MAX_FILE_SIZE + 1)
    except FileNotFoundError as exc:
        raise option_error(option, path, "no such file", "file-not-found") from exc
    except IsADirectoryError as exc:
        raise option_error(option, path, "is a directory, not a file", "invalid-file") from exc
    except PermissionError as exc:
        raise option_error(option, path, "permission denied", "file-unreadable") from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise option_error(option, path, "symbolic link loop", "file-not-found") from exc
        if exc.errno in (errno.ENOTDIR, errno.ENAMETOOLONG):
            # "/etc/hosts/ca.pem": a path that cannot name a file is not an access problem.
            raise option_error(option, path, exc.strerror or str(exc), "file-not-found") from exc
        raise option_error(option, path, exc.strerror or str(exc), "file-unreadable") from exc
    if len(data) > MAX_FILE_SIZE:
        raise option_error(option, path, f"larger than {MAX_FILE_SIZE} bytes", "invalid-file")
    if not data.strip():
        raise option_error(option, path, "is empty", "invalid-file")
    return data


def _blocks(data: bytes, kinds: tuple[str, ...]) -> List[bytes]:
    return [m.group(0) for m in _PEM_BLOCK.finditer(data) if m.group(1).decode() in kinds]


def system_trust() -> Trust:
    """The system store as Python's OpenSSL sees it, or certifi when it is empty or absent."""
    trust = _openssl_default_trust()
    if trust is not None:
        return trust
    return certifi_trust()  # only when the system store is empty (containers, macOS/Windows)


def certifi_trust() -> Trust:
    """certifi's bundle (Mozilla's roots), whatever the system store holds."""
    import certifi

    where = certifi.where()
    return Trust(source=f"certifi ({where})", cafile=where)


def _openssl_default_trust() -> Optional[Trust]:
    # get_default_verify_paths honours SSL_CERT_FILE and SSL_CERT_DIR, as OpenSSL does.
    paths = ssl.get_default_verify_paths()
    cafile = paths.cafile if paths.cafile and os.path.isfile(paths.cafile) else None
    capath = paths.capath if paths.capath and os.path.isdir(paths.capath) else None
    if capath is not None and not any(_HASHED_NAME.match(n) for n in os.listdir(capath)):
        capath = None  # a directory without hashed links is of no use to OpenSSL
    if cafile or capath:
        return Trust(source=f"system store ({cafile or capath})", cafile=cafile, capath=capath)
    return None


def system_only_trust() -> Trust:
    """trust_store="system": OpenSSL's default locations only, never certifi."""
    trust = _openssl_default_trust()
    if trust is None:
        paths = ssl.get_default_verify_paths()
        raise ConfigurationError(
            "tlsTrustStore=system: OpenSSL's default locations hold no certificates "
            f"(file {paths.cafile or paths.openssl_cafile!r}, directory "
            f"{paths.capath or paths.openssl_capath!r})",
            code="invalid-option", option="tlsTrustStore",
            hint="Install the system CA certificates (Debian: ca-certificates), point "
            "SSL_CERT_FILE at a bundle, or use tlsTrustStore=certifi.",
        )
    return Trust(source=f"system store only ({trust.cafile or trust.capath})",
                 cafile=trust.cafile, capath=trust.capath)


# truststore's Linux store (truststore/_openssl.py, after certifi-system-store): OpenSSL's
# default locations when they hold certificates, else the first of the distributions' bundles.
_OS_BUNDLE_CANDIDATES = (
    "/etc/ssl/cert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/pki/tls/cert.pem",
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/ssl/ca-bundle.pem",
)


def os_trust() -> Trust:
    """trust_store="os": the platform verifier through ``truststore`` (Python 3.10+).

    On Linux truststore lets OpenSSL verify against the system bundle it finds; a backend
    that cannot use truststore itself (pyOpenSSL) loads the same locations. macOS and
    Windows verifiers are reachable only through Python's ssl (the stdlib backend).
    """
    if sys.version_info < (3, 10):
        raise ConfigurationError(
            "tlsTrustStore=os needs the truststore package, which needs Python 3.10 or newer",
            code="unsupported-option", option="tlsTrustStore",
            hint="Use tlsTrustStore=system or certifi on Python 3.9.",
        )
    try:
        import truststore  # noqa: F401  # the optional extra tlsplug[truststore]
    except ImportError:
        raise ConfigurationError(
            "tlsTrustStore=os needs the truststore package, which is not installed",
            code="unsupported-option", option="tlsTrustStore",
            hint='pip install "tlsplug[truststore]" (or pip install truststore).',
        ) from None
    trust = _openssl_default_trust()
    if trust is None:
        for candidate in _OS_BUNDLE_CANDIDATES:
            if os.path.isfile(candidate):
                trust = Trust(source=candidate, cafile=candidate)
                break
    cafile = trust.cafile if trust is not None else None
    capath = trust.capath if trust is not None else None
    where = f"; on Linux the bundle {cafile or capath}" if sys.platform.startswith("linux") else ""
    return Trust(source=f"the OS trust store (truststore{where})", cafile=cafile,
                 capath=capath, os_verifier=True)


_HASHED_NAME = re.compile(r"^[0-9a-fA-F]{8}\.[0-9]+$")
_CA_DIR_SUFFIXES = (".pem", ".crt", ".cer")


def _certificates_pem(
    option: str, where: Optional[str], data: bytes, *, allow_der: bool = True
) -> tuple[bytes, List[x509.Certificate], bool]:
    """(plain CERTIFICATE blocks as PEM, the same parsed, whether TRUSTED CERTIFICATE blocks
    are present).

    ``data``: PEM with one or more certificates, or DER of one certificate. Never shows
    the content in an error: it may be a private key given by mistake.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    if b"-----BEGIN" not in data:
        if not allow_der:
            raise _material_error(option, where, "no PEM certificate found")
        try:
            cert = x509.load_der_x509_certificate(data)
        except ValueError:
            raise _material_error(option, where, "neither PEM nor a DER certificate") from None
        return cert.public_bytes(serialization.Encoding.PEM), [cert], False
    if _blocks(data, _KEY_KINDS) and not _blocks(data, ("CERTIFICATE", "TRUSTED CERTIFICATE")):
        raise _material_error(option, where, "holds a private key, not a certificate")
    blocks = _blocks(data, ("CERTIFICATE",))
    trusted = bool(_blocks(data, ("TRUSTED CERTIFICATE",)))
    if not blocks and not trusted:
        raise _material_error(option, where, "no PEM certificate found")
    certs = []
    for block in blocks:
        try:
            certs.append(x509.load_pem_x509_certificate(block))
        except ValueError as exc:
            raise _material_error(option, where, f"malformed certificate ({exc})") from exc
    return b"".join(block + b"\n" for block in blocks), certs, trusted


def ca_file_certificates(path: str) -> List[x509.Certificate]:
    """The plain CERTIFICATE blocks of a tlsCAFile, parsed (``ConfigurationError`` if bad)."""
    return _certificates_pem("tlsCAFile", path, read_option_file("tlsCAFile", path),
                             allow_der=False)[1]


def _material_error(option: str, where: Optional[str], message: str) -> ConfigurationError:
    # where is None for in-memory material: the option is named, the content never.
    return option_error(option, where, message, "invalid-file")


def _as_bytes(data: Union[str, bytes]) -> bytes:
    return data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data


def _ca_dir_pem(path: str) -> tuple[bytes, List[x509.Certificate]]:
    """Every certificate of a CA directory: OpenSSL's hashed layout or plain PEM/DER files.

    Hashed links (``<hash>.0``, as `openssl rehash` makes) and ``*.pem``/``*.crt``/``*.cer``
    files are read; anything else (README, ``*.r0`` CRL links, hidden files such as
    Kubernetes' ``..data``) is skipped. Duplicates (a link and its target) count once.
    """
    option = "tlsCADirectory"
    try:
        names = sorted(os.listdir(path))
    except FileNotFoundError:
        raise option_error(option, path, "no such directory", "file-not-found") from None
    except NotADirectoryError:
        raise option_error(option, path, "is a file, not a directory", "invalid-file") from None
    except PermissionError:
        raise option_error(option, path, "permission denied", "file-unreadable") from None
    except OSError as exc:
        raise option_error(option, path, exc.strerror or str(exc), "file-unreadable") from None
    seen: set[bytes] = set()
    out: List[bytes] = []
    certs: List[x509.Certificate] = []
    for name in names:
        if name.startswith(".") or not (
            _HASHED_NAME.match(name) or name.lower().endswith(_CA_DIR_SUFFIXES)
        ):
            continue
        full = os.path.join(path, name)
        if os.path.isdir(full):
            continue
        data = read_option_file(option, full)
        pem, parsed, _trusted = _certificates_pem(option, full, data)
        for block, cert in zip(_blocks(pem, ("CERTIFICATE",)), parsed):
            if block not in seen:
                seen.add(block)
                out.append(block + b"\n")
                certs.append(cert)
    return b"".join(out), certs


_STORE_WORDS = {
    "default": "the system store (certifi if it is empty)",
    "system": "the system store only (OpenSSL's locations; SSL_CERT_FILE/SSL_CERT_DIR honoured)",
    "certifi": "certifi's bundle (Mozilla's roots) only",
    "os": "the OS trust store (the platform verifier, through truststore)",
}


def describe_trust(options: TLSOptions) -> str:
    """Where ``options`` take trusted roots from, in words (no file is read)."""
    if not options.has_explicit_ca:
        return _STORE_WORDS[options.trust_store]
    parts = []
    if options.ca_file:
        parts.append(options.ca_file)
    if options.ca_data is not None:
        parts.append(f"ca_data ({fingerprint(options.ca_data)})")
    if options.ca_dir:
        parts.append(f"tlsCADirectory {options.ca_dir}")
    return " + ".join(parts)


def _trust(options: TLSOptions) -> Trust:
    """The trust store ``options`` describe (explicit CA material replaces the store)."""
    if not options.has_explicit_ca:
        store = options.trust_store
        if store == "system":
            return system_only_trust()
        if store == "certifi":
            return certifi_trust()
        if store == "os":
            return os_trust()
        return system_trust()
    pems: List[bytes] = []
    certs: List[x509.Certificate] = []
    sources: List[str] = []
    cafile: Optional[str] = None
    if options.ca_file:
        # tlsCAFile is a PEM bundle (the MongoDB option); DER is for ca_data and directories.
        pem, parsed, trusted = _certificates_pem(
            "tlsCAFile", options.ca_file, read_option_file("tlsCAFile", options.ca_file),
            allow_der=False,
        )
        if trusted:
            cafile = options.ca_file  # OpenSSL's TRUSTED CERTIFICATE format: its own loader
        else:
            pems.append(pem)
            certs += parsed
        sources.append(f"tlsCAFile ({options.ca_file})")
    if options.ca_data is not None:
        pem, parsed, trusted = _certificates_pem("ca_data", None, _as_bytes(options.ca_data))
        if trusted:
            raise _material_error("ca_data", None, "TRUSTED CERTIFICATE blocks are only "
                                  "read from a file (tlsCAFile)")
        pems.append(pem)
        certs += parsed
        sources.append(f"ca_data ({fingerprint(options.ca_data)})")
    if options.ca_dir:
        pem, parsed = _ca_dir_pem(options.ca_dir)
        pems.append(pem)
        certs += parsed
        sources.append(f"tlsCADirectory ({options.ca_dir}, {len(parsed)} certificates)")
    return Trust(source=" + ".join(sources), pem=b"".join(pems), cafile=cafile,
                 certs=tuple(certs))


def encode_password(password: Optional[str], path: Optional[str]) -> Optional[bytes]:
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
        message = (
            "the password is not valid Unicode text (it holds a lone surrogate, e.g. from "
            "undecodable bytes in an environment variable): decode it correctly"
        )
        option = "tlsCertificateKeyFilePassword"
        if path is None:
            raise ConfigurationError(f"{option}: {message}", code="invalid-option", option=option)
        raise option_error(option, path, message, "invalid-option")
    return secret


_KEY_KINDS = ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY")


def _load_client(
    option: str, where: Optional[str], data: bytes, password: Optional[str],
    key_option: Optional[str] = None, key_where: Optional[str] = None,
    key_data: Optional[bytes] = None,
) -> tuple[List[x509.Certificate], PrivateKeyTypes]:
    """The client chain and key from ``data`` (certificates, and the key unless ``key_data``).

    ``where`` is the path, or None for in-memory material (errors then name the option only).
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    key_option = key_option or option
    key_where = key_where if key_data is not None else where
    certs = _blocks(data, ("CERTIFICATE",))
    keys = _blocks(key_data if key_data is not None else data, _KEY_KINDS)

    def fail(
        opt: str, at: Optional[str], message: str, code: ErrorCode, hint: Optional[str] = None
    ) -> ConfigurationError:
        return option_error(opt, at, message, code, hint=hint)

    if not certs:
        raise fail(option, where, "no PEM certificate found", "invalid-file")
    if not keys:
        raise fail(
            key_option, key_where,
            "no private key found: the file must hold the certificate and its key"
            if key_data is None else "no PEM private key found",
            "invalid-file",
        )
    try:
        chain = [x509.load_pem_x509_certificate(block) for block in certs]
    except ValueError as exc:
        raise fail(option, where, f"malformed certificate ({exc})", "invalid-file") from exc
    secret = encode_password(password, key_where)
    try:
        key = serialization.load_pem_private_key(keys[0], password=secret)
    except TypeError:
        if secret is None:
            raise fail(
                key_option, key_where, "the private key is encrypted and no password was given",
                "password-required",
            ) from None
        raise fail(
            "tlsCertificateKeyFilePassword", key_where,
            "a password was given but the private key is not encrypted", "bad-password",
            hint="Remove tlsCertificateKeyFilePassword: this key needs none.",
        ) from None
    except ValueError as exc:
        if secret is not None and b"ENCRYPTED" in keys[0]:
            # Never chain: some cryptography versions put input material in the message.
            raise fail(
                "tlsCertificateKeyFilePassword", key_where,
                "the password does not decrypt the key", "bad-password", hint=_BAD_PASSWORD_HINT,
            ) from None
        detail = f" ({exc})" if key_where is not None else ""
        raise fail(key_option, key_where, f"malformed private key{detail}",
                   "invalid-file") from None
    except Exception as exc:  # unsupported algorithm and the like
        raise fail(key_option, key_where, f"unusable private key ({type(exc).__name__})",
                   "invalid-file") from None
    if _public_der(chain[0].public_key()) != _public_der(key.public_key()):
        raise fail(key_option, key_where, "the private key does not match the certificate",
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
        raise option_error(
            "tlsCRLFile", path, f"not a CRL in PEM or DER ({exc})", "invalid-file"
        ) from exc


def load_materials(options: TLSOptions) -> Materials:
    """Read every file and in-memory item ``options`` name; raise ``ConfigurationError`` if bad."""
    from cryptography.hazmat.primitives import serialization

    trust = _trust(options)
    chain: List[x509.Certificate] = []
    key: Optional[PrivateKeyTypes] = None
    client_source: Optional[str] = None
    password = options.certificate_key_file_password
    if options.certificate_key_file:
        path = options.certificate_key_file
        data = read_option_file("tlsCertificateKeyFile", path)
        if options.private_key_file:
            key_path = options.private_key_file
            chain, key = _load_client(
                "tlsCertificateKeyFile", path, data, password,
                key_option="tlsPrivateKeyFile", key_where=key_path,
                key_data=read_option_file("tlsPrivateKeyFile", key_path),
            )
            client_source = "files"
        else:
            chain, key = _load_client("tlsCertificateKeyFile", path, data, password)
            client_source = "file"
    elif options.certificate_key_data is not None:
        chain, key = _load_client(
            "certificate_key_data", None, _as_bytes(options.certificate_key_data), password
        )
        client_source = "memory"
    crls: List[x509.CertificateRevocationList] = []
    crl_pem = None
    if options.crl_file and options.check_crl:
        crls = _load_crls(options.crl_file)
        crl_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in crls)
    return Materials(trust=trust, client_chain=chain, client_key=key, crl_pem=crl_pem,
                     crls=crls, client_source=client_source)
