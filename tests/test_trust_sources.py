"""Trust and identity from anywhere: in-memory PEM/DER, CA directories, separate keys, stores."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any, Iterator, List

import pytest
from cryptography.hazmat.primitives import serialization

import tlsplug
from tlsplug import ConfigurationError, TLSOptions
from tlsplug.testing import CA, LeafCert, TLSServer

PASSWORD = "correct horse"


@pytest.fixture(scope="module")
def root() -> CA:
    """The CA of the servers below."""
    return CA("trust-sources root")


@pytest.fixture(scope="module")
def leaf(root: CA) -> LeafCert:
    """The server's certificate, issued by an intermediate of ``root``."""
    return root.create_intermediate("trust-sources intermediate").issue_cert(
        "localhost", "127.0.0.1"
    )


@pytest.fixture(scope="module")
def other() -> CA:
    """A CA that issued nothing the servers present."""
    return CA("unrelated root")


@pytest.fixture(scope="module")
def client_ca() -> CA:
    """The CA whose client certificates the mutual-TLS server accepts."""
    return CA("client root")


@pytest.fixture(scope="module")
def client(client_ca: CA) -> LeafCert:
    """A clientAuth certificate for the mutual-TLS server."""
    return client_ca.issue_cert("client.example", client=True, server=False)


@pytest.fixture
def server(leaf: LeafCert) -> Iterator[TLSServer]:
    """An echo server presenting ``leaf``."""
    with TLSServer(cert=leaf) as srv:
        yield srv


@pytest.fixture
def mtls_server(leaf: LeafCert, client_ca: CA) -> Iterator[TLSServer]:
    """An echo server that requires a client certificate from ``client_ca``."""
    with TLSServer(cert=leaf, require_client_cert=client_ca) as srv:
        yield srv


def _round_trip(srv: TLSServer, backend_name: str, **options: Any) -> None:
    opts = TLSOptions(backend=backend_name, **options)
    with tlsplug.connect(("localhost", srv.address[1]), opts, timeout=10.0) as tls:
        tls.sendall(b"ping")
        assert tls.recv(4) == b"ping"


def _refused(srv: TLSServer, backend_name: str, **options: Any) -> tlsplug.TLSError:
    with pytest.raises(tlsplug.TLSError) as info:
        _round_trip(srv, backend_name, **options)
    return info.value


# -- ca_data ----------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["str", "bytes-pem", "bytes-der"])
def test_ca_data_forms(server: TLSServer, backend_name: str, root: CA, form: str) -> None:
    """ca_data as str PEM, bytes PEM or DER bytes of one certificate is trusted."""
    data: Any = {
        "str": root.cert_pem.decode("ascii"),
        "bytes-pem": root.cert_pem,
        "bytes-der": root.certificate.public_bytes(serialization.Encoding.DER),
    }[form]
    _round_trip(server, backend_name, ca_data=data)


def test_ca_data_adds_to_ca_file(server: TLSServer, backend_name: str, root: CA, other: CA,
                                 tmp_path: Path) -> None:
    """ca_data is trusted in addition to tlsCAFile, whichever holds the right CA."""
    _round_trip(server, backend_name, ca_file=str(other.write_cert(tmp_path / "o.pem")),
                ca_data=root.cert_pem)
    _round_trip(server, backend_name, ca_file=str(root.write_cert(tmp_path / "r.pem")),
                ca_data=other.cert_pem)


def test_ca_data_replaces_the_system_store(server: TLSServer, backend_name: str,
                                           other: CA) -> None:
    """A ca_data CA that did not issue the chain refuses it: cert-untrusted."""
    assert _refused(server, backend_name, ca_data=other.cert_pem).code == "cert-untrusted"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"not a certificate at all", "neither PEM nor a DER certificate"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "malformed"),
        ("-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n", "no PEM certificate"),
    ],
)
def test_ca_data_garbage(backend_name: str, data: Any, words: str) -> None:
    """Garbage ca_data is invalid-file naming ca_data, with no path."""
    with pytest.raises(ConfigurationError) as info:
        tlsplug.create_context(TLSOptions(backend=backend_name, ca_data=data))
    assert info.value.code == "invalid-file"
    assert info.value.option == "ca_data"
    assert words in str(info.value)


