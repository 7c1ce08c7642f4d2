"""The PKI and files behind :mod:`tlsplug.testing.conformance`, built once per test class."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Dict, Tuple

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .pki import CA, LeafCert
from .servers import ipv6_available  # re-exported: the one IPv6 rule lives in servers

__all__ = ["PASSWORD", "World", "build_world", "ipv6_available"]

#: The password of the encrypted client key.
PASSWORD = b"conformance-s3cret"


class World:
    """Every certificate, key and CRL the conformance suite uses, with their files."""

    def __init__(self, directory: Path) -> None:
        """Build the hierarchies and write the files into ``directory``."""
        self.directory = directory
        self.root = CA("conformance root")
        self.intermediate = self.root.create_intermediate("conformance intermediate")
        issue = self.intermediate.issue_cert
        self.leaf = issue("localhost", "127.0.0.1", "::1")
        self.ca_file = str(self.root.write_cert(directory / "ca.pem"))
        self.untrusted = CA("conformance stranger").issue_cert("localhost", "127.0.0.1", "::1")
        self.expired = issue("localhost", "127.0.0.1", expired=True)
        self.not_yet_valid = issue("localhost", "127.0.0.1", not_yet_valid=True)
        self.other_ip = issue("localhost", "10.0.0.1", "::2")
        self.idn = issue("bücher.example")
        self.cn_only = issue("localhost", include_san=False)
        self.wildcard = issue("*.example.test")
        self.revoked = issue("localhost", "127.0.0.1")
        self.crl_revoking: Dict[str, str] = {}
        self.crl_empty: Dict[str, str] = {}
        for encoding in ("pem", "der"):
            self.crl_revoking[encoding] = str(self.intermediate.write_crl(
                directory / f"revoking.{encoding}.crl", [self.revoked], encoding=encoding))
            self.crl_empty[encoding] = str(self.intermediate.write_crl(
                directory / f"empty.{encoding}.crl", [], encoding=encoding))
        rsa_root = CA("conformance RSA root", "rsa")
        self.rsa_leaf = rsa_root.issue_cert("localhost", "127.0.0.1")
        self.rsa_ca_file = str(rsa_root.write_cert(directory / "rsa-ca.pem"))
        self.client = issue("client.tlsplug.test", client=True, server=False)
        plain = self.client.write(directory, basename="client")
        encrypted = self.client.write(directory, basename="client-enc", password=PASSWORD)
        assert plain.combined_file is not None
        assert encrypted.combined_file is not None
        self.client_plain = str(plain.combined_file)
        self.client_encrypted = str(encrypted.combined_file)
        self._chains: Dict[Tuple[str, int], Tuple[LeafCert, str]] = {}
        self._lock = threading.Lock()

    def chain(self, key_type: str, depth: int) -> Tuple[LeafCert, str]:
        """A localhost leaf under ``depth`` CAs (root included) of ``key_type``; the root file."""
        with self._lock:
            if (key_type, depth) not in self._chains:
                issuer = root = CA(f"conformance {key_type} root", key_type)
                for level in range(1, depth):
                    issuer = issuer.create_intermediate(f"conformance {key_type} level {level}")
                leaf = issuer.issue_cert("localhost", "127.0.0.1")
                path = root.write_cert(self.directory / f"root-{key_type}-{depth}.pem")
                self._chains[key_type, depth] = (leaf, str(path))
            return self._chains[key_type, depth]

    def malformed(self, kind: str, directory: Path) -> str:
        """The path of a bad input of ``kind`` (created in ``directory`` unless missing)."""
        target = directory / f"{kind}.pem"
        if kind == "missing":
            return str(target)
        if kind == "directory":
            return str(directory)
        contents = {
            "empty": b"",
            "garbage": b"\x00\x01 this is neither PEM nor DER \xff\n",
            "key_only": self.leaf.private_key_pem(),
            "cert_only": self.leaf.cert_pem,
            "mismatched": self.leaf.cert_pem + _fresh_key_pem(),
        }[kind]
        target.write_bytes(contents)
        return str(target)


def _fresh_key_pem() -> bytes:
    # A brand-new key: pooled keys are shared, so a pooled one might match the certificate.
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def build_world(directory: Path) -> World:
    """Build a :class:`World` writing into ``directory``."""
    return World(directory)
