"""The oracle of the differential suite: the outcome docs/design.md and the MongoDB specs predict.

Written from the specification, never from a backend: ``expected_outcome(scenario,
features)`` returns ``"ok"`` or the one error code a conforming backend must raise.

Precedence, when a scenario has more than one reason to fail (first match wins):

1. **Configuration** - a needed option the backend does not declare: ``unsupported-option``,
   before any byte is sent (docs/design.md, "Backends": ``check(options)``). See
   :data:`MISSING_FEATURE_RULES` for the features that are *not* options. Then a dialled
   name that docs/design.md's Identity rules refuse (:func:`name_refused`):
   ``invalid-option``, whatever the other options say.
2. **Protocol and cipher** - the server is refused before it sends a certificate:
   ``protocol-version`` (no common TLS version), ``no-shared-cipher`` (no common suite).
3. **The chain**, when certificates are verified, in the order OpenSSL's
   ``X509_verify_cert`` walks it (crypto/x509/x509_vfy.c ``verify_chain``: ``build_chain``,
   ``check_extensions``, ``check_id``, ``check_revocation``, then ``internal_verify``). Both
   backends run that function, so this order is what is observable, and the backend that
   makes a check OpenSSL 4.0 dropped must report it at the same place:

   a. no path to a trust anchor: ``cert-untrusted``;
   b. an ``X509_STRICT`` violation (modern profile only): ``cert-invalid``;
   c. the dialled name is not in the subjectAltName: ``hostname-mismatch``;
   d. the CRL revokes the leaf: ``cert-revoked``; the CRL file has no CRL of the leaf's
      issuer: ``cert-invalid`` (RFC 5280 §6.3.3: status undetermined, fail closed);
   e. a certificate of the path (trust anchor included) outside its validity window:
      ``cert-expired`` / ``cert-not-yet-valid``.

   With chain verification off (``tlsInsecure``/``tlsAllowInvalidCertificates``) none of
   this runs; the host name is then checked after the handshake (6.), when still verified.
4. **The stapled OCSP response**, judged inside the handshake (MongoDB OCSP spec; OCSP is
   off with tlsInsecure, tlsAllowInvalidCertificates, tlsDisableCertificateRevocationCheck
   or a CRL file): ``revoked`` -> ``ocsp-revoked``; not verifying (bad signature, expired)
   -> ``ocsp-invalid-response``; ``unknown`` is inconclusive; none on a must-staple
   certificate -> ``ocsp-must-staple``.
5. **Client authentication refused inside the handshake** (TLS 1.2 and older: the server
   answers the client's empty Certificate message with an alert): ``handshake-failure``.
   Anything below is decided only after the handshake, so it never gets the chance.
6. **After the handshake**: the host name when chain verification is off; a must-staple
   certificate on a backend that cannot see staples (``unsupported-option``, see
   :data:`MISSING_FEATURE_RULES`); then, with nothing conclusive stapled and unless
   ``tlsDisableOCSPEndpointCheck``, the responder: ``revoked`` -> ``ocsp-revoked``,
   anything else soft-fails (connects).
7. **Client authentication refused after the handshake** (TLS 1.3: the server checks the
   client's certificate after the client finished): ``handshake-failure`` at the first
   read - which is why every scenario exchanges data after the handshake.
"""

from __future__ import annotations

import ipaddress
from typing import Callable, Dict, FrozenSet, Optional, Tuple, Union

from ..backend import Feature
from ._diff_scenario import Scenario

__all__ = [
    "ALL_FEATURES",
    "MISSING_FEATURE_RULES",
    "OPTION_FEATURES",
    "expected_outcome",
    "host_matches",
    "name_refused",
    "needed_features",
]

ALL_FEATURES: FrozenSet[Feature] = frozenset(Feature)

#: Features that are options: a backend lacking one refuses the option set with
#: ``unsupported-option`` in ``check()``, before connecting.
OPTION_FEATURES: FrozenSet[Feature] = frozenset(
    {Feature.CRL, Feature.CRL_DER, Feature.CLIENT_CERT, Feature.ENCRYPTED_KEY,
     Feature.LEGACY_PROFILE}
)

#: THE rule for features whose need is only known after the handshake (the one place it is
#: written down). OCSP is on by default for every option set, so refusing it up front would
#: make a backend unusable; a backend without the feature connects as if the information
#: were absent (the MongoDB OCSP test plan: "drivers whose TLS library cannot pass must
#: document it") - except a must-staple certificate, which demands a check the backend
#: cannot make: it is refused after the handshake with ``unsupported-option``
#: (tlsplug.backend's contract, RFC 7633), never accepted unchecked.
MISSING_FEATURE_RULES: Dict[Feature, str] = {
    Feature.OCSP_STAPLING: "staples are neither requested nor read; a must-staple "
    "certificate is refused after the handshake with unsupported-option (while OCSP is on)",
    Feature.OCSP_ENDPOINT: "responders are never asked: the outcome is the one of a "
    "responder that cannot be reached (soft-fail: connect)",
}

