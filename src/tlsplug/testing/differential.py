"""The differential suite's building blocks: scenarios, an oracle, and the property itself.

Any backend - ours or a third party's - can be held to the same verdicts::

    from hypothesis import given
    from tlsplug.testing.differential import check_scenario, scenarios

    @given(scenarios())
    def test_my_backend_agrees(scenario):
        check_scenario(scenario, backends=["stdlib", "mybackend"])

Modules behind it, one concept each: ``_diff_scenario`` (the data), ``_diff_strategies``
(hypothesis), ``_diff_oracle`` (the specification's prediction and its precedence rules),
``_diff_realize`` (PKI, files, options), ``_diff_run`` (the handshake, in memory or over a
loopback socket). Needs ``cryptography`` and ``hypothesis``; pyOpenSSL only for staples.
"""

from __future__ import annotations

import itertools
import tempfile
import warnings
from pathlib import Path
from typing import Dict, FrozenSet, List, Optional, Sequence, Union

import tlsplug
from tlsplug import ocsp
from tlsplug.backend import Backend, Feature, SecurityWarning

from . import _diff_run
from ._diff_oracle import (
    ALL_FEATURES,
    MISSING_FEATURE_RULES,
    OPTION_FEATURES,
    expected_outcome,
    host_matches,
    needed_features,
)
from ._diff_realize import Realized, build_options, realize
from ._diff_run import handshake_in_memory
from ._diff_scenario import Opts, Scenario
from ._diff_strategies import dial_candidates, options, scenarios

__all__ = [
    "ALL_FEATURES",
    "MISSING_FEATURE_RULES",
    "OPTION_FEATURES",
    "DifferentialFailure",
    "Opts",
    "Realized",
    "Scenario",
    "build_options",
    "check_scenario",
    "dial_candidates",
    "expected_outcome",
    "handshake_in_memory",
    "host_matches",
    "needed_features",
    "options",
    "realize",
    "run_scenario",
    "scenarios",
]

BackendLike = Union[str, Backend]


class DifferentialFailure(AssertionError):
    """A backend disagreed with the oracle or with another backend."""


def _backend(backend: BackendLike) -> Backend:
    return tlsplug.get_backend(backend) if isinstance(backend, str) else backend


def _run(scenario: Scenario, r: Realized, backend: Backend, transport: str) -> str:
    return _diff_run.run_realized(scenario, r, backend, transport)


def run_scenario(
    backend_name: BackendLike,
    scenario: Scenario,
    *,
    transport: Optional[str] = None,
    directory: Optional[Union[str, Path]] = None,
) -> str:
    """Realize ``scenario`` and connect with one backend: ``"ok"`` or the error code.

    ``transport`` (``"memory"`` or ``"socket"``) defaults to the scenario's own.
    """
    backend = _backend(backend_name)
    start = Feature.OCSP_ENDPOINT in backend.features
    with tempfile.TemporaryDirectory(prefix="tlsplug-diff-") as tmp, realize(
        scenario, directory or tmp, start_responder=start
    ) as r:
        return _run(scenario, r, backend, transport or scenario.transport)


def check_scenario(
    scenario: Scenario, backends: Optional[Sequence[BackendLike]] = None
) -> Dict[str, str]:
    """THE property: every backend reaches the oracle's outcome, hence each other's.

    ``backends`` defaults to every installed backend (whatever ``$TLSPLUG_BACKEND`` says).
    The only allowed difference between two backends is one the oracle predicts from their
    declared features (``unsupported-option``, or ``MISSING_FEATURE_RULES``). Returns
    {backend name: outcome}; raises ``DifferentialFailure`` listing every disagreement.
    """
    chosen: List[Backend] = [
        _backend(b) for b in (backends if backends is not None else tlsplug.available_backends())
    ]
    features: Dict[str, FrozenSet[Feature]] = {b.name: frozenset(b.features) for b in chosen}
    start = any(Feature.OCSP_ENDPOINT in f for f in features.values())
    outcomes: Dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="tlsplug-diff-") as tmp, realize(
        scenario, tmp, start_responder=start
    ) as r, warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        for backend in chosen:
            # The OCSP cache is shared by the whole process (docs/design.md): one backend's
            # staple must not decide another backend's responder check.
            ocsp.default_cache().clear()
            outcomes[backend.name] = _run(scenario, r, backend, scenario.transport)
    expected = {name: expected_outcome(scenario, f) for name, f in features.items()}
    problems = [
        f"{name}: got {outcomes[name]!r}, the specification says {expected[name]!r}"
        for name in outcomes
        if outcomes[name] != expected[name]
    ]
    for first, second in itertools.combinations(outcomes, 2):
        if expected[first] == expected[second] and outcomes[first] != outcomes[second]:
            problems.append(
                f"{first} ({outcomes[first]!r}) and {second} ({outcomes[second]!r}) disagree"
            )
    if problems:
        raise DifferentialFailure("; ".join(problems) + f"\n  for {scenario!r}")
    return outcomes

