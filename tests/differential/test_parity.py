"""One failure, one code: generated situations outside the certificate scenarios."""

from __future__ import annotations

from hypothesis import example, given, settings

from tlsplug.testing._diff_parity import (
    MAX_RECORD,
    ParityCase,
    expected_code,
    parity_cases,
    run_parity_case,
)


@example(ParityCase("bad-name", name="db\x00.example.test")).via("issue 16: NUL in the name")
@example(ParityCase("bad-name", name="h" * 263)).via("issue 16: a 263-character name")
@example(ParityCase("bad-name", name="127.0.0.010")).via("issue 16: octal octet")
@example(ParityCase("bad-name", name="127.0.0.1.")).via("issue 16: numeric final label")
@example(ParityCase("oversize-record", record_length=MAX_RECORD + 1)).via("issue 16: 2^14+1")
@example(ParityCase("after-close", operation="sendall")).via("issue 16: send after close")
@example(ParityCase("after-close", operation="recv")).via("issue 16: recv after close")
@settings(max_examples=25, deadline=None)
@given(case=parity_cases())
def test_every_backend_gives_the_one_code(case: ParityCase) -> None:
    """Every installed backend raises the code the specification gives the situation."""
    outcomes = run_parity_case(case)
    assert set(outcomes.values()) == {expected_code(case)}, outcomes
