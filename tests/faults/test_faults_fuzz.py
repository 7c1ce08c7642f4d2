"""Fuzzing the option parser: any URI and keywords give TLSOptions or a ConfigurationError.

Under ``HYPOTHESIS_PROFILE=deep`` the test runs 100,000 examples; otherwise the loaded
profile's count (dev: 50, ci: 500)::

    HYPOTHESIS_PROFILE=deep pytest tests/faults/test_faults_fuzz.py --hypothesis-show-statistics
"""

from __future__ import annotations

import datetime
import os
import warnings
from typing import Any, Dict, Optional
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tlsplug import ConfigurationError, TLSOptions

DEEP = os.environ.get("HYPOTHESIS_PROFILE") == "deep"
SECRET = "fuzz-S3cret-pw"
# Parsing never touches files or backends: only these codes can come out of it.
PARSE_CODES = ("invalid-option", "conflicting-options", "unknown-option", "unsupported-option")

KEYS = [
    "tls", "ssl", "tlsInsecure", "tlsAllowInvalidCertificates", "tlsAllowInvalidHostnames",
    "tlsDisableOCSPEndpointCheck", "tlsDisableCertificateRevocationCheck", "tlsCAFile",
    "tlsCertificateKeyFile", "tlsCertificateKeyFilePassword", "tlsCRLFile", "tlsBackend",
    "tlsProfile", "ssl_ca_certs", "ssl_certfile", "ssl_pem_passphrase", "ssl_crlfile",
    "ssl_cert_reqs", "ssl_match_hostname", "ssl_keyfile", "replicaSet", "authSource",
]


def _case_mangled(key: str) -> st.SearchStrategy[str]:
    flips = st.lists(st.booleans(), min_size=len(key), max_size=len(key))
    return flips.map(lambda f: "".join(c.upper() if u else c.lower() for c, u in zip(key, f)))


keys = st.one_of(
    st.sampled_from(KEYS).flatmap(_case_mangled),
    st.text(max_size=16),
    st.sampled_from(KEYS).map(lambda k: k + "x"),
    st.sampled_from(KEYS).map(lambda k: k[:-1]),
)
values = st.one_of(
    st.sampled_from(["true", "false", "True", "1", "0", "", "modern", "legacy", "auto",
                     "stdlib", "pyopenssl", "CERT_NONE", "CERT_REQUIRED", "none"]),
    st.text(max_size=24),
    st.binary(max_size=12).map(lambda b: "".join(f"%{x:02x}" for x in b)),
    st.sampled_from(["%", "%z", "%zz", "%e2%82", "%00", "a%00b", "+", "&&", "==", "?", "#"]),
    st.integers(min_value=1, max_value=6).map(lambda n: "x" * (10 ** n)),
)
# The password appears only as the value of a password key, so any other sight of it is a leak.
PASSWORD_KEYS = ["tlsCertificateKeyFilePassword", "ssl_pem_passphrase"]
password_pairs = st.tuples(
    st.sampled_from(PASSWORD_KEYS).flatmap(_case_mangled),
    st.sampled_from([SECRET, quote(SECRET), quote(SECRET, safe="")]),
)
query = st.lists(st.one_of(st.tuples(keys, values), password_pairs), max_size=8).map(
    lambda pairs: "&".join(f"{k}={v}" for k, v in pairs)
)
uris = st.one_of(
    st.builds(
        lambda scheme, auth, hosts, path, q: f"{scheme}://{auth}{hosts}{path}{q}",
        st.sampled_from(["mongodb", "mongodb+srv", "MONGODB", "postgresql", "rediss", "x",
                         ""]),
        st.sampled_from(["", "user:pw@", "@", "a@b@"]),
        st.sampled_from(["h", "h1,h2:27017", "[::1]:1", "", "h:99999", "%2Ftmp%2Fm.sock"]),
        st.sampled_from(["", "/", "/db", "/db/extra"]),
        query.map(lambda q: "?" + q) | query.map(lambda q: "/?" + q) | st.just(""),
    ),
    st.text(max_size=64),  # anything at all
    st.none(),
)
kw_values: st.SearchStrategy[Any] = st.one_of(
    st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=12),
    st.binary(max_size=4), st.sampled_from(["true", "false", "legacy", "stdlib"]),
    st.lists(st.booleans(), max_size=2),
)
kwargs = st.tuples(
    st.dictionaries(st.sampled_from(KEYS).flatmap(_case_mangled) | st.text(max_size=8),
                    kw_values, max_size=5),
    st.dictionaries(st.sampled_from(PASSWORD_KEYS).flatmap(_case_mangled),
                    st.just(SECRET), max_size=1),
).map(lambda both: {**both[0], **both[1]})

fuzz_settings = settings(
    deadline=datetime.timedelta(seconds=10),  # a hang guard, far above any healthy parse
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
    max_examples=100_000 if DEEP else settings().max_examples,
)


@fuzz_settings
@given(uris, kwargs)
def test_parser_never_crashes(uri: Optional[str], extra: Dict[str, Any]) -> None:
    """parse() returns TLSOptions that round-trip, or raises ConfigurationError, never else."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            options = TLSOptions.parse(uri, **extra)
        except ConfigurationError as exc:
            error: Optional[ConfigurationError] = exc
        else:
            error = None
    if error is not None:
        assert error.code in PARSE_CODES, error
        assert SECRET not in str(error)
        assert SECRET not in repr(error)
        return
    assert isinstance(options, TLSOptions)
    assert SECRET not in repr(options)
    assert SECRET not in str(options)
    again = _reparse(options)
    assert again == options, (options, again)


def _reparse(options: TLSOptions) -> TLSOptions:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TLSOptions.parse(None, **options.to_uri_options())


