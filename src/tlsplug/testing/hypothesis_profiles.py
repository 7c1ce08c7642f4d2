"""Hypothesis profiles shared by tlsplug's suites: ``dev``, ``ci`` and ``deep``.

``ci-wide`` is ``ci`` with fewer examples, for CI's other interpreters.
``register()`` defines them and loads the one named by ``$HYPOTHESIS_PROFILE`` (default
``dev``). ``ci`` is derandomized so a red CI run reproduces exactly on a laptop.
"""

from __future__ import annotations

import os

__all__ = ["PROFILES", "register"]

PROFILES = {
    "dev": {"max_examples": 50},
    "ci": {"max_examples": 500, "derandomize": True, "print_blob": True},
    # CI runs "ci" on one interpreter per backend and this one on the others: every
    # property still runs everywhere, the deep search once (.ci/run, tox.ini).
    "ci-wide": {"max_examples": 100, "derandomize": True, "print_blob": True},
    "deep": {"max_examples": 20_000, "print_blob": True},
}


def register(default: str = "dev") -> str:
    """Register the profiles, load ``$HYPOTHESIS_PROFILE`` (or ``default``) and return its name."""
    from hypothesis import HealthCheck, settings

    for name, values in PROFILES.items():
        settings.register_profile(
            name,
            deadline=None,  # handshakes on shared 2-core machines: time is not the property
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            **values,  # type: ignore[arg-type]
        )
    chosen = os.environ.get("HYPOTHESIS_PROFILE", default)
    settings.load_profile(chosen)
    return chosen
