"""``read_records``: one read of a sans-IO buffer returns every buffered record that fits."""

from __future__ import annotations

from typing import Callable, Tuple, Type

__all__ = ["read_records"]


def read_records(
    read_one: Callable[[int], bytes], amt: int, again: Tuple[Type[BaseException], ...]
) -> bytes:
    """Up to ``amt`` bytes: ``read_one(amt)``, then the further records already buffered.

    ``read_one(n)`` returns the plaintext of one record (OpenSSL's ``SSL_read`` stops at a
    record's end), ``b""`` at the end of the stream, or raises one of ``again`` when nothing
    is buffered. The first call's exception is the caller's (it must wait for the peer);
    afterwards ``again`` or the end of the stream ends this read, and the next one says so.
    The callers - ``tlsplug.aio`` and asyncio through ``create_ssl_context`` - pay a round
    of Python per read, so a 64 KiB read takes one round rather than one per 16 KiB record
    (bench/: bulk through the bridge and ``tlsplug.aio``).
    """
    data = read_one(amt)
    if len(data) >= amt or not data:
        return data
    parts = [data]
    got = len(data)
    while got < amt:
        try:
            more = read_one(amt - got)
        except again:
            break  # what is here now; the next read waits for the rest
        if not more:
            break  # the end of the stream: this read's data, then b"" from the next
        parts.append(more)
        got += len(more)
    return b"".join(parts)
