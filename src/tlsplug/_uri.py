"""Connection strings and keyword arguments to ``TLSOptions`` (MongoDB URI-options rules)."""

from __future__ import annotations

import difflib
import re
import warnings
from typing import Any, Dict, List, Mapping, Optional, Tuple, Type, TypeVar
from urllib.parse import unquote_to_bytes

from ._errors import ConfigurationError, OptionWarning
from ._options import PROFILES, TRUST_STORES, URI_BOOL_FIELDS, URI_NAMES

__all__ = ["parse_options", "parse_txt_record"]

T = TypeVar("T")

# lower-cased connection-string key -> field
_KEYS: Dict[str, str] = {key.lower(): field for field, key in URI_NAMES.items()}
_KEYS["ssl"] = "enabled"
# Fields that have no connection-string spelling are accepted as keyword arguments only.
_KWARG_ONLY = (
    "ocsp_timeout", "session_resumption", "ca_data", "certificate_key_data", "alpn_protocols"
)

# PyMongo 3 names -> (new key, how the value translates). PyMongo 4's migration guide
# (docs/migrate-to-pymongo4.rst, "Renamed URI options") is the source of this table.
_LEGACY: Dict[str, Tuple[str, str]] = {
    "ssl_ca_certs": ("tlsCAFile", "same"),
    "ssl_certfile": ("tlsCertificateKeyFile", "same"),
    "ssl_pem_passphrase": ("tlsCertificateKeyFilePassword", "same"),
    "ssl_crlfile": ("tlsCRLFile", "same"),
    "ssl_match_hostname": ("tlsAllowInvalidHostnames", "negate"),
    "ssl_check_ocsp_endpoint": ("tlsDisableOCSPEndpointCheck", "negate"),
    "ssl_cert_reqs": ("tlsAllowInvalidCertificates", "cert_reqs"),
}
_UNSUPPORTED_LEGACY = {
    "ssl_keyfile": "put the certificate and its key in one PEM file for tlsCertificateKeyFile",
    "ssl_ciphers": "choose a tlsProfile (modern or legacy) instead of a cipher string",
}
# libpq's TLS parameters (PostgreSQL manual, "Parameter Key Words"), as people carry them
# over from a postgresql:// URI: difflib would suggest "ssl" for "sslmode", which is wrong.
_LIBPQ = {
    "sslrootcert": "tlsCAFile",
    "sslcert": "tlsCertificateKeyFile (one PEM file with the certificate and its key)",
    "sslkey": "tlsCertificateKeyFile (one PEM file with the certificate and its key)",
    "sslcrl": "tlsCRLFile",
    "sslpassword": "tlsCertificateKeyFilePassword",
}
# sslmode value -> what tlsplug says instead. tlsplug has no opportunistic TLS ("allow",
# "prefer"): a connection is verified TLS or plaintext, by choice.
_SSLMODES = {
    "disable": "tls=false",
    "allow": "tls=true, or tls=false (tlsplug never falls back from one to the other)",
    "prefer": "tls=true, or tls=false (tlsplug never falls back from one to the other)",
    "require": "tls=true&tlsInsecure=true to encrypt without verifying (insecure), or tls=true",
    "verify-ca": "tls=true&tlsAllowInvalidHostnames=true (chain verified, host name not)",
    "verify-full": "tls=true (the chain and the host name are verified by default)",
}
_KNOWN_NAMES = sorted({*URI_NAMES.values(), "ssl", *_LEGACY, *_KWARG_ONLY})
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _suggest(key: str) -> str:
    lowered = {name.lower(): name for name in _KNOWN_NAMES}
    close = difflib.get_close_matches(key.lower(), list(lowered), n=1, cutoff=0.6)
    return f"; did you mean {lowered[close[0]]}?" if close else ""


