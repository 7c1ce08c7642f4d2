"""Each hint is written from the situation: what the user set and where a value came from."""

from __future__ import annotations

import asyncio
import re
import socket
from importlib import metadata
from pathlib import Path
from typing import Callable

import pytest

import tlsplug
from tlsplug import CertificateError, ConfigurationError, HandshakeError, TLSOptions
from tlsplug._hints import situated_hint
from tlsplug._materials import system_trust
from tlsplug.testing import CA, PKI, TLSServer
from tlsplug.testing.pki import PKIFiles

# -- cert-untrusted: the hint names the trust source in use ----------------------------------


def _untrusted(server: TLSServer, options: TLSOptions) -> CertificateError:
    """Connect to ``server`` and return the cert-untrusted error the backend raised."""
    with pytest.raises(CertificateError) as info:
        tlsplug.connect(server.address, options, timeout=10.0, server_hostname="localhost")
    assert info.value.code == "cert-untrusted"
    return info.value


def test_untrusted_with_tlscafile_names_the_file_not_certifi(
    backend_name: str, tls_server: Callable[..., TLSServer], tmp_path: Path
) -> None:
    """With tlsCAFile set, the hint names that file and never says to set it or install certifi."""
    other = CA("an unrelated root").write_cert(tmp_path / "other-ca.pem")
    error = _untrusted(tls_server(), TLSOptions(ca_file=str(other), backend=backend_name))
    assert f"tlsCAFile ({other})" in error.hint
    assert "set tlsCAFile" not in error.hint
    assert not re.search(r"\bcertifi\b", error.hint)
    assert error.backend == backend_name


def test_untrusted_without_tlscafile_names_the_store_in_use(
    backend_name: str, tls_server: Callable[..., TLSServer]
) -> None:
    """Without tlsCAFile, the hint names the system store (or certifi) actually used."""
    error = _untrusted(tls_server(), TLSOptions(enabled=True, backend=backend_name))
    trust = system_trust()
    assert "No tlsCAFile was given" in error.hint
    assert str(trust.cafile or trust.capath) in error.hint
    assert bool(re.search(r"\bcertifi\b", error.hint)) == trust.source.startswith("certifi")
    assert "install certifi" not in error.hint


def test_untrusted_over_buffers_gets_the_same_hint(
    backend_name: str, tls_server: Callable[..., TLSServer], tmp_path: Path
) -> None:
    """The sans-IO path (wrap_buffers, what tlsplug.aio drives) writes the same hint."""
    other = CA("an unrelated root").write_cert(tmp_path / "other-ca.pem")
    options = TLSOptions(ca_file=str(other), backend=backend_name)
    server = tls_server()

    async def run() -> None:
        await tlsplug.aio.open_connection(*server.address, options, server_hostname="localhost",
                                          timeout=10)

    with pytest.raises(CertificateError) as info:
        asyncio.run(run())
    assert info.value.code == "cert-untrusted"
    assert f"tlsCAFile ({other})" in info.value.hint


def test_protocol_version_under_legacy_does_not_suggest_legacy() -> None:
    """When tlsProfile=legacy is already set, the protocol-version hint does not advise it."""
    hint = situated_hint("protocol-version", TLSOptions(enabled=True, profile="legacy"))
    assert hint is not None
    assert hint.startswith("tlsProfile=legacy (already set)")
    assert situated_hint("protocol-version", TLSOptions(enabled=True)) is None


def test_protocol_version_under_modern_still_suggests_legacy(
    backend_name: str, tls_server: Callable[..., TLSServer], tmp_path: Path
) -> None:
    """A TLS 1.1-only server under modern: the default hint, naming tlsProfile=legacy."""
    import ssl

    rsa_root = CA("an RSA root", key_type="rsa")
    ca_file = rsa_root.write_cert(tmp_path / "rsa-ca.pem")
    leaf = rsa_root.issue_cert("localhost", "127.0.0.1")  # the legacy suite needs RSA
    server = tls_server(leaf, legacy=True, max_version=ssl.TLSVersion.TLSv1_1)
    with pytest.raises(HandshakeError) as info:
        tlsplug.connect(server.address, TLSOptions(
            ca_file=str(ca_file), backend=backend_name,
        ), timeout=10.0, server_hostname="localhost")
    assert info.value.code == "protocol-version"
    assert "Old servers need tlsProfile=legacy" in info.value.hint


def test_no_shared_cipher_under_legacy_does_not_suggest_legacy() -> None:
    """When tlsProfile=legacy is already set, the no-shared-cipher hint says so."""
    hint = situated_hint("no-shared-cipher", TLSOptions(enabled=True, profile="legacy"))
    assert hint is not None
    assert "already set" in hint
    assert situated_hint("no-shared-cipher", TLSOptions(enabled=True)) is None


# -- backend-not-found: where the name came from, real packages only --------------------------


