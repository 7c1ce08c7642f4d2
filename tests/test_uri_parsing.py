"""Where a connection string's TLS options are and how they are read (issues 16 and 22)."""

from __future__ import annotations

import warnings
from typing import List, Tuple

import pytest

from tlsplug import ConfigurationError, OptionWarning, TLSOptions


def parse(uri: str) -> Tuple[TLSOptions, List[str]]:
    """Parse ``uri`` and return the options with the OptionWarning texts."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        options = TLSOptions.parse(uri)
    return options, [str(w.message) for w in caught if issubclass(w.category, OptionWarning)]


def refused(uri: str) -> ConfigurationError:
    """The ConfigurationError that parsing ``uri`` raises."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ConfigurationError) as info:
            TLSOptions.parse(uri)
    return info.value


@pytest.mark.parametrize("value", ["TRUE", "True", "FALSE", "1", "yes", "t", ""])
def test_booleans_are_true_or_false_exactly(value: str) -> None:
    """Another spelling of a boolean warns and is ignored, as an invalid value."""
    options, caught = parse(f"mongodb://h/?tls={value}&tlsAllowInvalidHostnames={value}")
    assert options.enabled is None
    assert options.allow_invalid_hostnames is None
    assert len(caught) == 2


def test_keyword_booleans_are_exact_too() -> None:
    """A string boolean other than 'true'/'false' is an error as a keyword argument."""
    with pytest.raises(ConfigurationError):
        TLSOptions.parse(None, tls="TRUE")
    assert TLSOptions.parse(None, tls="true").enabled is True


@pytest.mark.parametrize("uri", [
    "mongodb://h/?tlsInsecure=junk&tlsAllowInvalidHostnames=true",
    "mongodb://h/?tlsInsecure=&tlsAllowInvalidCertificates=false",
    "mongodb://h/?tlsAllowInvalidCertificates=TRUE&tlsDisableOCSPEndpointCheck=true",
    "mongodb://h/?tlsDisableOCSPEndpointCheck=1&tlsDisableCertificateRevocationCheck=no",
    "mongodb://h/?tls=junk&ssl=true",
    "mongodb://h/?tls=TRUE&ssl=true",
    "mongodb://h/?ssl=&tls=false",
])
def test_an_invalid_value_is_still_present_for_the_conflict_rules(uri: str) -> None:
    """Conflicts apply to keys present whatever their values, invalid ones included."""
    assert refused(uri).code == "conflicting-options"


def test_tls_and_ssl_both_invalid_alike_are_no_conflict() -> None:
    """The same invalid value for tls and ssl is no conflict; both are ignored."""
    options, caught = parse("mongodb://h/?tls=junk&ssl=junk")
    assert options.enabled is None
    assert len(caught) == 2


@pytest.mark.parametrize("query", ["tls", "tls=true&tlsCAFile", "tls=true&", "&tls=true",
                                   "tls=true&&w=1"])
def test_an_item_without_equals_makes_the_uri_invalid(query: str) -> None:
    """The spec's "Incomplete key value pair": the URI is invalid, the item is not quoted."""
    err = refused(f"mongodb://h/?{query}")
    assert err.option == "uri"
    assert "key=value" in err.message


def test_mixed_separators_are_refused() -> None:
    """'&' and ';' together could split a password: refused, without quoting it."""
    err = refused("mongodb://h/?tlsCertificateKeyFilePassword=a;b&w=1")
    assert "mix" in err.message
    assert "a;b" not in str(err)
    options, _ = parse("mongodb://h/?tls=true;tlsAllowInvalidHostnames=true")
    assert options.enabled
    assert options.allow_invalid_hostnames


def test_option_names_are_not_percent_decoded() -> None:
    """tls%43AFile is not tlsCAFile: an unknown TLS key, refused with a suggestion."""
    err = refused("mongodb://h/?tls%43AFile=ca.pem")
    assert err.code == "unknown-option"
    assert "did you mean tlsCAFile?" in err.message
    assert refused("mongodb://h/?tlsCertificateKeyFile%50assword=hunter2").code == (
        "unknown-option")


