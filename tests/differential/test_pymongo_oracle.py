"""PyMongo as a connection-string oracle: the same TLS settings, or a listed difference.

Generated ``mongodb://`` URIs (host lists, userinfo with encoded and raw characters, TLS keys in
random case with valid, invalid, empty and repeated values, ``tls`` with ``ssl``, paths with
spaces and %-encoding, other driver options) go through ``TLSOptions.parse`` and through
PyMongo's own pipeline: ``parse_uri(validate=True, warn=True)`` and ``MongoClient(connect=False)``
(which builds the SSL context from real files). Both must reach the same effective settings, or
both refuse the URI, unless one of the deliberate differences in ``DELIBERATE`` explains it;
each of those has a test of its own below and a row in docs/howto/pymongo-differences.md.
No ``mongodb+srv`` URIs: they would need DNS.
"""

from __future__ import annotations

import dataclasses
import re
import ssl
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple
from urllib.parse import unquote_to_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tlsplug import ConfigurationError, TLSOptions
from tlsplug.testing import CA

pytest.importorskip("pymongo", reason="PyMongo (the connection-string oracle) is not installed")

from pymongo import MongoClient
from pymongo.uri_parser import parse_uri  # pymongo.synchronous.uri_parser since 4.9

# -- the two sides ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Effective:
    """What a client would do with the TLS options of one URI."""

    tls: bool
    verify_certificates: bool = False
    verify_hostname: bool = False
    ocsp_endpoint: bool = False
    crl_file: Optional[str] = None
    ca_file: Optional[str] = None
    certificate_key_file: Optional[str] = None
    password: Optional[str] = None


@dataclass(frozen=True)
class Outcome:
    """An accepted URI's settings, or the refusal (``settings`` None) with tlsplug's error."""

    settings: Optional[Effective]
    error: Optional[ConfigurationError] = None


def tlsplug_outcome(uri: str) -> Outcome:
    """``TLSOptions.parse``: anything but a ConfigurationError propagates and fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            options = TLSOptions.parse(uri)
        except ConfigurationError as exc:
            return Outcome(None, exc)
    if not options.enabled:  # mongodb:// without TLS options: the driver's default is off
        return Outcome(Effective(False))
    return Outcome(Effective(
        True,
        options.verify_certificates,
        options.verify_hostname,
        options.check_ocsp_endpoint,
        options.crl_file,
        options.ca_file,
        options.certificate_key_file,
        options.certificate_key_file_password,
    ))


def pymongo_outcome(uri: str) -> Outcome:
    """PyMongo's parser plus its client option validation, without connecting."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = parse_uri(uri, validate=True, warn=True)
            client: MongoClient[Dict[str, object]] = MongoClient(uri, connect=False)
        except Exception:  # InvalidURI, ConfigurationError, ValueError, FileNotFoundError, ...
            return Outcome(None)
    try:
        pool = client.options.pool_options
        ctx = pool._ssl_context
        if ctx is None:
            return Outcome(Effective(False))
        options = parsed["options"]
        verify = ctx.verify_mode != ssl.CERT_NONE
        return Outcome(Effective(
            True,
            verify,
            # PyMongo checks names only on a verified chain (ssl_support.get_ssl_context).
            verify and not pool.tls_allow_invalid_hostnames,
            verify and not options.get("tlsDisableOCSPEndpointCheck", False),
            options.get("tlsCRLFile"),
            options.get("tlsCAFile"),
            options.get("tlsCertificateKeyFile"),
            options.get("tlsCertificateKeyFilePassword"),
        ))
    finally:
        client.close()


# -- the deliberate differences ----------------------------------------------------------------

def _query(uri: str) -> str:
    return uri.partition("?")[2]


def _items(uri: str) -> List[str]:
    return [i for i in re.split("[&;]", _query(uri)) if i]


def _drop(uri: str, unwanted: Callable[[str], bool]) -> str:
    """``uri`` without the query items for which ``unwanted(item)`` holds."""
    head, mark, query = uri.partition("?")
    sep = ";" if ";" in query and "&" not in query else "&"
    return head + mark + sep.join(i for i in query.split(sep) if not unwanted(i))


def _key(item: str) -> str:
    return item.partition("=")[0].lower()


def _value(item: str) -> str:
    return item.partition("=")[2]


