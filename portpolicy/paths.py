"""Path helpers every stage may use: template suffixes and the rendered file's name.

Kept free of imports so recognition (``portpolicy.signatures``) can name a template without
loading any reader or the model.
"""

from __future__ import annotations

TEMPLATE_SUFFIXES = (".j2", ".jinja", ".jinja2", ".template", ".tmpl")
"""A file named so is a template: read as what it renders to, its Jinja masked.

Jinja templates, and generator templates too (``Dockerfile-alpine.template`` with
``%%VERSION%%`` values, the nginx image's envsubst ``default.conf.template``): the raw text
is not the file deployed, so a parse error in it is no verdict (``raw_template_errors``)."""


def is_template(path: str) -> bool:
    """A template by its name: its text is only final once rendered."""
    return path.endswith(TEMPLATE_SUFFIXES)


def strip_template(path: str) -> str:
    """``path`` without a template suffix (``sshd_config.j2`` is ``sshd_config``): the rendered file's name."""
    for suffix in TEMPLATE_SUFFIXES:
        if path.endswith(suffix):
            return path[: -len(suffix)]
    return path
