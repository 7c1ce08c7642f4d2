"""tlsplug: verified TLS client connections for network drivers, on any TLS backend.

One backend-neutral option set (the MongoDB-style ``tls*`` options) carried out by
interchangeable backends found through the ``tlsplug.backends`` entry point group.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, List

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

if TYPE_CHECKING:  # for type checkers; at run time __getattr__ imports them on first use
    from . import aio as aio
    from . import backend as backend
    from . import ocsp as ocsp
    from . import testing as testing

# The distribution's one version source (hatch reads it here). tlsplug-pyopenssl is released
# with the same version and requires this minor series (tests/test_packaging.py checks both).
__version__ = "0.1.0"

# Public submodules, imported on first attribute access (PEP 562) so `import tlsplug` stays
# cheap: tlsplug.aio pulls in asyncio, tlsplug.testing the test PKI and servers.
_SUBMODULES = frozenset({"aio", "backend", "ocsp", "testing"})


if not TYPE_CHECKING:  # type checkers see the imports above, so `tlsplug.typo` stays an error

    def __getattr__(name: str) -> ModuleType:
        if name in _SUBMODULES:
            # import_module also binds the submodule on the package: the next access is direct.
            return importlib.import_module(f"{__name__}.{name}")
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> List[str]:
    return sorted({*globals(), *_SUBMODULES})


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