def _tls(item: str) -> bool:
    return _key(item).startswith(("tls", "ssl"))


def _undecodable(value: str) -> bool:
    if re.search(r"%(?![0-9A-Fa-f]{2})", value):
        return True
    try:
        unquote_to_bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


_KNOWN = {name.lower() for name in TLSOptions.uri_names.values()} | {"ssl"}
_FILE_KEYS = ("tlscafile", "tlscertificatekeyfile", "tlscrlfile")

Item = Callable[[str], bool]
Check = Callable[[str, Outcome, Outcome], bool]

# Differences that come from some query items: a disagreement is theirs only if it goes away
# once those items are removed. name -> (why tlsplug differs, the items concerned).
# docs/howto/pymongo-differences.md has the same rows with the side the specifications support.
ITEM_DIFFERENCES: Dict[str, Tuple[str, Item]] = {
    "revocation-key": (
        "tlsDisableCertificateRevocationCheck (URI-options spec) is implemented by tlsplug, "
        "conflicts included; PyMongo ignores it as unknown",
        lambda item: _key(item) == "tlsdisablecertificaterevocationcheck",
    ),
    "unknown-tls-key": (
        "an unknown tls*/ssl* key (a percent-encoded name included) is an error with a "
        "suggestion; PyMongo warns and ignores it",
        lambda item: _tls(item) and not _key(item).startswith("ssl_")
        and _key(item) not in _KNOWN,
    ),
    "legacy-names": (
        "PyMongo 3 names (ssl_ca_certs, ...) are translated with a DeprecationWarning; "
        "PyMongo 4 ignores them",
        lambda item: _key(item).startswith("ssl_"),
    ),
    "files-at-context": (
        "files are opened when a context is built (and re-read when they change); PyMongo "
        "refuses an unreadable file when the client is created",
        lambda item: _key(item) in _FILE_KEYS and (not _value(item) or "missing" in item),
    ),
    "crl-replaces-ocsp": (
        "tlsCRLFile turns OCSP off and is an error with options that disable the chain "
        "check; PyMongo keeps OCSP (and refuses a CRL on its PyOpenSSL context)",
        lambda item: _key(item) == "tlscrlfile",
    ),
    "plus-is-plus": (
        "'+' in a value is a plus sign (RFC 3986); PyMongo decodes it as a space",
        lambda item: _tls(item) and "+" in _value(item),
    ),
    "strict-percent": (
        "a malformed %-escape or non-UTF-8 bytes in a TLS value are an error; PyMongo keeps "
        "the text or substitutes U+FFFD",
        lambda item: _tls(item) and _undecodable(_value(item)),
    ),
    "value-with-equals": (
        "the value is everything after the first '=' (connection-string spec); PyMongo "
        "refuses an item with a second '='",
        lambda item: item.count("=") > 1,
    ),
    "lone-option-with-space": (
        "a value with a space is read whole; PyMongo splits a query of one option at "
        "whitespace (str.split(None)) and refuses it",
        lambda item: any(c.isspace() for c in item),
    ),
    "empty-string-value": (
        "an empty value is ignored with a warning for every TLS key; PyMongo keeps an empty "
        "password",
        lambda item: _tls(item) and not _value(item),
    ),
}

# Differences told by the outcomes themselves. name -> (why, when).
OUTCOME_DIFFERENCES: Dict[str, Tuple[str, Check]] = {
    "driver-structure": (
        "tlsplug reads TLS options only; the host list, userinfo, database and the values of "
        "other options are the driver's to validate",
        lambda uri, ours, theirs: ours.settings is not None
        and pymongo_outcome(_drop(uri, _tls)).settings is None,
    ),
    "unencoded-password": (
        "a raw '?' in the userinfo, an '@' after the first '/' or a non-numeric port mark an "
        "unencoded password: tlsplug refuses rather than guess where the options start",
        lambda uri, ours, theirs: ours.error is not None and ours.error.option == "uri"
        and "user name or password" in ours.error.message,
    ),
    "hostname-with-invalid-certificates": (
        "tlsAllowInvalidCertificates=true keeps the hostname check; PyMongo drops it",
        lambda uri, ours, theirs: ours.settings is not None and theirs.settings is not None
        and ours.settings.verify_hostname and not ours.settings.verify_certificates
        and ours.settings == _with(theirs.settings, verify_hostname=True),
    ),
}