_IP = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]


def _as_ip(text: str) -> Optional[_IP]:
    candidate = text.strip()
    if candidate.startswith("[") and candidate.endswith("]"):
        candidate = candidate[1:-1]
    try:
        return ipaddress.ip_address(candidate)
    except ValueError:
        return None


def _a_labels(name: str) -> str:
    """RFC 5890 A-labels, lower case: how names are compared (RFC 6125 §6.4.2)."""
    labels = []
    for label in name.rstrip(".").split("."):
        if label.isascii():
            labels.append(label.lower())
        else:
            labels.append("xn--" + label.lower().encode("punycode").decode("ascii"))
    return ".".join(labels)


def host_matches(names: Tuple[str, ...], cn_only: bool, dialled: str) -> bool:
    """RFC 6125 matching of ``dialled`` against the subjectAltName entries ``names``.

    SAN only (a commonName-only certificate never matches, RFC 6125 §6.4.4 / CA/B Forum);
    IP literals against IP entries only; a wildcard is a whole left-most label standing for
    exactly one non-empty label, below at least two labels (no ``*.test``).
    """
    if cn_only:
        return False
    ip = _as_ip(dialled)
    if ip is not None:
        return any(_as_ip(name) == ip for name in names)
    host = _a_labels(dialled)
    for name in names:
        if _as_ip(name) is not None:
            continue
        pattern = _a_labels(name)
        if pattern == host:
            return True
        if pattern.startswith("*.") and pattern.count(".") >= 2:
            head, dot, rest = host.partition(".")
            if dot and head and "*" not in pattern[2:] and rest == pattern[2:]:
                return True
    return False


def name_refused(dialled: str) -> bool:
    """Whether docs/design.md's Identity rules refuse ``dialled`` before any byte is sent.

    Control characters; a bracketed non-IPv6; IPv4 only as a canonical dotted quad, so any
    name whose last label is a number (decimal, or 0x-hex as inet_aton reads it) is refused;
    otherwise an LDH host name (after IDNA, one root dot dropped): labels of 1-63 octets of
    letters, digits, '-' and '_' not beginning or ending with '-', 253 octets in all.
    """
    name = dialled.strip()
    if not name or any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return True
    if name.startswith("[") and name.endswith("]"):
        return not isinstance(_as_ip(name), ipaddress.IPv6Address)
    ip = _as_ip(name)
    if isinstance(ip, ipaddress.IPv6Address):
        return False
    if ip is not None:
        return ".".join(str(int(part)) for part in name.split(".")) != name
    if ":" in name:
        return True
    if name.endswith("."):
        name = name[:-1]
    try:
        labels = _a_labels(name).split(".")
    except UnicodeError:
        return True
    if len(".".join(labels)) > 253:
        return True
    for label in labels:
        if not 1 <= len(label) <= 63 or label[0] == "-" or label[-1] == "-":
            return True
        if any(not (c.isascii() and (c.isalnum() or c in "-_")) for c in label):
            return True
    last = labels[-1]
    return last.isdigit() or (last[:2] == "0x" and all(c in "0123456789abcdef" for c in last[2:]))


def needed_features(scenario: Scenario) -> FrozenSet[Feature]:
    """The option features the scenario's option set uses (see ``OPTION_FEATURES``)."""
    needed = set()
    if scenario.revocation != "none":
        needed.add(Feature.CRL)
        if scenario.crl_der:
            needed.add(Feature.CRL_DER)
    if scenario.client_cert in ("required-given", "given-not-requested"):
        needed.add(Feature.CLIENT_CERT)
        if scenario.client_key_encrypted:
            needed.add(Feature.ENCRYPTED_KEY)
    if scenario.options.profile == "legacy":
        needed.add(Feature.LEGACY_PROFILE)
    return frozenset(needed)


def _protocol(scenario: Scenario) -> Optional[str]:
    legacy = scenario.options.profile == "legacy"
    if scenario.server == "legacy-cbc" and not legacy:
        return "no-shared-cipher"  # modern offers forward-secret AEAD suites only
    if scenario.server == "old-protocol" and not legacy:
        return "protocol-version"  # modern starts at TLS 1.2
    return None


