"""What the options are called, how they group, and what they mean: the options' vocabulary.

``TLSOptions`` (``_options``), the connection-string parser (``_uri``), the CLI and the
documentation's reference tables (``_reference``) all read these tables, so none of them
imports another to learn a name (docs/architecture.md).
"""

from __future__ import annotations

from typing import Collection, Dict, Mapping, Optional, Tuple

from ._errors import ConfigurationError

__all__ = [
    "BOOL_FIELDS",
    "DATA_FIELDS",
    "FILE_FIELDS",
    "OPTION_MEANINGS",
    "PROFILES",
    "TRUST_STORES",
    "URI_BOOL_FIELDS",
    "URI_NAMES",
    "conflict_error",
]

PROFILES = ("modern", "legacy")

# field name -> connection-string spelling (docs/design.md, "Options").
URI_NAMES: Dict[str, str] = {
    "enabled": "tls",
    "ca_file": "tlsCAFile",
    "certificate_key_file": "tlsCertificateKeyFile",
    "certificate_key_file_password": "tlsCertificateKeyFilePassword",
    "crl_file": "tlsCRLFile",
    "insecure": "tlsInsecure",
    "allow_invalid_certificates": "tlsAllowInvalidCertificates",
    "allow_invalid_hostnames": "tlsAllowInvalidHostnames",
    "disable_ocsp_endpoint_check": "tlsDisableOCSPEndpointCheck",
    "disable_certificate_revocation_check": "tlsDisableCertificateRevocationCheck",
    "backend": "tlsBackend",
    "profile": "tlsProfile",
    "strict_x509": "tlsStrictX509",
    # tlsplug extensions in the tls* style (docs/howto/trust-sources.md).
    "ca_dir": "tlsCADirectory",
    "private_key_file": "tlsPrivateKeyFile",
    "trust_store": "tlsTrustStore",
}
#: Fields given in memory, never in a connection string (they hold certificates and keys).
DATA_FIELDS = ("ca_data", "certificate_key_data")
#: Where trusted roots come from when no tlsCAFile/ca_data/tlsCADirectory is given.
TRUST_STORES = ("default", "system", "certifi", "os")
BOOL_FIELDS = (
    "enabled",
    "insecure",
    "allow_invalid_certificates",
    "allow_invalid_hostnames",
    "disable_ocsp_endpoint_check",
    "disable_certificate_revocation_check",
)
# Booleans with a default (never "not given"): read from a URI like the others.
URI_BOOL_FIELDS = (*BOOL_FIELDS, "strict_x509")
FILE_FIELDS = ("ca_file", "certificate_key_file", "crl_file", "private_key_file", "ca_dir")

# Pairs that may not both be *present*, whatever their values: the MongoDB URI-options
# specification ("tlsInsecure and ..."; its tests are in tests/vectors/mongodb-specs/uri-options).
_CONFLICTS: Tuple[Tuple[str, str], ...] = (
    ("insecure", "allow_invalid_certificates"),
    ("insecure", "allow_invalid_hostnames"),
    ("insecure", "disable_ocsp_endpoint_check"),
    ("insecure", "disable_certificate_revocation_check"),
    ("allow_invalid_certificates", "disable_ocsp_endpoint_check"),
    ("allow_invalid_certificates", "disable_certificate_revocation_check"),
    ("disable_ocsp_endpoint_check", "disable_certificate_revocation_check"),
)

# field -> what it means, one or two sentences, Markdown-free (the docs render it as text).
# Entries for fields that do not exist (yet) are ignored; a field without an entry fails
# tests/docs/test_docs_reference.py.
OPTION_MEANINGS: Mapping[str, str] = {
    "enabled": (
        "TLS on or off. Options that need TLS turn it on; a mongodb+srv:// connection "
        "string turns it on unless tls/ssl is given."
    ),
    "ca_file": "PEM bundle of trusted root certificates; replaces the system store.",
    "certificate_key_file": "PEM file with the client certificate and its private key.",
    "certificate_key_file_password": (
        "Password of that private key. Never shown in repr/str of the options, in errors, "
        "logs or CLI output."
    ),
    "crl_file": (
        "CRL in PEM or DER, checked against the server's certificate; OCSP is then off."
    ),
    "insecure": (
        "No chain check, no hostname check, no OCSP: the same as allowing invalid "
        "certificates and invalid hostnames. Warns (SecurityWarning)."
    ),
    "allow_invalid_certificates": (
        "No chain verification and no OCSP; the hostname is still checked. Traffic is "
        "encrypted but the server is not authenticated."
    ),
    "allow_invalid_hostnames": (
        "No hostname / IP address check; the chain is still verified."
    ),
    "disable_ocsp_endpoint_check": (
        "Never contact OCSP responders; a stapled OCSP response is still checked."
    ),
    "disable_certificate_revocation_check": (
        "No revocation check at all: no OCSP (stapled or responder) and no CRL."
    ),
    "backend": (
        "Backend name (stdlib, pyopenssl, ...) or auto. Unset: $TLSPLUG_BACKEND, else auto "
        "(the installed backend of highest priority)."
    ),
    "profile": (
        "modern (TLS 1.2+, forward-secret AEAD suites, strict X.509) or legacy (TLS 1.0+, "
        "CBC suites at security level 0, for servers older than 2018; warns)."
    ),
    "ocsp_timeout": (
        "Seconds for all OCSP responder requests of one handshake together."
    ),
    "session_resumption": (
        "Resume the last TLS session per (host, port, server name) on the next connection."
    ),
    # Fields of the driver bridge and trust sources (docs/design.md, "Additions").
    "alpn_protocols": "ALPN protocol names to offer, e.g. (\"h2\", \"http/1.1\").",
    "ca_data": (
        "PEM text (one or more certificates) or PEM/DER bytes, trusted in addition to "
        "ca_file."
    ),
    "ca_dir": (
        "Directory of CA certificates: OpenSSL's hashed layout or plain *.pem / *.crt files."
    ),
    "certificate_key_data": (
        "PEM text or bytes with the client certificate (chain) and its key; conflicts with "
        "certificate_key_file. Never written to a persistent file."
    ),
    "private_key_file": (
        "The client's private key in its own file; certificate_key_file then holds the "
        "certificate(s)."
    ),
    "trust_store": (
        "Where trusted roots come from: default (system store, certifi when it is empty), "
        "system, certifi, or os (the truststore package)."
    ),
    "strict_x509": (
        "True by default; false turns off only the strict-profile certificate rules "
        "(X509_STRICT and tlsplug's lint) and warns. Protocol, ciphers, hostname, "
        "revocation and OCSP policy stay."
    ),
}


def conflict_error(present: Collection[str]) -> Optional[ConfigurationError]:
    """The error for the first pair of ``_CONFLICTS`` whose fields are both in ``present``.

    One rule for connection strings and keywords, checked before any value is judged: the
    URI-options specification makes these pairs errors when *present*, whatever their values.
    """
    for first, second in _CONFLICTS:
        if first in present and second in present:
            return ConfigurationError(
                f"{URI_NAMES[first]}: cannot be combined with {URI_NAMES[second]}"
                + (" (tlsInsecure already implies it)" if first == "insecure" else ""),
                code="conflicting-options",
                option=URI_NAMES[first],
                hint=f"Give {URI_NAMES[first]} or {URI_NAMES[second]}, not both.",
            )
    return None