DELIBERATE = {**{k: v[0] for k, v in ITEM_DIFFERENCES.items()},
              **{k: v[0] for k, v in OUTCOME_DIFFERENCES.items()}}


def _with(effective: Effective, verify_hostname: bool) -> Effective:
    return dataclasses.replace(effective, verify_hostname=verify_hostname)


def _by_outcome(uri: str, ours: Outcome, theirs: Outcome) -> List[str]:
    return [name for name, (_, applies) in OUTCOME_DIFFERENCES.items()
            if applies(uri, ours, theirs)]


def explain(uri: str, ours: Outcome, theirs: Outcome) -> List[str]:
    """The deliberate differences that account for a disagreement on ``uri`` (none: a bug).

    Item differences count only when removing their items makes the two sides agree (or
    leaves a disagreement the outcomes explain), so they cannot hide another difference.
    """
    direct = _by_outcome(uri, ours, theirs)
    if direct:
        return direct
    names = [name for name, (_, concerned) in ITEM_DIFFERENCES.items()
             if any(concerned(item) for item in _items(uri))]
    if not names:
        return []
    reduced = _drop(uri, lambda item: any(ITEM_DIFFERENCES[n][1](item) for n in names))
    ours2, theirs2 = tlsplug_outcome(reduced), pymongo_outcome(reduced)
    if agree(ours2, theirs2) or _by_outcome(reduced, ours2, theirs2):
        return names
    return []


def agree(ours: Outcome, theirs: Outcome) -> bool:
    """Same settings, or both refuse."""
    return ours.settings == theirs.settings


# -- the generator -----------------------------------------------------------------------------

DIR = "{dir}"  # replaced by the directory of the real files below

_KINDS = {"tlsCAFile": "ca", "tlsCertificateKeyFile": "client", "tlsCRLFile": "crl"}


def _file_values(kind: str) -> st.SearchStrategy[str]:
    return st.sampled_from([
        f"{DIR}/{kind}.pem",
        f"{DIR}%2F{kind}.pem",
        f"{DIR}/my {kind}.pem",          # a raw space
        f"{DIR}/my%20{kind}.pem",
        f"{DIR}/100%25{kind}.pem",       # a literal '%' in the name
        f"{DIR}/{kind}+x.pem",           # '+': a plus sign, or a space to PyMongo
        f"{DIR}/missing-{kind}.pem",
        "",
    ])


_BOOL_KEYS = ["tls", "ssl", "tlsInsecure", "tlsAllowInvalidCertificates",
              "tlsAllowInvalidHostnames", "tlsDisableOCSPEndpointCheck"]
_BOOL_VALUES = ["true", "false", "true", "false", "TRUE", "False", "1", "yes", "junk", "",
                "tr%75e"]
_OTHER = ["w=1", "w=majority", "replicaSet=rs0", "appName=my%20app", "appName=a+b",
          "retryWrites=true", "retryWrites=TRUE", "maxPoolSize=5", "maxPoolSize=x",
          "authSource=admin", "connectTimeoutMS=100", "foo%zz=1", "readPreference=secondary",
          "compressors=zlib", "journal=true"]
_OTHER_RARE = ["directConnection=true", "a=b=c", "=x"]
_RARE = ["tlsDisableCertificateRevocationCheck=true", "tlsDisableCertificateRevocationCheck=false",
         "tlsFoo=1", f"tls%43AFile={DIR}/ca.pem", f"ssl_ca_certs={DIR}/ca.pem",
         "tlsBackend=stdlib", "tlsProfile=modern", "tls", ""]
_TEXT = st.text(alphabet="abcXYZ019-._~!$'()*,:/?@%# &=;+é", min_size=1, max_size=8)


def _case(key: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(key), max_size=len(key)).map(
        lambda flips: "".join(c.swapcase() if f else c for c, f in zip(key, flips)))


