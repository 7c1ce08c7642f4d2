"""Key types, the cached key pool and identity parsing for :mod:`tlsplug.testing.pki`."""

from __future__ import annotations

import datetime
import enum
import ipaddress
import threading
from typing import Dict, Iterable, List, Optional, Sequence, Union

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

__all__ = [
    "KeyType",
    "KeyTypeLike",
    "PrivateKey",
    "generate_key",
    "identity_text",
    "key_type_of",
    "parse_identity",
    "pooled_key",
    "private_key_pem",
    "signing_hash",
    "utcnow",
]

PrivateKey = Union[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey]
"""The private key types the test PKI produces."""


class KeyType(str, enum.Enum):
    """Key algorithm of a test certificate: RSA-2048, ECDSA P-256 or Ed25519."""

    RSA = "rsa"
    ECDSA = "ecdsa"
    ED25519 = "ed25519"


KeyTypeLike = Union[KeyType, str]
"""A :class:`KeyType` or its value (``"rsa"``, ``"ecdsa"``, ``"ed25519"``)."""

# Eight keys per type is enough variety for chains of realistic depth while keeping the
# cost of RSA-2048 generation (tens of milliseconds each) a one-off.
_POOL_SIZE = 8


def utcnow() -> datetime.datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.datetime.now(datetime.timezone.utc)


def generate_key(key_type: KeyTypeLike) -> PrivateKey:
    """Generate a brand-new private key of ``key_type``."""
    kt = KeyType(key_type)
    if kt is KeyType.RSA:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kt is KeyType.ECDSA:
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def key_type_of(key: PrivateKey) -> KeyType:
    """Return the :class:`KeyType` of ``key``."""
    if isinstance(key, rsa.RSAPrivateKey):
        return KeyType.RSA
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return KeyType.ECDSA
    return KeyType.ED25519


class _KeyPool:
    """Round-robin pool of lazily generated keys, shared by the whole process."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._keys: Dict[KeyType, List[PrivateKey]] = {}
        self._next: Dict[KeyType, int] = {}

    def take(self, key_type: KeyTypeLike, avoid: Iterable[PrivateKey] = ()) -> PrivateKey:
        """Return the next pooled key that is not (by identity) one of ``avoid``."""
        kt = KeyType(key_type)
        avoided = list(avoid)
        with self._lock:
            keys = self._keys.setdefault(kt, [])
            for _ in range(self._size):
                index = self._next.get(kt, 0)
                self._next[kt] = (index + 1) % self._size
                if index >= len(keys):
                    keys.append(generate_key(kt))
                key = keys[index]
                if not any(key is other for other in avoided):
                    return key
        # Every pooled key is excluded (only possible with absurdly deep chains).
        return generate_key(kt)


_POOL = _KeyPool(_POOL_SIZE)


def pooled_key(
    key_type: KeyTypeLike, *, fresh: bool = False, avoid: Sequence[PrivateKey] = ()
) -> PrivateKey:
    """Return a key of ``key_type`` from the process-wide pool, or a new one if ``fresh``."""
    if fresh:
        return generate_key(key_type)
    return _POOL.take(key_type, avoid)


def signing_hash(key: PrivateKey) -> Optional[hashes.SHA256]:
    """Return the digest to sign with ``key``: SHA-256, or None for Ed25519 (RFC 8410)."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    return hashes.SHA256()


def private_key_pem(
    key: PrivateKey, password: Optional[bytes] = None, key_format: str = "pkcs8"
) -> bytes:
    """Serialize ``key`` as PEM (PKCS#8 or traditional), encrypted when ``password`` is given."""
    encryption: serialization.KeySerializationEncryption
    if password:
        encryption = serialization.BestAvailableEncryption(password)
    else:
        encryption = serialization.NoEncryption()
    if key_format == "pkcs8":
        fmt = serialization.PrivateFormat.PKCS8
    elif key_format == "traditional":
        fmt = serialization.PrivateFormat.TraditionalOpenSSL
    else:
        raise ValueError(f"key_format must be 'pkcs8' or 'traditional', not {key_format!r}")
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption)


def _a_label(name: str) -> str:
    """Return ``name`` with every non-ASCII label IDNA-encoded (RFC 5280 §7.2 wants A-labels)."""
    labels = []
    for label in name.rstrip(".").split("."):
        if label.isascii():
            labels.append(label.lower())
        else:
            # The stdlib codec implements IDNA 2003, which is close enough for test names.
            labels.append(label.encode("idna").decode("ascii"))
    return ".".join(labels)


def parse_identity(identity: str) -> x509.GeneralName:
    """Turn a host name, wildcard, IDN or IP literal into a subjectAltName entry."""
    candidate = identity.strip()
    if candidate.startswith("[") and candidate.endswith("]"):
        candidate = candidate[1:-1]
    try:
        return x509.IPAddress(ipaddress.ip_address(candidate))
    except ValueError:
        pass
    if not candidate:
        raise ValueError("empty identity")
    return x509.DNSName(_a_label(candidate))


def identity_text(name: x509.GeneralName) -> str:
    """Return the textual form of a parsed identity (for a subject commonName)."""
    return str(name.value)
