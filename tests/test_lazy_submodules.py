"""``import tlsplug`` reaches the public submodules lazily (PEP 562)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import tlsplug

SUBMODULES = ("aio", "backend", "ocsp", "testing")


def _run(code: str) -> str:
    """Run ``code`` in a fresh interpreter (nothing imported yet) and return its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


def test_import_tlsplug_does_not_import_the_submodules() -> None:
    """A bare ``import tlsplug`` leaves asyncio support and the test kit unimported."""
    out = _run(
        "import sys, tlsplug; "
        f"print(sorted(m for m in {SUBMODULES!r} if 'tlsplug.' + m in sys.modules))"
    )
    assert out == "[]"


def test_aio_open_connection_is_reachable_after_import_tlsplug() -> None:
    """``tlsplug.aio.open_connection`` works with only ``import tlsplug`` written."""
    out = _run("import tlsplug; print(tlsplug.aio.open_connection.__qualname__)")
    assert out == "open_connection"


@pytest.mark.parametrize("name", SUBMODULES)
def test_each_public_submodule_is_an_attribute(name: str) -> None:
    """Each public submodule is returned by attribute access and listed by ``dir()``."""
    module = getattr(tlsplug, name)
    assert module is sys.modules[f"tlsplug.{name}"]
    assert name in dir(tlsplug)


def test_unknown_attribute_is_still_an_attribute_error() -> None:
    """A name that is neither exported nor a public submodule raises AttributeError."""
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        tlsplug.nope  # type: ignore[attr-defined]  # noqa: B018


def test_submodules_stay_out_of_all() -> None:
    """``from tlsplug import *`` keeps to the curated names and imports no submodule."""
    assert not set(SUBMODULES) & set(tlsplug.__all__)
