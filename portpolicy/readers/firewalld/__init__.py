"""firewalld zones, services and policies (XML) and ``firewalld.conf``'s default zone.

``read`` parses one file into a ``FirewalldDoc`` (what the file says, with exact element
locations); ``assemble`` then sees every firewalld file of a host at once, as firewalld does
at start-up: ``/etc/firewalld`` files replace the shipped ones of the same name, zones name
services that are resolved through the host's own service files first and firewalld's
built-in catalogue (``portpolicy/data/firewalld_services.yml``) second, and every zone or
policy that is in force yields ``FirewallRule`` facts.

Semantics copied from firewalld (``src/firewall/core/io/zone.py``, ``policy.py``,
``functions.py``, ``nftables.py``), not guessed:

* firewalld accepts established and related traffic before any zone rule, so every rule is
  ``ruleset_stateful``; a port or source-port rule itself matches any new packet;
* a zone applies to the traffic of its interfaces and sources; a zone with sources but no
  interface, that is not the default zone, applies only to those sources;
* a zone ``target="ACCEPT"`` accepts every packet no rule matched: an accept of all ports;
* a shipped zone (``/usr/lib/firewalld/zones``) with no interface or source is in force only
  when it is the default zone (``DefaultZone=`` in firewalld.conf, ``public`` otherwise);
* ``getPortRange()`` swaps an inverted range and takes port 0; service names resolve
  through the target host's ``/etc/services``; a bad element makes firewalld refuse the
  file and fall back to its stock configuration.

XML is parsed with expat directly: any DOCTYPE or entity declaration is refused before
parsing (no entity expansion, no external entities), depth and element count are bounded.

The package splits the reader by job: ``safexml`` (parsing), ``documents`` (what a file says),
``interpret`` (one file's elements), ``zones`` (joining a host's files); the service catalogue
is ``readers.firewalld_catalogue``.
"""

from __future__ import annotations

from collections.abc import Iterator

from portpolicy.model import Fact, ParseError, Unresolved
from portpolicy.readers.base import LINE_BREAK, Source, is_templated
from portpolicy.readers.firewalld.documents import NAME, ROLES, FirewalldDoc, Forward, RichRule, _rank
from portpolicy.readers.firewalld.interpret import _Interpreter, parse_port
from portpolicy.readers.firewalld.safexml import (
    _DECLARATION,
    MAX_DEPTH,
    MAX_ELEMENTS,
    _neutralise_jinja,
    _parse,
    _position,
)
from portpolicy.readers.firewalld.zones import assemble
from portpolicy.readers.firewalld_catalogue import catalogue
from portpolicy.signatures.firewalld import root_element


def read(source: Source) -> Iterator[Fact | FirewalldDoc]:
    """Parse one file, XML or ``firewalld.conf`` as its content says (a bug is guarded at the call)."""
    text = source.masked
    if root_element(text) is None:
        yield from _read_conf(source, text)
    else:
        yield from _read_xml(source)


def _read_conf(source: Source, text: str) -> Iterator[Fact | FirewalldDoc]:
    default: str | None = None
    where = source.at(1)
    lines = LINE_BREAK.split(text)
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped.startswith("#") or "=" not in stripped:
            continue
        key, _, value = stripped.partition("=")
        if key.strip() == "DefaultZone":
            value = value.strip().strip("\"'")
            where = source.at(number, line.index("=") + 2)
            default = "" if is_templated(value) else value
    if default == "":
        yield Unresolved(lines[where.line - 1].strip(), "DefaultZone= is a template", where)
    yield FirewalldDoc(
        "conf", "firewalld.conf", source.path, where, _rank(source.name_path), default_zone=default
    )


def _read_xml(source: Source) -> Iterator[Fact | FirewalldDoc]:
    """A zone, service or policy, as its root element says; firewalld's other XML opens no port."""
    text = _neutralise_jinja(source.masked)
    if root_element(text) not in ROLES:
        return  # an ipset, helper, icmptype or direct file: recognised, but it opens nothing
    declaration = _DECLARATION.search(text)
    if declaration:
        line, column = _position(text, declaration.start())
        yield ParseError(
            "DOCTYPE/ENTITY declarations are refused: firewalld files have none, and entity expansion "
            "(billion laughs, external entities) is not safe to perform",
            source.at(line, column),
        )
        return
    tree = _parse(source, text)
    if isinstance(tree, ParseError):
        yield tree
        return
    if tree.tag not in ROLES:
        return
    yield from _Interpreter(source, tree).run()


__all__ = [
    "MAX_DEPTH",
    "MAX_ELEMENTS",
    "NAME",
    "ROLES",
    "FirewalldDoc",
    "Forward",
    "RichRule",
    "_parse",
    "assemble",
    "catalogue",
    "parse_port",
    "read",
]
