"""The shared reason vocabulary: every OpenSSL spelling of a reason maps to one token."""

from __future__ import annotations

import pytest

from tlsplug.backend.openssl import HANDSHAKE_FAILURE_ALERT_REASONS, reason_token


@pytest.mark.parametrize(
    "native",
    [
        "SSLV3_ALERT_HANDSHAKE_FAILURE",  # CPython's _ssl table, OpenSSL 3.0
        "sslv3 alert handshake failure",  # OpenSSL 3.0's error text
        "ssl/tls alert handshake failure",  # OpenSSL 3.2-3.x (cryptography 42's wheel)
        "tls alert handshake failure",  # OpenSSL 4.0
    ],
)
def test_every_spelling_of_the_handshake_failure_alert_is_one_token(native: str) -> None:
    """The handshake_failure alert is recognised whichever OpenSSL release named it."""
    assert reason_token(native) == "SSLV3_ALERT_HANDSHAKE_FAILURE"
    assert reason_token(native) in HANDSHAKE_FAILURE_ALERT_REASONS


def test_other_reasons_keep_their_spelling() -> None:
    """Reasons that were never renamed come back as their SSL_R_ token."""
    assert reason_token("record layer failure") == "RECORD_LAYER_FAILURE"
    assert reason_token("TLSV1_ALERT_PROTOCOL_VERSION") == "TLSV1_ALERT_PROTOCOL_VERSION"
    assert reason_token("ssl/tls alert bad certificate") == "SSLV3_ALERT_BAD_CERTIFICATE"
