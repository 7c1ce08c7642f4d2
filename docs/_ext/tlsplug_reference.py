"""Sphinx directives that render tlsplug's reference from the code (tlsplug._reference).

``tlsplug-options``         the option table: URI key, field, type, default, meaning
``tlsplug-legacy-options``  the PyMongo 3 names and what they become
``tlsplug-errors``          every error code with its exception class and default hint
``tlsplug-cli COMMAND``     the ``--help`` text of ``tlsplug COMMAND`` (no argument: ``tlsplug``)

They build docutils nodes directly, so they work the same from MyST and reStructuredText.
A row without a meaning is a build warning (an error under ``-W``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Sequence, Union

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from tlsplug import _reference

logger = logging.getLogger(__name__)


def _sources() -> List[str]:
    """The files the generated tables are made from, and this extension."""
    package = Path(_reference.__file__).parent
    names = [
        "_reference.py", "_optionspec.py", "_options.py", "_errors.py", "_uri.py", "__main__.py"
    ]
    files = [package / name for name in names] + sorted((package / "_cli").glob("*.py"))
    return [str(path) for path in files if path.exists()] + [__file__]


class _Generated(SphinxDirective):
    """A directive whose page is rebuilt when the code it renders changes."""

    def note_sources(self) -> None:
        for path in _sources():
            self.env.note_dependency(path)

# A cell: text, code spans joined by commas, one node, or lines (a paragraph each).
Cell = Union[str, Sequence[str], nodes.Node, "Lines"]


class Lines(list):  # type: ignore[type-arg]
    """Cell content shown as one paragraph per item (each a node)."""


def _code(text: str) -> nodes.Node:
    return nodes.literal(text, text)


def _codes(items: Sequence[str]) -> nodes.inline:
    """Code spans joined by commas; a dash when there are none."""
    out = nodes.inline()
    for i, item in enumerate(items):
        if i:
            out += nodes.Text(", ")
        out += _code(item)
    if not items:
        out += nodes.Text("—")
    return out


def _cell(value: Cell) -> nodes.entry:
    entry = nodes.entry()
    if isinstance(value, Lines):
        for line in value:
            entry += nodes.paragraph("", "", line)
        return entry
    para = nodes.paragraph()
    if isinstance(value, nodes.Node):
        para += value
    elif isinstance(value, str):
        para += nodes.Text(value)
    else:
        para += _codes(value)
    entry += para
    return entry


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[Cell]], widths: Sequence[int]
) -> nodes.table:
    # colwidths-auto: the browser sizes the columns to their content (Sphinx's HTML writer
    # then leaves the colspec widths, which only the LaTeX writer needs, out).
    table = nodes.table(classes=["tlsplug-reference", "colwidths-auto"])
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


class OptionTable(_Generated):
    """Every ``TLSOptions`` field."""

    def run(self) -> list[nodes.Node]:
        self.note_sources()
        rows: list[list[Cell]] = []
        for info in _reference.option_reference():
            if not info.meaning:
                logger.warning(
                    "TLSOptions.%s has no meaning in tlsplug._optionspec.OPTION_MEANINGS",
                    info.field, location=self.get_location(),
                )
            # Key and field, type and default share a cell: the identifiers are long, and
            # five columns leave the meaning a sliver of the page.
            rows.append([
                Lines([_codes(info.uri_keys), _code(info.field)]),
                Lines([_code(info.type), _code(f"= {info.default}")]),
                info.meaning,
            ])
        headers = ["connection-string key / field", "type / default", "meaning"]
        return [_table(headers, rows, [30, 15, 55])]


class LegacyOptionTable(_Generated):
    """PyMongo 3 option names."""

    def run(self) -> list[nodes.Node]:
        self.note_sources()
        rows: list[list[Cell]] = [
            [_code(info.name), [info.replacement] if info.replacement else [], info.translation]
            for info in _reference.legacy_option_reference()
        ]
        return [_table(["PyMongo 3 name", "becomes", "value"], rows, [20, 25, 55])]


class ErrorTable(_Generated):
    """Every error code."""

    def run(self) -> list[nodes.Node]:
        self.note_sources()
        rows: list[list[Cell]] = []
        for info in _reference.error_reference():
            if not info.hint:
                logger.warning("error code %s has no default hint", info.code,
                               location=self.get_location())
            rows.append([_code(info.code), _code(info.exception), info.hint])
        return [_table(["code", "exception", "default hint"], rows, [20, 18, 62])]


class CLIHelp(_Generated):
    """``tlsplug [COMMAND] --help``."""

    optional_arguments = 1

    def run(self) -> list[nodes.Node]:
        self.note_sources()
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
