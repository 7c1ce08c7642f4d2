"""The generated reference covers every option, error code, command and public module."""

from __future__ import annotations

import dataclasses
import importlib
import re

import pytest

import tlsplug
from tlsplug import _reference
from tlsplug._errors import ALL_CODES, error_for_code

from .docs_support import DOCS, pages, prose, relative

PUBLIC_MODULES = ("tlsplug", "tlsplug.aio", "tlsplug.backend", "tlsplug.ocsp", "tlsplug.testing")


def _text(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def test_option_table_covers_every_field() -> None:
    """Each TLSOptions field has a row with a type, a default and a written meaning."""
    rows = {row.field: row for row in _reference.option_reference()}
    fields = [f.name for f in dataclasses.fields(tlsplug.TLSOptions)]
    assert list(rows) == fields
    missing = [name for name in fields if not rows[name].meaning.strip()]
    assert not missing, f"add a meaning to tlsplug._optionspec.OPTION_MEANINGS for {missing}"
    for row in rows.values():
        assert row.type
        assert row.default


def test_option_table_lists_every_connection_string_key() -> None:
    """Each key the parser accepts appears in the table, the canonical spelling first."""
    rows = {row.field: row for row in _reference.option_reference()}
    for field, key in tlsplug.TLSOptions.uri_names.items():
        assert rows[field].uri_keys[0] == key
    assert "ssl" in rows["enabled"].uri_keys
    parsed = tlsplug.TLSOptions.parse("mongodb://h/?ssl=true")
    assert parsed.enabled is True


def test_option_reference_page_renders_the_table() -> None:
    """docs/reference/options.md renders the generated tables rather than a copy."""
    text = _text("reference/options.md")
    assert "```{tlsplug-options}" in text
    assert "```{tlsplug-legacy-options}" in text


def test_error_table_covers_every_code() -> None:
    """Each error code has a row naming the exception class that carries it, with a hint."""
    rows = {row.code: row for row in _reference.error_reference()}
    assert set(rows) == set(ALL_CODES)
    for code, row in rows.items():
        assert row.exception == type(error_for_code(code, "x")).__name__
        assert row.hint.strip(), f"{code} has no default hint"
    assert "```{tlsplug-errors}" in _text("reference/errors.md")


def test_troubleshooting_explains_every_code() -> None:
    """docs/howto/troubleshooting.md has a section headed by each error code."""
    text = _text("howto/troubleshooting.md")
    headed = set(re.findall(r"^#{2,4} `([a-z-]+)`", text, flags=re.MULTILINE))
    missing = sorted(set(ALL_CODES) - headed)
    assert not missing, f"add a section to docs/howto/troubleshooting.md for {missing}"
    for message in ("CERTIFICATE_VERIFY_FAILED", "TLSV1_ALERT_PROTOCOL_VERSION",
                    "SSLV3_ALERT_HANDSHAKE_FAILURE", "invalid status response"):
        assert message in text


def test_cli_page_renders_every_command() -> None:
    """docs/cli.md renders the --help of tlsplug and of each of its subcommands."""
    commands = _reference.cli_commands()
    assert {"check", "demo", "options", "backends"} <= set(commands)
    text = _text("cli.md")
    assert re.search(r"^```\{tlsplug-cli\}\s*$", text, flags=re.MULTILINE)
    for command in commands:
        assert re.search(rf"^```{{tlsplug-cli}} {command}\s*$", text, flags=re.MULTILINE), command
        assert f"usage: tlsplug {command}" in _reference.cli_help(command)


def test_cli_help_of_an_unknown_command_is_refused() -> None:
    """Rendering the help of a command that does not exist fails instead of rendering nothing."""
    with pytest.raises(KeyError, match="nosuch"):
        _reference.cli_help("nosuch")


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_api_page_documents_every_public_module(module_name: str) -> None:
    """Each public module is autodoc'ed and declares __all__, which autodoc follows."""
    module = importlib.import_module(module_name)
    assert module.__all__
    assert re.search(rf"^\.\. automodule:: {re.escape(module_name)}$", _text("reference/api.md"),
                     flags=re.MULTILINE)


def test_howto_pages_have_one_title() -> None:
    """Every page under docs/howto has exactly one H1, which the glob toctree shows."""
    howtos = [page for page in pages() if page.parent.name == "howto"]
    assert len(howtos) >= 6
    for page in howtos:
        titles = re.findall(r"^# ", prose(page.read_text(encoding="utf-8")), flags=re.MULTILINE)
        assert len(titles) == 1, relative(page)


_ROLE = re.compile(r"\{(?P<role>class|func|meth|mod|attr|exc|data)\}`~?(?P<target>[\w.]+)`")


def _resolve(target: str) -> object:
    parts = target.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            found = getattr(found, attribute)
        return found
    raise ImportError(target)


def test_cross_references_name_real_objects() -> None:
    """Every {class}/{func}/... role naming tlsplug names an importable public object.

    The build cannot check them (nitpicky mode would also flag every cryptography and
    asyncio type in signatures, which no local page documents), so this test does. Roles
    naming other packages (``ssl.SSLContext``) render as code without a link.
    """
    checked = 0
    for page in pages():
        for match in _ROLE.finditer(page.read_text(encoding="utf-8")):
            target = match["target"]
            if target.split(".")[0] != "tlsplug":
                continue
            assert not any(part.startswith("_") for part in target.split(".")), target
            try:
                _resolve(target)
            except (ImportError, AttributeError) as exc:
                pytest.fail(f"{relative(page)}: {match[0]} does not resolve ({exc})")
            checked += 1
    assert checked >= 20


def test_cli_option_flags_use_the_documented_meanings() -> None:
    """`tlsplug options --help` explains each flag with the words of the option table."""
    text = " ".join(_reference.cli_help("options", width=400).split())
    for row in _reference.option_reference():
        if row.uri_keys:
            assert f"--{row.uri_keys[0]}" in text
            assert " ".join(row.meaning.split()) in text, row.field