def _encoded(text: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Mostly percent-encoded, sometimes raw (as users write passwords)."""
    from urllib.parse import quote

    return st.tuples(text, st.integers(0, 9)).map(
        lambda pair: pair[0] if pair[1] == 0 else quote(pair[0], safe=""))


_bool_item = st.tuples(st.sampled_from(_BOOL_KEYS).flatmap(_case),
                       st.sampled_from(_BOOL_VALUES)).map("=".join)
_file_item = st.sampled_from(sorted(_KINDS)).flatmap(
    lambda key: st.tuples(_case(key), _file_values(_KINDS[key])).map("=".join))
_password_item = st.tuples(
    _case("tlsCertificateKeyFilePassword"),
    st.one_of(_encoded(_TEXT), st.sampled_from(["%zz", "%ff", "a+b"])),
).map("=".join)
_item = st.one_of(_bool_item, _bool_item, _bool_item, _file_item, _password_item,
                  st.sampled_from(_OTHER), st.sampled_from(_RARE + _OTHER_RARE))

_userinfo = st.one_of(
    st.just(""),
    st.tuples(_encoded(_TEXT), _encoded(_TEXT)).map(lambda up: f"{up[0]}:{up[1]}@"),
)
_host = st.sampled_from(["localhost", "db.example.com:27017", "127.0.0.1:1", "[::1]:27017",
                         "%2Ftmp%2Fm.sock"])
_path = st.sampled_from(["", "/", "/admin", "/adm%69n", "/a.b"])
# What PyMongo refuses outside TLS, one in ten URIs: only "driver-structure" is about them.
_FAULTS = ["h:0", "h:x", "", "/my db", "/d%20b", "/x%2Fy", "user@", "a:b:c@", "u%zz:p@"]


@st.composite
def uris(draw: st.DrawFn) -> str:
    """A ``mongodb://`` URI with ``{dir}`` where the real files' directory goes."""
    userinfo = draw(_userinfo)
    host_list = draw(st.lists(_host, min_size=1, max_size=2))
    path = draw(_path)
    if draw(st.integers(0, 9)) == 0:
        fault = draw(st.sampled_from(_FAULTS))
        if fault.startswith("/"):
            path = fault
        elif fault.endswith("@"):
            userinfo = fault
        else:
            host_list.append(fault)
    hosts = ",".join(host_list)
    items = draw(st.lists(_item, max_size=6))
    separators = draw(st.lists(st.sampled_from("&&&&&&&&;;&;"[: 8 + draw(st.integers(0, 4))]),
                               min_size=len(items), max_size=len(items)))
    query = "".join(sep + item for sep, item in zip(separators, items))[1:]
    with_mark: bool = bool(items) or draw(st.booleans())
    mark = "?" if with_mark else ""
    return f"mongodb://{userinfo}{hosts}{path}{mark}{query}"


# -- fixtures and the properties ---------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory of real PEM files under the names the generator uses (not the missing ones).

    The system store is pointed at the test CA meanwhile: PyMongo loads it for every client
    without tlsCAFile, and reading the real one made that two thirds of the test's time.
    """
    root = tmp_path_factory.mktemp("oracle")
    ca = CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1").write(root, basename="leaf")
    assert leaf.combined_file is not None
    contents = {"ca": ca.cert_pem, "client": leaf.combined_file.read_bytes(), "crl": ca.crl()}
    for kind, data in contents.items():
        for name in (f"{kind}.pem", f"my {kind}.pem", f"100%{kind}.pem", f"{kind}+x.pem"):
            (root / name).write_bytes(data)
    (root / "no-certs").mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SSL_CERT_FILE", str(root / "ca.pem"))
        patch.setenv("SSL_CERT_DIR", str(root / "no-certs"))
        yield root


def render(template: str, root: Path) -> str:
    """The URI with the real directory in place of ``{dir}``."""
    return template.replace(DIR, str(root))


SCALE = 6  # dev: 300 examples, ci: 3000 (tlsplug.testing.hypothesis_profiles)


@settings(max_examples=settings().max_examples * SCALE,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(template=uris())
def test_tlsplug_reaches_pymongos_settings_or_a_listed_difference(files: Path,
                                                                   template: str) -> None:
    """Same TLS settings or the same refusal as PyMongo, except for a deliberate difference."""
    uri = render(template, files)
    ours = tlsplug_outcome(uri)
    theirs = pymongo_outcome(uri)
    if agree(ours, theirs):
        return
    assert explain(uri, ours, theirs), (
        f"undocumented difference for {uri!r}:\n  tlsplug {ours}\n  PyMongo {theirs}")


# -- each deliberate difference, shown on its own --------------------------------------------


def _both(uri: str, root: Path) -> Tuple[Outcome, Outcome]:
    uri = render(uri, root)
    return tlsplug_outcome(uri), pymongo_outcome(uri)


def test_every_deliberate_difference_has_a_test_and_a_docs_row() -> None:
    """Each DELIBERATE entry is shown by a test here and listed in the how-to page."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "howto"
            / "pymongo-differences.md").read_text(encoding="utf-8")
    marker = "# -- each deliberate " + "difference"  # split so this line does not match
    tests = Path(__file__).read_text(encoding="utf-8").split(marker, 1)[1]
    for name in DELIBERATE:
        assert f"`{name}`" in page, name
        assert f'"{name}" in explain(' in tests or f'["{name}"]' in tests, name


