"""The key password never shows: repr, str, errors, tracebacks, warnings, logs, CLI output."""

from __future__ import annotations

import base64
import logging
import os
import socket
import subprocess
import sys
import traceback
import urllib.parse
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest
from faults_support import TIMEOUT, backend_names, bounded, make_context

import tlsplug
from tlsplug import TLSOptions
from tlsplug.backend import TLSError
from tlsplug.testing.pki import CA, LeafCert
from tlsplug.testing.servers import TLSServer

SECRET = "Pa$$ w0rd/ä%&+=?#'\"\\x"
LIMIT = 60.0


def spellings(secret: str = SECRET) -> List[str]:
    """Every way the password could leak into text: plain, URL-encoded, escaped, base64."""
    raw = secret.encode("utf-8")
    forms = {
        secret,
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret, safe=""),
        urllib.parse.quote(secret),
        repr(secret)[1:-1],
        repr(raw)[2:-1],
        secret.encode("unicode_escape").decode("ascii"),
        base64.b64encode(raw).decode("ascii"),
        raw.hex(),
        "Pa$$ w0rd",  # a recognisable prefix is already a leak
    }
    return sorted(forms)


def assert_clean(text: str, where: str) -> None:
    """Fail if ``text`` contains any spelling of the password."""
    for form in spellings():
        assert form not in text, f"password ({form!r}) leaked in {where}: {text[:2000]}"


class Everything(logging.Handler):
    """Collects every record of every logger, formatted with arguments and tracebacks."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: List[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(self.format(record))
        self.texts.append(repr(record.args))
        self.texts.append(repr(record.__dict__))


@pytest.fixture
def all_logs() -> Iterator[Everything]:
    """Every logger at DEBUG (root, tlsplug.* and any other), captured."""
    handler = Everything()
    root = logging.getLogger()
    names = ["", *[n for n in logging.root.manager.loggerDict if n.startswith("tlsplug")],
             "tlsplug", "tlsplug.ocsp"]
    saved = {name: logging.getLogger(name).level for name in names}
    root.addHandler(handler)
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
    for text in handler.texts:
        assert_clean(text, "a log record")


class World:
    """A client certificate with an encrypted key, and a server requiring client certs."""

    def __init__(self, directory: Path) -> None:
        self.root = CA("faults secrets root")
        self.server_leaf = self.root.issue_cert("localhost")
        self.client: LeafCert = self.root.issue_cert("client", client=True, server=False)
        self.ca_file = str(self.root.write_cert(directory / "ca.pem"))
        files = self.client.write(directory, basename="client", password=SECRET.encode())
        assert files.combined_file is not None
        self.key_file = str(files.combined_file)
        plain = self.client.write(directory, basename="plain")
        assert plain.combined_file is not None
        self.plain_key_file = str(plain.combined_file)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """The module's PKI and files."""
    return World(tmp_path_factory.mktemp("faults-secrets"))


