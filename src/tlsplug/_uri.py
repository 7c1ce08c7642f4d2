"""Connection strings and keyword arguments to ``TLSOptions`` (MongoDB URI-options rules)."""

from __future__ import annotations

import difflib
import re
import warnings
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Tuple, Type, TypeVar
from urllib.parse import unquote_to_bytes

from ._errors import ConfigurationError, OptionWarning
from ._optionspec import PROFILES, TRUST_STORES, URI_BOOL_FIELDS, URI_NAMES, conflict_error

__all__ = ["URIParts", "parse_options", "parse_txt_record", "split_uri"]

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


def _decode_or_none(raw: str) -> Optional[str]:
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return None


class URIParts(NamedTuple):
    """Where a connection string's parts are: scheme, userinfo, host list and query."""

    scheme: str
    userinfo: Optional[str]
    hosts: str
    query: str


def _structure_error(message: str) -> ConfigurationError:
    # Never quote the URI: whatever is misplaced may be password text.
    return ConfigurationError(
        message, code="invalid-option", option="uri",
        hint="Percent-encode the user name and password (urllib.parse.quote(s, safe='')) "
             "and write the options as ?key=value&key=value after the host list.",
    )


_PORT = re.compile(r"[0-9]+")


def _check_host_list(hosts: str) -> None:
    """Refuse a host list whose ports are not digits.

    The driver validates hosts; tlsplug looks only for the mark of a raw ``/`` or ``?`` in
    a password (``user:pa/ss@host`` leaves the host list ``user:pa``), which would move the
    place where the options begin (docs/howto/pymongo-differences.md).
    """
    for entry in hosts.split(","):
        if entry.startswith("["):
            _, close, after = entry.partition("]")
            port = after[1:] if after.startswith(":") else None
            bad = not close or (after and port is None)
        elif ":" in entry:
            port = entry.split(":", 1)[1]
            bad = False
        else:
            continue
        if bad or (port is not None and not _PORT.fullmatch(port)):
            raise _structure_error(
                "the host list has an invalid port: a ':', '/' or '?' in the user name or "
                "password must be percent-encoded (%3A, %2F, %3F)"
            )


def split_uri(uri: str) -> URIParts:
    """Split ``scheme://[userinfo@]hosts[/[db]][?query]`` the way the specification does.

    The connection-string specification (Reference Implementation) splits at the first
    ``/``, then at the last ``@`` before it, then at the first ``?`` after it; the slash
    before the options is optional since its 2023-08-02 revision (``mongodb://h?tls=true``).
    Options are therefore never read from inside the userinfo: a raw ``?`` there, an ``@``
    after the first ``/`` or a non-numeric port (the marks of an unencoded password) make
    the URI invalid instead of moving where the options start.
    """
    scheme, sep, rest = uri.partition("://")
    if not sep or not scheme:
        raise ConfigurationError(
            "not a connection string: expected scheme://hosts[/db][?options]", option="uri",
            hint="Pass a URI such as 'mongodb://db.example.com/?tls=true', or None and the "
            "options as keyword arguments.",
        )
    slash = rest.find("/")
    head = rest if slash < 0 else rest[:slash]
    at = head.rfind("@")
    userinfo = head[:at] if at >= 0 else None
    hosts = head[at + 1:]
    if userinfo is not None and "?" in userinfo:
        raise _structure_error(
            "a '?' in the user name or password must be percent-encoded (%3F): the options "
            "start only after the host list"
        )
    mark = hosts.find("?")
    if mark >= 0:
        query = rest[at + 1 + mark + 1:]
        hosts = hosts[:mark]
    elif slash >= 0:
        database, _, query = rest[slash + 1:].partition("?")
        if "@" in database:
            raise _structure_error(
                "an '@' after the host list: a '/' in the user name or password must be "
                "percent-encoded (%2F)"
            )
    else:
        query = ""
    _check_host_list(hosts)
    return URIParts(scheme.lower(), userinfo, hosts, query)


def _split_query(query: str) -> List[Tuple[str, str]]:
    """``[(raw key, raw value)]`` of a query; the spec's key/value rules, no decoding yet."""
    if not query:
        return []
    if "&" in query and ";" in query:
        # Connection-string spec: ';' MAY be supported "for legacy reasons", never mixed;
        # mixing would split a value such as a password in two (PyMongo refuses it too).
        raise _structure_error("the options mix '&' and ';' as separators; use '&' only")
    pairs: List[Tuple[str, str]] = []
    for number, item in enumerate(query.split(";" if ";" in query else "&"), 1):
        key, eq, value = item.partition("=")
        if not eq:
            # "Incomplete key value pair" (connection-string spec tests): invalid. The item
            # is not quoted, it may be the tail of a password that held a raw '&'.
            raise _structure_error(
                f"option {number} of the connection string is not a key=value pair"
            )
        pairs.append((key, value))  # the key is everything up to the first '='
    return pairs


