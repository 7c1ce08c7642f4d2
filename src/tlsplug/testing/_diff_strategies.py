"""Hypothesis strategies for ``Scenario``: valid option sets only, 1 in 10 over a socket.

Conflicting option sets are the parser's business (tests/test_options*.py); here every
generated set is one a user could legitimately write, so each example is a handshake.
"""

from __future__ import annotations

import importlib.util
import ipaddress
from typing import Any, Callable, Dict, List, Optional, Tuple

from hypothesis import strategies as st

from ._diff_oracle import _a_labels, _as_ip, name_refused
from ._diff_scenario import (
    CLIENT_CERT,
    DEFECTS,
    KEY_TYPES,
    OCSP_STAPLES,
    RELAXING,
    RESPONDERS,
    REVOCATIONS,
    SERVERS,
    SPELLINGS,
    Opts,
    Scenario,
)

__all__ = ["HAVE_STAPLING_SERVER", "NAME_POOL", "dial_candidates", "options", "scenarios"]

#: The in-memory stapling server needs pyOpenSSL (Python's ssl cannot staple).
HAVE_STAPLING_SERVER = importlib.util.find_spec("OpenSSL") is not None

#: Identities a leaf can carry: DNS, wildcards, an IDN (U-label; stored as its A-label),
#: IPv4 and IPv6.
NAME_POOL = (
    "db.example.test",
    "localhost",
    "*.example.test",
    "*.svc.example.test",
    "bücher.example.test",
    "127.0.0.1",
    "10.0.0.7",
    "::1",
    "fd00::7",
)
#: Hosts that match none of the pool unless the pool's own entry is present.
_MISSES = ("other.example.test", "example.test", "10.9.9.9", "fd00::9", "localhost")

# Pairs that may not be present together (docs/design.md "Rules"; the parser rejects them).
_CONFLICTS = {
    frozenset(pair)
    for pair in (
        ("insecure", "allow_invalid_certificates"),
        ("insecure", "allow_invalid_hostnames"),
        ("insecure", "disable_ocsp_endpoint_check"),
        ("insecure", "disable_certificate_revocation_check"),
        ("allow_invalid_certificates", "disable_ocsp_endpoint_check"),
        ("allow_invalid_certificates", "disable_certificate_revocation_check"),
        ("disable_ocsp_endpoint_check", "disable_certificate_revocation_check"),
    )
}
# A CRL file is a configuration error when one of these is true (never consulted).
_CRL_USELESS = ("insecure", "allow_invalid_certificates", "disable_certificate_revocation_check")


def dial_candidates(names: Tuple[str, ...]) -> List[str]:
    """Hosts worth dialling for a leaf with ``names``: each name, its variants, near misses."""
    out: List[str] = []
    for name in names:
        ip = _as_ip(name)
        if isinstance(ip, ipaddress.IPv6Address):
            out += [name, f"[{name}]", ip.exploded]
        elif ip is not None:
            # The IPv4 spellings a resolver reads as this address (docs/design.md, Identity).
            octets = name.split(".")
            out += [name, name + ".", ".".join(f"0{o}" for o in octets),
                    f"{octets[0]}.{int(ipaddress.IPv4Address(name)) & 0xFFFFFF}",
                    ".".join([hex(int(octets[0])), *octets[1:]])]
        elif name.startswith("*."):
            base = name[2:]
            out += [f"node7.{base}", f"a.b.{base}", base, f"node7.{base}."]
        elif name.isascii():
            out += [name, name.upper(), name + ".", name + "\x00"]
        else:
            out += [name, _a_labels(name)]  # the U-label as users type it, and the A-label
        out.append(("x" * 62 + ".") * 4 + name)  # over 253 octets
    out += [miss for miss in _MISSES if miss not in out]
    return out


def _dialled(names: Tuple[str, ...]) -> st.SearchStrategy[str]:
    """A host from ``dial_candidates``: 1 in 5 one the Identity rules refuse."""
    candidates = dial_candidates(names)
    valid = [c for c in candidates if not name_refused(c)]
    refused = [c for c in candidates if name_refused(c)]
    if not refused:
        return st.sampled_from(valid)
    return _weighted((True, 4), (False, 1)).flatmap(
        lambda ok: st.sampled_from(valid if ok else refused))


def _weighted(*choices: Tuple[Any, int]) -> st.SearchStrategy[Any]:
    """``sampled_from`` with integer weights; shrinks towards the first choice."""
    pool: List[Any] = []
    for value, weight in choices:
        pool += [value] * weight
    return st.sampled_from(pool)


