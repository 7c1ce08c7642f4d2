"""Every file option against hostile files: a precise ConfigurationError on every backend."""

from __future__ import annotations

import contextlib
import os
import pickle
import secrets
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import pytest
from faults_support import backend_names, bounded, make_context

from tlsplug.backend import MAX_FILE_SIZE, ConfigurationError
from tlsplug.testing.pki import CA, LeafCert

PASSWORD = "faults-files-pässword"
LIMIT = 20.0  # seconds any single create_context may take before it counts as a hang

FIELDS = {
    "tlsCAFile": "ca_file",
    "tlsCertificateKeyFile": "certificate_key_file",
    "tlsCRLFile": "crl_file",
}


class World:
    """A small PKI and the well-formed files that the hostile ones are made from."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.root = CA("faults files root")
        self.leaf: LeafCert = self.root.issue_cert("client", client=True, server=False)
        self.other: LeafCert = self.root.issue_cert("other", client=True, server=False,
                                                    fresh_key=True)
        self.ca_pem = self.root.cert_pem
        self.key_pem = self.leaf.private_key_pem()
        self.enc_key_pem = self.leaf.private_key_pem(PASSWORD.encode())
        self.crl_pem = self.root.crl([self.other])
        self.crl_der = self.root.crl([self.other], encoding="der")
        self.combined = self.leaf.cert_pem + self.key_pem

    def write(self, name: str, data: bytes) -> str:
        """Write ``data`` to a fresh file and return its path."""
        path = self.dir / f"{secrets.token_hex(4)}-{name}"
        path.write_bytes(data)
        return str(path)

    def valid(self, option: str) -> bytes:
        """A well-formed file for ``option``."""
        return {"tlsCAFile": self.ca_pem, "tlsCertificateKeyFile": self.combined,
                "tlsCRLFile": self.crl_pem}[option]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """The module's PKI and directory."""
    return World(tmp_path_factory.mktemp("faults-files"))


@dataclass(frozen=True)
class Case:
    """A hostile file for one option, and the code it must produce (None: accepted)."""

    option: str
    kind: str
    code: Optional[str]
    make: Callable[[World], str]
    password: Optional[str] = None
    error_option: Optional[str] = None


def _truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _corrupt_base64(data: bytes) -> bytes:
    lines = data.splitlines(keepends=True)
    lines[2] = b"!!!!" + lines[2][4:]
    return b"".join(lines)


def _sparse_huge(world: World) -> str:
    path = world.write("huge.pem", b"")
    with open(path, "r+b") as handle:
        handle.truncate(MAX_FILE_SIZE + 1)
    return path


def _symlink_loop(world: World) -> str:
    a = world.dir / f"{secrets.token_hex(4)}-loop-a"
    b = world.dir / f"{secrets.token_hex(4)}-loop-b"
    a.symlink_to(b)
    b.symlink_to(a)
    return str(a)


def _directory(world: World) -> str:
    path = world.dir / f"{secrets.token_hex(4)}-dir"
    path.mkdir()
    return str(path)


def _common(option: str) -> List[Case]:
    """The cases every file option shares."""
    return [
        Case(option, "missing", "file-not-found", lambda w: str(w.dir / "does-not-exist.pem")),
        Case(option, "missing-parent-is-a-file", "file-not-found",
             lambda w: w.write("plain", w.valid(option)) + "/child.pem"),
        Case(option, "directory", "invalid-file", _directory),
        Case(option, "empty", "invalid-file", lambda w: w.write("empty.pem", b"")),
        Case(option, "whitespace", "invalid-file", lambda w: w.write("ws.pem", b" \n\t\r\n")),
        Case(option, "truncated-pem", "invalid-file",
             lambda w: w.write("trunc.pem", _truncate(w.valid(option)))),
        Case(option, "corrupt-base64", "invalid-file",
             lambda w: w.write("b64.pem", _corrupt_base64(w.valid(option)))),
        Case(option, "huge", "invalid-file", _sparse_huge),
        Case(option, "binary-garbage", "invalid-file",
             lambda w: w.write("garbage.bin", b"\x00\xff\x30\x82" + os.urandom(4096))),
        Case(option, "symlink-loop", "file-not-found", _symlink_loop),
        Case(option, "device", "invalid-file", lambda w: "/dev/zero"),
    ]


