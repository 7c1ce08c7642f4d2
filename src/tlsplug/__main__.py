"""The ``tlsplug`` command: check a server, demo every scenario, explain options and backends.

``tlsplug check HOST[:PORT]``  connect with each backend side by side and explain the verdict
``tlsplug demo``               run every backend against local scenario servers (no network)
``tlsplug options URI``        what a connection string's TLS options turn on or off
``tlsplug backends``           installed backends, versions, features, what ``auto`` picks

Exit status: 0 success, 1 a connection or demo outcome failed, 2 invalid options or usage.
``python -m tlsplug`` is the same command.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from typing import List, Optional

from . import __version__
from ._cli import _backends_cmd, _check, _demo, _options_cmd
from ._cli._common import EXIT_CONFIG, EXIT_FAILED, Console
from ._cli._render import Style, terminal_width, use_colour

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="tlsplug",
        description="Diagnose TLS client connections the way drivers make them.",
        epilog="Run 'tlsplug demo' first: it shows every backend against every scenario.",
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"tlsplug {__version__}")
    parser.add_argument("--color", "--colour", dest="color", choices=("auto", "always", "never"),
                        default="auto", help="colour output (auto: only on a terminal, "
                        "never when NO_COLOR is set)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _check.add_parser(subparsers)
    _demo.add_parser(subparsers)
    _options_cmd.add_parser(subparsers)
    _backends_cmd.add_parser(subparsers)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``) and return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        # argparse exits on --help/--version/usage errors; callers of main() get a status.
        return exc.code if isinstance(exc.code, int) else EXIT_CONFIG
    if args.command is None:
        parser.print_help()
        return EXIT_CONFIG
    # OCSP soft-fails are WARNINGs on tlsplug.ocsp; the commands report them in their own
    # output (check: ocsp_status), so without a logging setup they must not reach stderr
    # through logging's last-resort handler.
    package_logger = logging.getLogger("tlsplug")
    if not any(isinstance(h, logging.NullHandler) for h in package_logger.handlers):
        package_logger.addHandler(logging.NullHandler())
    # Look sys.stdout up now, not at import: tests and callers may have replaced it.
    stream = sys.stdout
    _survive_narrow_encodings(stream)
    console = Console(stream, Style(use_colour(stream, args.color)), terminal_width())
    try:
        status: int = args.run(args, console)
        stream.flush()
    except BrokenPipeError:
        # `tlsplug demo | head`: the reader left. Point stdout at devnull so the interpreter's
        # final flush does not raise again (the recipe of the signal module's documentation).
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130  # what a shell reports for SIGINT; servers were stopped by the commands
    return status


def _survive_narrow_encodings(stream: object) -> None:
    """On a console that cannot encode ✓/✗/→ (e.g. cp1252), print ``?`` rather than crash."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        "✓✗→…".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")


if __name__ == "__main__":
    sys.exit(main())