def _chain(scenario: Scenario, verify_hostname: bool) -> Optional[str]:
    defect = scenario.defect
    if scenario.trust in ("unrelated", "system"):
        return "cert-untrusted"
    if defect == "missing-intermediate" and scenario.trust == "root":
        return "cert-untrusted"  # the issuer is neither sent nor trusted
    strict = scenario.options.profile == "modern" and scenario.options.strict_x509
    if defect == "intermediate-bc-not-critical" and strict:
        return "cert-invalid"  # X509_STRICT: a CA's basicConstraints must be critical
    # X509_STRICT: a CA must carry keyUsage (RFC 5280 §4.2.1.3) - the root is judged only
    # when it is in the verified chain (a partial chain may end at the intermediate).
    root_in_chain = scenario.trust == "root" or scenario.depth == 1
    if defect == "root-no-key-usage" and strict and root_in_chain:
        return "cert-invalid"
    if verify_hostname and not host_matches(scenario.names, scenario.cn_only, scenario.dialled):
        return "hostname-mismatch"
    if scenario.revocation == "crl-revokes-leaf":
        return "cert-revoked"
    if scenario.revocation == "crl-other-ca":
        return "cert-invalid"
    if defect.endswith("-expired"):
        return "cert-expired"
    if defect.endswith("-not-yet-valid"):
        return "cert-not-yet-valid"
    return None


def _ocsp_on(scenario: Scenario) -> bool:
    opts = scenario.options
    return not (
        opts.flag("insecure")
        or opts.flag("allow_invalid_certificates")
        or opts.flag("disable_certificate_revocation_check")
        or scenario.revocation != "none"  # a CRL file turns OCSP off
    )


def _stapled(scenario: Scenario, features: FrozenSet[Feature]) -> Optional[str]:
    """The staple's verdict, judged inside the handshake (``OCSP_STAPLING`` only)."""
    if Feature.OCSP_STAPLING not in features or not _ocsp_on(scenario):
        return None
    if scenario.staple == "revoked":
        return "ocsp-revoked"
    if scenario.staple in ("bad-signature", "expired"):
        return "ocsp-invalid-response"
    if scenario.staple == "absent" and scenario.must_staple:
        return "ocsp-must-staple"  # even with the endpoint check disabled
    return None


def _after_handshake(scenario: Scenario, features: FrozenSet[Feature]) -> Optional[str]:
    """What is only decided once the handshake is complete."""
    opts = scenario.options
    verify_certificates = not (opts.flag("insecure") or opts.flag("allow_invalid_certificates"))
    verify_hostname = not (opts.flag("insecure") or opts.flag("allow_invalid_hostnames"))
    if not verify_certificates:
        # No chain verification, so OpenSSL cannot check the name: matched afterwards.
        if verify_hostname and not host_matches(
            scenario.names, scenario.cn_only, scenario.dialled
        ):
            return "hostname-mismatch"
        return None
    if not _ocsp_on(scenario):
        return None
    if Feature.OCSP_STAPLING not in features and scenario.must_staple:
        return "unsupported-option"  # see MISSING_FEATURE_RULES
    if scenario.staple == "good" and Feature.OCSP_STAPLING in features:
        return None  # conclusive: no responder is asked
    if (
        Feature.OCSP_ENDPOINT in features
        and not opts.flag("disable_ocsp_endpoint_check")
        and scenario.responder == "revoked"
    ):
        return "ocsp-revoked"
    return None


#: Servers that negotiate TLS 1.2 or older: there a server refuses a missing client
#: certificate inside the handshake, before the client's own handshake completes.
_TLS12_SERVERS = ("tls12", "legacy-cbc", "old-protocol")


def expected_outcome(
    scenario: Scenario, features: FrozenSet[Feature] = ALL_FEATURES
) -> str:
    """``"ok"`` or the error code a backend declaring ``features`` must reach."""
    if needed_features(scenario) - features:
        return "unsupported-option"
    if name_refused(scenario.dialled):
        return "invalid-option"
    protocol = _protocol(scenario)
    if protocol is not None:
        return protocol
    opts = scenario.options
    verify_certificates = not (opts.flag("insecure") or opts.flag("allow_invalid_certificates"))
    verify_hostname = not (opts.flag("insecure") or opts.flag("allow_invalid_hostnames"))
    client_refused = scenario.client_cert == "required-missing"
    steps: Tuple[Callable[[], Optional[str]], ...] = (
        lambda: _chain(scenario, verify_hostname) if verify_certificates else None,
        lambda: _stapled(scenario, features),
        lambda: "handshake-failure"
        if client_refused and scenario.server in _TLS12_SERVERS else None,
        lambda: _after_handshake(scenario, features),
        lambda: "handshake-failure" if client_refused else None,
    )
    for step in steps:
        failure = step()
        if failure is not None:
            return failure
    return "ok"