@st.composite
def options(draw: Callable[..., Any], *, crl: bool = False) -> Opts:
    """A valid option set (``crl``: a CRL file will be given, so it must stay consulted)."""
    present: Dict[str, Optional[bool]] = {}
    for name in draw(st.permutations(RELAXING)):
        if any(frozenset((name, other)) in _CONFLICTS for other in present):
            continue
        value = draw(_weighted((None, 5), (True, 2), (False, 1)))
        if value and crl and name in _CRL_USELESS:
            value = False  # present, but not switching the CRL off
        if value is not None:
            present[name] = value
    # tlsStrictX509=false beside a chain that is never verified is refused by the parser.
    strict_x509 = present.get("insecure") or present.get("allow_invalid_certificates") or draw(
        _weighted((True, 3), (False, 1))
    )
    return Opts(
        **present,
        strict_x509=bool(strict_x509),
        tls=draw(_weighted((True, 3), (None, 1))),
        profile=draw(_weighted(("modern", 3), ("legacy", 1))),
        ocsp_timeout=draw(st.sampled_from((5.0, 0.5, 2.0))),
        session_resumption=draw(st.booleans()),
        material=draw(_weighted(("files", 2), ("memory", 1), ("directory", 1))),
        spelling=draw(st.sampled_from(SPELLINGS)),
    )


def _implies_tls(s: Scenario, opts: Opts) -> bool:
    """Whether the option set turns TLS on without ``tls=true`` (docs/design.md rules)."""
    return (
        s.trust != "system"  # tlsCAFile
        or s.revocation != "none"  # tlsCRLFile
        or s.client_cert in ("required-given", "given-not-requested")
        or opts.spelling == "srv"
        or any(getattr(opts, name) is False for name in RELAXING)
        or not opts.strict_x509
    )


@st.composite
def scenarios(
    draw: Callable[..., Any],
    *,
    stapling_server: bool = HAVE_STAPLING_SERVER,
    socket_share: int = 10,
) -> Scenario:
    """Any scenario; staples only when a stapling server can run; 1 in ``socket_share``
    scenarios without a staple go over a loopback socket."""
    depth = draw(st.integers(1, 3))
    server = draw(_weighted(("modern", 6), ("tls12", 2), ("tls13", 2), ("legacy-cbc", 1),
                            ("old-protocol", 1)))
    assert server in SERVERS
    old_server = server in ("legacy-cbc", "old-protocol")
    defects = [d for d in DEFECTS if depth >= 2 or not (d.startswith("intermediate") or
                                                         d == "missing-intermediate")]
    defect = draw(st.sampled_from(["none"] * len(defects) + defects))
    names = tuple(draw(st.lists(st.sampled_from(NAME_POOL), min_size=1, max_size=3,
                                unique=True)))
    revocation = draw(_weighted(("none", 5), *((r, 1) for r in REVOCATIONS[1:])))
    staple = draw(st.sampled_from(OCSP_STAPLES)) if stapling_server else "absent"
    base = Scenario(
        depth=depth,
        ca_key=draw(st.sampled_from(KEY_TYPES)),
        # RSA key transport (AES256-SHA) and TLS < 1.2 need an RSA leaf.
        leaf_key="rsa" if old_server else draw(st.sampled_from(KEY_TYPES)),
        defect=defect,
        trust=draw(_weighted(("root", 6), ("issuer", 2), ("unrelated", 1), ("system", 1))),
        names=names,
        cn_only=draw(_weighted((False, 6), (True, 1))),
        dialled=draw(_dialled(names)),
        revocation=revocation,
        crl_der=draw(st.booleans()),
        staple=staple,
        must_staple=draw(_weighted((False, 3), (True, 1))),
        responder=draw(st.sampled_from(RESPONDERS)),
        client_cert=draw(_weighted(("none", 4), *((c, 1) for c in CLIENT_CERT[1:]))),
        client_key_encrypted=draw(st.booleans()),
        server=server,
    )
    opts = draw(options(crl=revocation != "none"))
    if opts.tls is None and not _implies_tls(base, opts):
        opts = Opts(**{**_fields(opts), "tls": True})
    transport = "memory"
    if staple == "absent":
        transport = draw(_weighted(("memory", socket_share - 1), ("socket", 1)))
    return Scenario(**{**_fields(base), "options": opts, "transport": transport})


def _fields(obj: Any) -> Dict[str, Any]:
    import dataclasses

    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