def test_driver_structure(files: Path) -> None:
    """A port PyMongo refuses is the driver's business: tlsplug still reads the TLS options."""
    ours, theirs = _both("mongodb://h:0/?tls=true", files)
    assert ours.settings is not None
    assert ours.settings.tls
    assert theirs.settings is None
    assert explain(render("mongodb://h:0/?tls=true", files), ours, theirs) == ["driver-structure"]


@pytest.mark.parametrize("uri", [
    "mongodb://u:1/a@h?tls=true",                   # PyMongo: host u:1, database a@h
    "mongodb://h?x=@y/",                            # PyMongo: x is '@y/'
])
def test_unencoded_password(files: Path, uri: str) -> None:
    """Marks of a raw '/' or '?' in a password are refused, where PyMongo reads on."""
    ours, theirs = _both(uri, files)
    assert ours.error is not None
    assert ours.error.option == "uri"
    assert theirs.settings is not None
    assert "unencoded-password" in explain(render(uri, files), ours, theirs)


def test_revocation_key(files: Path) -> None:
    """tlsDisableCertificateRevocationCheck turns OCSP off in tlsplug; PyMongo ignores it."""
    ours, theirs = _both("mongodb://h/?tls=true&tlsDisableCertificateRevocationCheck=true", files)
    assert ours.settings is not None
    assert not ours.settings.ocsp_endpoint
    assert theirs.settings is not None
    assert theirs.settings.ocsp_endpoint
    assert "revocation-key" in explain(
        "mongodb://h/?tls=true&tlsDisableCertificateRevocationCheck=true", ours, theirs)


def test_unknown_tls_key(files: Path) -> None:
    """A percent-encoded name is not decoded: an unknown tls key, refused with a suggestion."""
    ours, theirs = _both(f"mongodb://h/?tls%43AFile={DIR}/ca.pem", files)
    assert ours.error is not None
    assert ours.error.code == "unknown-option"
    assert "did you mean tlsCAFile?" in ours.error.message
    assert theirs.settings == Effective(False)
    assert "unknown-tls-key" in explain(render(f"mongodb://h/?tls%43AFile={DIR}/ca.pem", files),
                                        ours, theirs)


def test_legacy_names(files: Path) -> None:
    """ssl_ca_certs is translated to tlsCAFile; PyMongo 4 ignores it."""
    uri = f"mongodb://h/?ssl_ca_certs={DIR}/ca.pem"
    ours, theirs = _both(uri, files)
    assert ours.settings is not None
    assert ours.settings.ca_file == str(files / "ca.pem")
    assert theirs.settings == Effective(False)
    assert "legacy-names" in explain(render(uri, files), ours, theirs)


def test_files_at_context(files: Path) -> None:
    """A missing CA file is kept (the context build reports it); PyMongo drops the option."""
    uri = f"mongodb://h/?tlsCAFile={DIR}/missing-ca.pem"
    ours, theirs = _both(uri, files)
    assert ours.settings is not None
    assert ours.settings.ca_file == str(files / "missing-ca.pem")
    assert theirs.settings is None  # PyMongo: "The tlscafile file is not readable"
    assert "files-at-context" in explain(render(uri, files), ours, theirs)


def test_crl_replaces_ocsp(files: Path) -> None:
    """With tlsCRLFile tlsplug asks no OCSP responder; PyMongo keeps OCSP (or refuses)."""
    uri = f"mongodb://h/?tlsCRLFile={DIR}/crl.pem"
    ours, theirs = _both(uri, files)
    assert ours.settings is not None
    assert not ours.settings.ocsp_endpoint
    assert theirs.settings is None or theirs.settings.ocsp_endpoint
    assert "crl-replaces-ocsp" in explain(render(uri, files), ours, theirs)


