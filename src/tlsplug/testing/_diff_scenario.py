"""The ``Scenario`` of the differential suite: one server, one PKI, one option set.

A scenario is plain, frozen data (strings, ints, tuples), so hypothesis can shrink it, it can
be written back as a regression ``@example(Scenario(...))``, and its ``repr`` lists only what
differs from the defaults - a falsifying example reads as a sentence.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Tuple

__all__ = [
    "CLIENT_CERT",
    "DEFECTS",
    "KEY_TYPES",
    "MATERIALS",
    "OCSP_STAPLES",
    "RELAXING",
    "RESPONDERS",
    "REVOCATIONS",
    "SERVERS",
    "SPELLINGS",
    "TRUSTS",
    "Opts",
    "Scenario",
]

KEY_TYPES = ("ecdsa", "rsa", "ed25519")
#: At most one structural defect per chain (see the oracle's precedence notes).
DEFECTS = (
    "none",
    "leaf-expired",
    "leaf-not-yet-valid",
    "intermediate-expired",  # depth >= 2: the CA right above the leaf
    "intermediate-not-yet-valid",
    "intermediate-bc-not-critical",  # depth >= 2: fails X509_STRICT (modern) only
    "root-no-key-usage",  # a root made with `openssl req` defaults: fails X509_STRICT only
    "missing-intermediate",  # depth >= 2: the server sends the leaf alone
)
#: What tlsCAFile holds: the root, the leaf's issuer (a partial chain), a foreign root, or
#: nothing at all (the system store, which never holds the test roots).
TRUSTS = ("root", "issuer", "unrelated", "system")
REVOCATIONS = ("none", "crl-revokes-leaf", "crl-clean", "crl-other-ca")
OCSP_STAPLES = ("absent", "good", "revoked", "unknown", "bad-signature", "expired")
RESPONDERS = ("none", "good", "revoked", "unknown", "down", "garbage")
CLIENT_CERT = ("none", "required-given", "required-missing", "given-not-requested")
#: modern: ssl's server defaults; tls12/tls13: one version only; legacy-cbc: TLS <= 1.2 with
#: AES256-SHA alone (a pre-2018 server); old-protocol: TLS 1.0-1.1 only.
SERVERS = ("modern", "tls12", "tls13", "legacy-cbc", "old-protocol")
#: How the options reach tlsplug: the pythonic constructor, a connection string (keys in
#: their documented case or shouted), a mongodb+srv:// string (implies TLS), or a
#: connection string overridden by keyword arguments.
MATERIALS = ("files", "memory", "directory")
SPELLINGS = ("constructor", "uri", "uri-shouted", "srv", "uri+kwargs")
RELAXING = (
    "insecure",
    "allow_invalid_certificates",
    "allow_invalid_hostnames",
    "disable_ocsp_endpoint_check",
    "disable_certificate_revocation_check",
)


def _compact_repr(obj: Any) -> str:
    parts = []
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        default = field.default
        if default is dataclasses.MISSING and field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        if value != default:
            parts.append(f"{field.name}={value!r}")
    return f"{type(obj).__name__}({', '.join(parts)})"


@dataclasses.dataclass(frozen=True, repr=False)
class Opts:
    """The option set apart from files: relaxing flags (None = absent), profile, knobs."""

    insecure: Any = None
    allow_invalid_certificates: Any = None
    allow_invalid_hostnames: Any = None
    disable_ocsp_endpoint_check: Any = None
    disable_certificate_revocation_check: Any = None
    #: ``tls`` given explicitly (True), or left to the other options to imply (None).
    tls: Any = True
    profile: str = "modern"
    ocsp_timeout: float = 5.0
    session_resumption: bool = True
    #: tlsStrictX509 (False: the strict X.509 rules off, the rest of the profile kept).
    strict_x509: bool = True
    #: How CA and client identity reach tlsplug: "files" (tlsCAFile, tlsCertificateKeyFile),
    #: "memory" (ca_data, certificate_key_data) or "directory" (tlsCADirectory).
    material: str = "files"
    spelling: str = "constructor"

    def __repr__(self) -> str:
        """Only the fields that differ from the defaults, as an evaluable expression."""
        return _compact_repr(self)

    def flag(self, name: str) -> bool:
        """The effective value of a relaxing flag (absent counts as false)."""
        return bool(getattr(self, name))


@dataclasses.dataclass(frozen=True, repr=False)
class Scenario:
    """Everything one differential handshake depends on."""

    #: Certificates above the leaf: 1 = issued by the root, 3 = root, two CAs, leaf.
    depth: int = 2
    ca_key: str = "ecdsa"
    leaf_key: str = "ecdsa"
    defect: str = "none"
    trust: str = "root"
    #: The leaf's subjectAltName entries (DNS, wildcard, IDN in A- or U-label, IPv4, IPv6).
    names: Tuple[str, ...] = ("db.example.test",)
    #: A legacy certificate: the first name in the subject commonName, no subjectAltName.
    cn_only: bool = False
    #: The host the client dials (what ``server_hostname`` is given).
    dialled: str = "db.example.test"
    revocation: str = "none"
    crl_der: bool = False
    staple: str = "absent"
    must_staple: bool = False
    responder: str = "none"
    client_cert: str = "none"
    #: The client key is encrypted (with the right password in the options).
    client_key_encrypted: bool = False
    server: str = "modern"
    options: Opts = dataclasses.field(default_factory=Opts)
    #: "memory": wrap_buffers against an in-process server; "socket": a loopback TLSServer.
    transport: str = "memory"

    def __repr__(self) -> str:
        """Only the fields that differ from the defaults, as an evaluable expression."""
        return _compact_repr(self)
