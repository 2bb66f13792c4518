"""Sphinx configuration for the shiftdesk documentation.

Build with ``sphinx-build -W --keep-going -b html docs docs/_build/html``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

project = "shiftdesk"
author = "shiftdesk developers"
copyright = "shiftdesk developers"
try:
    release = version("shiftdesk")
except PackageNotFoundError:  # building from a checkout without installing
    release = "0.0.0"
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "numpydoc",
]
# No sphinx.ext.intersphinx: the docs build offline (and in the test suite).

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
nitpicky = False

# autodoc / numpydoc
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "none"  # numpydoc's Parameters sections already describe the types
autodoc_member_order = "bysource"
numpydoc_show_class_members = False  # members are documented by autodoc itself
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# MyST
myst_heading_anchors = 3

# HTML
html_theme = "pydata_sphinx_theme"
html_title = "shiftdesk"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path: list[str] = []


def _skip_sqlalchemy_internals(app, what, name, obj, skip, options):  # type: ignore[no-untyped-def]
    """Don't document the ``metadata``/``registry`` that every ORM base class inherits.

    Their docstrings come from SQLAlchemy and refer to SQLAlchemy's own docs.
    """
    from sqlalchemy import MetaData
    from sqlalchemy.orm import registry

    if isinstance(obj, MetaData | registry):
        return True
    return None


def setup(app):  # type: ignore[no-untyped-def]
    app.connect("autodoc-skip-member", _skip_sqlalchemy_internals)
