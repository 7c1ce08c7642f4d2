"""The OCSP verdict and the stable vocabulary of ``ocsp_status`` (see :mod:`tlsplug.ocsp`)."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Optional, Tuple

__all__ = [
    "CertIDKey",
    "ENDPOINT_CHECK_DISABLED",
    "INVALID_RESPONSE",
    "ISSUER_NOT_FOUND",
    "NO_RESPONDER",
    "PROBLEMS",
    "RESPONDER_ERROR",
    "RESPONDER_TIMEOUT",
    "RESPONDER_UNREACHABLE",
    "STATUS_UNKNOWN",
    "SOURCES",
    "STATUSES",
    "Verdict",
    "status_text",
]

CertIDKey = Tuple[str, bytes, bytes, int]
"""A CertID (RFC 6960 §4.1.1): (hash algorithm name, issuer name hash, issuer key hash, serial)."""

STATUSES = frozenset({"good", "revoked", "unknown", "invalid"})
SOURCES = frozenset({"staple", "responder", "cache", "none"})

# The stable problem phrases: ``ocsp_status`` is "soft-fail: <problem>" for every verdict that
# lets the connection proceed without a conclusive answer. Tests and users may match them.
ENDPOINT_CHECK_DISABLED = "endpoint check disabled"
NO_RESPONDER = "no responder"
ISSUER_NOT_FOUND = "issuer not found"
RESPONDER_UNREACHABLE = "responder unreachable"
RESPONDER_TIMEOUT = "responder timeout"
RESPONDER_ERROR = "responder error"
INVALID_RESPONSE = "invalid response"
STATUS_UNKNOWN = "status unknown"
PROBLEMS = (
    ENDPOINT_CHECK_DISABLED,
    NO_RESPONDER,
    ISSUER_NOT_FOUND,
    RESPONDER_UNREACHABLE,
    RESPONDER_TIMEOUT,
    RESPONDER_ERROR,
    INVALID_RESPONSE,
    STATUS_UNKNOWN,
)
"""Every ``problem`` a :class:`Verdict` may carry, least informative first."""


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What is known about one certificate's revocation status, and where it came from.

    ``status`` is ``"good"`` or ``"revoked"`` (conclusive: a valid response said so),
    ``"unknown"`` (a valid response said *unknown*, or no answer could be obtained) or
    ``"invalid"`` (a response was obtained but fails RFC 6960 §3.2). ``problem`` is one of
    :data:`PROBLEMS` whenever the status is not conclusive; ``reason`` is the precise,
    human-readable explanation. ``source`` is ``"staple"``, ``"responder"``, ``"cache"``, or
    ``"none"`` when no response was consulted at all.
    """

    status: str
    reason: str
    this_update: Optional[datetime.datetime] = None
    next_update: Optional[datetime.datetime] = None
    source: str = "none"
    problem: Optional[str] = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {sorted(STATUSES)}, not {self.status!r}")
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {sorted(SOURCES)}, not {self.source!r}")
        if self.problem is not None and self.problem not in PROBLEMS:
            raise ValueError(f"unknown problem {self.problem!r}")

    @property
    def conclusive(self) -> bool:
        """True for ``good`` and ``revoked``: the only answers that are cached or decide."""
        return self.status in ("good", "revoked")

    @property
    def ok(self) -> bool:
        """True when a valid response says the certificate is good."""
        return self.status == "good"

    @property
    def summary(self) -> str:
        """The connection's ``ocsp_status`` string for this verdict (see :func:`status_text`)."""
        if self.conclusive:
            return f"{self.status} ({self.source})"
        return f"soft-fail: {self.problem or STATUS_UNKNOWN}"

    def valid_at(self, now: datetime.datetime) -> bool:
        """Whether ``thisUpdate <= now < nextUpdate`` (RFC 6960 §3.2 items 5-6, no tolerance)."""
        if self.this_update is None or self.next_update is None:
            return False
        return self.this_update <= now < self.next_update

    def with_source(self, source: str) -> Verdict:
        """A copy of this verdict attributed to ``source``."""
        return dataclasses.replace(self, source=source)


def status_text(verdict: Optional[Verdict]) -> str:
    """The stable ``ocsp_status`` string of a connection.

    * ``"off"``: OCSP is disabled by the options (no verdict).
    * ``"good (staple)"``, ``"good (responder)"``, ``"good (cache)"``: conclusive and good.
    * ``"soft-fail: <problem>"`` with a problem from :data:`PROBLEMS`: connected without a
      conclusive answer (the reason was logged on ``tlsplug.ocsp``).

    A revoked or invalid staple never yields a status: the handshake fails instead.
    """
    return "off" if verdict is None else verdict.summary
