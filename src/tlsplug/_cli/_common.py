"""What the subcommands share: the output console, option flags, parsing with warnings captured."""

from __future__ import annotations

import argparse
import os
import re
import warnings
from dataclasses import dataclass
from typing import IO, Any, Dict, List, Optional, Sequence, Tuple

from .._errors import ConfigurationError, OptionWarning, TLSError
from .._options import URI_BOOL_FIELDS, URI_NAMES, TLSOptions
from .._reference import OPTION_MEANINGS
from ._render import Style, kv_lines

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FAILED",
    "EXIT_OK",
    "Console",
    "add_option_flags",
    "error_lines",
    "mask_uri",
    "option_kwargs",
    "parse_options",
    "warning_text",
]

EXIT_OK = 0
EXIT_FAILED = 1  # a check or a demo outcome did not go as it should
EXIT_CONFIG = 2  # the options or the command line are wrong (argparse uses 2 as well)

MASK = "********"
_BOOL_KEYS = frozenset(URI_NAMES[f] for f in URI_BOOL_FIELDS)
# In-memory options (keyword only in the API) come from environment variables on the command
# line, as drivers get them from Vault or Kubernetes secrets: never from argv, which any
# local user can read (ps).
_ENV_FLAGS = {"ca-data-env": "ca_data", "certificate-key-data-env": "certificate_key_data"}
# Flag order follows docs/design.md's table so --help reads like the documentation.
_FLAG_KEYS: Tuple[str, ...] = tuple(URI_NAMES.values())


@dataclass
class Console:
    """Where a command writes, how wide it may be and whether it paints."""

    stream: IO[str]
    style: Style
    width: int = 80

    def print(self, text: str = "") -> None:
        """Write one line (or several joined by newlines)."""
        self.stream.write(text + "\n")

    def lines(self, lines: Sequence[str]) -> None:
        """Write each of ``lines``."""
        for line in lines:
            self.print(line)


def add_option_flags(parser: argparse.ArgumentParser, *, skip: Sequence[str] = ()) -> None:
    """Add ``--tlsCAFile F``, ``--tlsInsecure[=true|false]``, ... in connection-string spelling."""
    group = parser.add_argument_group(
        "TLS options", "Connection-string options as flags; they override the same key in --uri."
    )
    fields = {key: field for field, key in URI_NAMES.items()}
    for key in _FLAG_KEYS:
        if key in skip:
            continue
        # The words of the documentation's option table (tlsplug._reference).
        meaning = OPTION_MEANINGS.get(fields[key], "").replace("%", "%%")
        if key in _BOOL_KEYS:
            # A bare flag means true, as users write "tlsInsecure" meaning "turn it on".
            group.add_argument(f"--{key}", dest=f"opt_{key}", nargs="?", const="true",
                               metavar="true|false", help=meaning)
        else:
            metavar = "NAME" if key in ("tlsBackend", "tlsProfile", "tlsTrustStore") else (
                "PASSWORD" if key.endswith("Password") else
                "DIR" if key == "tlsCADirectory" else "FILE")
            group.add_argument(f"--{key}", dest=f"opt_{key}", metavar=metavar, help=meaning)
    for flag, field in _ENV_FLAGS.items():
        if field in skip:
            continue
        group.add_argument(f"--{flag}", dest=f"env_{field}", metavar="VAR",
                           help=f"{field}: PEM read from the environment variable VAR")


def option_kwargs(args: argparse.Namespace) -> Dict[str, Any]:
    """The option flags that were given, as ``TLSOptions.parse`` keyword arguments."""
    out: Dict[str, Any] = {}
    for key in _FLAG_KEYS:
        value = getattr(args, f"opt_{key}", None)
        if value is not None:
            out[key] = value
    for flag, field in _ENV_FLAGS.items():
        variable = getattr(args, f"env_{field}", None)
        if variable is None:
            continue
        if variable not in os.environ:
            raise ConfigurationError(
                f"--{flag}: the environment variable {variable!r} is not set",
                code="invalid-option", option=field,
            )
        out[field] = os.environ[variable]
    return out


def parse_options(
    uri: Optional[str], kwargs: Dict[str, Any]
) -> Tuple[TLSOptions, List[warnings.WarningMessage]]:
    """``TLSOptions.parse`` with its OptionWarning/DeprecationWarning captured for display."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", OptionWarning)
        warnings.simplefilter("always", DeprecationWarning)
        options = TLSOptions.parse(uri, **kwargs)
    return options, list(caught)


_USERINFO = re.compile(r"^(?P<scheme>[^:/?#]+://)(?P<user>[^:@/?#]*):(?P<password>[^@/?#]*)@")
_PASSWORD_OPTION = re.compile(
    r"(?P<key>(?:tlsCertificateKeyFilePassword|ssl_pem_passphrase)=)(?P<value>[^&;]*)",
    re.IGNORECASE,
)


def mask_uri(uri: str) -> str:
    """``uri`` with the user's password and the key password replaced by asterisks."""
    uri = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", uri)
    return _PASSWORD_OPTION.sub(lambda m: f"{m['key']}{MASK}", uri)


def error_lines(
    err: TLSError, console: Console, *, indent: int = 2, extra: Sequence[Tuple[str, str]] = (),
    brief: bool = False,
) -> List[str]:
    """``code``, message and hint of a tlsplug error as aligned lines.

    ``brief`` leaves out the code and backend when the caller's heading already shows them.
    """
    style = console.style
    pairs = [] if brief else [("error", err.code)]
    pairs.append(("message", err.message))
    if err.backend and not brief:
        pairs.append(("backend", err.backend))
    if err.hint:
        pairs.append(("hint", err.hint))
    pairs.extend(extra)
    return kv_lines(pairs, style, max_width=console.width, indent=indent,
                    value_style={"error": "bad"})


def warning_text(message: warnings.WarningMessage) -> str:
    """``Category: text`` of a captured warning."""
    return f"{message.category.__name__}: {message.message}"
