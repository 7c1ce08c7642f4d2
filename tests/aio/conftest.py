"""Fixtures of the asyncio tests: a bounded, leak-checking ``asyncio.run`` (no pytest-asyncio)."""

from __future__ import annotations

import asyncio
import gc
import warnings
from typing import Any, Callable, Coroutine, Dict, List, TypeVar

import pytest

T = TypeVar("T")
Runner = Callable[..., Any]

#: Upper bound, in seconds, of every asyncio test body.
TEST_BOUND = 30.0


def run_bounded(coro: Coroutine[Any, Any, T], bound: float = TEST_BOUND) -> T:
    """``asyncio.run(coro)`` within ``bound`` seconds; fail on any leak the loop reports.

    Leaks checked: ResourceWarning (unclosed sockets/transports/writers), "Task was
    destroyed but it is pending" and "exception was never retrieved" (both go to the
    loop's exception handler).
    """
    reports: List[Dict[str, Any]] = []

    async def main() -> T:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: reports.append(ctx))
        return await asyncio.wait_for(coro, bound)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        result = asyncio.run(main())
        gc.collect()
    leaks = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, f"resource leaks: {[str(w.message) for w in leaks]}"
    assert not reports, f"the event loop reported: {[r.get('message') for r in reports]}"
    return result


@pytest.fixture
def aio_run() -> Runner:
    """The bounded ``asyncio.run`` of :func:`run_bounded`."""
    return run_bounded
