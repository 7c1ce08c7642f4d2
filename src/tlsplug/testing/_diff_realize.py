"""``realize``: turn a ``Scenario`` into certificates, files, a server configuration, options.

Everything is built fresh per scenario (keys come from the PKI's pool, so this costs a few
signatures), which keeps scenarios independent: fresh serial numbers mean the process-wide
OCSP cache can never carry a verdict from one scenario into another.
"""

from __future__ import annotations

import dataclasses
import datetime
import ssl
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union
from urllib.parse import quote

from cryptography import x509

from .._optionspec import URI_NAMES
from ..backend import SecurityWarning, TLSOptions
from ._diff_scenario import RELAXING, Scenario
from ._pki_build import DAY, build_certificate, key_usage, write_file
from ._pki_keys import utcnow
from .ocsp_responder import OCSPResponder, closed_port_url
from .pki import CA, LeafCert

__all__ = ["Realized", "ServerConfig", "build_options", "realize"]

PASSWORD = "differential-secret"


class _BareLeaf(LeafCert):
    """A leaf whose server forgets to send the intermediates (``missing-intermediate``)."""

    @property
    def chain(self) -> List[CA]:
        """Nothing but the leaf is served."""
        return []


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    """What the in-process or loopback server runs with."""

    min_version: Optional[ssl.TLSVersion] = None
    max_version: Optional[ssl.TLSVersion] = None
    ciphers: Optional[str] = None


_SERVERS: Dict[str, ServerConfig] = {
    "modern": ServerConfig(),
    "tls12": ServerConfig(max_version=ssl.TLSVersion.TLSv1_2),
    "tls13": ServerConfig(min_version=ssl.TLSVersion.TLSv1_3),
    # servers.LEGACY_CIPHERS: RSA key transport, CBC, SHA-1 MAC - a pre-2018 server.
    "legacy-cbc": ServerConfig(
        ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_2, "AES256-SHA:@SECLEVEL=0"
    ),
    "old-protocol": ServerConfig(
        ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1, "DEFAULT:@SECLEVEL=0"
    ),
}


@dataclasses.dataclass
class Realized:
    """The materials of one scenario; ``close()`` stops the OCSP responder if one runs."""

    scenario: Scenario
    directory: Path
    leaf: LeafCert
    """The served leaf (its ``chain`` is what the server sends)."""
    server_chain_file: Path
    server_key_file: Path
    server: ServerConfig
    client_ca: Optional[CA]
    """Set when the server requires a client certificate issued by this CA."""
    ca_file: Optional[str]
    crl_file: Optional[str]
    client_file: Optional[str]
    client_password: Optional[str]
    staple: Optional[bytes]
    responder: Optional[OCSPResponder] = None

    def close(self) -> None:
        """Stop the responder (idempotent)."""
        if self.responder is not None:
            self.responder.stop()
            self.responder = None

    def __enter__(self) -> Realized:
        """Use as a context manager."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop the responder."""
        self.close()


def _window(kind: str) -> Tuple[Optional[datetime.datetime], Optional[datetime.datetime]]:
    now = utcnow()
    if kind == "expired":
        return now - 30 * DAY, now - DAY
    if kind == "not-yet-valid":
        return now + DAY, now + 30 * DAY
    return None, None


def _soften_basic_constraints(ca: CA) -> None:
    """Re-issue ``ca`` with a non-critical basicConstraints (an X509_STRICT violation)."""
    parent = ca.parent
    assert parent is not None
    old = ca.certificate
    ca.certificate = build_certificate(
        old.subject,
        ca.private_key,
        parent.certificate,
        parent.private_key,
        (old.not_valid_before_utc, old.not_valid_after_utc),
        None,
        [
            (x509.BasicConstraints(ca=True, path_length=None), False),
            (key_usage(digital_signature=True, key_cert_sign=True, crl_sign=True), True),
        ],
    )


