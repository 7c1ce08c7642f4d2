"""The public conformance suite, run for every installed backend."""

from __future__ import annotations

from tlsplug.testing.conformance import BackendConformance


class TestConformance(BackendConformance):
    """``tlsplug.testing.conformance`` for each backend of the ``backend_name`` parameter."""
