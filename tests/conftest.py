"""Shared test configuration: the ``backend_name`` parametrization over installed backends.

``TLSPLUG_BACKEND=<name>`` restricts every backend-parametrized test to that one backend
(tox uses it to run the suite once per backend).
"""

from __future__ import annotations

import os
from typing import List

import pytest

import tlsplug
from tlsplug.testing.hypothesis_profiles import register

register()  # HYPOTHESIS_PROFILE=dev|ci|deep (default dev)


def backend_names() -> List[str]:
    """The installed backends, or only ``$TLSPLUG_BACKEND`` when it is set (and not auto)."""
    chosen = os.environ.get("TLSPLUG_BACKEND", "").strip().lower()
    if chosen and chosen != "auto":
        return [chosen]
    return tlsplug.available_backends()


@pytest.fixture(params=backend_names())
def backend_name(request: pytest.FixtureRequest) -> str:
    """Each installed backend's name in turn."""
    return str(request.param)


@pytest.fixture(autouse=True)
def _no_thread_outlives_its_test(thread_leak_check: None) -> None:
    """Every test: its threads end with it (tlsplug.testing.fixtures.thread_leak_check)."""
