"""Hints written from the situation: which options were set, where the trust came from.

The default hint of each code (``_errors._HINTS``) suits a user who set nothing; when the
options say more (a ``tlsCAFile`` was given, the legacy profile is already on), a backend
asks ``situated_hint`` so it never advises what the user already did.
"""

from __future__ import annotations

from typing import Optional

from ._codes import CERT_UNTRUSTED, NO_SHARED_CIPHER, PROTOCOL_VERSION, ErrorCode
from ._materials import describe_trust, system_trust
from ._options import TLSOptions

__all__ = ["client_cert_hint", "protocol_version_hint", "situated_hint", "untrusted_hint"]


def untrusted_hint(options: TLSOptions) -> str:
    """The ``cert-untrusted`` hint for the trust source these options verify against."""
    if options.ca_file and options.ca_data is None and options.ca_dir is None:
        return (
            f"Only the CAs in tlsCAFile ({options.ca_file}) are trusted and none of them "
            "issued the server's chain: put the certificate of the CA that signed the "
            "server's certificate (or of its root) in that file, and check that the server "
            "sends its intermediate certificates."
        )
    if options.has_explicit_ca:
        return (
            f"Only the CAs of {describe_trust(options)} are trusted and none of them issued "
            "the server's chain: add the certificate of the CA that signed the server's "
            "certificate (or of its root), and check that the server sends its intermediates."
        )
    if options.trust_store != "default":
        return (
            f"tlsTrustStore={options.trust_store} trusts {describe_trust(options)}, and none "
            "of those CAs issued the server's chain. For a server whose certificate a private "
            "CA issued, set tlsCAFile (or ca_data) to that CA's certificate."
        )
    trust = system_trust()
    where = trust.cafile or trust.capath
    if trust.source.startswith("certifi"):
        return (
            "No tlsCAFile was given and the system has no CA store, so certifi's bundle "
            f"({where}) was used; it holds public CAs only. For a server whose certificate "
            "a private CA issued, set tlsCAFile to that CA's certificate."
        )
    return (
        f"No tlsCAFile was given, so the system CA store ({where}) was used. For a server "
        "whose certificate a private CA issued, set tlsCAFile to that CA's certificate; "
        "for a public CA, update the system's CA certificates."
    )


def protocol_version_hint(library: str) -> str:
    """The ``protocol-version`` hint naming the TLS library in use (docs/design.md, "Errors")."""
    return (
        "The server and client share no TLS version. Old servers need tlsProfile=legacy. "
        f"OpenSSL in use: {library}."
    )


def client_cert_hint(options: Optional[TLSOptions]) -> str:
    """The hint when the server refused our client certificate, or wanted one we lack."""
    if options is not None and options.certificate_key_data is not None:
        return (
            "The server did not accept the client certificate given in certificate_key_data: it "
            "must be issued for client authentication by a CA the server trusts; the server's "
            "log says which check failed."
        )
    if options is not None and options.certificate_key_file:
        return (
            f"The server did not accept the certificate in tlsCertificateKeyFile "
            f"({options.certificate_key_file}): it must be issued for client authentication by "
            "a CA the server trusts; the server's log says which check failed."
        )
    return (
        "The server requires a client certificate: set tlsCertificateKeyFile to a certificate "
        "(with its key) issued for client authentication by a CA the server trusts."
    )


def situated_hint(code: ErrorCode, options: Optional[TLSOptions]) -> Optional[str]:
    """The hint for ``code`` given ``options``, or None when the default hint fits."""
    if options is None:
        return None
    if code == CERT_UNTRUSTED:
        return untrusted_hint(options)
    if code == PROTOCOL_VERSION and options.profile == "legacy":
        return (
            "tlsProfile=legacy (already set) accepts TLS 1.0 to 1.3 and the server offers none "
            "of them: it speaks only SSL 3.0 or older, which OpenSSL no longer implements; the "
            "server must be upgraded."
        )
    if code == NO_SHARED_CIPHER and options.profile == "legacy":
        return (
            "Even tlsProfile=legacy (already set) offers no cipher suite the server accepts: "
            "the server wants a suite tlsplug never offers; its log names the suite."
        )
    return None
