"""Backend discovery through entry points, and the selection order of docs/design.md."""

from __future__ import annotations

import pathlib
import sys
import textwrap
from typing import Iterator

import pytest

import tlsplug
from tlsplug import ConfigurationError, TLSOptions, _registry


@pytest.fixture
def extra_dist(tmp_path: pathlib.Path) -> Iterator[pathlib.Path]:
    """A real distribution on sys.path whose entry points the test writes."""
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in ("broken", "toy"):
        _registry._loaded.pop(name, None)
    sys.modules.pop("toy_backend", None)


def write_dist(root: pathlib.Path, name: str, entry_points: str) -> None:
    info = root / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


def test_stdlib_is_always_available() -> None:
    """The core registers its stdlib backend through its own entry point."""
    assert "stdlib" in tlsplug.available_backends()
    assert tlsplug.get_backend("stdlib").name == "stdlib"
    assert tlsplug.get_backend("StdLib") is tlsplug.get_backend("stdlib")


def test_unknown_backend_lists_what_is_installed() -> None:
    """A name nobody registered is backend-not-found, listing the installed backends."""
    with pytest.raises(ConfigurationError, match="stdlib") as info:
        tlsplug.get_backend("gnutls")
    assert info.value.code == "backend-not-found"
    # No package named after an unknown backend is suggested: it may not exist.
    assert "tlsplug-gnutls" not in info.value.hint
    assert "stdlib" in info.value.hint


def test_broken_backend_names_the_package(extra_dist: pathlib.Path) -> None:
    """A registered backend whose import fails is backend-unavailable naming its package."""
    write_dist(extra_dist, "tlsplug_broken", """
        [tlsplug.backends]
        broken = no_such_module_anywhere:backend
        """)
    with pytest.raises(ConfigurationError) as info:
        tlsplug.get_backend("broken")
    assert info.value.code == "backend-unavailable"
    assert "tlsplug_broken" in info.value.hint
    assert isinstance(info.value.__cause__, ImportError)


def test_auto_skips_a_broken_backend_with_a_warning(extra_dist: pathlib.Path) -> None:
    """Under auto a backend that cannot load is skipped loudly, never silently."""
    write_dist(extra_dist, "tlsplug_broken", """
        [tlsplug.backends]
        broken = no_such_module_anywhere:backend
        """)
    with pytest.warns(RuntimeWarning, match="broken"):
        chosen = tlsplug.select_backend(TLSOptions(backend="auto"))
    assert chosen.name in ("stdlib", "pyopenssl")


def test_auto_picks_the_highest_priority(extra_dist: pathlib.Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """auto chooses the loadable backend with the highest priority."""
    (extra_dist / "toy_backend.py").write_text(textwrap.dedent("""
        class Toy:
            name = "toy"
            priority = 1000
            features = frozenset()
        backend = Toy()
        """))
    write_dist(extra_dist, "tlsplug_toy", """
        [tlsplug.backends]
        toy = toy_backend:backend
        """)
    monkeypatch.delenv("TLSPLUG_BACKEND", raising=False)
    assert tlsplug.select_backend().name == "toy"
    assert tlsplug.select_backend(TLSOptions(backend="stdlib")).name == "stdlib"


def test_environment_variable_selects(monkeypatch: pytest.MonkeyPatch) -> None:
    """TLSPLUG_BACKEND chooses when the options do not."""
    monkeypatch.setenv("TLSPLUG_BACKEND", "stdlib")
    assert tlsplug.select_backend(TLSOptions()).name == "stdlib"
    monkeypatch.setenv("TLSPLUG_BACKEND", "nope")
    with pytest.raises(ConfigurationError) as info:
        tlsplug.select_backend(TLSOptions())
    assert info.value.code == "backend-not-found"


def test_options_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """tlsBackend in the URI wins over TLSPLUG_BACKEND."""
    monkeypatch.setenv("TLSPLUG_BACKEND", "nope")
    options = TLSOptions.parse("mongodb://h/?tlsBackend=stdlib")
    assert tlsplug.select_backend(options).name == "stdlib"


def test_insecure_options_warn_when_a_context_is_built() -> None:
    """Building a context with relaxed verification emits a SecurityWarning."""
    with pytest.warns(tlsplug.SecurityWarning, match="tlsInsecure"):
        _registry.warn_if_insecure(TLSOptions(insecure=True))
    with pytest.warns(tlsplug.SecurityWarning, match="legacy"):
        _registry.warn_if_insecure(TLSOptions(profile="legacy"))


def _impostor(root: pathlib.Path, name: str) -> None:
    """A real package registering ``name`` whose backend would accept anything."""
    write_dist(root, "evil_backend", f"""
        [tlsplug.backends]
        {name} = toy_backend:backend
        """)
    (root / "toy_backend.py").write_text("backend = object()\n")


@pytest.mark.parametrize("name", ["stdlib", "pyopenssl"])
def test_builtin_name_cannot_be_replaced(extra_dist: pathlib.Path, name: str) -> None:
    """A package first on sys.path registering a built-in name is ignored and reported."""
    _impostor(extra_dist, name)
    _registry._loaded.pop(name, None)
    with pytest.warns(tlsplug.SecurityWarning, match="evil_backend"):
        installed = tlsplug.available_backends()
    conflicts = _registry.registration_conflicts()
    assert any("evil_backend" in text for text in conflicts[name])
    if name in installed:  # the genuine backend is installed: it is the one loaded
        backend = tlsplug.get_backend(name)
        assert type(backend).__module__.startswith(_registry.BUILTIN_MODULES[name])
    else:  # the genuine one is absent: the name is not installed, the impostor never loads
        with pytest.raises(ConfigurationError) as info:
            tlsplug.get_backend(name)
        assert info.value.code == "backend-not-found"
    assert "toy_backend" not in sys.modules


def test_second_registration_of_any_name_is_reported(extra_dist: pathlib.Path) -> None:
    """Two packages registering "toy": the first on sys.path is used, with a warning."""
    first, second = extra_dist / "a", extra_dist / "b"
    first.mkdir()
    second.mkdir()
    write_dist(first, "toy_one", "[tlsplug.backends]\ntoy = toy_backend:backend\n")
    write_dist(second, "toy_two", "[tlsplug.backends]\ntoy = toy_backend:other\n")
    sys.path[1:1] = [str(first), str(second)]
    try:
        with pytest.warns(tlsplug.SecurityWarning, match="toy_two"):
            tlsplug.available_backends()
        assert _registry.registration_conflicts()["toy"] == ["toy_two (toy_backend:other)"]
    finally:
        sys.path.remove(str(first))
        sys.path.remove(str(second))


def test_cli_backends_lists_ignored_registrations(extra_dist: pathlib.Path) -> None:
    """`tlsplug backends --json` shows the package that claimed a built-in name."""
    from tlsplug._cli._backends_cmd import inspect_backends, report

    _impostor(extra_dist, "stdlib")
    with pytest.warns(tlsplug.SecurityWarning):
        data = report(inspect_backends())
    assert any("evil_backend" in text for text in data["ignored_registrations"]["stdlib"])
    assert data["auto"]["name"] in ("stdlib", "pyopenssl")
