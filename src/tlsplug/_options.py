"""``TLSOptions``: the immutable, validated, backend-neutral description of a TLS client."""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from typing import Any, ClassVar, Dict, Mapping, Optional, Tuple, Union

from ._codes import INVALID_OPTION, ErrorCode
from ._errors import ConfigurationError
from ._optionspec import (
    _CONFLICTS,
    BOOL_FIELDS,
    DATA_FIELDS,
    FILE_FIELDS,
    PROFILES,
    TRUST_STORES,
    URI_NAMES,
    conflict_error,
)
from ._uri import parse_options

__all__ = ["PROFILES", "TLSOptions"]

# Relaxing the strict X.509 rules of a chain that is never verified is a mistake, like a CRL
# that is never consulted (docs/design.md, "Additions").
_STRICT_USELESS_WITH = ("insecure", "allow_invalid_certificates")
# A CRL that is never consulted is a mistake (docs/design.md rules).
_CRL_USELESS_WITH = (
    "insecure",
    "allow_invalid_certificates",
    "disable_certificate_revocation_check",
)

_MASK = "'********'"

if sys.version_info >= (3, 10):
    _DATACLASS_ARGS: Dict[str, Any] = {"frozen": True, "slots": True, "kw_only": True}
else:  # pragma: no cover - slots/kw_only arrived in 3.10; 3.9 still gets frozen.
    _DATACLASS_ARGS = {"frozen": True}


def fingerprint(data: Union[str, bytes]) -> str:
    """What may be shown of in-memory material: its size and a SHA-256 prefix, never content."""
    import hashlib

    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    return f"{len(raw)} bytes, sha256:{hashlib.sha256(raw).hexdigest()[:16]}"


def _fail(
    option: str, message: str, code: ErrorCode = INVALID_OPTION, hint: Optional[str] = None
) -> ConfigurationError:
    return ConfigurationError(f"{option}: {message}", code=code, option=option, hint=hint)


