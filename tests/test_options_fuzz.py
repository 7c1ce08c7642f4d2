"""Property tests: parsing returns TLSOptions or raises ConfigurationError, and round-trips."""

from __future__ import annotations

import warnings
from typing import Any, Callable, Dict, List
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tlsplug import ConfigurationError, TLSOptions

BOOL_KEYS = ["tls", "ssl", "tlsInsecure", "tlsAllowInvalidCertificates",
             "tlsAllowInvalidHostnames", "tlsDisableOCSPEndpointCheck",
             "tlsDisableCertificateRevocationCheck"]
STR_KEYS = ["tlsCAFile", "tlsCertificateKeyFile", "tlsCertificateKeyFilePassword",
            "tlsCRLFile", "tlsBackend"]
ALL_KEYS = [*BOOL_KEYS, *STR_KEYS, "tlsProfile"]


def odd_case(key: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(key), max_size=len(key)).map(
        lambda flips: "".join(c.upper() if f else c.lower() for c, f in zip(key, flips)))


keys = st.one_of(
    st.sampled_from(ALL_KEYS).flatmap(odd_case),
    st.sampled_from(["replicaSet", "w", "authSource", "tlsFoo", "sslBar", "ssl_ca_certs"]),
    st.text(min_size=0, max_size=12),
)
raw_values = st.one_of(
    st.sampled_from(["true", "false", "TRUE", "yes", "", "modern", "legacy", "stdlib"]),
    st.text(max_size=20),
    st.binary(max_size=10).map(lambda b: "".join(f"%{x:02x}" for x in b)),  # non-UTF-8
    st.sampled_from(["%", "%z", "%zz", "%e2%82"]),  # broken percent-encoding
    st.just("x" * 5000),  # huge
)
uris = st.builds(
    lambda scheme, pairs, sep: f"{scheme}://user:pw@host1,host2:27017/db{sep}"
    + "&".join(f"{k}={v}" for k, v in pairs),
    st.sampled_from(["mongodb", "mongodb+srv", "postgresql", "rediss", "amqps"]),
    st.lists(st.tuples(keys, raw_values), max_size=6),
    st.sampled_from(["?", "/?"]),
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(uris)
def test_any_uri_parses_or_raises_configuration_error(uri: str) -> None:
    """Whatever the URI, parse returns TLSOptions or raises ConfigurationError only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            options = TLSOptions.parse(uri)
        except ConfigurationError:
            return
    assert isinstance(options, TLSOptions)
    assert TLSOptions.parse(None, **options.to_uri_options()) == options


kw_values = st.one_of(st.booleans(), st.none(), st.integers(), st.text(max_size=10),
                      st.sampled_from(["true", "false", "legacy", "stdlib"]))


@settings()
@given(st.dictionaries(st.sampled_from(ALL_KEYS).flatmap(odd_case) | st.text(max_size=8),
                       kw_values, max_size=5))
def test_any_keywords_parse_or_raise_configuration_error(kwargs: Dict[str, Any]) -> None:
    """Whatever the keyword arguments, parse returns TLSOptions or raises ConfigurationError."""
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            options = TLSOptions.parse(None, **kwargs)
        except ConfigurationError:
            return
    assert TLSOptions.parse(None, **options.to_uri_options()) == options


_path_text = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
    min_size=1,
    max_size=15,
)
valid_pairs: st.SearchStrategy[Dict[str, str]] = st.builds(
    lambda bools, strings: {**bools, **strings},
    st.dictionaries(st.sampled_from(BOOL_KEYS), st.sampled_from(["true", "false"]), max_size=4),
    st.dictionaries(st.sampled_from(STR_KEYS), _path_text, max_size=3),
)


@settings()
@given(valid_pairs)
def test_uri_and_keywords_agree(pairs: Dict[str, str]) -> None:
    """The same options given in a URI (percent-encoded) or as keywords parse alike."""
    uri = "mongodb://h/?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in pairs.items())
    outcomes: List[object] = []
    makers: List[Callable[[], TLSOptions]] = [
        lambda: TLSOptions.parse(uri),
        lambda: TLSOptions.parse(None, **pairs),
    ]
    for make in makers:
        try:
            outcomes.append(make())
        except ConfigurationError as exc:
            outcomes.append(exc.code)
    assert outcomes[0] == outcomes[1]
