"""The strict X.509 rules, named: which certificate broke which rule, and how to fix it.

The modern profile pins ``X509_V_FLAG_X509_STRICT`` (Python 3.13's default, gh-107361) on
every interpreter and backend, and tlsplug adds the strict checks a newer OpenSSL dropped
(``_chainlint``). Private CAs made the usual way (``openssl req -x509`` with Debian's
``openssl.cnf``) fail one of these rules - most often a CA without keyUsage - and OpenSSL
only says "CA cert does not include key usage extension". This module turns such a refusal
into a message that names the certificate (subject and position in the chain), the rule and
its source (RFC 5280), and a hint with the exact fix: the ``openssl`` or ``cryptography``
call that re-issues it correctly, or ``tlsStrictX509=false``, the narrow relaxation
(docs/howto/private-ca.md).

Each rule mirrors OpenSSL 3.0's ``check_extensions`` (crypto/x509/x509_vfy.c) for one
``X509_V_ERR_*`` number; every backend calls :func:`strict_refusal` with the number OpenSSL
(or tlsplug's lint) reported, so both backends give the same message content.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from ._codes import CERT_INVALID
from ._errors import CertificateError, ConfigurationError, error_for_code
from ._materials import Materials, Trust, ca_file_certificates

if TYPE_CHECKING:  # cryptography is imported when a refusal is explained, not with the core
    from cryptography import x509

    from ._options import TLSOptions

__all__ = ["STRICT_RULES", "StrictRule", "is_strict_rule", "strict_refusal", "trust_anchors"]

_RELAX = (
    "or, to accept it as it is, set tlsStrictX509=false (strict_x509=False): only the "
    "strict certificate rules are relaxed; TLS 1.2+, the cipher policy, the host name, "
    "revocation and OCSP are still checked"
)


@dataclasses.dataclass(frozen=True)
class StrictRule:
    """One strict-profile rule: what it requires, where it comes from, how to comply."""

    errnum: int
    rule: str
    source: str
    #: (certificate, depth, chain length) -> whether it breaks the rule (None: not decidable)
    breaks: Callable[[Any, int, int], Optional[bool]]
    fix_openssl: str
    fix_cryptography: str


def _ext(cert: x509.Certificate, kind: Any) -> Optional[x509.Extension[Any]]:
    from cryptography import x509

    try:
        return cert.extensions.get_extension_for_class(kind)
    except x509.ExtensionNotFound:
        return None


def _is_ca(cert: x509.Certificate) -> bool:
    from cryptography import x509

    bc = _ext(cert, x509.BasicConstraints)
    return bc is not None and bool(bc.value.ca)


def _key_usage(cert: x509.Certificate) -> Optional[Any]:
    from cryptography import x509

    ku = _ext(cert, x509.KeyUsage)
    return None if ku is None else ku.value


def _path_length(cert: x509.Certificate) -> Optional[int]:
    from cryptography import x509

    bc = _ext(cert, x509.BasicConstraints)
    return None if bc is None else bc.value.path_length


def _san(cert: x509.Certificate) -> Optional[x509.Extension[Any]]:
    from cryptography import x509

    return _ext(cert, x509.SubjectAlternativeName)


def _is_v3(cert: x509.Certificate) -> bool:
    from cryptography import x509

    return cert.version == x509.Version.v3


def _missing_ku(cert: x509.Certificate, depth: int, length: int) -> bool:
    return _is_ca(cert) and _key_usage(cert) is None


def _bcons_not_critical(cert: x509.Certificate, depth: int, length: int) -> bool:
    from cryptography import x509

    bc = _ext(cert, x509.BasicConstraints)
    return bc is not None and bool(bc.value.ca) and not bc.critical


def _missing_akid(cert: x509.Certificate, depth: int, length: int) -> bool:
    from cryptography import x509

    # Only certificates below the trust anchor need one (RFC 5280 §4.2.1.1 allows a
    # self-signed root to omit it); OpenSSL checks "i + 1 < num".
    return (
        _is_v3(cert) and depth + 1 < length and _ext(cert, x509.AuthorityKeyIdentifier) is None
    )


def _missing_skid(cert: x509.Certificate, depth: int, length: int) -> bool:
    from cryptography import x509

    return _is_v3(cert) and _is_ca(cert) and _ext(cert, x509.SubjectKeyIdentifier) is None


def _akid_critical(cert: x509.Certificate, depth: int, length: int) -> bool:
    from cryptography import x509

    ext = _ext(cert, x509.AuthorityKeyIdentifier)
    return ext is not None and ext.critical


def _skid_critical(cert: x509.Certificate, depth: int, length: int) -> bool:
    from cryptography import x509

    ext = _ext(cert, x509.SubjectKeyIdentifier)
    return ext is not None and ext.critical


def _pathlen_non_ca(cert: x509.Certificate, depth: int, length: int) -> bool:
    return _path_length(cert) is not None and not _is_ca(cert)


def _pathlen_without_certsign(cert: x509.Certificate, depth: int, length: int) -> bool:
    if _path_length(cert) is None:
        return False
    ku = _key_usage(cert)
    return ku is None or not ku.key_cert_sign


def _certsign_non_ca(cert: x509.Certificate, depth: int, length: int) -> bool:
    ku = _key_usage(cert)
    return not _is_ca(cert) and ku is not None and bool(ku.key_cert_sign)


def _issuer_empty(cert: x509.Certificate, depth: int, length: int) -> bool:
    return len(cert.issuer) == 0


def _subject_empty(cert: x509.Certificate, depth: int, length: int) -> bool:
    ku = _key_usage(cert)
    needs = _is_ca(cert) or (ku is not None and bool(ku.crl_sign)) or _san(cert) is None
    return needs and len(cert.subject) == 0


def _empty_subject_san_not_critical(cert: x509.Certificate, depth: int, length: int) -> bool:
    san = _san(cert)
    return len(cert.subject) == 0 and san is not None and not san.critical


def _empty_san(cert: x509.Certificate, depth: int, length: int) -> bool:
    san = _san(cert)
    return san is not None and len(san.value) == 0


def _v1_with_extensions(cert: x509.Certificate, depth: int, length: int) -> bool:
    return not _is_v3(cert) and len(cert.extensions) > 0


def _akid_not_paired(cert: x509.Certificate, depth: int, length: int) -> bool:
    from cryptography import x509

    ext = _ext(cert, x509.AuthorityKeyIdentifier)
    if ext is None:
        return False
    value = ext.value
    return (value.authority_cert_issuer is None) != (value.authority_cert_serial_number is None)


def _undecidable(cert: x509.Certificate, depth: int, length: int) -> Optional[bool]:
    return None


_KU_CA = "keyUsage=critical,keyCertSign,cRLSign"
_KU_CA_PY = (
    "builder.add_extension(x509.KeyUsage(..., key_cert_sign=True, crl_sign=True, ...), "
    "critical=True)"
)
_REISSUE = (
    "re-issue it with the same key (openssl req -x509 -key ca.key ..., or openssl x509 "
    "-req for an intermediate) so the certificates it signed stay valid"
)

_RULES: Tuple[StrictRule, ...] = (
    StrictRule(
        92, "a CA certificate must include a keyUsage extension (with keyCertSign)",
        "RFC 5280 §4.2.1.3", _missing_ku,
        f'-addext "{_KU_CA}"', _KU_CA_PY,
    ),
    StrictRule(
        89, "a CA certificate's basicConstraints extension must be critical",
        "RFC 5280 §4.2.1.9", _bcons_not_critical,
        '-addext "basicConstraints=critical,CA:TRUE"',
        "builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)",
    ),
    StrictRule(
        85, "a certificate below the trust anchor must include an authorityKeyIdentifier",
        "RFC 5280 §4.2.1.1", _missing_akid,
        '-addext "authorityKeyIdentifier=keyid"  (in the issuing step)',
        "builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key("
        "issuer_key.public_key()), critical=False)",
    ),
    StrictRule(
        86, "a CA certificate must include a subjectKeyIdentifier",
        "RFC 5280 §4.2.1.2", _missing_skid,
        '-addext "subjectKeyIdentifier=hash"',
        "builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), "
        "critical=False)",
    ),
    StrictRule(
        90, "the authorityKeyIdentifier extension must not be critical",
        "RFC 5280 §4.2.1.1", _akid_critical,
        '-addext "authorityKeyIdentifier=keyid"  (without "critical,")',
        "add_extension(x509.AuthorityKeyIdentifier..., critical=False)",
    ),
    StrictRule(
        91, "the subjectKeyIdentifier extension must not be critical",
        "RFC 5280 §4.2.1.2", _skid_critical,
        '-addext "subjectKeyIdentifier=hash"  (without "critical,")',
        "add_extension(x509.SubjectKeyIdentifier..., critical=False)",
    ),
    StrictRule(
        80, "a pathLenConstraint is only allowed in a CA certificate",
        "RFC 5280 §4.2.1.9", _pathlen_non_ca,
        '-addext "basicConstraints=critical,CA:FALSE"  (no pathlen)',
        "x509.BasicConstraints(ca=False, path_length=None)",
    ),
    StrictRule(
        81, "a pathLenConstraint requires keyUsage keyCertSign",
        "RFC 5280 §4.2.1.9", _pathlen_without_certsign,
        f'-addext "{_KU_CA}"', _KU_CA_PY,
    ),
    StrictRule(
        82, "keyUsage keyCertSign is only allowed in a CA certificate",
        "RFC 5280 §4.2.1.3", _certsign_non_ca,
        '-addext "keyUsage=critical,digitalSignature"  (no keyCertSign in a leaf)',
        "x509.KeyUsage(..., key_cert_sign=False, ...)",
    ),
    StrictRule(
        83, "the issuer name must not be empty", "RFC 5280 §4.1.2.4", _issuer_empty,
        '-subj "/CN=My CA"  (for the issuing CA)', "x509.Name([...]) with at least one attribute",
    ),
    StrictRule(
        84, "the subject name must not be empty for a CA (or a certificate without SAN)",
        "RFC 5280 §4.1.2.6", _subject_empty,
        '-subj "/CN=..."', "builder.subject_name(x509.Name([...])) with at least one attribute",
    ),
    StrictRule(
        88, "with an empty subject the subjectAltName extension must be critical",
        "RFC 5280 §4.2.1.6", _empty_subject_san_not_critical,
        '-addext "subjectAltName=critical,DNS:host.example"  (or give a -subj)',
        "add_extension(x509.SubjectAlternativeName([...]), critical=True)",
    ),
    StrictRule(
        87, "a subjectAltName extension must not be empty", "RFC 5280 §4.2.1.6", _empty_san,
        '-addext "subjectAltName=DNS:host.example"',
        "x509.SubjectAlternativeName([x509.DNSName('host.example')])",
    ),
    StrictRule(
        93, "extensions require an X.509 version 3 certificate", "RFC 5280 §4.1.2.1",
        _v1_with_extensions, "openssl x509 -req ... -extfile ext.cnf  (makes v3)",
        "x509.CertificateBuilder() (always v3)",
    ),
    StrictRule(
        103, "authorityCertIssuer and authorityCertSerialNumber must be given together",
        "RFC 5280 §4.2.1.1", _akid_not_paired,
        '-addext "authorityKeyIdentifier=keyid"', "x509.AuthorityKeyIdentifier.from_issuer_"
        "public_key(issuer_key.public_key())",
    ),
    StrictRule(
        78, "the signature algorithm must be the same inside and outside the signed part",
        "RFC 5280 §4.1.1.2", _undecidable,
        "re-sign it with a current openssl", "re-sign it with CertificateBuilder.sign()",
    ),
    StrictRule(
        94, "an EC public key must name its curve, not carry explicit parameters",
        "RFC 5480 §2.1.1", _undecidable,
        "openssl ecparam -name prime256v1 -genkey (named curve)",
        "ec.generate_private_key(ec.SECP256R1())",
    ),
)

STRICT_RULES: Dict[int, StrictRule] = {rule.errnum: rule for rule in _RULES}
"""``X509_V_ERR_*`` number -> the strict-profile rule behind it (OpenSSL 3.0 numbering)."""


def is_strict_rule(errnum: Optional[int]) -> bool:
    """Whether ``errnum`` is refused only by the strict profile (X509_STRICT or tlsplug's lint)."""
    return errnum in STRICT_RULES


def _position(depth: int, length: int, cert: x509.Certificate) -> str:
    if depth == 0:
        return "the server's certificate (depth 0)"
    if depth == length - 1 and cert.issuer == cert.subject:
        return f"the root CA (depth {depth}, the trust anchor)"
    return f"the intermediate CA at depth {depth}"


def _subject(cert: x509.Certificate) -> str:
    try:
        text = cert.subject.rfc4514_string()
    except ValueError:  # pragma: no cover - an undecodable name
        text = ""
    return text or "(empty subject)"


def _chain_with_anchor(
    peers: Sequence[x509.Certificate], anchors: Sequence[x509.Certificate]
) -> List[x509.Certificate]:
    chain = list(peers)
    # Follow issuers through the anchors (the server usually does not send its root).
    for _ in range(len(anchors)):
        if not chain:
            break
        top = chain[-1]
        if top.issuer == top.subject:
            break
        issuer = next((a for a in anchors if a.subject == top.issuer and a not in chain), None)
        if issuer is None:
            break
        chain.append(issuer)
    return chain


def _breaks(rule: StrictRule, cert: x509.Certificate, depth: int, length: int) -> Optional[bool]:
    """``rule.breaks``, or None when cryptography cannot decode the certificate's extensions."""
    try:
        return rule.breaks(cert, depth, length)
    except ValueError:  # e.g. an AKID cryptography refuses to build (limbo's aki cases)
        return None


def strict_refusal(
    errnum: int,
    *,
    depth: Optional[int],
    peers: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate] = (),
    backend: Optional[str],
    prefix: str = "",
) -> Optional[CertificateError]:
    """The ``cert-invalid`` error naming the certificate, rule and fix, or None.

    ``peers``: the chain the server sent, leaf first (unverified is fine); ``anchors``: the
    trusted certificates (``tlsCAFile``) that may complete it; ``depth``: where OpenSSL
    reported the error, when known. None when ``errnum`` is not a strict-only rule.
    """
    rule = STRICT_RULES.get(errnum)
    if rule is None:
        return None
    chain = _chain_with_anchor(peers, anchors)
    culprit: Optional[Tuple[int, x509.Certificate]] = None
    # OpenSSL named the depth: that certificate, unless it visibly keeps the rule.
    if (
        depth is not None
        and depth < len(chain)
        and _breaks(rule, chain[depth], depth, len(chain)) is not False
    ):
        culprit = (depth, chain[depth])
    if culprit is None:
        for at, cert in enumerate(chain):
            if _breaks(rule, cert, at, len(chain)):
                culprit = (at, cert)
                break
    who: Optional[str] = None
    if culprit is not None:
        at, cert = culprit
        who = f"{_position(at, len(chain), cert)} {_subject(cert)!r}"
        name = _subject(cert)
    elif not peers:
        # The backend cannot show the server's chain (Python 3.9's ssl after a failed
        # handshake): the trusted certificates are still known, and a private root made
        # with `openssl req` defaults is the usual culprit.
        for cert in anchors:
            if _breaks(rule, cert, 1, 2):
                who = f"the root CA {_subject(cert)!r} (a trust anchor from tlsCAFile)"
                name = _subject(cert)
                break
    if who is None:
        who = "a certificate of the chain" + (f" (depth {depth})" if depth is not None else "")
        if not peers:
            who += " (this backend cannot show the chain the server sent)"
        name = "the certificate"
    message = (
        f"{prefix}certificate verify failed: {who} breaks a strict X.509 rule: {rule.rule} "
        f"({rule.source}; OpenSSL verify error {errnum})"
    )
    hint = (
        f"Fix {name}: {_REISSUE}, adding {rule.fix_openssl} "
        f"(cryptography: {rule.fix_cryptography}); {_RELAX}."
    )
    error = error_for_code(CERT_INVALID, message, backend=backend, hint=hint)
    assert isinstance(error, CertificateError)
    return error


def trust_anchors(source: Union[TLSOptions, Materials, Trust]) -> Tuple[x509.Certificate, ...]:
    """The explicit trust anchors: ``Trust.certs`` (tlsCAFile, ca_data, tlsCADirectory).

    Backends pass the ``Materials`` (or ``Trust``) they loaded: the certificates were parsed
    once by ``load_materials``. Given ``TLSOptions`` (a backend that kept only those), the
    certificates of ``options.ca_file``, parsed by the same loader once per version of the
    file; () when it cannot be read.
    """
    if isinstance(source, Materials):
        return source.trust.certs
    if isinstance(source, Trust):
        return source.certs
    if source.ca_file is None:
        return ()
    try:
        stat = os.stat(source.ca_file)
    except OSError:
        return ()
    return _ca_file_certificates(source.ca_file, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=16)
def _ca_file_certificates(path: str, mtime_ns: int, size: int) -> Tuple[x509.Certificate, ...]:
    try:
        return tuple(ca_file_certificates(path))
    except ConfigurationError:
        return ()
