"""Sphinx directives that render tlsplug's reference from the code (tlsplug._reference).

``tlsplug-options``         the option table: URI key, field, type, default, meaning
``tlsplug-legacy-options``  the PyMongo 3 names and what they become
``tlsplug-errors``          every error code with its exception class and default hint
``tlsplug-cli COMMAND``     the ``--help`` text of ``tlsplug COMMAND`` (no argument: ``tlsplug``)

They build docutils nodes directly, so they work the same from MyST and reStructuredText.
A row without a meaning is a build warning (an error under ``-W``).
"""

from __future__ import annotations

from typing import Any, Sequence, Union

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from tlsplug import _reference

logger = logging.getLogger(__name__)

Cell = Union[str, Sequence[str], nodes.Node]


def _code(text: str) -> nodes.Node:
    return nodes.literal(text, text)


def _cell(value: Cell) -> nodes.entry:
    entry = nodes.entry()
    para = nodes.paragraph()
    if isinstance(value, nodes.Node):
        para += value
    elif isinstance(value, str):
        para += nodes.Text(value)
    else:  # several code spans: URI key and its aliases
        for i, item in enumerate(value):
            if i:
                para += nodes.Text(", ")
            para += _code(item)
        if not value:
            para += nodes.Text("—")
    entry += para
    return entry


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[Cell]], widths: Sequence[int]
) -> nodes.table:
    table = nodes.table(classes=["tlsplug-reference"])
    group = nodes.tgroup(cols=len(headers))
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    row = nodes.row()
    for header in headers:
        row += _cell(header)
    head += row
    group += head
    body = nodes.tbody()
    for values in rows:
        row = nodes.row()
        for value in values:
            row += _cell(value)
        body += row
    group += body
    return table


class OptionTable(SphinxDirective):
    """Every ``TLSOptions`` field."""

    def run(self) -> list[nodes.Node]:
        rows: list[list[Cell]] = []
        for info in _reference.option_reference():
            if not info.meaning:
                logger.warning("TLSOptions.%s has no meaning in tlsplug._reference.OPTION_MEANINGS",
                               info.field, location=self.get_location())
            rows.append([list(info.uri_keys), _code(info.field), _code(info.type),
                         _code(info.default), info.meaning])
        headers = ["connection-string key", "field", "type", "default", "meaning"]
        return [_table(headers, rows, [18, 18, 12, 8, 44])]


class LegacyOptionTable(SphinxDirective):
    """PyMongo 3 option names."""

    def run(self) -> list[nodes.Node]:
        rows: list[list[Cell]] = [
            [_code(info.name), [info.replacement] if info.replacement else [], info.translation]
            for info in _reference.legacy_option_reference()
        ]
        return [_table(["PyMongo 3 name", "becomes", "value"], rows, [20, 25, 55])]


class ErrorTable(SphinxDirective):
    """Every error code."""

    def run(self) -> list[nodes.Node]:
        rows: list[list[Cell]] = []
        for info in _reference.error_reference():
            if not info.hint:
                logger.warning("error code %s has no default hint", info.code,
                               location=self.get_location())
            rows.append([_code(info.code), _code(info.exception), info.hint])
        return [_table(["code", "exception", "default hint"], rows, [20, 18, 62])]


class CLIHelp(SphinxDirective):
    """``tlsplug [COMMAND] --help``."""

    optional_arguments = 1

    def run(self) -> list[nodes.Node]:
        command = self.arguments[0] if self.arguments else ""
        try:
            text = _reference.cli_help(command)
        except KeyError as exc:
            logger.warning("%s", exc.args[0], location=self.get_location())
            return []
        block = nodes.literal_block(text, text)
        block["language"] = "text"
        return [block]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("tlsplug-options", OptionTable)
    app.add_directive("tlsplug-legacy-options", LegacyOptionTable)
    app.add_directive("tlsplug-errors", ErrorTable)
    app.add_directive("tlsplug-cli", CLIHelp)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