def test_private_key_as_ca_data_is_named_not_shown(backend_name: str,
                                                   client: LeafCert) -> None:
    """A private key given as ca_data is refused without any of its bytes in the error."""
    key_pem = client.private_key_pem()
    with pytest.raises(ConfigurationError) as info:
        tlsplug.create_context(TLSOptions(backend=backend_name, ca_data=key_pem))
    assert "holds a private key" in str(info.value)
    body = key_pem.decode().splitlines()[1]
    assert body not in str(info.value)
    assert body not in repr(info.value)


# -- ca_dir -------------------------------------------------------------------------------


def test_ca_dir_plain_files(server: TLSServer, backend_name: str, root: CA, other: CA,
                            tmp_path: Path) -> None:
    """A directory of one-PEM-per-file CAs (*.pem, *.crt) is trusted; other files skipped."""
    d = tmp_path / "cas"
    d.mkdir()
    other.write_cert(d / "a-other.pem")
    (d / "b-root.crt").write_bytes(root.cert_pem)
    (d / "README").write_text("not a certificate")
    (d / "..data").mkdir()  # Kubernetes' secret volume layout keeps hidden entries
    _round_trip(server, backend_name, ca_dir=str(d))


def test_ca_dir_hashed_layout(server: TLSServer, backend_name: str, root: CA,
                              tmp_path: Path) -> None:
    """OpenSSL's hashed layout (`openssl rehash`: <hash>.0 links) is trusted."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command line to make a hashed directory")
    d = tmp_path / "hashed"
    d.mkdir()
    source = root.write_cert(tmp_path / "root-source.pem")
    digest = subprocess.run([openssl, "x509", "-hash", "-noout", "-in", str(source)],
                            capture_output=True, text=True, check=True).stdout.strip()
    os.symlink(source, d / f"{digest}.0")
    _round_trip(server, backend_name, ca_dir=str(d))


def test_ca_dir_empty_trusts_nothing(server: TLSServer, backend_name: str,
                                     tmp_path: Path) -> None:
    """An empty CA directory trusts nothing: cert-untrusted, not the system store."""
    d = tmp_path / "empty"
    d.mkdir()
    assert _refused(server, backend_name, ca_dir=str(d)).code == "cert-untrusted"


@pytest.mark.parametrize(("kind", "code"), [("missing", "file-not-found"),
                                            ("a-file", "invalid-file")])
def test_ca_dir_bad_path(backend_name: str, tmp_path: Path, kind: str, code: str) -> None:
    """A missing directory, or a file given as one, names tlsCADirectory and the path."""
    path = tmp_path / kind
    if kind == "a-file":
        path.write_text("x")
    with pytest.raises(ConfigurationError) as info:
        tlsplug.create_context(TLSOptions(backend=backend_name, ca_dir=str(path)))
    assert (info.value.code, info.value.option, info.value.path) == (
        code, "tlsCADirectory", str(path))


def test_ca_dir_malformed_member_named(backend_name: str, tmp_path: Path) -> None:
    """A *.pem in the directory that is not a certificate names that file."""
    d = tmp_path / "bad"
    d.mkdir()
    (d / "broken.pem").write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(ConfigurationError) as info:
        tlsplug.create_context(TLSOptions(backend=backend_name, ca_dir=str(d)))
    assert info.value.path == str(d / "broken.pem")


# -- client identity ----------------------------------------------------------------------


@pytest.mark.parametrize("encrypted", [False, True])
@pytest.mark.parametrize("as_str", [False, True])
def test_certificate_key_data(mtls_server: TLSServer, backend_name: str, root: CA,
                              client: LeafCert, encrypted: bool, as_str: bool) -> None:
    """The client identity as PEM in memory (plain or encrypted) authenticates the client."""
    pem = client.cert_pem + client.private_key_pem(
        password=PASSWORD.encode() if encrypted else None)
    data: Any = pem.decode("ascii") if as_str else pem
    extra = {"certificate_key_file_password": PASSWORD} if encrypted else {}
    _round_trip(mtls_server, backend_name, ca_data=root.cert_pem, certificate_key_data=data,
                **extra)


def test_certificate_key_data_wrong_password(backend_name: str, client: LeafCert) -> None:
    """A wrong password for in-memory key material is bad-password, showing no key bytes."""
    pem = client.cert_pem + client.private_key_pem(password=PASSWORD.encode())
    with pytest.raises(ConfigurationError) as info:
        tlsplug.create_context(TLSOptions(backend=backend_name, certificate_key_data=pem,
                                          certificate_key_file_password="wrong"))
    assert info.value.code == "bad-password"
    assert "wrong" not in str(info.value)
    assert pem.decode().splitlines()[-2] not in str(info.value)


def test_certificate_key_data_conflicts_with_file(tmp_path: Path, client: LeafCert) -> None:
    """certificate_key_data and tlsCertificateKeyFile together are conflicting-options."""
    files = client.write(tmp_path)
    with pytest.raises(ConfigurationError) as info:
        TLSOptions(certificate_key_data=client.cert_pem + client.private_key_pem(),
                   certificate_key_file=str(files.combined_file))
    assert info.value.code == "conflicting-options"


def test_in_memory_material_is_fingerprinted_in_repr(client: LeafCert, root: CA) -> None:
    """repr/str of the options show a fingerprint of in-memory material, never the PEM."""
    key_pem = client.cert_pem + client.private_key_pem()
    opts = TLSOptions(ca_data=root.cert_pem, certificate_key_data=key_pem)
    text = repr(opts) + str(opts)
    assert "sha256:" in text
    assert "BEGIN" not in text
    assert key_pem.decode().splitlines()[-2] not in text


def test_separate_key_file(mtls_server: TLSServer, backend_name: str, root: CA,
                           client: LeafCert, tmp_path: Path) -> None:
    """tlsCertificateKeyFile with the certificate and tlsPrivateKeyFile with the key connect."""
    files = client.write(tmp_path, password=PASSWORD.encode())
    _round_trip(mtls_server, backend_name, ca_data=root.cert_pem,
                certificate_key_file=str(files.cert_file), private_key_file=str(files.key_file),
                certificate_key_file_password=PASSWORD)


def test_separate_key_file_mismatch(backend_name: str, client: LeafCert, leaf: LeafCert,
                                    tmp_path: Path) -> None:
    """A tlsPrivateKeyFile that does not belong to the certificate is key-mismatch naming it."""
    cert = client.write(tmp_path / "c").cert_file
    key = leaf.write(tmp_path / "l").key_file
    with pytest.raises(ConfigurationError) as info:
        tlsplug.create_context(TLSOptions(backend=backend_name, certificate_key_file=str(cert),
                                          private_key_file=str(key)))
    assert (info.value.code, info.value.option) == ("key-mismatch", "tlsPrivateKeyFile")


def test_private_key_file_needs_certificate(tmp_path: Path) -> None:
    """tlsPrivateKeyFile alone is conflicting-options naming it."""
    with pytest.raises(ConfigurationError) as info:
        TLSOptions(private_key_file=str(tmp_path / "k.pem"))
    assert (info.value.code, info.value.option) == ("conflicting-options", "tlsPrivateKeyFile")


# -- trust stores -------------------------------------------------------------------------


def test_trust_store_certifi_refuses_a_private_ca(server: TLSServer,
                                                  backend_name: str) -> None:
    """trust_store="certifi" trusts Mozilla's roots only: a private CA is cert-untrusted."""
    assert _refused(server, backend_name, trust_store="certifi").code == "cert-untrusted"


