"""Sphinx configuration of tlsplug's documentation (built by ``tox -e docs``).

Why Sphinx + furo + MyST: the public API is documented from the docstrings by autodoc
(tlsplug, tlsplug.aio, tlsplug.backend, tlsplug.ocsp, tlsplug.testing), and the reference
tables are rendered from the code by a local extension (docs/_ext/tlsplug_reference.py) -
MkDocs has no equivalent of autodoc for typed Python that needs no extra plugins. MyST lets
every page be Markdown, shaped like the README and readable on a code host, as the docs of
trustme and truststore are; furo is a clean, accessible theme that needs no configuration.

The build is offline: no intersphinx (the build machine reaches only package registries).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import tlsplug  # noqa: E402  (after the path set-up above)

project = "tlsplug"
author = "tlsplug developers"
copyright = "tlsplug developers"
release = tlsplug.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "tlsplug_reference",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
# Headings get anchors, so pages can link to "troubleshooting.md#cert-untrusted".
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "deflist"]

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
# Long signatures (most keyword-only arguments have Optional types) one parameter a line.
python_maximum_signature_line_length = 88
autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": True}
# Type hints name cryptography and asyncio classes that no local page documents, and
# intersphinx is off: keep references unresolved silently rather than guessed.
nitpicky = False

html_theme = "furo"
html_title = f"tlsplug {release}"
html_static_path = ["_static"]
html_css_files = ["tlsplug.css"]


# tlsplug.backend re-exports the exceptions, TLSOptions and the protocol classes of tlsplug
# (so backends import one module). Documenting them twice would register the same canonical
# names twice (a duplicate-description warning, an error under -W): they are documented
# under tlsplug only. Autodoc reports a module's docstring before its members, which tells
# the member filter which module is being documented.
_documenting = [""]


def _note_module(app: object, what: str, name: str, obj: object, options: object,
                 lines: list[str]) -> None:
    if what == "module":
        _documenting[0] = name


def _skip_reexport(app: object, what: str, name: str, obj: object, skip: bool,
                   options: object) -> bool | None:
    inner_module = what == "module" and _documenting[0] not in ("", "tlsplug")
    if inner_module and any(getattr(tlsplug, n, None) is obj for n in tlsplug.__all__):
        return True
    return None


def setup(app: Any) -> None:
    app.connect("autodoc-process-docstring", _note_module)
    app.connect("autodoc-skip-member", _skip_reexport)