CASES: List[Case] = [
    *_common("tlsCAFile"),
    Case("tlsCAFile", "key-instead-of-cert", "invalid-file",
         lambda w: w.write("key.pem", w.key_pem)),
    Case("tlsCAFile", "crl-instead-of-cert", "invalid-file",
         lambda w: w.write("crl.pem", w.crl_pem)),
    Case("tlsCAFile", "der-cert", "invalid-file", lambda w: w.write("ca.der", w.root.cert_der)),
    *_common("tlsCertificateKeyFile"),
    Case("tlsCertificateKeyFile", "crl-instead-of-cert", "invalid-file",
         lambda w: w.write("crl.pem", w.crl_pem)),
    Case("tlsCertificateKeyFile", "der-cert", "invalid-file",
         lambda w: w.write("leaf.der", w.leaf.cert_der)),
    Case("tlsCertificateKeyFile", "key-elsewhere", "invalid-file",
         lambda w: w.write("cert-only.pem", w.leaf.cert_pem)),
    Case("tlsCertificateKeyFile", "key-only", "invalid-file",
         lambda w: w.write("key-only.pem", w.key_pem)),
    Case("tlsCertificateKeyFile", "other-key", "key-mismatch",
         lambda w: w.write("mismatch.pem", w.leaf.cert_pem + w.other.private_key_pem())),
    Case("tlsCertificateKeyFile", "truncated-key", "invalid-file",
         lambda w: w.write("tkey.pem", w.leaf.cert_pem + _truncate(w.key_pem))),
    Case("tlsCertificateKeyFile", "wrong-password", "bad-password",
         lambda w: w.write("enc.pem", w.leaf.cert_pem + w.enc_key_pem),
         password="not-the-password", error_option="tlsCertificateKeyFilePassword"),
    Case("tlsCertificateKeyFile", "password-on-plain-key", "bad-password",
         lambda w: w.write("plain.pem", w.combined),
         password=PASSWORD, error_option="tlsCertificateKeyFilePassword"),
    Case("tlsCertificateKeyFile", "encrypted-no-password", "password-required",
         lambda w: w.write("enc.pem", w.leaf.cert_pem + w.enc_key_pem)),
    Case("tlsCertificateKeyFile", "encrypted-right-password", None,
         lambda w: w.write("enc.pem", w.leaf.cert_pem + w.enc_key_pem), password=PASSWORD),
    *_common("tlsCRLFile"),
    Case("tlsCRLFile", "cert-instead-of-crl", "invalid-file",
         lambda w: w.write("cert.pem", w.ca_pem)),
    Case("tlsCRLFile", "der-crl", None, lambda w: w.write("crl.der", w.crl_der)),
    Case("tlsCRLFile", "truncated-der", "invalid-file",
         lambda w: w.write("tcrl.der", _truncate(w.crl_der))),
    Case("tlsCRLFile", "der-cert", "invalid-file", lambda w: w.write("cert.der", w.root.cert_der)),
]


def _fields(case: Case, path: str) -> Dict[str, object]:
    fields: Dict[str, object] = {FIELDS[case.option]: path}
    if case.password is not None:
        fields["certificate_key_file_password"] = case.password
    return fields


@pytest.mark.parametrize("backend", backend_names())
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.option}-{c.kind}")
def test_hostile_file(world: World, backend: str, case: Case) -> None:
    """The case's file gives its exact code, option and path (or is accepted), within bounds."""
    path = case.make(world)
    fields = _fields(case, path)
    if case.code is None:
        bounded(lambda: make_context(backend, **fields), LIMIT)
        return
    with pytest.raises(ConfigurationError) as info:
        bounded(lambda: make_context(backend, **fields), LIMIT)
    err = info.value
    assert (err.code, err.option, err.path) == (
        case.code, case.error_option or case.option, path
    ), str(err)
    assert path in str(err)
    assert err.hint
    if case.password is not None:
        assert case.password not in str(err)
        assert case.password not in repr(err)
        assert case.password not in repr(pickle.loads(pickle.dumps(err)).__dict__)


