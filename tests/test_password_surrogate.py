"""A password holding a lone surrogate is a ConfigurationError that shows nothing of it."""

from __future__ import annotations

import traceback
from typing import Any, Dict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tlsplug
from tlsplug import ConfigurationError, TLSOptions
from tlsplug.testing import CA

_PARTS = st.text(alphabet="abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789",
                 min_size=6, max_size=12)


@pytest.fixture(scope="module")
def key_files(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """A client certificate with an encrypted and a plain key."""
    leaf = CA().issue_cert("client", client=True)
    root = tmp_path_factory.mktemp("surrogate")
    (root / "enc").mkdir()
    (root / "plain").mkdir()
    return {
        "encrypted": str(leaf.write(root / "enc", password=b"right").combined_file),
        "plain": str(leaf.write(root / "plain").combined_file),
    }


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(head=_PARTS, tail=_PARTS, low=st.integers(0xDC80, 0xDCFF), which=st.sampled_from(
    ["encrypted", "plain"]))
def test_lone_surrogate_password(backend_name: str, key_files: Dict[str, Any], head: str, tail: str,
                                 low: int, which: str) -> None:
    """invalid-option naming the option; no part of the password in str, repr or traceback."""
    password = head + chr(low) + tail
    opts = TLSOptions(enabled=True, certificate_key_file=key_files[which],
                      certificate_key_file_password=password, backend=backend_name)
    with pytest.raises(ConfigurationError) as info:
        tlsplug.create_context(opts)
    err = info.value
    assert err.code == "invalid-option"
    assert err.option == "tlsCertificateKeyFilePassword"
    assert err.__cause__ is None
    assert err.__context__ is None
    shown = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    shown += str(err) + repr(err)
    for part in (head, tail, chr(low), ascii(chr(low))[1:-1]):
        assert part not in shown