def _alpn(value: Any) -> Optional[Tuple[str, ...]]:
    """``alpn_protocols`` as a tuple of names each backend can offer, or the error."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)):
        raise _fail("alpn_protocols", "expected a tuple of protocol names, e.g. ('h2', 'http/1.1')")
    names = tuple(value)
    for name in names:
        if not isinstance(name, str):
            raise _fail("alpn_protocols", f"expected str names, got {type(name).__name__}")
        # RFC 7301 §3.1: a protocol name is 1 to 255 octets. ASCII, because ssl's
        # set_alpn_protocols encodes with ASCII (every registered name is ASCII).
        if not name or not name.isascii() or len(name) > 255:
            raise _fail(
                "alpn_protocols", f"{name!r} is not a 1 to 255 character ASCII protocol name"
            )
    return names or None


class _HashMemo:
    """The slot where ``TLSOptions`` keeps its hash.

    Every cached ``create_context`` hashes its options (the context cache's key); hashing
    fourteen fields each time was a measurable share of that call. The slot lives outside
    the dataclass fields, so ``fields()``, ``replace()``, ``repr()`` and the pickled state
    (3.10+: the dataclass ``__getstate__`` lists fields only) never see it: a hash pickled
    in one process would be wrong in the next, whose ``str`` hashes are salted differently.
    """

    __slots__ = ("_hash",)
    _hash: int


@dataclasses.dataclass(**_DATACLASS_ARGS)
class TLSOptions(_HashMemo):
    """The TLS options of one client, validated on construction and never mutated.

    Relaxing flags are ``None`` when not given, so the "present together" rules of the
    MongoDB specification can be enforced; the ``verify_*``/``check_*`` properties give the
    effective behaviour a backend carries out.
    """

    enabled: Optional[bool] = None
    ca_file: Optional[str] = None
    certificate_key_file: Optional[str] = None
    certificate_key_file_password: Optional[str] = dataclasses.field(default=None, repr=False)
    crl_file: Optional[str] = None
    insecure: Optional[bool] = None
    allow_invalid_certificates: Optional[bool] = None
    allow_invalid_hostnames: Optional[bool] = None
    disable_ocsp_endpoint_check: Optional[bool] = None
    disable_certificate_revocation_check: Optional[bool] = None
    backend: Optional[str] = None
    profile: str = "modern"
    ocsp_timeout: float = 5.0
    session_resumption: bool = True
    strict_x509: bool = True
    ca_data: Optional[Union[str, bytes]] = dataclasses.field(default=None, repr=False)
    ca_dir: Optional[str] = None
    certificate_key_data: Optional[Union[str, bytes]] = dataclasses.field(
        default=None, repr=False
    )
    private_key_file: Optional[str] = None
    trust_store: str = "default"
    #: ALPN protocol names to offer, most preferred first (RFC 7301); keyword only.
    alpn_protocols: Optional[Tuple[str, ...]] = None

    uri_names: ClassVar[Mapping[str, str]] = URI_NAMES

    def __post_init__(self) -> None:
        conflict = conflict_error(
            {name for pair in _CONFLICTS for name in pair if getattr(self, name) is not None}
        )
        if conflict is not None:
            raise conflict
        for name in BOOL_FIELDS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                raise _fail(URI_NAMES[name], f"expected true or false, got {type(value).__name__}")
        for name in (*FILE_FIELDS, "certificate_key_file_password"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, os.PathLike) and name != "certificate_key_file_password":
                value = os.fspath(value)
                object.__setattr__(self, name, value)
            if not isinstance(value, str):
                # Never echo the value: it may be the password.
                raise _fail(URI_NAMES[name], f"expected a string, got {type(value).__name__}")
            if not value or "\x00" in value:
                raise _fail(URI_NAMES[name], "must be a non-empty string without NUL")
        if self.backend is not None:
            if not isinstance(self.backend, str) or not self.backend.strip():
                raise _fail("tlsBackend", "expected a backend name or 'auto'")
            object.__setattr__(self, "backend", self.backend.strip().lower())
        if not isinstance(self.profile, str) or self.profile.lower() not in PROFILES:
            raise _fail(
                "tlsProfile", f"expected one of {', '.join(PROFILES)}, got {self.profile!r}"
            )
        object.__setattr__(self, "profile", self.profile.lower())
        timeout = self.ocsp_timeout
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise _fail("ocsp_timeout", "expected a number of seconds")
        if not (math.isfinite(timeout) and timeout > 0):
            raise _fail("ocsp_timeout", "expected a positive, finite number of seconds")
        object.__setattr__(self, "ocsp_timeout", float(timeout))
        if not isinstance(self.session_resumption, bool):
            raise _fail("session_resumption", "expected true or false")
        for name in DATA_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, (bytearray, memoryview)):
                value = bytes(value)
                object.__setattr__(self, name, value)
            if not isinstance(value, (str, bytes)) or not value.strip():
                # Never echo the value: it may hold a private key.
                raise _fail(name, "expected non-empty PEM (str) or PEM/DER (bytes)")
        if not isinstance(self.trust_store, str) or self.trust_store.lower() not in TRUST_STORES:
            shown = self.trust_store if isinstance(self.trust_store, str) else type(
                self.trust_store).__name__
            raise _fail(
                "tlsTrustStore", f"expected one of {', '.join(TRUST_STORES)}, got {shown!r}"
            )
        object.__setattr__(self, "trust_store", self.trust_store.lower())
        if not isinstance(self.strict_x509, bool):
            raise _fail(
                "tlsStrictX509", f"expected true or false, got {type(self.strict_x509).__name__}"
            )
        if self.alpn_protocols is not None:
            object.__setattr__(self, "alpn_protocols", _alpn(self.alpn_protocols))
        self._check_rules()

    def _check_trust_and_identity(self) -> None:
        if self.certificate_key_data is not None:
            for other in ("certificate_key_file", "private_key_file"):
                if getattr(self, other) is not None:
                    raise _fail(
                        "certificate_key_data",
                        f"cannot be combined with {URI_NAMES[other]}: give the client "
                        "identity in memory or in files, not both",
                        code="conflicting-options",
                    )
        if self.private_key_file is not None and self.certificate_key_file is None:
            raise _fail(
                "tlsPrivateKeyFile",
                "needs tlsCertificateKeyFile (the certificate the key belongs to)",
                code="conflicting-options",
            )
        if self.trust_store != "default" and self.has_explicit_ca:
            given = [n for n in ("tlsCAFile", "ca_data", "tlsCADirectory") if self._has(n)]
            raise _fail(
                "tlsTrustStore",
                f"={self.trust_store} cannot be combined with {', '.join(given)}: explicit CA "
                "material replaces the trust store",
                code="conflicting-options",
            )

    def _has(self, name: str) -> bool:
        field = {"tlsCAFile": "ca_file", "tlsCADirectory": "ca_dir"}.get(name, name)
        return getattr(self, field) is not None

    @property
    def has_explicit_ca(self) -> bool:
        """Whether tlsCAFile, ca_data or tlsCADirectory replaces the trust store."""
        return self.ca_file is not None or self.ca_data is not None or self.ca_dir is not None

    def _check_rules(self) -> None:
        self._check_trust_and_identity()
        if self.crl_file is not None:
            for name in _CRL_USELESS_WITH:
                if getattr(self, name):
                    raise _fail(
                        "tlsCRLFile",
                        f"is never consulted when {URI_NAMES[name]}=true",
                        code="conflicting-options",
                        hint=f"Remove tlsCRLFile, or remove {URI_NAMES[name]}=true so the CRL "
                        "is checked.",
                    )
        if not self.strict_x509:
            for name in _STRICT_USELESS_WITH:
                if getattr(self, name):
                    raise _fail(
                        "tlsStrictX509",
                        f"=false relaxes a chain check that {URI_NAMES[name]}=true already "
                        "turns off entirely",
                        code="conflicting-options",
                    )
        needs_tls = [URI_NAMES.get(n, n) for n in self._tls_requiring_fields()]
        if needs_tls:
            if self.enabled is False:
                if len(needs_tls) == 1:
                    names, verb = needs_tls[0], "requires"
                else:
                    names, verb = f"{', '.join(needs_tls[:-1])} and {needs_tls[-1]}", "require"
                raise _fail(
                    needs_tls[0],
                    f"{names} {verb} TLS, but tls=false was given",
                    code="conflicting-options",
                    hint=f"Remove tls=false to connect with TLS, or remove {names} to connect "
                    "without it.",
                )
            if self.enabled is None:
                object.__setattr__(self, "enabled", True)

    def _tls_requiring_fields(self) -> list[str]:
        names = [
            n
            for n in (*FILE_FIELDS, *DATA_FIELDS, "certificate_key_file_password")
            if getattr(self, n)
        ]
        if self.trust_store != "default":
            names.append("trust_store")
        # A relaxing option set to false still only makes sense with TLS on (docs/design.md).
        names += [n for n in BOOL_FIELDS[1:] if getattr(self, n) is False]
        if not self.strict_x509:
            names.append("strict_x509")
        return names

    def __repr__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "certificate_key_file_password":
                if value is None:
                    continue
                parts.append(f"{f.name}={_MASK}")
            elif f.name in DATA_FIELDS:
                if value is not None:
                    parts.append(f"{f.name}=<{fingerprint(value)}>")
            elif value != f.default:
                parts.append(f"{f.name}={value!r}")
        return f"TLSOptions({', '.join(parts)})"

    __str__ = __repr__

    def __hash__(self) -> int:
        """The hash of the compared fields, the dataclass's own, computed once per object."""
        try:
            return self._hash
        except AttributeError:  # first call, or unpickled (__post_init__ does not run then)
            value = hash(tuple(getattr(self, name) for name in _HASHED))
            object.__setattr__(self, "_hash", value)
            return value

    if sys.version_info < (3, 10):  # pragma: no cover - 3.9 has no slots=True
        # Without it 3.9 pickles the memo slot next to __dict__, hash included.
        def __getstate__(self) -> Dict[str, Any]:
            return self.__dict__

    # -- effective behaviour, what a backend carries out ------------------------------------

    @property
    def verify_certificates(self) -> bool:
        """Whether the peer's chain is verified against the trust store."""
        return not (self.insecure or self.allow_invalid_certificates)

    @property
    def verify_hostname(self) -> bool:
        """Whether the peer's certificate must match the dialled host name or IP address."""
        return not (self.insecure or self.allow_invalid_hostnames)

    @property
    def check_crl(self) -> bool:
        """Whether the leaf is checked against ``crl_file``."""
        return self.crl_file is not None and self.verify_certificates

    @property
    def check_ocsp_stapling(self) -> bool:
        """Whether a stapled OCSP response (and must-staple) is checked."""
        return (
            self.verify_certificates
            and not self.disable_certificate_revocation_check
            and self.crl_file is None
        )

    @property
    def check_ocsp_endpoint(self) -> bool:
        """Whether OCSP responders named in the certificate are asked when nothing is stapled."""
        return self.check_ocsp_stapling and not self.disable_ocsp_endpoint_check

    @property
    def check_strict_x509(self) -> bool:
        """Whether the strict-profile certificate rules apply (X509_STRICT and tlsplug's lint).

        Only the modern profile has them; ``strict_x509=False`` turns off these rules alone,
        keeping the protocol and cipher policy, hostname rules, revocation and OCSP.
        """
        return self.profile == "modern" and self.strict_x509

    @property
    def insecure_settings(self) -> list[str]:
        """The connection-string names of the options that weaken verification."""
        return [
            URI_NAMES[n]
            for n in ("insecure", "allow_invalid_certificates", "allow_invalid_hostnames")
            if getattr(self, n)
        ]

    # -- conversions -------------------------------------------------------------------------

    @classmethod
    def parse(cls, uri: Optional[str] = None, /, **kwargs: Any) -> TLSOptions:
        """Build options from a connection string (or ``None``) and keyword overrides."""
        return parse_options(cls, uri, kwargs)

    def to_uri_options(self) -> Dict[str, Union[bool, str]]:
        """The options that are set, in connection-string spelling (the password included)."""
        out: Dict[str, Union[bool, str]] = {}
        for name, key in URI_NAMES.items():
            value = getattr(self, name)
            if value is None or (name == "profile" and value == "modern"):
                continue
            if name == "strict_x509" and value:
                continue  # the default
            if name == "trust_store" and value == "default":
                continue
            out[key] = value
        return out

    def replace(self, **changes: Any) -> TLSOptions:
        """A copy with some fields changed, validated again (like ``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)


# What the generated __hash__ would hash, in field order, so the values stay the same.
_HASHED = tuple(
    f.name
    for f in dataclasses.fields(TLSOptions)
    if (f.compare if f.hash is None else f.hash)
)