@contextlib.contextmanager
def _fifo(world: World) -> Iterator[Tuple[str, Callable[[], None]]]:
    path = str(world.dir / f"{secrets.token_hex(4)}-fifo")
    os.mkfifo(path)

    def release() -> None:
        # Opening the write end unblocks a reader stuck in open(); closing it gives EOF.
        with contextlib.suppress(OSError):
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)

    try:
        yield path, release
    finally:
        os.unlink(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
@pytest.mark.parametrize("backend", backend_names())
@pytest.mark.parametrize("option", list(FIELDS))
def test_fifo_without_writer_does_not_hang(world: World, backend: str, option: str) -> None:
    """A named pipe nobody writes to is refused as invalid-file instead of blocking forever."""
    with _fifo(world) as (path, release), pytest.raises(ConfigurationError) as info:
        bounded(lambda: make_context(backend, **{FIELDS[option]: path}), 5.0,
                on_timeout=release)
    assert (info.value.code, info.value.option, info.value.path) == (
        "invalid-file", option, path)


def _unreadable_code_as(uid: Optional[int], backend: str, option: str, path: str) -> str:
    """create_context's outcome for ``path``, as ``uid`` (a forked child) or as ourselves."""
    if uid is None:
        try:
            make_context(backend, **{FIELDS[option]: path})
        except ConfigurationError as exc:
            return f"{exc.code}|{exc.option}|{exc.path}"
        return "ok"
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        outcome = "child-crashed"
        try:
            os.setgid(uid)
            os.setuid(uid)
            outcome = _unreadable_code_as(None, backend, option, path)
        except BaseException as exc:
            outcome = f"child-error {type(exc).__name__}: {exc}"
        finally:
            os.write(write_fd, outcome.encode("utf-8", "replace"))
            os._exit(0)
    os.close(write_fd)
    chunks: List[bytes] = []
    while True:
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_fd)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode("utf-8")


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize("backend", backend_names())
@pytest.mark.parametrize("option", list(FIELDS))
def test_unreadable_file(world: World, backend: str, option: str) -> None:
    """A file without read permission is file-unreadable, even when the tests run as root.

    As root (which reads any file) the check runs in a forked child that drops to an
    unprivileged uid first, so the permission check is real rather than simulated.
    """
    # Its own world-traversable directory, so the unprivileged child can reach the file.
    base = Path(tempfile.mkdtemp(prefix="tlsplug-faults-"))
    try:
        base.chmod(0o711)
        path = base / "secret.pem"
        path.write_bytes(world.valid(option))
        path.chmod(0)
        make_context(backend)  # import everything the child needs before dropping privileges
        uid = 65534 if os.geteuid() == 0 else None
        with _warnings_quiet():
            outcome = bounded(
                lambda: _unreadable_code_as(uid, backend, option, str(path)), LIMIT
            )
    finally:
        shutil.rmtree(base, ignore_errors=True)
    if outcome.startswith("child-error"):
        pytest.skip(f"running as root can read any file (cannot drop privileges: {outcome})")
    assert outcome == f"file-unreadable|{option}|{path}"


@contextlib.contextmanager
def _warnings_quiet() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        # Python 3.12+ warns that fork() in a process with threads may deadlock the child;
        # the child only runs already-imported code and exits.
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def test_many_threads_loading_bad_files(world: World) -> None:
    """Sixteen threads failing on bad files at once each get their own, correct error."""
    paths = [world.write(f"bad{i}.pem", b"junk" * i) for i in range(1, 17)]
    results: List[str] = []
    lock = threading.Lock()

    def worker(path: str) -> None:
        for name in backend_names():
            try:
                make_context(name, ca_file=path)
                code = "ok"
            except ConfigurationError as exc:
                code = f"{exc.code}|{exc.path == path}"
            with lock:
                results.append(code)

    threads = [threading.Thread(target=worker, args=(p,), daemon=True) for p in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(LIMIT)
    assert not any(t.is_alive() for t in threads), "hang"
    assert results == ["invalid-file|True"] * (16 * len(backend_names()))


if sys.platform == "win32":  # pragma: no cover
    pytestmark = pytest.mark.skip(reason="POSIX file semantics")
