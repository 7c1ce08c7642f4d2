"""stunnel4 in front of a plain echo service: the shape of an old database behind a TLS proxy."""

from __future__ import annotations

from typing import Tuple

import pytest

from tlsplug import SecurityWarning, TLSOptions

from .conftest import InteropPKI, Stunnel, handshake, options, outcome, recv_exactly

pytestmark = pytest.mark.interop


def _echo(stunnel: Stunnel, service: str, opts: TLSOptions) -> Tuple[str, str]:
    """Send a line through ``service`` to the echo service and back; return version and cipher."""
    with handshake(stunnel.connector(service), opts) as tls:
        payload = b"tlsplug via stunnel " + service.encode() + b"\n"
        tls.sendall(payload)
        assert recv_exactly(tls, len(payload)) == payload
        version, cipher = tls.version(), tls.cipher()
    assert version is not None
    assert cipher is not None
    return version, cipher[0]


def test_modern_echo_round_trip(
    stunnel: Stunnel, backend_name: str, interop_pki: InteropPKI
) -> None:
    """The modern profile reaches the echo service through stunnel's modern service."""
    version, _ = _echo(stunnel, "modern", options(backend_name, interop_pki.ca_file))
    assert version == "TLSv1.3"


def test_legacy_service_refuses_modern_profile(
    stunnel: Stunnel, backend_name: str, interop_pki: InteropPKI
) -> None:
    """An AES256-SHA-only TLS 1.0-1.2 stunnel service fails modern with no-shared-cipher."""
    opts = options(backend_name, interop_pki.ca_file)
    assert outcome(lambda: handshake(stunnel.connector("legacy"), opts)) == "no-shared-cipher"


def test_legacy_profile_echo_round_trip(
    stunnel: Stunnel, backend_name: str, interop_pki: InteropPKI
) -> None:
    """The legacy profile talks AES256-SHA to the legacy service and round-trips through it."""
    opts = options(backend_name, interop_pki.ca_file, profile="legacy")
    with pytest.warns(SecurityWarning):
        version, cipher = _echo(stunnel, "legacy", opts)
    assert (version, cipher) == ("TLSv1.2", "AES256-SHA")


def test_untrusted(stunnel: Stunnel, backend_name: str, interop_pki: InteropPKI) -> None:
    """Trusting only an unrelated root fails against stunnel with cert-untrusted."""
    opts = options(backend_name, interop_pki.other_ca_file)
    assert outcome(lambda: handshake(stunnel.connector("modern"), opts)) == "cert-untrusted"