def test_hostname_with_invalid_certificates(files: Path) -> None:
    """tlsAllowInvalidCertificates=true leaves the hostname check on in tlsplug only."""
    uri = "mongodb://h/?tls=true&tlsAllowInvalidCertificates=true"
    ours, theirs = _both(uri, files)
    assert ours.settings is not None
    assert ours.settings.verify_hostname
    assert theirs.settings is not None
    assert not theirs.settings.verify_hostname
    assert explain(render(uri, files), ours, theirs) == ["hostname-with-invalid-certificates"]


def test_plus_is_plus(files: Path) -> None:
    """'+' stays a plus sign in tlsplug; PyMongo looks for a file with a space."""
    uri = "mongodb://h/?tls=true&tlsCertificateKeyFilePassword=a+b"
    ours, theirs = _both(uri, files)
    assert ours.settings is not None
    assert ours.settings.password == "a+b"
    assert theirs.settings is not None
    assert theirs.settings.password == "a b"
    assert "plus-is-plus" in explain(render(uri, files), ours, theirs)


def test_strict_percent(files: Path) -> None:
    """A malformed escape in a TLS value is an error; PyMongo keeps the text."""
    uri = "mongodb://h/?tls=true&tlsCertificateKeyFilePassword=%zz"
    ours, theirs = _both(uri, files)
    assert ours.error is not None
    assert ours.error.option == "tlsCertificateKeyFilePassword"
    assert theirs.settings is not None
    assert theirs.settings.password == "%zz"
    assert "strict-percent" in explain(render(uri, files), ours, theirs)


def test_value_with_equals(files: Path) -> None:
    """A base64 password ending in '=' is read whole; PyMongo refuses the URI."""
    uri = "mongodb://h/?tls=true&tlsCertificateKeyFilePassword=YWJj="
    ours, theirs = _both(uri, files)
    assert ours.settings is not None
    assert ours.settings.password == "YWJj="
    assert theirs.settings is None
    assert "value-with-equals" in explain(render(uri, files), ours, theirs)


def test_lone_option_with_space(files: Path) -> None:
    """A lone option whose value holds a space is read whole; PyMongo splits and refuses it."""
    uri = f"mongodb://h/?tlsCAFile={DIR}/my ca.pem"
    ours, theirs = _both(uri, files)
    assert ours.settings is not None
    assert ours.settings.ca_file == str(files / "my ca.pem")
    assert theirs.settings is None
    assert "lone-option-with-space" in explain(render(uri, files), ours, theirs)
    both = f"mongodb://h/?tls=true&tlsCAFile={DIR}/my ca.pem"
    assert agree(*_both(both, files))  # with two options PyMongo reads the space


def test_empty_string_value(files: Path) -> None:
    """An empty password is ignored with a warning; PyMongo keeps ''."""
    uri = "mongodb://h/?tls=true&tlsCertificateKeyFilePassword="
    ours, theirs = _both(uri, files)
    assert ours.settings is not None
    assert ours.settings.password is None
    assert theirs.settings is not None
    assert theirs.settings.password == ""
    assert "empty-string-value" in explain(render(uri, files), ours, theirs)


# -- what issue 22 fixed, checked against PyMongo --------------------------------------------


@pytest.mark.parametrize("uri", [
    "mongodb://h/?tls=TRUE",                                        # booleans exactly
    "mongodb://h/?tlsInsecure=junk&tlsAllowInvalidHostnames=true",  # invalid is still present
    "mongodb://h/?tls=junk&ssl=true",
    "mongodb://h/?tls",                                             # incomplete pair
    "mongodb://h/?tlsCertificateKeyFilePassword=a;b&w=1",           # mixed separators
    "mongodb://h/?foo%zz=1",                                        # the driver's key
    "mongodb://h/?tls=true&tls=junk",                               # the last one decides
    "mongodb://h/?tls=true&tls=false",
    "mongodb://user:pa?tlsInsecure=true&x=@db/?tls=true",           # not from the userinfo
    "mongodb://u:p?ss@h/?tls=true",
    "mongodb://localhost?tls=true",                                 # no slash: valid
])
def test_fixed_examples_agree_with_pymongo(files: Path, uri: str) -> None:
    """Each example of issue 22 now reaches PyMongo's outcome."""
    ours, theirs = _both(uri, files)
    assert ours.settings == theirs.settings
