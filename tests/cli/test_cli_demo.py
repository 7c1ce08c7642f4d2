"""``tlsplug demo``: the scenario matrix runs in-process, within bounds, all as expected."""

from __future__ import annotations

import threading
import time
from typing import Any

from tlsplug._cli._demo import SCENARIOS


def test_demo_in_process(cli: Any, usable_backend_names: Any) -> None:
    """Every scenario row is printed, every outcome that ran is ✓, and exit status is 0."""
    threads_before = threading.active_count()
    start = time.monotonic()
    status, out = cli("demo")
    elapsed = time.monotonic() - start
    assert status == 0, out
    assert elapsed < 15, f"demo took {elapsed:.1f} s"
    for scenario in SCENARIOS:
        assert scenario.title in out
        assert scenario.expected in out
    # The summary line's legend spells both marks; every other line must be free of ✗.
    body = [line for line in out.splitlines() if "outcomes as expected" not in line]
    assert not [line for line in body if "✗" in line]
    assert out.count("✓") >= len(usable_backend_names) * 5
    assert all(len(line) <= 80 for line in out.splitlines()), out
    # Every server thread it started has been stopped.
    deadline = time.monotonic() + 5
    while threading.active_count() > threads_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= threads_before


def test_scenarios_state_expectations() -> None:
    """Each scenario names an expected outcome that is ok or a docs/design.md error code."""
    from tlsplug._errors import ALL_CODES

    for scenario in SCENARIOS:
        assert scenario.expected == "ok" or scenario.expected in ALL_CODES
