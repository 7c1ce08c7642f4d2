"""The public conformance suite, run for every installed backend."""

from __future__ import annotations

import pytest

import tlsplug
from tlsplug.testing.conformance import BackendConformance


class TestConformance(BackendConformance):
    """``tlsplug.testing.conformance`` for each backend of the ``backend_name`` parameter."""

    @pytest.fixture
    def backend_name(self, backend_name: str) -> str:
        """The conftest's backend, skipped only while it is an unimplemented placeholder."""
        try:
            tlsplug.get_backend(backend_name).check(tlsplug.TLSOptions(enabled=True))
        except tlsplug.ConfigurationError as exc:
            if exc.code == "backend-unavailable" and backend_name == "pyopenssl":
                pytest.skip("pyopenssl backend not implemented yet")
            raise
        return backend_name