def test_backend_from_the_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A TLSPLUG_BACKEND nobody registered is named as such, with the installed backends."""
    monkeypatch.setenv("TLSPLUG_BACKEND", "gnutls")
    with pytest.raises(ConfigurationError) as info:
        tlsplug.create_context(TLSOptions(enabled=True))
    error = info.value
    assert error.code == "backend-not-found"
    assert error.option == "TLSPLUG_BACKEND"
    assert "TLSPLUG_BACKEND=gnutls (environment variable)" in error.message
    assert "unset it" in error.hint
    for name in tlsplug.available_backends():
        assert name in error.hint
    assert "pip install" not in error.hint  # no package is named after an unknown backend


def test_backend_from_the_option_names_tlsbackend(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tlsBackend nobody registered names the option, not the environment variable."""
    monkeypatch.setenv("TLSPLUG_BACKEND", "stdlib")
    with pytest.raises(ConfigurationError) as info:
        tlsplug.create_context(TLSOptions.parse("mongodb://h/?tls=true&tlsBackend=gnutls"))
    assert info.value.option == "tlsBackend"
    assert info.value.message.startswith("tlsBackend=gnutls:")
    assert "TLSPLUG_BACKEND" not in info.value.hint


def test_missing_pyopenssl_backend_suggests_the_real_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """tlsBackend=pyopenssl without the backend installed suggests tlsplug[pyopenssl]."""
    try:
        metadata.version("tlsplug-pyopenssl")
    except metadata.PackageNotFoundError:
        pass
    else:
        pytest.skip("needs tlsplug-pyopenssl not installed")
    monkeypatch.setenv("TLSPLUG_BACKEND", "pyopenssl")
    with pytest.raises(ConfigurationError) as info:
        tlsplug.create_context(TLSOptions(enabled=True))
    assert "pip install 'tlsplug[pyopenssl]'" in info.value.hint
    assert "TLSPLUG_BACKEND" in info.value.hint


# -- configuration: each hint fits what was given ---------------------------------------------


@pytest.mark.parametrize("text", ["db.example.com:27017", "tls=true", ""])
def test_text_that_is_not_a_uri_gets_a_uri_hint(text: str) -> None:
    """Text without scheme:// is told what a connection string looks like, not about booleans."""
    with pytest.raises(ConfigurationError) as info:
        TLSOptions.parse(text)
    assert "boolean" not in info.value.hint
    assert "mongodb://" in info.value.hint


def test_invalid_boolean_hint_does_not_talk_of_the_wrong_thing() -> None:
    """The default invalid-option hint points at the option table, for any option."""
    with pytest.raises(ConfigurationError) as info:
        TLSOptions(enabled=True, ocsp_timeout=-1)
    assert "booleans" not in info.value.hint
    assert "tlsplug options" in info.value.hint


def test_bad_password_hint_does_not_repeat_the_message(pki: PKI, tmp_path: Path) -> None:
    """A wrong password's hint says what to check (percent-encoding), not the message again."""
    files = pki.client.write(tmp_path, password=b"right password", basename="enc")
    with pytest.raises(ConfigurationError) as info:
        tlsplug.create_context(TLSOptions(
            certificate_key_file=str(files.combined_file),
            certificate_key_file_password="wrong password",
        ))
    error = info.value
    assert error.code == "bad-password"
    assert "%25" in error.hint
    assert "does not decrypt" not in error.hint
    assert "wrong password" not in str(error)


def test_password_for_a_plain_key_says_to_remove_it(pki: PKI, tmp_path: Path) -> None:
    """A password given for an unencrypted key is told to go away."""
    files = pki.client.write(tmp_path, basename="plain")
    with pytest.raises(ConfigurationError) as info:
        tlsplug.create_context(TLSOptions(
            certificate_key_file=str(files.combined_file),
            certificate_key_file_password="not needed",
        ))
    assert info.value.code == "bad-password"
    assert info.value.hint == "Remove tlsCertificateKeyFilePassword: this key needs none."


def test_one_option_that_requires_tls_is_singular(pki_files: PKIFiles) -> None:
    """tls=false with one TLS-only option: 'requires', and a hint offering both ways out."""
    with pytest.raises(ConfigurationError) as info:
        TLSOptions(enabled=False, ca_file=str(pki_files.ca_file))
    assert "tlsCAFile requires TLS, but tls=false was given" in info.value.message
    assert "Remove tls=false" in info.value.hint
    assert "tlsInsecure" not in info.value.hint


def test_several_options_that_require_tls_are_listed(pki_files: PKIFiles) -> None:
    """tls=false with two TLS-only options lists both with 'require'."""
    with pytest.raises(ConfigurationError) as info:
        TLSOptions(enabled=False, ca_file=str(pki_files.ca_file), crl_file=str(pki_files.ca_file))
    assert "tlsCAFile and tlsCRLFile require TLS" in info.value.message


def test_conflict_hint_names_the_two_options() -> None:
    """Two conflicting options are both named in the hint; tlsInsecure only when it was given."""
    with pytest.raises(ConfigurationError) as info:
        TLSOptions(enabled=True, allow_invalid_certificates=True,
                   disable_ocsp_endpoint_check=True)
    assert info.value.hint == (
        "Give tlsAllowInvalidCertificates or tlsDisableOCSPEndpointCheck, not both."
    )


