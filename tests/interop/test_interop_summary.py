"""The interop suite says loudly when servers are missing (not itself an interop test)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Tuple

import pytest

TESTS_DIR = Path(__file__).resolve().parent.parent

FAKE_SUITE = textwrap.dedent(
    """
    import pytest

    from interop.conftest import need_binary

    pytestmark = pytest.mark.interop

    def test_needs_a_missing_server():
        need_binary("tlsplug-no-such-server", "tlsplug-no-such-package")

    def test_needs_nothing():
        pass
    """
)


def _run(tmp_path: Path, ci: bool) -> Tuple[int, str]:
    """Run a two-test interop suite whose first test lacks its server; (status, output)."""
    (tmp_path / "test_fake_interop.py").write_text(FAKE_SUITE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "true"
    env["PYTHONPATH"] = str(TESTS_DIR)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # only the interop conftest, started quickly
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "interop.conftest", "-c", os.devnull,
         "--rootdir", str(tmp_path), "-p", "no:cacheprovider", "-m", "interop",
         str(tmp_path / "test_fake_interop.py")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )
    return done.returncode, done.stdout


def test_skipped_tests_are_counted_and_the_package_named(tmp_path: Path) -> None:
    """Locally a missing server skips, and the summary counts the skips and names the package."""
    status, out = _run(tmp_path, ci=False)
    assert status == 0, out
    assert "interop: 1 of 2 tests SKIPPED - missing: tlsplug-no-such-package" in out
    assert "apt-get install tlsplug-no-such-package" in out


def test_a_missing_server_fails_under_ci(tmp_path: Path) -> None:
    """With CI set a missing server fails the run, and the summary says so."""
    status, out = _run(tmp_path, ci=True)
    assert status == 1, out
    assert "interop: 1 of 2 tests FAILED (CI is set) - missing: tlsplug-no-such-package" in out


@pytest.mark.parametrize("ci", [False, True])
def test_no_line_when_every_server_is_there(tmp_path: Path, ci: bool) -> None:
    """A suite that needs nothing missing prints no interop warning line."""
    (tmp_path / "test_fake_interop.py").write_text(
        "import pytest\npytestmark = pytest.mark.interop\ndef test_ok():\n    pass\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "true"
    env["PYTHONPATH"] = str(TESTS_DIR)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "interop.conftest", "-c", os.devnull,
         "--rootdir", str(tmp_path), "-p", "no:cacheprovider",
         str(tmp_path / "test_fake_interop.py")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )
    assert done.returncode == 0, done.stdout
    assert "interop:" not in done.stdout