def test_trust_store_values_and_conflicts(tmp_path: Path) -> None:
    """An unknown store is invalid-option; a store beside explicit CA material conflicts."""
    with pytest.raises(ConfigurationError) as info:
        TLSOptions(trust_store="keychain")
    assert (info.value.code, info.value.option) == ("invalid-option", "tlsTrustStore")
    with pytest.raises(ConfigurationError) as info:
        TLSOptions(trust_store="certifi", ca_file=str(tmp_path / "ca.pem"))
    assert info.value.code == "conflicting-options"
    assert TLSOptions.parse("mongodb://h/?tlsTrustStore=SYSTEM").trust_store == "system"


def test_uri_keys_for_file_options() -> None:
    """tlsCADirectory, tlsPrivateKeyFile and tlsTrustStore read from a connection string."""
    opts = TLSOptions.parse(
        "mongodb://h/?tlsCADirectory=/etc/cas&tlsCertificateKeyFile=/c.pem"
        "&tlsPrivateKeyFile=/k.pem"
    )
    assert (opts.ca_dir, opts.private_key_file, opts.enabled) == ("/etc/cas", "/k.pem", True)
    assert opts.to_uri_options()["tlsCADirectory"] == "/etc/cas"


def _subprocess(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=120)


_CONNECT = """
    import sys, warnings, tlsplug
    from tlsplug.testing import CA, TLSServer
    root = CA("env root")
    open(sys.argv[0] if False else {ca!r}, "wb").write(root.cert_pem)
    with TLSServer(cert=root.issue_cert("localhost")) as srv:
        opts = tlsplug.TLSOptions(backend={backend!r}, trust_store={store!r})
        with tlsplug.connect(("localhost", srv.address[1]), opts, timeout=10) as tls:
            print("connected", tls.version())
"""