def _unknown(key: str, value: Any = None) -> ConfigurationError:
    lower = key.lower()
    if lower == "sslmode":
        mode = value.lower() if isinstance(value, str) else ""
        instead = _SSLMODES.get(mode, "tls=true (verify-full) or tls=false (disable)")
        shown = f"={mode}" if mode in _SSLMODES else ""
        return ConfigurationError(
            f"unknown option {key}{shown}: that is libpq's spelling; tlsplug's is {instead}",
            code="unknown-option", option=key,
            hint=f"Replace {key}{shown} with {instead}.",
        )
    if lower in _LIBPQ:  # the value is never echoed: sslpassword is a secret
        return ConfigurationError(
            f"unknown option {key!r}: that is libpq's spelling; tlsplug's is {_LIBPQ[lower]}",
            code="unknown-option", option=key,
            hint=f"Replace {key} with {_LIBPQ[lower].split(' ')[0]}.",
        )
    return ConfigurationError(
        f"unknown option {key!r}{_suggest(key)}", code="unknown-option", option=key
    )


def _is_tls_key(key: str) -> bool:
    return key.lower().startswith(("tls", "ssl"))


def _decode(raw: str, what: str) -> str:
    if _BAD_PERCENT.search(raw):
        raise ConfigurationError(
            f"{what}: invalid percent-encoding", option=what,
            hint="A '%' in a connection string starts an escape: write a literal '%' as %25.",
        )
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            f"{what}: not UTF-8 after percent-decoding", option=what,
            hint="Percent-encode the UTF-8 bytes of the text (e.g. 'é' as %C3%A9).",
        ) from exc


def _split_uri(uri: str) -> Tuple[str, List[Tuple[str, str]]]:
    """Return (scheme, [(raw key, raw value)]) of a ``scheme://[user@]hosts[/db][?query]``."""
    scheme, sep, rest = uri.partition("://")
    if not sep or not scheme:
        raise ConfigurationError(
            "not a connection string: expected scheme://hosts[/db][?options]", option="uri",
            hint="Pass a URI such as 'mongodb://db.example.com/?tls=true', or None and the "
            "options as keyword arguments.",
        )
    _, _, query = rest.partition("?")
    pairs: List[Tuple[str, str]] = []
    for item in re.split("[&;]", query) if query else []:
        if not item:
            continue
        key, eq, value = item.partition("=")
        pairs.append((key, value if eq else ""))
    return scheme.lower(), pairs


def _coerce_bool(value: Any) -> Optional[bool]:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _translate_legacy(key: str, value: Any) -> Tuple[str, Any]:
    """Map a PyMongo 3 ``ssl_*`` name and value to the new spelling, warning once."""
    if key in _UNSUPPORTED_LEGACY:
        raise ConfigurationError(
            f"{key} is no longer supported: {_UNSUPPORTED_LEGACY[key]}",
            code="unsupported-option",
            option=key,
        )
    new, how = _LEGACY[key]
    warnings.warn(
        f"{key} is deprecated; use {new} (see the PyMongo 4 migration guide)",
        DeprecationWarning,
        stacklevel=5,
    )
    if how == "negate":
        flag = _coerce_bool(value)
        return new, (not flag) if flag is not None else value
    if how == "cert_reqs":
        name = getattr(value, "name", value)
        if isinstance(name, str):
            name = name.upper()
        none = name in ("CERT_NONE", 0, "0") and not isinstance(value, bool)
        known = name in ("CERT_NONE", "CERT_OPTIONAL", "CERT_REQUIRED", 0, 1, 2, "0", "1", "2")
        if not known or isinstance(value, bool):
            return new, object()  # rejected below with the option named
        return new, none
    return new, value


