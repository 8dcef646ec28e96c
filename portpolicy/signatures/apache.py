"""Recognition of Apache httpd config: ``<VirtualHost>`` and other sections, CamelCase directives.

Apache configs are kept as ``conf/<app>.conf``, ``ports.conf.gen``, ``apache_ssl.conf``, so
content decides: a ``<VirtualHost ...>`` section, an ``<IfModule ...>`` (``<Directory``...)
opened and closed, another httpd section with an httpd directive, or two different httpd
directives (``Listen 80`` without ``;``, ``ServerName``, ``DocumentRoot``, ``LoadModule``...).
Directives are matched with httpd's own capitalisation, so a Maven ``<directory>`` or an
nginx ``listen 80;`` never passes. cupsd.conf borrows httpd's syntax (``<Location /admin>``,
``Listen localhost:631``) and is told apart by the directives only CUPS has.

The name (``httpd.conf``, ``apache2.conf``, ``ports.conf*``, ``apache*.conf``, ``*.conf``
under an Apache folder) is a prior: such a file is read when its first meaningful line has
httpd's shape, so a ``supervisord.conf`` kept in an ``apache/`` folder is not.
"""

from __future__ import annotations

import re

from portpolicy.lazyre import lazy
from portpolicy.signatures import Signature, first_line_is

SAMPLE = 65536
"""Characters of a file the content tests look at."""

_DIRS = ("apache2", "httpd", "apache")
_MAIN_NAMES = ("httpd.conf", "apache2.conf", "apache.conf")

_VHOST = lazy(r"^[ \t]*<VirtualHost[ \t]+[^>\n]+>", re.M)
_HTTPD_SECTIONS = r"IfModule|IfDefine|IfVersion|Directory|DirectoryMatch|FilesMatch|LocationMatch"
_OPEN = lazy(rf"^[ \t]*<({_HTTPD_SECTIONS})[ \t]+[^>\n]+>", re.M)
_CLOSE = lazy(rf"^[ \t]*</({_HTTPD_SECTIONS})>", re.M)
"""Sections only httpd (and its look-alike ProFTPD) writes: one opened and closed again says httpd."""
_SECTION = lazy(
    r"^[ \t]*<(?:Directory|DirectoryMatch|Location|LocationMatch|Files|FilesMatch|IfModule|IfDefine"
    r"|IfVersion|Proxy|ProxyMatch|Macro|RequireAll|RequireAny)[ \t]+[^>\n]+>",
    re.M,
)
_DIRECTIVE = lazy(
    r"^[ \t]*(Listen[ \t]+(?:\[[0-9A-Fa-f:.]+\]:|[\w.*-]+:)?[0-9]+(?:[ \t]+[a-z]+)?[ \t]*$"
    r"|(?:ServerName|ServerAlias|DocumentRoot|LoadModule|ServerRoot|ServerAdmin|DirectoryIndex"
    r"|AllowOverride|CustomLog|RewriteEngine|RewriteRule|RewriteCond|SSLEngine|SSLCertificateFile"
    r"|SSLCertificateKeyFile|ProxyPass|ProxyPassReverse|ScriptAlias|WSGIScriptAlias|WSGIDaemonProcess"
    r"|IncludeOptional|KeepAliveTimeout|MaxKeepAliveRequests|HostnameLookups|AccessFileName"
    r"|LogFormat|SetEnvIf|AddHandler|AddOutputFilterByType|ServerTokens|ServerSignature|RequestHeader"
    r"|SSLProtocol|SSLCipherSuite|FileETag|AddDefaultCharset|ExpiresActive|ExpiresByType|ExpiresDefault"
    r"|ErrorDocument|AddEncoding|AddCharset|TraceEnable|BrowserMatch|SetOutputFilter"
    r"|Header[ \t]+(?:always[ \t]+)?(?:set|unset|append|merge|add|edit|echo))[ \t]+\S)",
    re.M,
)
"""Directives only httpd writes this way; ``Listen`` with a bare port or ``host:port`` and no ``;``."""
_CUPS = lazy(
    r"^[ \t]*(?:<Policy[ \t]|DefaultAuthType[ \t]|WebInterface[ \t]|Browsing[ \t]|BrowseLocalProtocols"
    r"|DefaultShared[ \t]|MaxLogSize[ \t])",
    re.M,
)
"""cupsd.conf directives: the same syntax, another daemon."""
_SCRIPT = lazy(r"\A#!|<<-?[ \t]*['\"]?[A-Za-z_]")
"""A shell script (shebang) or a heredoc: the config it writes is not this file."""
_CONTENT = lazy(r"^[ \t]*(?!#)\S", re.M)
_LINE = lazy(r"[ \t]*(?:</?[A-Za-z]\w*|[A-Z][A-Za-z0-9]*[ \t]+\S)")
"""An httpd line: a section tag or a capitalised directive with an argument."""


def _name(rel: str) -> str:
    name = rel.rsplit("/", 1)[-1]
    return name[:-3] if name.endswith(".j2") else name


def named(rel: str) -> bool:
    """Main config names, ``ports.conf*``, ``apache*``/``httpd*.conf``, ``*.conf`` under an Apache folder."""
    parts = rel.split("/")
    name = _name(rel)
    lower = name.lower()
    if name in _MAIN_NAMES or lower.startswith("ports.conf"):
        return True
    if lower.startswith(("apache", "httpd")) and lower.endswith(".conf"):
        return True
    dirs = [d.lower() for d in parts[:-1]]
    if not any(d in _DIRS or d.startswith(("apache2", "httpd")) for d in dirs):
        return False
    return name.endswith(".conf") or dirs[-1] in ("sites-available", "sites-enabled")


def looks(text: str) -> bool:
    """A ``<VirtualHost>``, an httpd section with an httpd directive, or two httpd directives."""
    sample = text[:SAMPLE]
    if _SCRIPT.search(sample) or _CUPS.search(sample):
        return False
    if _VHOST.search(sample) or _closed_section(sample):
        return True
    section = _SECTION.search(sample) is not None
    seen: set[str] = set()
    for match in _DIRECTIVE.finditer(sample):
        if section:
            return True
        seen.add(match.group(1).split(None, 1)[0])
        if len(seen) >= 2:
            return True
    return False


def _closed_section(sample: str) -> bool:
    opened = {m.group(1) for m in _OPEN.finditer(sample)}
    return bool(opened) and any(m.group(1) in opened for m in _CLOSE.finditer(sample))


def shaped(text: str) -> bool:
    """The first meaningful line is an httpd directive or section tag (a well-named file)."""
    return first_line_is(text, _CONTENT, _LINE, SAMPLE)


SIGNATURE = Signature(
    "apache",
    "portpolicy.readers.apache",
    "an Apache httpd config",
    named,
    looks=looks,
    shaped=shaped,
    role="daemon",
    scope="directory",
)
