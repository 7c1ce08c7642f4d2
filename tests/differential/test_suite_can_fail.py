"""Proof that the differential property can fail: a backend that cheats is caught."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from tlsplug._stdlib import StdlibBackend, StdlibContext
from tlsplug.backend import ConfigurationError, Feature, TLSOptions
from tlsplug.testing.differential import DifferentialFailure, Scenario, check_scenario, scenarios


class NoHostnameCheck(StdlibBackend):
    """The stdlib backend with the hostname check quietly switched off (never registered)."""

    def create_context(self, options: TLSOptions) -> StdlibContext:
        """Build the context as if ``tlsAllowInvalidHostnames=true`` had been given."""
        if options.insecure is None and options.allow_invalid_hostnames is None:
            options = options.replace(allow_invalid_hostnames=True)
        return super().create_context(options)


class NoCRL(StdlibBackend):
    """A backend declaring no CRL support that refuses tlsCRLFile, as the contract says."""

    features = StdlibBackend.features - {Feature.CRL, Feature.CRL_DER}

    def check(self, options: TLSOptions) -> None:
        """Refuse a CRL file before any socket exists."""
        if options.crl_file is not None:
            raise ConfigurationError(
                "no CRL support", code="unsupported-option", option="tlsCRLFile",
                backend=self.name,
            )


def test_wrong_host_is_caught() -> None:
    """One scenario suffices: the cheat connects where the specification says mismatch."""
    with pytest.raises(DifferentialFailure, match="hostname-mismatch"):
        check_scenario(Scenario(dialled="other.example.test"), backends=[NoHostnameCheck()])


def test_hypothesis_finds_the_cheat() -> None:
    """Run the very property of the suite against the cheat: hypothesis must falsify it."""

    @settings(max_examples=300, database=None, derandomize=True, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(scenarios())
    def property_under_test(scenario: Scenario) -> None:
        check_scenario(scenario, backends=[NoHostnameCheck()])

    with pytest.raises(DifferentialFailure):
        property_under_test()


def test_missing_feature_must_refuse_up_front() -> None:
    """A backend lacking Feature.CRL is expected to refuse a CRL file: unsupported-option."""
    outcomes = check_scenario(Scenario(revocation="crl-revokes-leaf"), backends=[NoCRL()])
    assert outcomes == {"stdlib": "unsupported-option"}


def test_missing_feature_that_connects_anyway_is_caught() -> None:
    """Declaring no CRL support yet quietly ignoring tlsCRLFile is a failure of the property."""

    class IgnoresCRL(NoCRL):
        def check(self, options: TLSOptions) -> None:
            """Accept everything (the bug)."""

        def create_context(self, options: TLSOptions) -> StdlibContext:
            """Drop the CRL file."""
            return super().create_context(options.replace(crl_file=None))

    with pytest.raises(DifferentialFailure, match="unsupported-option"):
        check_scenario(Scenario(revocation="crl-revokes-leaf"), backends=[IgnoresCRL()])