def _hierarchy(s: Scenario) -> Tuple[CA, CA]:
    """(root, the leaf's issuer) with the scenario's intermediate defect applied."""
    root = CA(
        "differential root", s.ca_key,
        strict_defect="no-key-usage" if s.defect == "root-no-key-usage" else None,
    )
    issuer = root
    for level in range(1, s.depth):
        last = level == s.depth - 1
        kind = s.defect.replace("intermediate-", "") if last and "intermediate-" in s.defect else ""
        not_before, not_after = _window(kind)
        issuer = issuer.create_intermediate(
            f"differential intermediate {level}", not_before=not_before, not_after=not_after
        )
        if last and s.defect == "intermediate-bc-not-critical":
            _soften_basic_constraints(issuer)
    return root, issuer


def _ocsp_setup(
    s: Scenario, issuer: CA, start_responder: bool
) -> Tuple[Optional[str], Optional[OCSPResponder]]:
    if s.responder == "none":
        return None, None
    if s.responder == "down" or not start_responder:
        return closed_port_url(), None
    responder = OCSPResponder(issuer, garbage=s.responder == "garbage").start()
    return responder.url, responder


def realize(scenario: Scenario, directory: Union[str, Path], *, start_responder: bool = True
            ) -> Realized:
    """Build the scenario's PKI and files in ``directory`` (which must exist).

    ``start_responder=False`` names a closed port in the leaf's AIA instead of running an
    OCSP responder: enough when no backend under test asks responders.
    """
    s = scenario
    out = Path(directory)
    root, issuer = _hierarchy(s)
    url, responder = _ocsp_setup(s, issuer, start_responder)
    try:
        leaf_kind = s.defect.replace("leaf-", "") if s.defect.startswith("leaf-") else ""
        leaf = issuer.issue_cert(
            *s.names,
            key_type=s.leaf_key,
            expired=leaf_kind == "expired",
            not_yet_valid=leaf_kind == "not-yet-valid",
            include_san=not s.cn_only,
            must_staple=s.must_staple,
            ocsp_url=url,
        )
        if responder is not None and s.responder in ("good", "revoked", "unknown"):
            responder.set_status(leaf, s.responder)
        if s.defect == "missing-intermediate":
            leaf = _BareLeaf(leaf.certificate, leaf.private_key, leaf.issuer)
        files = leaf.write(out, combined=False, basename="server")
        realized = Realized(
            scenario=s,
            directory=out,
            leaf=leaf,
            server_chain_file=files.cert_file,
            server_key_file=files.key_file,
            server=_SERVERS[s.server],
            client_ca=None,
            ca_file=_trust_file(s, root, issuer, out),
            crl_file=_crl_file(s, leaf, issuer, out),
            client_file=None,
            client_password=None,
            staple=_staple(s, leaf, issuer),
            responder=responder,
        )
        _client(s, realized)
    except BaseException:
        if responder is not None:
            responder.stop()
        raise
    return realized


def _trust_file(s: Scenario, root: CA, issuer: CA, out: Path) -> Optional[str]:
    if s.trust == "system":
        return None
    anchor = {"root": root, "issuer": issuer}.get(s.trust)
    if anchor is None:
        anchor = CA("differential unrelated root", s.ca_key)
    return str(write_file(out / "ca.pem", anchor.cert_pem))


def _crl_file(s: Scenario, leaf: LeafCert, issuer: CA, out: Path) -> Optional[str]:
    if s.revocation == "none":
        return None
    encoding = "der" if s.crl_der else "pem"
    if s.revocation == "crl-revokes-leaf":
        crl = issuer.crl([leaf], encoding=encoding)
    elif s.revocation == "crl-clean":
        crl = issuer.crl([leaf.serial ^ 1], encoding=encoding)  # lists someone else
    else:  # crl-other-ca: a CRL, but not of the leaf's issuer
        crl = CA("differential other CA", s.ca_key).crl([leaf.serial], encoding=encoding)
    return str(write_file(out / f"crl.{encoding}", crl))


def _staple(s: Scenario, leaf: LeafCert, issuer: CA) -> Optional[bytes]:
    if s.staple == "absent":
        return None
    status = s.staple if s.staple in ("good", "revoked", "unknown") else "good"
    return issuer.ocsp_response(
        leaf,
        status,
        expired=s.staple == "expired",
        corrupt_signature=s.staple == "bad-signature",
    )