def test_trust_store_system_honours_ssl_cert_file(backend_name: str, tmp_path: Path) -> None:
    """trust_store="system" trusts what SSL_CERT_FILE names (checked in a subprocess)."""
    ca = tmp_path / "env-ca.pem"
    done = _subprocess(_CONNECT.format(ca=str(ca), backend=backend_name, store="system"),
                       {"SSL_CERT_FILE": str(ca)})
    assert "connected" in done.stdout, done.stderr


def test_trust_store_os_through_truststore(backend_name: str, tmp_path: Path) -> None:
    """trust_store="os" connects through truststore on Linux with SSL_CERT_FILE as the store."""
    if sys.version_info < (3, 10) or importlib.util.find_spec("truststore") is None:
        pytest.skip("needs truststore (tlsplug[truststore], Python 3.10+)")
    if not sys.platform.startswith("linux"):
        pytest.skip("needs Linux, where SSL_CERT_FILE steers the OS store")
    ca = tmp_path / "env-ca.pem"
    done = _subprocess(_CONNECT.format(ca=str(ca), backend=backend_name, store="os"),
                       {"SSL_CERT_FILE": str(ca)})
    assert "connected" in done.stdout, done.stderr


def test_trust_store_os_without_truststore_names_the_package(backend_name: str) -> None:
    """Without truststore, trust_store="os" is a ConfigurationError naming the package."""
    code = f"""
        import sys, tlsplug
        sys.modules["truststore"] = None  # as if it were not installed
        try:
            tlsplug.create_context(tlsplug.TLSOptions(backend={backend_name!r}, trust_store="os"))
        except tlsplug.ConfigurationError as exc:
            print(exc.code, exc.option, "|", exc.message, "|", exc.hint)
    """
    done = _subprocess(code, {})
    assert "unsupported-option tlsTrustStore" in done.stdout, done.stderr
    assert "truststore" in done.stdout


# -- secrets never touch persistent storage -----------------------------------------------


def test_key_material_never_written(backend_name: str, client: LeafCert,
                                    tmp_path: Path) -> None:
    """certificate_key_data (encrypted) leaves no file with the key in TMPDIR or /dev/shm."""
    pem = client.cert_pem + client.private_key_pem(password=PASSWORD.encode())
    marker = pem.decode().splitlines()[-2]
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    shm = Path("/dev/shm")
    before = set(shm.iterdir()) if shm.is_dir() else set()
    code = f"""
        import tlsplug
        for _ in range(3):
            tlsplug.clear_context_cache()
            tlsplug.create_context(tlsplug.TLSOptions(
                backend={backend_name!r}, certificate_key_data={pem!r},
                certificate_key_file_password={PASSWORD!r}))
        print("built")
    """
    done = _subprocess(code, {"TMPDIR": str(tmpdir)})
    assert "built" in done.stdout, done.stderr
    assert list(tmpdir.iterdir()) == []
    created: List[Path] = [p for p in (set(shm.iterdir()) if shm.is_dir() else set())
                           if p not in before]
    for path in created:
        with open(path, "rb") as handle:
            assert marker.encode() not in handle.read()


# -- the context cache --------------------------------------------------------------------


def test_cache_keys_in_memory_material_by_content(backend_name: str, root: CA,
                                                  other: CA) -> None:
    """Equal ca_data returns the cached context; different ca_data a new one."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = tlsplug.create_context(TLSOptions(backend=backend_name, ca_data=root.cert_pem))
        again = tlsplug.create_context(
            TLSOptions(backend=backend_name, ca_data=bytes(root.cert_pem)))
        changed = tlsplug.create_context(TLSOptions(backend=backend_name, ca_data=other.cert_pem))
    assert first is again
    assert changed is not first