@pytest.mark.parametrize("key", ["foo%zz", "%74ls", "w%", "appName%C3"])
def test_a_key_the_driver_owns_is_never_an_error(key: str) -> None:
    """Non-TLS keys are the driver's, whatever their encoding; %74ls is not tls."""
    options, caught = parse(f"mongodb://h/?{key}=1&tls=true")
    assert options.enabled is True
    assert caught == []


def test_values_are_percent_decoded() -> None:
    """Values are decoded: tr%75e is true, %2F a slash."""
    options, _ = parse("mongodb://h/?tls=tr%75e&tlsCAFile=%2Fetc%2Fca.pem")
    assert options.enabled is True
    assert options.ca_file == "/etc/ca.pem"


@pytest.mark.parametrize(("uri", "enabled"), [
    ("mongodb://h/?tls=true&tls=junk", None),
    ("mongodb://h/?tls=true&tls=false", False),
    ("mongodb://h/?tls=false&TLS=true", True),
    ("mongodb://h/?ssl=true&ssl=false", False),
    ("mongodb://h/?tls=junk&tls=true", True),
])
def test_a_repeated_key_warns_and_its_last_occurrence_decides(uri: str,
                                                             enabled: object) -> None:
    """The last occurrence decides, an invalid one meaning unset; tls/ssl repeats warn too."""
    options, caught = parse(uri)
    assert options.enabled is enabled
    assert any("more than once" in text for text in caught)


def test_the_new_name_wins_over_a_pymongo3_name() -> None:
    """ssl_ca_certs gives way to tlsCAFile whatever their order (spec: deprecated keys)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        options = TLSOptions.parse("mongodb://h/?tlsCAFile=/b.pem&ssl_ca_certs=/a.pem")
    assert options.ca_file == "/b.pem"


@pytest.mark.parametrize("uri", [
    "mongodb://user:Zq?tlsInsecure=true&x=@db/?tls=true",
    "mongodb://u:Zq?Zq@h/?tls=true",
    "mongodb://u:Zq/?tlsInsecure=true&x=@h/?tls=true",
    "mongodb://u:Zq/Zq@h/?tls=true",
    "mongodb://u:12/Zq@h?tlsInsecure=true",
])
def test_options_are_never_read_from_the_userinfo(uri: str) -> None:
    """A raw '?' or '/' in a password is refused, never read as options; nothing is quoted."""
    err = refused(uri)
    assert err.option == "uri"
    assert "percent-encoded" in err.message
    assert "Zq" not in str(err)
    assert "tlsInsecure" not in str(err)


@pytest.mark.parametrize(("uri", "enabled"), [
    ("mongodb://localhost?tls=true", True),
    ("mongodb://u:p%3Fss@h/?tls=true", True),
    ("mongodb://u:pa%2Fss@h?tls=false", False),
    ("mongodb://u:p%40ss@h1:1,[::1]:2/db?tls=true", True),
    ("mongodb://h/db?x=a@b&tls=true", True),
    ("mongodb://h/?tlsCAFile=/a@b.pem", True),
    ("postgresql://user@/dbname?host=/var/run&application_name=x", None),
    ("rediss://:secret@h:6380/0", None),
])
def test_well_formed_uris_are_read(uri: str, enabled: object) -> None:
    """Encoded userinfo, a slash-less query, '@' in values and other schemes all parse."""
    assert parse(uri)[0].enabled is enabled


def test_a_warning_quotes_only_short_words() -> None:
    """The tail of a password with a raw '&' may land in tls=...: the warning hides it."""
    _, caught = parse("mongodb://h/?tlsCertificateKeyFilePassword=ab&tls=Zq9secret")
    assert caught
    assert all("Zq9" not in text for text in caught)
    _, caught = parse("mongodb://h/?tls=TRUE")
    assert "'TRUE'" in caught[0]