def _client(s: Scenario, realized: Realized) -> None:
    if s.client_cert == "none":
        return
    client_root = CA("differential client root", s.ca_key)
    if s.client_cert.startswith("required"):
        realized.client_ca = client_root
    if s.client_cert == "required-missing":
        return
    client = client_root.issue_cert("client.example.test", client=True, server=False)
    password = PASSWORD.encode() if s.client_key_encrypted else None
    files = client.write(realized.directory, password=password, basename="client")
    assert files.combined_file is not None
    realized.client_file = str(files.combined_file)
    realized.client_password = PASSWORD if s.client_key_encrypted else None


# -- options ------------------------------------------------------------------------------


def _option_fields(s: Scenario, r: Realized, backend: str) -> Dict[str, Any]:
    """The option set as {field: value}, in docs/design.md's field names."""
    fields: Dict[str, Any] = {}
    if s.options.tls is not None and s.options.spelling != "srv":
        fields["enabled"] = s.options.tls
    if r.ca_file is not None:
        fields["ca_file"] = r.ca_file
    if r.client_file is not None:
        fields["certificate_key_file"] = r.client_file
        if r.client_password is not None:
            fields["certificate_key_file_password"] = r.client_password
    if r.crl_file is not None:
        fields["crl_file"] = r.crl_file
    for name in RELAXING:
        value = getattr(s.options, name)
        if value is not None:
            fields[name] = value
    fields["backend"] = backend
    fields["profile"] = s.options.profile
    if not s.options.strict_x509:
        fields["strict_x509"] = False
    return fields


def _uri_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return quote(str(value), safe="/")


def _move_material(s: Scenario, fields: Dict[str, Any], knobs: Dict[str, Any]) -> None:
    """Give the CA and client identity as the scenario's ``material`` says (same content)."""
    material = s.options.material
    ca_file = fields.get("ca_file")
    if material == "memory":
        # Keyword-only fields (no URI key): they travel with the keyword arguments.
        if ca_file is not None:
            knobs["ca_data"] = Path(fields.pop("ca_file")).read_bytes()
        if "certificate_key_file" in fields:
            knobs["certificate_key_data"] = Path(fields.pop("certificate_key_file")).read_text()
    elif material == "directory" and ca_file is not None:
        directory = Path(ca_file).parent / "ca-directory"
        directory.mkdir(exist_ok=True)
        (directory / "ca.pem").write_bytes(Path(ca_file).read_bytes())
        del fields["ca_file"]
        fields["ca_dir"] = str(directory)


def build_options(s: Scenario, r: Realized, backend: str) -> TLSOptions:
    """The scenario's option set for ``backend``, spelled as ``s.options.spelling`` says."""
    fields = _option_fields(s, r, backend)
    knobs: Dict[str, Any] = {"ocsp_timeout": s.options.ocsp_timeout,
             "session_resumption": s.options.session_resumption}
    _move_material(s, fields, knobs)
    spelling = s.options.spelling
    with warnings.catch_warnings():
        # Relaxing options warn by design (asserted elsewhere); keep the examples quiet.
        warnings.simplefilter("ignore", SecurityWarning)
        if spelling == "constructor":
            return TLSOptions(**fields, **knobs)
        in_uri = dict(fields)
        kwargs: Dict[str, Any] = dict(knobs)
        if spelling == "uri+kwargs":
            # Every other option moves to the keyword arguments, in the URI spelling.
            for index, name in enumerate(sorted(fields)):
                if index % 2:
                    kwargs[URI_NAMES[name]] = in_uri.pop(name)
        pairs = []
        for name, value in in_uri.items():
            key = URI_NAMES[name]
            if spelling == "uri-shouted":
                key = "SSL" if name == "enabled" else key.upper()  # keys are case-insensitive
            pairs.append(f"{key}={_uri_value(value)}")
        scheme = "mongodb+srv" if spelling == "srv" else "mongodb"
        uri = f"{scheme}://db.example.test/app?retryWrites=true&{'&'.join(pairs)}"
        return TLSOptions.parse(uri, **kwargs)
