"""The two distributions stay in step: one version, and the backend bounds the core to it."""

from __future__ import annotations

import re
from importlib import metadata

import pytest

import tlsplug


def test_core_version_is_the_installed_distributions() -> None:
    """``tlsplug.__version__`` (the one version source) is what the metadata says."""
    assert metadata.version("tlsplug") == tlsplug.__version__


def test_pyopenssl_extra_asks_for_the_backend_of_the_same_minor_series() -> None:
    """``tlsplug[pyopenssl]`` requires tlsplug-pyopenssl of this version's minor series."""
    extras = [r for r in metadata.requires("tlsplug") or [] if r.startswith("tlsplug-pyopenssl")]
    assert len(extras) == 1, extras
    major, minor, _ = tlsplug.__version__.split(".", 2)
    spec = re.sub(r"\s", "", extras[0].split(";")[0])[len("tlsplug-pyopenssl"):]
    assert set(spec.split(",")) == {f">={tlsplug.__version__}", f"<{major}.{int(minor) + 1}"}
    marker = extras[0].split(";")[1].replace("'", '"').replace(" ", "")
    assert marker == 'extra=="pyopenssl"'


def test_backend_is_released_with_the_core_and_bounds_its_minor_series() -> None:
    """tlsplug-pyopenssl has the core's version and requires tlsplug of that minor series."""
    try:
        requires = metadata.requires("tlsplug-pyopenssl") or []
    except metadata.PackageNotFoundError:
        pytest.skip("needs tlsplug-pyopenssl installed")
    import tlsplug_pyopenssl

    assert metadata.version("tlsplug-pyopenssl") == tlsplug_pyopenssl.__version__
    assert tlsplug_pyopenssl.__version__ == tlsplug.__version__
    core = [r for r in requires if re.match(r"tlsplug\b(?!-)", r)]
    assert len(core) == 1, requires
    major, minor, _ = tlsplug.__version__.split(".", 2)
    bounds = set(re.sub(r"\s", "", core[0])[len("tlsplug"):].split(","))
    assert bounds == {f">={tlsplug.__version__}", f"<{major}.{int(minor) + 1}"}
