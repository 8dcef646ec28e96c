"""Recognition of firewalld's files: its XML (by the root element) and ``firewalld.conf`` settings.

firewalld's XML files are told by their root element, after the ``<?xml?>`` declaration
and comments: ``<zone>``, ``<service>``, ``<policy>``, ``<ipset>``, ``<helper>``,
``<icmptype>`` or ``<direct>``; the root, not the folder, says which kind a file is.
Content alone claims a file when the root comes with an element or attribute only
firewalld uses (a ``<service>`` root is also a Windows service wrapper's); a well-named
file (in a ``zones/`` folder, ``firewalld`` in its path) needs only the root. Other XML
(DocBook pages, Maven ``pom.xml``, Android manifests, SVG) is never claimed.
``firewalld.conf`` is ``Name=value`` lines whose names are firewalld's own.
"""

from __future__ import annotations

import re

from portpolicy.lazyre import lazy
from portpolicy.signatures import Signature
from portpolicy.signatures.iptables import stem, unix_lines

ROOTS = ("zone", "service", "policy", "ipset", "helper", "icmptype", "direct")
"""The root elements of firewalld's XML files."""

_PROLOGUE = lazy(r"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE(?:[^\[>]|\[[^\]]*\])*>)", re.S)
"""Declarations, comments and a DOCTYPE before the root. The internal subset is ``[^\\]]*``:
``\\[.*?\\]`` inside ``*`` tried every grouping of ``[a][a][a]...`` (exponential) when no ``>`` follows."""
_ROOT = lazy(r"\s*<([A-Za-z_][\w.:-]*)")
_PROLOGUE_SCAN = 65_536
"""How far into a file the root element is looked for: declarations and comments are short."""
_ROLE_DIR = lazy(r"(?:^|/)(?:zones|policies)/(?:[^/]+/)?[^/]+\.xml$")
_XML = lazy(r"\.xml$", re.I)
_FIREWALLD_ONLY = {
    "zone": lazy(
        r"<zone\b[^>]{0,512}\btarget=|<(?:short|interface\s+name=|source\s+(?:address|ipset|mac)="
        r"|service\s+name=|port\s+(?:port|protocol)=|forward-port\b|masquerade\s*/>|rule\b|icmp-block\b"
        r"|source-port\b|protocol\s+value=)"
    ),
    "service": lazy(
        r"<(?:short>|port\s+(?:port|protocol)=|source-port\b|protocol\s+value=|include\s+service="
        r"|module\s+name=|helper\s+name=|destination\s+ipv[46]=)"
    ),
    "policy": lazy(r"<(?:ingress-zone|egress-zone)\b|<policy\b[^>]{0,512}\btarget="),
    "ipset": lazy(r"<ipset\b[^>]{0,512}\btype=\"(?:hash|bitmap|list):"),
    "helper": lazy(r"<helper\b[^>]{0,512}\bmodule="),
    "icmptype": lazy(r"<(?:short>|destination\s+ipv[46]=)"),
    "direct": lazy(r"<(?:rule|chain|passthrough)\s[^>]{0,512}\bipv="),
}
"""Per root: an element or attribute that only firewalld's file of that kind has."""

CONF_KEYS = (
    "DefaultZone",
    "MinimalMark",
    "CleanupOnExit",
    "CleanupModulesOnExit",
    "Lockdown",
    "IPv6_rpfilter",
    "IndividualCalls",
    "LogDenied",
    "AutomaticHelpers",
    "FirewallBackend",
    "FlushAllOnReload",
    "RFC3964_IPv4",
    "AllowZoneDrifting",
    "NftablesFlowtable",
    "NftablesCounters",
    "NftablesTableOwner",
    "StrictForwardPorts",
    "ReloadPolicy",
)
_CONF_SETTING = lazy(rf"^[ \t]*(?:{'|'.join(CONF_KEYS)})[ \t]*=", re.M)


def is_conf_name(rel: str) -> bool:
    return stem(rel)[0] == "firewalld.conf"


def named(rel: str) -> bool:
    """``firewalld.conf``, and XML whose path says firewall or sits in a zones/policies folder."""
    if is_conf_name(rel):
        return True
    name = stem(rel)[0]
    if not _XML.search(name):
        return False
    path = rel[: len(rel) - len(rel.rsplit("/", 1)[-1])] + name
    low = path.lower()
    return "firewall" in low or bool(_ROLE_DIR.search(low))


def root_element(text: str) -> str | None:
    """The name of the root element, after declarations, comments and a DOCTYPE; None when none."""
    head = text[:_PROLOGUE_SCAN]
    pos = 0
    while True:
        m = _PROLOGUE.match(head, pos)
        if not m or m.end() == pos:
            break
        pos = m.end()
    root = _ROOT.match(head, pos)
    return root.group(1) if root else None


def looks(text: str) -> bool:
    root = root_element(text)
    if root in _FIREWALLD_ONLY:
        return _FIREWALLD_ONLY[root].search(text) is not None
    return len(_CONF_SETTING.findall(unix_lines(text))) >= 2


def shaped(text: str) -> bool:
    """A firewalld root element, or a firewalld.conf setting."""
    return root_element(text) in ROOTS or _CONF_SETTING.search(unix_lines(text)) is not None


SIGNATURE = Signature(
    "firewalld",
    "portpolicy.readers.firewalld",
    "a firewalld configuration",
    named,
    looks,
    shaped,
    comments=("#", "<!--", "<?xml"),
    role="host",
    scope="directory",
)
