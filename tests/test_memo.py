"""``IdentityMemo``: values found by the identity of objects, never by equality."""

from __future__ import annotations

import pytest

from tlsplug._memo import IdentityMemo


def test_found_by_identity_not_equality() -> None:
    """An equal but distinct object misses; the same objects hit."""
    memo: IdentityMemo[str] = IdentityMemo()
    a, b = bytes(bytearray(100)), bytes(bytearray(100))
    assert a == b
    assert a is not b
    memo.put((a,), "first")
    assert memo.get(a) == "first"
    assert memo.get(b) is None


def test_tuples_of_objects_must_all_match() -> None:
    """A pair hits only with both objects, in order."""
    memo: IdentityMemo[int] = IdentityMemo()
    leaf, issuer, other = object(), object(), object()
    memo.put((leaf, issuer), 7)
    assert memo.get(leaf, issuer) == 7
    assert memo.get(issuer, leaf) is None
    assert memo.get(leaf, other) is None
    assert memo.get(leaf) is None
    assert memo.get(issuer) is None


def test_bounded_and_holds_its_objects() -> None:
    """A full memo starts over; an entry keeps its objects alive (ids stay unique)."""
    memo: IdentityMemo[int] = IdentityMemo(maxsize=4)
    kept = [object() for _ in range(5)]
    for i, obj in enumerate(kept):
        memo.put((obj,), i)
    assert memo.get(kept[4]) == 4
    assert memo.get(kept[0]) is None  # dropped when the fifth came in
    obj = object()
    memo.put((obj,), 9)
    ident = id(obj)
    del obj
    assert any(id(o) == ident for o, in [v[0] for v in memo._items.values()])


def test_keys_are_one_or_two_objects() -> None:
    """Three objects are refused rather than silently never found."""
    memo: IdentityMemo[int] = IdentityMemo()
    with pytest.raises(ValueError, match="one or two"):
        memo.put((object(), object(), object()), 1)
