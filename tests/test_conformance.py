"""The public conformance suite, run for every installed backend."""

from __future__ import annotations

import pytest

from tlsplug.testing.conformance import BackendConformance


class TestConformance(BackendConformance):
    """``tlsplug.testing.conformance`` for each backend of the ``backend_name`` parameter."""

    @pytest.fixture
    def backend_name(self, backend_name: str) -> str:
        """The conftest's parametrized backend (every installed one, or $TLSPLUG_BACKEND)."""
        return backend_name