def _error_texts(exc: BaseException) -> List[str]:
    texts = [str(exc), repr(exc), repr(exc.__dict__), repr(exc.args),
             "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))]
    cause = exc.__cause__ or exc.__context__
    if cause is not None:
        texts += _error_texts(cause)
    return texts


def _failing(world: World) -> List[Callable[[], Any]]:
    """Operations that must fail while holding the password."""
    uri_secret = urllib.parse.quote(SECRET, safe="")
    out: List[Callable[[], Any]] = [
        lambda: TLSOptions.parse(
            f"mongodb://h/?tlsInsecure=true&tlsAllowInvalidHostnames=true"
            f"&tlsCertificateKeyFilePassword={uri_secret}"),
        lambda: TLSOptions.parse(None, tlsCertificateKeyFilePassword=SECRET, tls=False),
        lambda: TLSOptions.parse(None, tlsCertificateKeyFilePasword=SECRET),
        lambda: TLSOptions.parse(f"mongodb://h/?tlsCertificateKeyFilePassword={uri_secret}"
                                 f"&tlsCertificateKeyFilePassword=other&tls=maybe", tls=7),
    ]
    for name in backend_names():
        out += [
            lambda name=name: make_context(  # type: ignore[misc]
                name, certificate_key_file=world.key_file,
                certificate_key_file_password=SECRET + "wrong"),
            lambda name=name: make_context(  # type: ignore[misc]
                name, certificate_key_file=world.plain_key_file,
                certificate_key_file_password=SECRET),
            lambda name=name: make_context(  # type: ignore[misc]
                name, certificate_key_file="/nonexistent/client.pem",
                certificate_key_file_password=SECRET),
            lambda name=name: make_context(  # type: ignore[misc]
                name, certificate_key_file=world.key_file,
                certificate_key_file_password=SECRET, ca_file="/nonexistent/ca.pem"),
        ]
    return out


def test_errors_tracebacks_and_logs_never_show_the_password(
    world: World, all_logs: Everything
) -> None:
    """Every failure holding the password keeps it out of str, repr, causes and tracebacks."""
    for operation in _failing(world):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                bounded(operation, LIMIT)
            except (TLSError, ValueError) as exc:
                for i, text in enumerate(_error_texts(exc)):
                    assert_clean(text, f"error text #{i} of {type(exc).__name__}")
            else:
                pytest.fail("the operation was expected to fail")
        for warning in caught:
            assert_clean(str(warning.message), "a warning")


def test_legacy_spelling_warning_hides_the_password(all_logs: Everything) -> None:
    """The PyMongo 3 name ssl_pem_passphrase warns about the rename, not about the value."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        options = TLSOptions.parse(
            "mongodb://h/?ssl_pem_passphrase=" + urllib.parse.quote(SECRET, safe=""),
            ssl_certfile="/c.pem")
    assert options.certificate_key_file_password == SECRET
    assert caught, "a DeprecationWarning was expected"
    for warning in caught:
        assert_clean(str(warning.message), "a warning")
    assert_clean(repr(options), "repr(options)")
    assert_clean(str(options), "str(options)")


@pytest.mark.parametrize("backend", backend_names())
def test_working_connection_never_shows_the_password(
    world: World, backend: str, all_logs: Everything
) -> None:
    """A mutual-TLS connection with the encrypted key shows the password nowhere."""
    def run() -> List[str]:
        ctx = make_context(backend, ca_file=world.ca_file, certificate_key_file=world.key_file,
                           certificate_key_file_password=SECRET)
        texts = [repr(ctx), str(ctx), repr(ctx.__dict__)]
        with TLSServer(cert=world.server_leaf, require_client_cert=world.root,
                       timeout=TIMEOUT) as server:
            sock = socket.create_connection(server.address, timeout=TIMEOUT)
            with ctx.wrap_socket(sock, server_hostname="localhost") as tls:
                tls.sendall(b"x")
                assert tls.recv(1) == b"x"
                texts += [repr(tls), str(tls)]
            assert len(server.peer_certs) == 1
            # A refused handshake with the same context: the error must be clean too.
            sock = socket.create_connection(server.address, timeout=TIMEOUT)
            try:
                ctx.wrap_socket(sock, server_hostname="wrong.example")
            except TLSError as exc:
                texts += _error_texts(exc)
        return texts

    for i, text in enumerate(bounded(run, LIMIT)):
        assert_clean(text, f"text #{i}")


def _cli(*args: str) -> str:
    env = dict(os.environ, PYTHONWARNINGS="always", NO_COLOR="1")
    result = subprocess.run(
        [sys.executable, "-m", "tlsplug", *args], capture_output=True, text=True,
        timeout=LIMIT, env=env, check=False,
    )
    return f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


def test_cli_options_never_shows_the_password(world: World) -> None:
    """``tlsplug options`` explains a URI and flags with a password without printing it."""
    quoted = urllib.parse.quote(SECRET, safe="")
    outputs = [
        _cli("options", f"mongodb://u:p@h/?tlsCertificateKeyFile=/c.pem"
                        f"&tlsCertificateKeyFilePassword={quoted}"),
        _cli("options", "--tlsCertificateKeyFile", "/c.pem",
             "--tlsCertificateKeyFilePassword", SECRET),
        _cli("options", f"mongodb://h/?tls=false&tlsCertificateKeyFilePassword={quoted}"),
        _cli("options", f"mongodb://h/?ssl_pem_passphrase={quoted}&ssl_certfile=/c.pem"),
    ]
    for output in outputs:
        assert "exit" in output
        assert_clean(output, "tlsplug options output")
    assert "exit 0" in outputs[0]
    assert "exit 0" in outputs[1]


@pytest.mark.parametrize("password", [SECRET, SECRET + "wrong"], ids=["right", "wrong"])
def test_cli_check_json_never_shows_the_password(world: World, password: str) -> None:
    """``tlsplug check --json`` with the password flag (right or wrong) never prints it."""
    with TLSServer(cert=world.server_leaf, optional_client_cert=world.root,
                   timeout=TIMEOUT) as server:
        output = _cli("check", "--json", f"127.0.0.1:{server.port}",
                      "--server-hostname", "localhost", "--backend", "all",
                      "--tlsCAFile", world.ca_file, "--tlsCertificateKeyFile", world.key_file,
                      "--tlsCertificateKeyFilePassword", password, "--timeout", "5")
        text_output = _cli("check", f"127.0.0.1:{server.port}", "--server-hostname",
                           "localhost", "--tlsCAFile", world.ca_file,
                           "--tlsCertificateKeyFile", world.key_file,
                           "--tlsCertificateKeyFilePassword", password)
    assert ("exit 0" in output) is (password == SECRET), output
    assert_clean(output, "tlsplug check --json output")
    assert_clean(text_output, "tlsplug check output")


def test_options_objects_never_show_the_password() -> None:
    """repr/str of options (parsed every way) show a mask; only to_uri_options returns it."""
    quoted = urllib.parse.quote(SECRET, safe="")
    made = [
        TLSOptions.parse(f"mongodb://h/?tlsCertificateKeyFilePassword={quoted}"),
        TLSOptions.parse(None, tlsCertificateKeyFilePassword=SECRET),
        TLSOptions(certificate_key_file_password=SECRET),
    ]
    for options in made:
        assert options.certificate_key_file_password == SECRET
        assert_clean(repr(options), "repr(options)")
        assert_clean(str(options), "str(options)")
        assert_clean(f"{options!r:>10}", "format(options)")
        assert options.to_uri_options()["tlsCertificateKeyFilePassword"] == SECRET  # by design
    assert tlsplug.TLSOptions is TLSOptions