def _coerce_bool(value: Any) -> Optional[bool]:
    if isinstance(value, bool):
        return value
    # URI-options spec: booleans are "true" or "false"; other spellings (TRUE, 1, yes) are
    # invalid values, as in PyMongo.
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
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
    """Connection-string pairs -> {field: value}.

    The URI-options rules (docs/design.md, docs/howto/pymongo-differences.md): option names
    are matched case-insensitively and never percent-decoded (values are); a repeated key
    warns and its last occurrence decides; an invalid value warns and leaves the option
    unset, yet the key still counts as *present* for the conflict rules; ``tls`` and ``ssl``
    must carry the same value; a PyMongo 3 name gives way to its new name.
    """
    last: Dict[str, Tuple[str, Any]] = {}  # lower-cased key -> (key as written, value)
    for raw_key, raw_value in pairs:
        if not _is_tls_key(raw_key):
            continue  # the driver's own options: not ours to judge, nor to decode
        lower = raw_key.lower()
        if lower not in _KEYS and lower not in _LEGACY and lower not in _UNSUPPORTED_LEGACY:
            # The value only picks the hint of a libpq sslmode (never echoed otherwise).
            raise _unknown(raw_key, _decode_or_none(raw_value))
        value = _decode(raw_value, raw_key)
        if lower in last:
            # Connection-string spec, "Repeated Keys": a warning SHOULD be raised.
            warnings.warn(f"{raw_key} given more than once; the last value wins",
                          OptionWarning, stacklevel=4)
        last[lower] = (raw_key, value)
    # Deprecated names (PyMongo 3) are translated; the new name wins when both are given.
    resolved: Dict[str, Tuple[str, Any]] = {}
    for lower, (key, value) in last.items():
        if lower in _LEGACY or lower in _UNSUPPORTED_LEGACY:
            new, value = _translate_legacy(lower, value)
            if new.lower() in last:
                warnings.warn(f"{key} ignored: {new} is given as well", OptionWarning,
                              stacklevel=4)
                continue
            key, lower = new, new.lower()
        resolved[lower] = (key, value)
    tls, ssl = resolved.get("tls"), resolved.get("ssl")
    if tls is not None and ssl is not None and tls[1] != ssl[1]:
        # URI-options spec: tls and ssl with different values are an error, whatever the
        # values are (tls=junk&ssl=true included).
        raise ConfigurationError("tls and ssl were given with different values",
                                 code="conflicting-options", option="tls")
    present: Dict[str, str] = {}
    out: Dict[str, Any] = {}
    for lower, (key, value) in resolved.items():
        field = _KEYS[lower]
        present[field] = key
        valid = _uri_value(field, key, value)
        if valid is not None:
            out[field] = valid
    # "Present, whatever their values": an invalid value is ignored, not absent.
    conflict = conflict_error(present)
    if conflict is not None:
        raise conflict
    return out


_WORD = re.compile(r"[A-Za-z]{0,6}|-?[0-9]{1,2}")


def _shown(value: Any) -> str:
    """A rejected value as a warning may quote it: a short word or number only.

    Anything longer may be the tail of a password written with a raw '&' (``...Password=
    ab&tls=<rest>``), which no parser can tell from an option.
    """
    if isinstance(value, str) and _WORD.fullmatch(value):
        return repr(value)
    return "(not shown)"


def _uri_value(field: str, key: str, value: Any) -> Any:
    """The value of one URI option, or None (with an OptionWarning) when it is invalid."""
    if field in URI_BOOL_FIELDS:
        flag = _coerce_bool(value)
        if flag is None:
            warnings.warn(
                f"{key}: invalid value {_shown(value)} (expected true or false); ignored",
                OptionWarning,
                stacklevel=5,
            )
        return flag
    if field == "profile" and str(value).lower() not in PROFILES:
        warnings.warn(f"{key}: unknown profile {_shown(value)}; ignored", OptionWarning,
                      stacklevel=5)
        return None
    if field == "trust_store" and str(value).lower() not in TRUST_STORES:
        warnings.warn(f"{key}: unknown trust store {_shown(value)}; ignored", OptionWarning,
                      stacklevel=5)
        return None
    if not isinstance(value, str) or not value:
        warnings.warn(f"{key}: empty value; ignored", OptionWarning, stacklevel=5)
        return None
    return value


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
        parts = split_uri(uri)
        srv = parts.scheme.endswith("+srv")
        fields.update(_uri_values(_split_query(parts.query)))
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
