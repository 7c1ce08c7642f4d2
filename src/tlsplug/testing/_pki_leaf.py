"""Leaf certificates and the files they are written to (see :mod:`tlsplug.testing.pki`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional, Union

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ._pki_build import write_file
from ._pki_keys import KeyType, PrivateKey, key_type_of, private_key_pem

if TYPE_CHECKING:
    from .pki import CA

__all__ = ["CertFiles", "Issued", "LeafCert", "PathLike"]

PathLike = Union[str, "os.PathLike[str]"]
"""A filesystem path as ``str`` or path-like object."""


@dataclass(frozen=True)
class CertFiles:
    """Paths written by :meth:`LeafCert.write`."""

    cert_file: Path
    """PEM of the leaf followed by its intermediates."""
    key_file: Path
    """PEM private key (PKCS#8, encrypted when a password was given), mode 0o600."""
    combined_file: Optional[Path]
    """Chain then key in one PEM, as MongoDB's ``tlsCertificateKeyFile`` expects; mode 0o600."""


class Issued:
    """Shared accessors of anything holding a certificate and its private key."""

    certificate: x509.Certificate
    private_key: PrivateKey

    @property
    def cert_pem(self) -> bytes:
        """The certificate as PEM."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def cert_der(self) -> bytes:
        """The certificate as DER."""
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def serial(self) -> int:
        """The certificate's serial number."""
        return self.certificate.serial_number

    @property
    def key_type(self) -> KeyType:
        """The :class:`KeyType` of the private key."""
        return key_type_of(self.private_key)

    def private_key_pem(self, password: Optional[bytes] = None, key_format: str = "pkcs8") -> bytes:
        """Return the key as PEM: PKCS#8 (or ``"traditional"``), encrypted if ``password``."""
        return private_key_pem(self.private_key, password, key_format)


class LeafCert(Issued):
    """An end-entity certificate, its private key and the CA chain that issued it."""

    def __init__(self, certificate: x509.Certificate, private_key: PrivateKey, issuer: CA) -> None:
        """Wrap an issued certificate; use :meth:`CA.issue_cert` rather than calling this."""
        self.certificate = certificate
        self.private_key = private_key
        self.issuer = issuer

    def __repr__(self) -> str:
        """Show the subject and issuer."""
        return f"<LeafCert {self.certificate.subject.rfc4514_string()!r} from {self.issuer.name!r}>"

    @property
    def root(self) -> CA:
        """The self-signed root at the top of this certificate's chain."""
        return self.issuer.root

    @property
    def chain(self) -> List[CA]:
        """The intermediates a server presents with this leaf, nearest first, root excluded."""
        return self.issuer.chain

    @property
    def chain_pem(self) -> bytes:
        """The leaf followed by its intermediates, PEM concatenated."""
        return self.cert_pem + b"".join(ca.cert_pem for ca in self.chain)

    def write(
        self,
        directory: PathLike,
        *,
        password: Optional[bytes] = None,
        combined: bool = True,
        basename: Optional[str] = None,
    ) -> CertFiles:
        """Write the chain, the key and (if ``combined``) both together into ``directory``."""
        base = Path(directory) / (basename or f"leaf-{self.serial:x}"[:17])
        cert_file = write_file(base.with_name(base.name + ".pem"), self.chain_pem)
        key_pem = self.private_key_pem(password)
        key_file = write_file(base.with_name(base.name + ".key"), key_pem, private=True)
        combined_file = None
        if combined:
            path = base.with_name(base.name + "-combined.pem")
            combined_file = write_file(path, self.chain_pem + key_pem, private=True)
        return CertFiles(cert_file, key_file, combined_file)
