"""Recognition of nginx config: blocks (``server {``, ``http {``...) with directives ending in ``;``.

nginx keeps its config in many small files (``conf/*.conf``, ``snippets/ssl.conf``,
``h5bp/location/*.conf``) that often sit in no ``nginx`` folder, so content decides: a
block nginx opens (``server {``, ``upstream app {``, ``location / {``) together with a
directive only nginx writes (``listen 80;``, ``proxy_pass ...;``), or two different such
directives. A short snippet (``add_header ...;``, a list of ``include ...;``) is nginx's
when every line of it has nginx's shape. Other formats do not end lines with ``;``: a fail2ban filter named
``nginx-auth.conf`` (``failregex = ...``), php-fpm's ``listen = 9000``, an Apache vhost.
A shell script that writes a config through a heredoc is a script, not the config.

The name (``nginx.conf``, ``sites-enabled/*``, ``*.conf`` under an ``nginx`` folder) is a
prior: such a file is read when its first meaningful line has nginx's shape.
"""

from __future__ import annotations

import re

from portpolicy.lazyre import lazy
from portpolicy.paths import strip_template
from portpolicy.signatures import Signature, first_line_is

SAMPLE = 65536
"""Characters of a file the content tests look at."""
SNIPPET = 4096
"""A file this short with nginx directives and only nginx-shaped lines is a snippet."""

_SITE_DIRS = ("sites-available", "sites-enabled", "streams-available", "streams-enabled")
_APACHE_DIRS = ("apache2", "httpd", "apache")

_BLOCK = lazy(
    r"^[ \t]*(?:(?:http|server|stream|events|mail|types)[ \t]*\{"
    r"|(?:upstream|map|geo|split_clients|limit_except|location)[ \t]+[^;{}\n]*\{)",
    re.M,
)
"""A block only nginx opens this way (``location ~* \\.(css|js)$ {``, ``upstream app {``)."""
_DIRECTIVE = lazy(
    r"^[ \t]*(listen|server_name|proxy_\w+|fastcgi_\w+|uwsgi_\w+|scgi_\w+|grpc_\w+|ssl_\w+|add_header"
    r"|try_files|expires|access_log|error_log|worker_\w+|keepalive_\w+|sendfile|tcp_no\w+|gzip\w*"
    r"|client_\w+|limit_\w+|rewrite|error_page|server_tokens|resolver\w*|real_ip_\w+|set_real_ip_from"
    r"|auth_basic\w*|autoindex|types_hash_\w+|log_format|open_file_cache\w*|default_type|charset_types"
    r"|more_set_headers|brotli\w*|return|root|index|alias|include|deny|allow|etag|if_modified_since|charset)"
    r"[ \t]+(?![ \t=])(?:[^;{}\n]|\$\{[^{}\n]*\}|\{\{[^{}\n]*\}\})*;",
    re.M,
)
"""A directive line with its ``;``: name, arguments that do not start with ``=``, ``;``.

An argument may be a template's value (``listen {{ http_port }};``, ``root ${WEB_ROOT};``)."""
_GENERIC = frozenset({"return", "root", "index", "alias", "include", "deny", "allow", "charset", "etag"})
"""Directives other ``;`` formats share a word with: alone, they count only in a snippet or next to a block."""
_SCRIPT = lazy(r"\A#!|<<-?[ \t]*['\"]?[A-Za-z_]")
"""A shell script (shebang) or a heredoc: the config it writes is not this file."""
_CONTENT = lazy(r"^[ \t]*(?!#)\S", re.M)
_LINE = lazy(r"[ \t]*(?:[a-z_][a-z0-9_]*(?:[ \t]+(?![ \t=])(?:[^;{}#\n]|\{\{[^{}#\n]*\}\})*)?[;{]|\})")
"""An nginx line: ``directive args;``, ``block {`` or ``}`` (``key = value`` is not)."""


def named(rel: str) -> bool:
    """``nginx*.conf``, ``*vhost*`` templates, ``sites-*/*``, ``*.conf`` under an ``nginx`` folder."""
    parts = rel.split("/")
    name = strip_template(parts[-1])
    if name.startswith("nginx") and name.endswith(".conf"):
        return True
    if "vhost" in name.lower() and (name.endswith(".conf") or name != parts[-1]):
        return True
    dirs = parts[:-1]
    if any(d.lower() in _APACHE_DIRS for d in dirs):
        return False
    if dirs and dirs[-1] in _SITE_DIRS:
        return not name.startswith(".")
    return name.endswith(".conf") and any(
        "nginx" in d.lower() and not d.endswith((".service.d", ".socket.d")) for d in dirs
    )


def looks(text: str) -> bool:
    """An nginx block with an nginx directive, two nginx directives, or a short nginx-shaped snippet."""
    sample = text[:SAMPLE]
    if _SCRIPT.search(sample):
        return False
    block = _BLOCK.search(sample) is not None
    seen: set[str] = set()
    for match in _DIRECTIVE.finditer(sample):
        word = match.group(1)
        if block:
            return True
        seen.add(word)
        if len(seen - _GENERIC) >= 2:
            return True
    return bool(seen) and len(text) <= SNIPPET and _all_lines_nginx(text)


def _all_lines_nginx(text: str) -> bool:
    """Every line is blank, a comment, ``}``, or a directive ending in ``;`` or ``{``."""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if line and not (_LINE.match(line) and line.endswith((";", "{", "}"))):
            return False
    return True


def shaped(text: str) -> bool:
    """The first meaningful line is an nginx directive or block (a well-named file)."""
    return first_line_is(text, _CONTENT, _LINE, SAMPLE)


SIGNATURE = Signature(
    "nginx",
    "portpolicy.readers.nginx",
    "an nginx config",
    named,
    looks=looks,
    shaped=shaped,
    role="daemon",
    scope="directory",
)
