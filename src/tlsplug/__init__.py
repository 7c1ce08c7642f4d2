"""tlsplug: verified TLS client connections for network drivers, on any TLS backend.

One backend-neutral option set (the MongoDB-style ``tls*`` options) carried out by
interchangeable backends found through the ``tlsplug.backends`` entry point group.
"""

from __future__ import annotations

from ._bridge import create_ssl_context
from ._connect import connect
from ._errors import (
    CertificateError,
    ConfigurationError,
    HandshakeError,
    OptionWarning,
    SecurityWarning,
    TLSError,
)
from ._options import TLSOptions
from ._protocols import ClientContext, Feature, TLSBuffer, TLSSocket
from ._registry import (
    available_backends,
    clear_context_cache,
    create_context,
    get_backend,
    select_backend,
)
from ._uri import parse_txt_record

__version__ = "0.1.0"

__all__ = [
    "CertificateError",
    "ClientContext",
    "ConfigurationError",
    "Feature",
    "HandshakeError",
    "OptionWarning",
    "SecurityWarning",
    "TLSBuffer",
    "TLSError",
    "TLSOptions",
    "TLSSocket",
    "__version__",
    "available_backends",
    "clear_context_cache",
    "connect",
    "create_context",
    "create_ssl_context",
    "get_backend",
    "parse_txt_record",
    "select_backend",
]
