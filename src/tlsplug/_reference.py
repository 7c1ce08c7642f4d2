"""What every option, error code and command means: the data behind docs/reference/.

The documentation renders these tables (docs/_ext/tlsplug_reference.py) instead of copying
them, so a field added to ``TLSOptions``, a code added to the exception tree or a subcommand
added to the CLI appears in the reference by itself; ``tests/docs`` fails when one of them has
no meaning written (the options' meanings live in ``_optionspec``, which the CLI reads too).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import os
import re
from typing import Dict, Iterator, List, Tuple

from ._codes import ALL_CODES, ErrorCode
from ._errors import (
    CertificateError,
    ConfigurationError,
    HandshakeError,
    TLSError,
    error_for_code,
)
from ._options import TLSOptions
from ._optionspec import OPTION_MEANINGS, URI_NAMES

__all__ = [
    "OPTION_MEANINGS",
    "ErrorInfo",
    "LegacyOptionInfo",
    "OptionInfo",
    "cli_commands",
    "cli_help",
    "error_reference",
    "legacy_option_reference",
    "option_reference",
]

@dataclasses.dataclass(frozen=True)
class OptionInfo:
    """One row of the option table."""

    field: str
    uri_keys: Tuple[str, ...]  # the connection-string spelling first, then aliases; () = none
    type: str
    default: str
    meaning: str


@dataclasses.dataclass(frozen=True)
class ErrorInfo:
    """One error code: the exception class that carries it and its default hint."""

    code: ErrorCode
    exception: str
    hint: str


@dataclasses.dataclass(frozen=True)
class LegacyOptionInfo:
    """A PyMongo 3 option name and what tlsplug makes of it."""

    name: str
    replacement: str  # the connection-string key it becomes, or "" when it is refused
    translation: str


def _split_top(text: str) -> List[str]:
    """``"a, B[c, d], e"`` -> ``["a", "B[c, d]", "e"]``."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += char == "["
        depth -= char == "]"
        if char == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


def _type_text(annotation: object) -> str:
    """A field's annotation in PEP 604 spelling (``Optional[bool]`` -> ``bool | None``)."""
    text = annotation if isinstance(annotation, str) else getattr(
        annotation, "__name__", repr(annotation)
    )
    text = re.sub(r"\btyping\.", "", text)
    match = re.fullmatch(r"(Optional|Union)\[(.*)\]", text)
    if match is None:
        return text
    parts = _split_top(match.group(2))
    if match.group(1) == "Optional":
        parts.append("None")
    return " | ".join(_type_text(p) for p in parts)


def _default_text(field: dataclasses.Field[object]) -> str:
    if field.default is not dataclasses.MISSING:
        return repr(field.default)
    if field.default_factory is not dataclasses.MISSING:
        return repr(field.default_factory())
    return "(required)"


def _uri_keys() -> Dict[str, List[str]]:
    """field -> every connection-string key that sets it, the canonical spelling first."""
    from ._uri import _KEYS  # the parser's own table, so aliases cannot drift from it

    out: Dict[str, List[str]] = {field: [key] for field, key in URI_NAMES.items()}
    for lowered, field in _KEYS.items():
        keys = out.setdefault(field, [])
        if lowered not in (key.lower() for key in keys):
            keys.append(lowered)
    return out


def option_reference() -> List[OptionInfo]:
    """Every ``TLSOptions`` field in declaration order, with its keys, type and meaning."""
    keys = _uri_keys()
    return [
        OptionInfo(
            field=f.name,
            uri_keys=tuple(keys.get(f.name, ())),
            type=_type_text(f.type),
            default=_default_text(f),
            meaning=OPTION_MEANINGS.get(f.name, ""),
        )
        for f in dataclasses.fields(TLSOptions)
    ]


_CLASS_ORDER: Tuple[type[TLSError], ...] = (ConfigurationError, HandshakeError, CertificateError)


def error_reference() -> List[ErrorInfo]:
    """Every error code, grouped by exception class, with the hint it carries by default."""
    rows = []
    for code in ALL_CODES:
        err = error_for_code(code, "reference")
        rows.append(ErrorInfo(code=code, exception=type(err).__name__, hint=err.hint))
    order = {cls.__name__: i for i, cls in enumerate(_CLASS_ORDER)}
    rows.sort(key=lambda row: (order.get(row.exception, len(order)), row.code))
    return rows


def legacy_option_reference() -> List[LegacyOptionInfo]:
    """The PyMongo 3 ``ssl_*`` names the parser translates (DeprecationWarning) or refuses."""
    from ._uri import _LEGACY, _UNSUPPORTED_LEGACY

    words = {
        "same": "same value",
        "negate": "value negated (true becomes false)",
        "cert_reqs": "CERT_NONE becomes true; CERT_OPTIONAL and CERT_REQUIRED become false",
    }
    rows = [
        LegacyOptionInfo(name=name, replacement=new, translation=words.get(how, how))
        for name, (new, how) in _LEGACY.items()
    ]
    rows += [
        LegacyOptionInfo(name=name, replacement="", translation=f"refused: {why}")
        for name, why in _UNSUPPORTED_LEGACY.items()
    ]
    return rows


def _subparsers(parser: argparse.ArgumentParser) -> Dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def cli_commands() -> List[str]:
    """The names of the ``tlsplug`` subcommands, in the order ``--help`` lists them."""
    from .__main__ import build_parser

    return list(_subparsers(build_parser()))


@contextlib.contextmanager
def _columns(width: int) -> Iterator[None]:
    # argparse wraps at $COLUMNS (shutil.get_terminal_size); pin it so the text is stable.
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        yield
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


def cli_help(command: str = "", *, width: int = 90) -> str:
    """The ``--help`` text of ``tlsplug`` (``command=""``) or of ``tlsplug COMMAND``."""
    from .__main__ import build_parser

    with _columns(width):
        parser = build_parser()
        if command:
            commands = _subparsers(parser)
            if command not in commands:
                raise KeyError(f"no tlsplug command {command!r}; known: {', '.join(commands)}")
            parser = commands[command]
        out = io.StringIO()
        parser.print_help(out)
    return out.getvalue()
