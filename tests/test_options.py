"""TLSOptions: construction, connection strings, keyword overrides and the docs/design.md rules."""

from __future__ import annotations

import dataclasses
import pathlib
import ssl
import warnings

import pytest

import tlsplug
from tlsplug import ConfigurationError, TLSOptions


def parse(uri: str | None = None, **kwargs: object) -> TLSOptions:
    return TLSOptions.parse(uri, **kwargs)


def test_options_are_frozen() -> None:
    """Assigning to a field raises, so a context can trust its options never change."""
    options = TLSOptions(enabled=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.enabled = False  # type: ignore[misc,unused-ignore]


def test_replace_validates_again() -> None:
    """dataclasses.replace re-runs the rules, so no invalid combination can be built."""
    options = TLSOptions(insecure=True)
    with pytest.raises(ConfigurationError) as info:
        dataclasses.replace(options, allow_invalid_hostnames=True)
    assert info.value.code == "conflicting-options"
    assert options.replace(profile="legacy").profile == "legacy"


def test_keyword_arguments_override_the_uri() -> None:
    """A keyword argument wins over the same option in the connection string."""
    options = parse("mongodb://h/?tlsCAFile=/a.pem&tlsAllowInvalidHostnames=true",
                    tlsCAFile="/b.pem", tlsAllowInvalidHostnames=False)
    assert options.ca_file == "/b.pem"
    assert options.allow_invalid_hostnames is False


def test_conflicts_are_checked_on_the_merged_result() -> None:
    """A URI option and a keyword option that conflict are refused together."""
    with pytest.raises(ConfigurationError) as info:
        parse("mongodb://h/?tlsInsecure=true", tlsAllowInvalidCertificates=False)
    assert info.value.code == "conflicting-options"
    assert "tlsInsecure" in str(info.value)


def test_keys_are_case_insensitive() -> None:
    """TLSCAFILE and tlscafile mean tlsCAFile, in URIs and keyword arguments."""
    assert parse("mongodb://h/?TLSCAFILE=/x").ca_file == "/x"
    assert parse(None, tlscafile="/y").ca_file == "/y"


def test_percent_decoding_of_values() -> None:
    """Values are percent-decoded, so paths with spaces and unicode survive."""
    options = parse("mongodb://h/?tlsCAFile=%2Fetc%2Fmy%20ca%E2%82%AC.pem")
    assert options.ca_file == "/etc/my ca€.pem"


def test_bad_percent_encoding_is_a_configuration_error() -> None:
    """A broken escape in a TLS option is reported, not silently kept."""
    with pytest.raises(ConfigurationError):
        parse("mongodb://h/?tlsCAFile=%zz")
    with pytest.raises(ConfigurationError):
        parse("mongodb://h/?tlsCAFile=%ff%fe")


def test_plus_is_not_a_space() -> None:
    """MongoDB URIs are not form-encoded: '+' stays '+'."""
    assert parse("mongodb://h/?tlsCAFile=/a+b.pem").ca_file == "/a+b.pem"


def test_repeated_keys_warn_and_the_last_wins() -> None:
    """A repeated option warns (connection-string spec) and the last value is used."""
    with pytest.warns(tlsplug.OptionWarning, match="more than once"):
        options = parse("mongodb://h/?tlsCAFile=/a&tlsCAFile=/b")
    assert options.ca_file == "/b"


def test_srv_implies_tls_unless_given() -> None:
    """mongodb+srv turns TLS on, but an explicit tls=false is respected."""
    assert parse("mongodb+srv://h/").enabled is True
    assert parse("mongodb+srv://h/?tls=false").enabled is False
    assert parse("mongodb://h/").enabled is None


def test_options_that_need_tls_turn_it_on() -> None:
    """tlsCAFile alone enables TLS; with tls=false it is an error naming the option."""
    assert parse("mongodb://h/?tlsCAFile=/x").enabled is True
    assert parse("mongodb://h/?tlsAllowInvalidHostnames=false").enabled is True
    with pytest.raises(ConfigurationError, match="tlsCAFile") as info:
        parse("mongodb://h/?tls=false&tlsCAFile=/x")
    assert info.value.code == "conflicting-options"


def test_a_relaxing_option_set_to_true_with_tls_false_is_allowed() -> None:
    """Only a false value of a relaxing option (or a file) needs TLS."""
    assert parse("mongodb://h/?tls=false&tlsInsecure=true").enabled is False


@pytest.mark.parametrize("flag", ["tlsInsecure", "tlsAllowInvalidCertificates",
                                  "tlsDisableCertificateRevocationCheck"])
def test_crl_file_that_would_never_be_consulted_is_an_error(flag: str) -> None:
    """tlsCRLFile with a setting that turns revocation off is a mistake and is refused."""
    with pytest.raises(ConfigurationError, match="tlsCRLFile") as info:
        parse(f"mongodb://h/?tlsCRLFile=/c.crl&{flag}=true")
    assert info.value.code == "conflicting-options"


def test_invalid_keyword_boolean_is_an_error() -> None:
    """In keyword arguments an invalid boolean is an error, not a warning."""
    with pytest.raises(ConfigurationError, match="tlsInsecure"):
        parse(None, tlsInsecure="maybe")
    with pytest.raises(ConfigurationError):
        TLSOptions(enabled="yes")  # type: ignore[arg-type]


def test_unknown_tls_key_suggests_the_right_name() -> None:
    """A misspelt tls* option is refused with a did-you-mean suggestion."""
    with pytest.raises(ConfigurationError, match="did you mean tlsAllowInvalidHostnames") as info:
        parse("mongodb://h/?tlsAllowInvalidHostname=true")
    assert info.value.code == "unknown-option"
    with pytest.raises(ConfigurationError, match="did you mean tlsCAFile"):
        parse(None, tlsCAFiles="/x")


def test_non_tls_options_are_left_to_the_driver() -> None:
    """replicaSet, authSource and friends are not ours to judge."""
    assert parse("mongodb://u:p@h1,h2/db?replicaSet=rs&w=majority&tls=true").enabled is True


def test_unknown_keyword_is_an_error() -> None:
    """Keyword arguments are ours: an unknown one is refused."""
    with pytest.raises(ConfigurationError) as info:
        parse(None, replicaSet="x")
    assert info.value.code == "unknown-option"


@pytest.mark.parametrize(
    ("legacy", "value", "field", "expected"),
    [
        ("ssl_ca_certs", "/ca.pem", "ca_file", "/ca.pem"),
        ("ssl_certfile", "/c.pem", "certificate_key_file", "/c.pem"),
        ("ssl_crlfile", "/c.crl", "crl_file", "/c.crl"),
        ("ssl_match_hostname", False, "allow_invalid_hostnames", True),
        ("ssl_cert_reqs", ssl.CERT_NONE, "allow_invalid_certificates", True),
        ("ssl_cert_reqs", "CERT_REQUIRED", "allow_invalid_certificates", False),
        ("ssl_check_ocsp_endpoint", False, "disable_ocsp_endpoint_check", True),
    ],
)
def test_pymongo3_names_are_translated(legacy: str, value: object, field: str,
                                       expected: object) -> None:
    """PyMongo 3 ssl_* names map to the new options with a DeprecationWarning."""
    with pytest.warns(DeprecationWarning, match=legacy):
        options = parse(None, **{legacy: value})
    assert getattr(options, field) == expected


def test_pymongo3_names_in_a_uri_are_translated() -> None:
    """ssl_ca_certs in a connection string is read too, with a DeprecationWarning."""
    with pytest.warns(DeprecationWarning, match="ssl_ca_certs"):
        assert parse("mongodb://h/?ssl_ca_certs=/ca.pem").ca_file == "/ca.pem"


def test_ssl_keyfile_is_refused_with_advice() -> None:
    """PyMongo 3's separate key file has no equivalent; the error says what to do."""
    with pytest.raises(ConfigurationError, match="one PEM file") as info:
        parse(None, ssl_keyfile="/k.pem")
    assert info.value.code == "unsupported-option"


def test_effective_properties() -> None:
    """The verify_*/check_* properties follow docs/design.md's table."""
    default = TLSOptions(enabled=True)
    assert (default.verify_certificates, default.verify_hostname) == (True, True)
    assert (default.check_ocsp_stapling, default.check_ocsp_endpoint) == (True, True)
    assert not default.check_crl
    insecure = TLSOptions(insecure=True)
    assert not (insecure.verify_certificates)
    assert not (insecure.verify_hostname)
    assert not (insecure.check_ocsp_stapling)
    aic = TLSOptions(allow_invalid_certificates=True)
    assert not aic.verify_certificates
    assert aic.verify_hostname
    assert not aic.check_ocsp_stapling
    aih = TLSOptions(allow_invalid_hostnames=True)
    assert aih.verify_certificates
    assert not aih.verify_hostname
    assert aih.check_ocsp_endpoint
    no_endpoint = TLSOptions(disable_ocsp_endpoint_check=True)
    assert no_endpoint.check_ocsp_stapling
    assert not no_endpoint.check_ocsp_endpoint
    crl = TLSOptions(crl_file="/c.crl")
    assert crl.check_crl
    assert not crl.check_ocsp_stapling
    assert not crl.check_ocsp_endpoint
    norev = TLSOptions(disable_certificate_revocation_check=True)
    assert not (norev.check_ocsp_stapling)
    assert not (norev.check_crl)


def test_path_like_files_are_accepted() -> None:
    """pathlib paths become strings, so options compare and hash by value."""
    options = TLSOptions(ca_file=pathlib.Path("/x/ca.pem"))  # type: ignore[arg-type]
    assert options.ca_file == "/x/ca.pem"


def test_profile_and_backend_are_normalized() -> None:
    """tlsProfile and tlsBackend are case-insensitive; unknown profiles are refused."""
    options = parse("mongodb://h/?tlsProfile=LEGACY&tlsBackend=StdLib")
    assert (options.profile, options.backend) == ("legacy", "stdlib")
    with pytest.warns(tlsplug.OptionWarning):
        assert parse("mongodb://h/?tlsProfile=ancient").profile == "modern"
    with pytest.raises(ConfigurationError):
        parse(None, tlsProfile="ancient")


def test_ocsp_timeout_must_be_positive() -> None:
    """ocsp_timeout is a positive finite number of seconds."""
    assert parse(None, ocsp_timeout=2).ocsp_timeout == 2.0
    for bad in (0, -1, float("nan"), float("inf"), True, "5"):
        with pytest.raises(ConfigurationError):
            TLSOptions(ocsp_timeout=bad)  # type: ignore[arg-type]


def test_not_a_connection_string() -> None:
    """A string without scheme:// is refused clearly."""
    with pytest.raises(ConfigurationError, match="connection string"):
        parse("example.com:27017")


def test_to_uri_options_round_trips() -> None:
    """parse(None, **to_uri_options()) rebuilds equal options."""
    options = parse("mongodb://h/?tlsCAFile=/ca&tlsCertificateKeyFile=/c&"
                    "tlsCertificateKeyFilePassword=pw&tlsDisableOCSPEndpointCheck=true&"
                    "tlsProfile=legacy&tlsBackend=stdlib")
    assert parse(None, **options.to_uri_options()) == options


def test_txt_record_rejects_tls_options() -> None:
    """DNS may never switch TLS off: tls/ssl keys in a TXT record are refused."""
    assert tlsplug.parse_txt_record("replicaSet=rs0&authSource=admin") == {
        "replicaSet": "rs0", "authSource": "admin"}
    for key in ("ssl", "tls", "tlsInsecure"):
        with pytest.raises(ConfigurationError):
            tlsplug.parse_txt_record(f"{key}=false")


def test_no_warning_for_a_clean_uri() -> None:
    """A valid URI parses without any warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parse("mongodb+srv://u:p@h/db?tlsCAFile=/x&retryWrites=true")