@pytest.mark.parametrize(
    ("uri", "advice"),
    [
        ("postgresql://h/db?sslmode=verify-full", "Replace sslmode=verify-full with tls=true"),
        ("postgresql://h/db?sslmode=verify-ca",
         "tls=true&tlsAllowInvalidHostnames=true"),
        ("postgresql://h/db?sslmode=disable", "with tls=false"),
        ("postgresql://h/db?sslrootcert=/ca.pem", "Replace sslrootcert with tlsCAFile"),
        ("postgresql://h/db?sslcert=/c.pem", "with tlsCertificateKeyFile"),
    ],
)
def test_libpq_spellings_get_the_tlsplug_spelling(uri: str, advice: str) -> None:
    """libpq's ssl* parameters are translated in the hint, never 'did you mean ssl'."""
    with pytest.raises(ConfigurationError) as info:
        TLSOptions.parse(uri)
    assert info.value.code == "unknown-option"
    assert advice in info.value.hint
    assert "did you mean" not in info.value.message


def test_libpq_password_is_never_echoed() -> None:
    """sslpassword's value appears nowhere in the error."""
    with pytest.raises(ConfigurationError) as info:
        TLSOptions.parse("postgresql://h/db?sslpassword=hunter2")
    assert "tlsCertificateKeyFilePassword" in info.value.hint
    assert "hunter2" not in str(info.value) + info.value.hint + info.value.message


# -- connect-failed: a refused TCP connect is not a closed TLS connection ---------------------


def _closed_port() -> int:
    """A loopback port nothing listens on (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_refused_connect_is_connect_failed_and_still_an_oserror(backend_name: str) -> None:
    """Nothing listening: connect-failed, a HandshakeError and OSError, hint naming the port."""
    port = _closed_port()
    with pytest.raises(OSError, match=r"cannot connect to 127\.0\.0\.1") as info:
        tlsplug.connect(("127.0.0.1", port), TLSOptions(enabled=True, backend=backend_name))
    error = info.value
    assert isinstance(error, HandshakeError)
    assert error.code == "connect-failed"
    assert f"Nothing accepts connections on 127.0.0.1:{port}" in error.hint


def test_refused_connect_under_asyncio_is_connect_failed(backend_name: str) -> None:
    """tlsplug.aio reports the same code and hint as the blocking path."""
    port = _closed_port()

    async def run() -> None:
        await tlsplug.aio.open_connection(
            "127.0.0.1", port, TLSOptions(enabled=True, backend=backend_name), timeout=10
        )

    with pytest.raises(HandshakeError) as info:
        asyncio.run(run())
    assert info.value.code == "connect-failed"
    assert f"127.0.0.1:{port}" in info.value.hint


# -- client certificates: missing versus refused ------------------------------------------------


def _read_all(server: TLSServer, options: TLSOptions) -> None:
    """Connect and read until the server closes (or the refusal raises)."""
    tls = tlsplug.connect(server.address, options, timeout=10.0, server_hostname="localhost")
    try:
        # TLS 1.3: the server's verdict on our certificate arrives after the handshake.
        while tls.recv(1024):
            pass
    finally:
        tls.close()


def _client_cert_error(server: TLSServer, options: TLSOptions) -> HandshakeError:
    """The handshake-failure the server's refusal of our client certificate raised."""
    with pytest.raises(HandshakeError) as info:
        _read_all(server, options)
    assert info.value.code == "handshake-failure"
    return info.value


def test_missing_client_certificate_says_to_set_one(
    backend_name: str, pki: PKI, pki_files: PKIFiles, tls_server: Callable[..., TLSServer]
) -> None:
    """A server requiring a client certificate, none given: set tlsCertificateKeyFile."""
    server = tls_server(require_client_cert=pki.intermediate, mode="greeting")
    error = _client_cert_error(
        server, TLSOptions(ca_file=str(pki_files.ca_file), backend=backend_name)
    )
    assert error.hint.startswith("The server requires a client certificate: set ")


def test_refused_client_certificate_names_the_file(
    backend_name: str, pki: PKI, pki_files: PKIFiles, tls_server: Callable[..., TLSServer],
    tmp_path: Path,
) -> None:
    """A client certificate from a CA the server does not trust: the hint names the file."""
    stranger = CA("a root the server does not trust").issue_cert(
        "client.tlsplug.test", client=True, server=False
    )
    files = stranger.write(tmp_path, basename="stranger")
    server = tls_server(require_client_cert=pki.intermediate, mode="greeting")
    error = _client_cert_error(server, TLSOptions(
        ca_file=str(pki_files.ca_file), certificate_key_file=str(files.combined_file),
        backend=backend_name,
    ))
    assert f"tlsCertificateKeyFile ({files.combined_file})" in error.hint
    assert "set tlsCertificateKeyFile" not in error.hint