def _uri_values(pairs: List[Tuple[str, str]]) -> Dict[str, Any]:
    """Connection-string pairs -> {field: value}; invalid values warn and are dropped."""
    out: Dict[str, Any] = {}
    seen: Dict[str, str] = {}
    tls_given: Dict[str, bool] = {}
    for raw_key, raw_value in pairs:
        key = raw_key
        if _is_tls_key(raw_key) or "%" in raw_key:
            key = _decode(raw_key, "option name")
        if not _is_tls_key(key):
            continue  # the driver's own options: not ours to judge
        lower = key.lower()
        value: Any = _decode(raw_value, key)
        if lower in _LEGACY or lower in _UNSUPPORTED_LEGACY:
            key, value = _translate_legacy(lower, value)
            lower = key.lower()
        field = _KEYS.get(lower)
        if field is None:
            raise _unknown(key, value)
        if field in URI_BOOL_FIELDS:
            flag = _coerce_bool(value)
            if flag is None:
                warnings.warn(
                    f"{key}: invalid value {value!r} (expected true or false); ignored",
                    OptionWarning,
                    stacklevel=4,
                )
                continue
            value = flag
        elif field == "profile" and str(value).lower() not in PROFILES:
            warnings.warn(f"{key}: unknown profile {value!r}; ignored", OptionWarning, stacklevel=4)
            continue
        elif field == "trust_store" and str(value).lower() not in TRUST_STORES:
            warnings.warn(f"{key}: unknown trust store {value!r}; ignored", OptionWarning,
                          stacklevel=4)
            continue
        elif not isinstance(value, str) or not value:
            warnings.warn(f"{key}: empty value; ignored", OptionWarning, stacklevel=4)
            continue
        if field == "enabled":
            previous = tls_given.get("tls" if lower == "ssl" else "ssl")
            if previous is not None and previous != value:
                raise ConfigurationError(
                    "tls and ssl were given with different values",
                    code="conflicting-options",
                    option="tls",
                )
            tls_given[lower] = value
        if field in seen and field != "enabled":
            warnings.warn(f"{key} given more than once; the last value wins", OptionWarning,
                          stacklevel=4)
        seen[field] = key
        out[field] = value
    return out


def _kwarg_values(kwargs: Mapping[str, Any]) -> Dict[str, Any]:
    """Keyword arguments -> {field: value}; here an invalid value is an error."""
    out: Dict[str, Any] = {}
    tls_values: Dict[str, Any] = {}
    for key, value in kwargs.items():
        lower = key.lower()
        if lower in _LEGACY or lower in _UNSUPPORTED_LEGACY:
            key, value = _translate_legacy(lower, value)
            lower = key.lower()
        if lower in _KEYS:
            field = _KEYS[lower]
        elif key in _KWARG_ONLY or key in URI_NAMES:
            field = key
        else:
            raise _unknown(key, value)
        if field in URI_BOOL_FIELDS:
            flag = _coerce_bool(value)
            if flag is None:
                raise ConfigurationError(
                    f"{URI_NAMES[field] if lower != 'ssl' else 'ssl'}: expected true or false",
                    option=key,
                )
            value = flag
            if field == "enabled":
                tls_values[lower] = value
        out[field] = value
    if len(set(tls_values.values())) > 1:
        raise ConfigurationError(
            "tls and ssl were given with different values", code="conflicting-options",
            option="tls",
        )
    return out


def parse_options(cls: Type[T], uri: Optional[str], kwargs: Mapping[str, Any]) -> T:
    """Implement ``TLSOptions.parse``: the URI's TLS options, overridden by ``kwargs``."""
    fields: Dict[str, Any] = {}
    srv = False
    if uri is not None:
        if not isinstance(uri, str):
            raise ConfigurationError(
                f"the connection string must be a str, not {type(uri).__name__}", option="uri",
                hint="Pass the URI as text (decode bytes first), or None.",
            )
        scheme, pairs = _split_uri(uri)
        srv = scheme.endswith("+srv")
        fields.update(_uri_values(pairs))
    fields.update(_kwarg_values(kwargs))
    if srv and fields.get("enabled") is None:
        # DNS seedlist discovery spec: "+srv" implies TLS unless tls/ssl is given.
        fields["enabled"] = True
    return cls(**fields)


def parse_txt_record(txt: str) -> Dict[str, str]:
    """Options of an SRV deployment's TXT record; TLS options are not allowed there.

    The DNS seedlist discovery specification allows only ``authSource``, ``replicaSet`` and
    ``loadBalanced`` in TXT records, and TLS must never be switched off by DNS.
    """
    out: Dict[str, str] = {}
    for item in txt.split("&"):
        if not item:
            continue
        key, _, value = item.partition("=")
        if _is_tls_key(key):
            raise ConfigurationError(
                f"TXT record may not set {key!r}: TLS options come only from the connection "
                "string",
                code="invalid-option",
                option=key,
            )
        out[key] = unquote_to_bytes(value).decode("utf-8", "replace")
    return out
