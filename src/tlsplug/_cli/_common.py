"""What the subcommands share: the output console, option flags, parsing with warnings captured."""

from __future__ import annotations

import argparse
import os
import re
import warnings
from dataclasses import dataclass
from typing import IO, Any, Dict, List, Optional, Sequence, Tuple
from urllib.parse import unquote

from .._errors import ConfigurationError, OptionWarning, TLSError
from .._options import TLSOptions
from .._optionspec import OPTION_MEANINGS, URI_BOOL_FIELDS, URI_NAMES
from .._uri import split_uri
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


_SECRET_WORDS = ("password", "passphrase", "secret", "token")


def _is_secret_key(raw_key: str) -> bool:
    """Whether an option name means a secret, judged after percent-decoding (by meaning)."""
    key = unquote(raw_key).lower()
    return any(word in key for word in _SECRET_WORDS) or (
        key == "authmechanismproperties"
    )


_PAIR = re.compile(r"(?P<lead>^|[?&;])(?P<key>[^=&;?]*)=(?P<value>[^&;]*)")


def _mask_pairs(text: str) -> str:
    """Mask the values of secret options, with any ``=``-less items that follow them.

    An item without ``=`` after a password is the tail of a password that held a raw ``&``
    or ``;``: it is masked as well.
    """
    out: List[str] = []
    pos = 0
    for match in _PAIR.finditer(text):
        if match.start() < pos:
            continue
        out.append(text[pos:match.start("value")])
        pos = match.end("value")
        if not _is_secret_key(match["key"]):
            out.append(match["value"])
            continue
        out.append(MASK)
        while pos < len(text) and text[pos] in "&;":
            nxt = re.match(r"[^&;]*", text[pos + 1:])
            item = nxt.group(0) if nxt else ""
            if "=" in item:
                break
            pos += 1 + len(item)
    out.append(text[pos:])
    return "".join(out)


def mask_uri(uri: str) -> str:
    """``uri`` with the user's password and every secret option value replaced by asterisks.

    Judged by meaning: the userinfo is found as ``TLSOptions.parse`` finds it, option names
    are percent-decoded before they are recognised (``tlsCertificateKeyFile%50assword``),
    and a URI that cannot be split (a raw ``/``, ``?`` or ``@`` in its password) shows
    nothing before its last ``@``. When in doubt more is masked, never less.
    """
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return _mask_pairs(uri)
    try:
        userinfo = split_uri(uri).userinfo
    except TLSError:
        _, at, after = rest.rpartition("@")
        return f"{scheme}://{MASK}@{_mask_pairs(after)}" if at else (
            f"{scheme}://{_mask_pairs(rest)}")
    if userinfo is None or ":" not in userinfo:
        return f"{scheme}://{_mask_pairs(rest)}"
    user = userinfo.partition(":")[0]
    return f"{scheme}://{user}:{MASK}{_mask_pairs(rest[len(userinfo):])}"


def error_lines(
    err: TLSError, console: Console, *, indent: int = 2, extra: Sequence[Tuple[str, str]] = (),
    brief: bool = False,
) -> List[str]:
    """``code``, message and hint of a tlsplug error as aligned lines.

    ``brief`` leaves out the code and backend when the caller's heading already shows them.
    """
    style = console.style
    pairs: List[Tuple[str, str]] = [] if brief else [("error", err.code)]
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
