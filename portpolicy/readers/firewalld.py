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
"""

from __future__ import annotations

import re
import xml.parsers.expat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from portpolicy.model import (
    Evidence,
    Fact,
    FirewallRule,
    InvalidPort,
    Location,
    ParseError,
    PortRange,
    Unresolved,
)
from portpolicy.readers.base import (
    LINE_BREAK,
    PROTOCOLS,
    Source,
    ascii_int,
    is_templated,
    shown,
    strip_template,
)
from portpolicy.readers.firewalld_catalogue import PortEntry, ServiceDef, catalogue
from portpolicy.readers.lexing import JINJA_TAGS, replace_templates
from portpolicy.signatures.firewalld import root_element

NAME = "firewalld"

MAX_DEPTH = 32
MAX_ELEMENTS = 20_000
ROLES = ("zone", "service", "policy")

# Shipped defaults: /usr/lib/firewalld, and firewalld's own source tree (config/zones/...).
_STOCK = re.compile(r"(?:^|/)(?:usr/)?lib/firewalld/|(?:^|/)config/(?:zones|services|policies)/")
_ETC = re.compile(r"(?:^|/)etc/firewalld/")
_DECLARATION = re.compile(r"<!(?:DOCTYPE|ENTITY)\b")
_STATEMENTS = (("{%", "%}"),)
_QUOTED_VALUE = re.compile(r'"([^"<]*)"')
_JINJA_SAFE = str.maketrans({'"': "'", "<": " ", "&": " "})
_SERVICE_NAME = re.compile(r"[A-Za-z][\w.+]*(?:-[A-Za-z][\w.+]*)*", re.ASCII)
_PORT_RANGE = re.compile(r"([0-9]+)(?:-([0-9]+))?")
_ZONE_TARGETS = {"ACCEPT": "accept", "%%REJECT%%": "reject", "REJECT": "reject", "DROP": "drop"}
_DONE = {"accept": "accepted", "drop": "dropped", "reject": "rejected"}
_POLICY_TARGETS = {"ACCEPT": "accept", "REJECT": "reject", "DROP": "drop"}
_REFUSED = "firewalld refuses to load this file (and falls back to its stock configuration)"


@dataclass(frozen=True)
class _Node:
    tag: str
    attrs: tuple[tuple[str, str], ...]
    location: Location
    children: tuple[_Node, ...] = ()
    templated_text: bool = False

    def get(self, key: str, default: str = "") -> str:
        for k, v in self.attrs:
            if k == key:
                return v
        return default

    def has(self, key: str) -> bool:
        return any(k == key for k, _ in self.attrs)


@dataclass(frozen=True)
class Forward:
    """A ``<forward-port>``: DNAT to ``to_addr`` or a local redirect to ``to_port``."""

    protocol: str
    ports: PortRange
    location: Location
    to_port: str = ""
    to_addr: str = ""


@dataclass(frozen=True)
class RichRule:
    """A ``<rule>``; ``element`` is port, source-port, protocol, service, forward-port, none or other."""

    location: Location
    family: str
    source: str
    source_inverted: bool
    destination: str
    element: str
    entry: PortEntry | None
    service: str
    forward: Forward | None
    action: str
    limited: bool


@dataclass(frozen=True)
class FirewalldDoc:
    """One parsed firewalld file, kept until ``assemble`` sees the whole host.

    ``role`` is zone, service, policy or conf; ``rank`` 0 for ``/etc/firewalld``, 2 for the
    shipped defaults, 1 for anything else (an Ansible role's files, a repository).
    """

    role: str
    name: str
    path: str
    location: Location
    rank: int
    target: str = ""
    sources: tuple[tuple[str, Location], ...] = ()
    interfaces: tuple[str, ...] = ()
    ports: tuple[PortEntry, ...] = ()
    source_ports: tuple[PortEntry, ...] = ()
    protocols: tuple[PortEntry, ...] = ()
    services: tuple[tuple[str, Location], ...] = ()
    includes: tuple[tuple[str, Location], ...] = ()
    forwards: tuple[Forward, ...] = ()
    rules: tuple[RichRule, ...] = ()
    destination: tuple[tuple[str, str], ...] = ()
    ingress: tuple[str, ...] = ()
    egress: tuple[str, ...] = ()
    disabled: bool = False
    default_zone: str | None = None
    host: str = ""
    kind: str = field(default="firewalld_doc", init=False)


# --------------------------------------------------------------------------- where a file sits


def _rank(path: str) -> int:
    padded = "/" + path
    if _ETC.search(padded):
        return 0
    return 2 if _STOCK.search(padded) else 1


def _doc_name(path: str) -> str:
    base = path.rsplit("/", 1)[-1]
    return re.sub(r"\.xml$", "", strip_template(base), flags=re.I)


# --------------------------------------------------------------------------- reading one file


def read(source: Source) -> Iterator[Fact | FirewalldDoc]:
    """Parse one file, XML or ``firewalld.conf`` as its content says; never raises."""
    try:
        text = source.masked
        if root_element(text) is None:
            yield from _read_conf(source, text)
        else:
            yield from _read_xml(source)
    except Exception as exc:  # pragma: no cover - defensive: a reader bug is reported, not raised
        yield ParseError(f"firewalld reader could not read this file ({type(exc).__name__})", source.at(1))


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


def _position(text: str, index: int) -> tuple[int, int]:
    """Line and column of ``index``, lines ended as every reader ends them (CRLF, CR, LF)."""
    breaks = list(LINE_BREAK.finditer(text, 0, index))
    return len(breaks) + 1, index - (breaks[-1].end() if breaks else 0) + 1


def _neutralise_jinja(text: str) -> str:
    """Make template markup XML-safe without moving any character (line numbers stay).

    Quotes and ``<``/``&`` inside expressions are replaced; an attribute value holding a
    ``{% %}`` statement becomes a bare ``{{ }}`` (unknown, never a guessed port); other
    statements produce no output, so they become blanks. ``text`` is already masked
    (``Source.masked``); text without Jinja tags is returned as it is.
    """
    if "{{" not in text and "{%" not in text:
        return text
    text = replace_templates(text, lambda span: span.translate(_JINJA_SAFE), JINJA_TAGS, across_lines=True)
    text = _QUOTED_VALUE.sub(_unknown_if_statement, text)
    return replace_templates(text, _blank, _STATEMENTS, across_lines=True)


def _unknown_if_statement(m: re.Match[str]) -> str:
    """An attribute value holding a ``{% %}`` statement, as a bare ``{{ }}`` of its length.

    Every quoted value is looked at once; a regex for quoted values containing ``{%``
    retries every ``{%`` of an unclosed value.
    """
    value = m.group(1)
    return '"{{' + " " * (len(value) - 4) + '}}"' if "{%" in value else m.group(0)


def _blank(span: str) -> str:
    return "".join("\n" if c == "\n" else " " for c in span)


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


class _Refused(Exception):
    pass


def _parse(source: Source, text: str) -> _Node | ParseError:
    """expat with every declaration refused; bounded depth and element count."""
    parser = xml.parsers.expat.ParserCreate(encoding="utf-8")
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[tuple[str, dict[str, str], Location, list[_Node], list[bool]]] = []
    result: list[_Node] = []
    count = [0]

    def refuse(*_: object) -> None:
        raise _Refused("DOCTYPE/ENTITY declarations are refused")

    def refuse_external(*_: object) -> int:
        raise _Refused("external entities are refused")

    def start(name: str, attrs: dict[str, str]) -> None:
        count[0] += 1
        if len(stack) >= MAX_DEPTH:
            raise _Refused(f"elements nested deeper than {MAX_DEPTH} levels")
        if count[0] > MAX_ELEMENTS:
            raise _Refused(f"more than {MAX_ELEMENTS} elements")
        where = source.at(parser.CurrentLineNumber, parser.CurrentColumnNumber + 1)
        stack.append((name, attrs, where, [], [False]))

    def end(name: str) -> None:
        tag, attrs, where, children, templated = stack.pop()
        node = _Node(tag, tuple(attrs.items()), where, tuple(children), templated[0])
        (stack[-1][3] if stack else result).append(node)

    def data(chunk: str) -> None:
        if stack and is_templated(chunk):
            stack[-1][4][0] = True

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse_external
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    try:
        parser.Parse(text.encode("utf-8"), True)
    except xml.parsers.expat.ExpatError as exc:
        message = xml.parsers.expat.ErrorString(exc.code) if exc.code else str(exc)
        return ParseError(f"malformed XML: {message}; {_REFUSED}", source.at(exc.lineno, exc.offset + 1))
    except _Refused as exc:
        return ParseError(
            f"{exc}; {_REFUSED}", source.at(parser.CurrentLineNumber, parser.CurrentColumnNumber + 1)
        )
    if not result:
        return ParseError("no root element", source.at(1))
    return result[0]


# --------------------------------------------------------------------------- interpreting one file


def parse_port(
    value: str, where: Location, context: str
) -> tuple[PortRange | None, list[InvalidPort | Unresolved]]:
    """A firewalld ``portid[-portid]`` as ``getPortRange()`` reads it, with facts for what is wrong.

    An inverted range is reported and still returned swapped, as firewalld applies it.
    """
    raw = " ".join(value.split())
    value = value.strip()
    if is_templated(value):
        return None, [Unresolved(raw, f"{context}: value is a template or variable", where)]
    m = _PORT_RANGE.fullmatch(value)
    if m is None:
        if _SERVICE_NAME.fullmatch(value):
            reason = f"{context}: {shown(value)!r} is a service name that firewalld looks up in the host's /etc/services"
            return None, [Unresolved(raw, reason, where)]
        what = "an empty port" if not value else f"{shown(value)!r} is not a port or port range"
        return None, [InvalidPort(raw, f"{context}: {what}; {_REFUSED}", where, context)]
    groups = [g for g in m.groups() if g is not None]
    numbers = [n for g in groups if (n := ascii_int(g)) is not None]
    for n, g in zip(numbers, groups, strict=True):
        if n > 65535:
            return None, [
                InvalidPort(raw, f"{context}: port {shown(g)} is outside 1-65535; {_REFUSED}", where, context)
            ]
        if n == 0:
            reason = f"{context}: port 0 is no port a packet is sent to; the rule matches nothing useful"
            return None, [InvalidPort(raw, reason, where, context)]
    start, end = numbers[0], numbers[-1]
    if start > end:
        reason = f"{context}: range {shown(value)} starts after it ends (firewalld silently swaps it to {end}-{start})"
        return PortRange(end, start), [InvalidPort(raw, reason, where, context)]
    return PortRange(start, end), []


class _Interpreter:
    """Turns the element tree of one file into a ``FirewalldDoc`` plus problem facts."""

    def __init__(self, source: Source, tree: _Node) -> None:
        self.source = source
        self.tree = tree
        self.facts: list[Fact] = []
        self.values: dict[str, list[Any]] = {
            k: []
            for k in (
                *("sources", "interfaces", "ports", "source_ports", "protocols", "services"),
                *("includes", "forwards", "rules", "destination", "ingress", "egress"),
            )
        }
        self.disabled = False

    def run(self) -> Iterator[Fact | FirewalldDoc]:
        root = self.tree
        for child in root.children:
            self._top(root.tag, child)
        if root.templated_text:
            self.facts.append(
                Unresolved(root.tag, f"template text inside <{root.tag}> may add entries", root.location)
            )
        target = root.get("target")
        if is_templated(target):
            self.facts.append(Unresolved(target, f"<{root.tag} target=>: value is a template", root.location))
            target = ""
        allowed = _ZONE_TARGETS if root.tag == "zone" else _POLICY_TARGETS
        if target and target not in allowed and target not in {"default", "CONTINUE", "{chain}_{zone}"}:
            self.facts.append(
                ParseError(f"unknown {root.tag} target {shown(target)!r}; {_REFUSED}", root.location)
            )
            target = ""
        v = self.values
        yield from self.facts
        yield FirewalldDoc(
            role=root.tag,
            name=_doc_name(self.source.name_path),
            path=self.source.path,
            location=root.location,
            rank=_rank(self.source.name_path),
            target=target,
            sources=tuple(v["sources"]),
            interfaces=tuple(v["interfaces"]),
            ports=tuple(v["ports"]),
            source_ports=tuple(v["source_ports"]),
            protocols=tuple(v["protocols"]),
            services=tuple(v["services"]),
            includes=tuple(v["includes"]),
            forwards=tuple(v["forwards"]),
            rules=tuple(v["rules"]),
            destination=tuple(v["destination"]),
            ingress=tuple(v["ingress"]),
            egress=tuple(v["egress"]),
            disabled=self.disabled,
        )

    def _protocol(self, node: _Node, context: str) -> str | None:
        proto = node.get("protocol").strip()
        if is_templated(proto):
            self.facts.append(Unresolved(proto, f"{context}: protocol is a template", node.location))
            return None
        if proto not in PROTOCOLS:
            self.facts.append(
                ParseError(
                    f"{context}: protocol {shown(proto)!r} is not tcp, udp, sctp or dccp; {_REFUSED}",
                    node.location,
                )
            )
            return None
        return proto

    def _entry(self, node: _Node, context: str) -> PortEntry | None:
        if node.tag == "protocol":
            value = node.get("value").strip()
            if is_templated(value):
                self.facts.append(Unresolved(value, f"{context}: protocol is a template", node.location))
                return None
            return PortEntry(value.lower(), None, node.location)
        if node.tag == "port" and self.tree.tag == "service" and not node.get("port").strip():
            # The old way to write a protocol in a service (firewalld.service(5)).
            return PortEntry(node.get("protocol").strip().lower(), None, node.location)
        proto = self._protocol(node, context)
        ports, problems = parse_port(node.get("port"), node.location, context)
        self.facts.extend(problems)
        if proto is None or ports is None:
            return None
        return PortEntry(proto, ports, node.location)

    def _forward(self, node: _Node, context: str) -> Forward | None:
        proto = self._protocol(node, context)
        ports, problems = parse_port(node.get("port"), node.location, context)
        self.facts.extend(problems)
        to_port = node.get("to-port").strip()
        if to_port:
            _, more = parse_port(to_port, node.location, f"{context} to-port")
            self.facts.extend(more)
        if proto is None or ports is None:
            return None
        return Forward(proto, ports, node.location, to_port, node.get("to-addr").strip())

    def _top(self, role: str, node: _Node) -> None:
        v = self.values
        tag = node.tag
        context = f"<{tag}>"
        if tag in ("port", "protocol"):
            entry = self._entry(node, context)
            if entry is not None:
                v["protocols" if entry.ports is None else "ports"].append(entry)
        elif tag == "source-port":
            entry = self._entry(node, context)
            if entry is not None:
                v["source_ports"].append(entry)
        elif tag == "service" and role != "service":
            name = node.get("name").strip()
            if is_templated(name):
                self.facts.append(Unresolved(name, "<service name=>: value is a template", node.location))
            elif name:
                v["services"].append((name, node.location))
        elif tag == "include" and role == "service":
            v["includes"].append((node.get("service").strip(), node.location))
        elif tag == "destination" and role == "service":
            v["destination"].extend((k, val) for k, val in node.attrs if k in ("ipv4", "ipv6"))
        elif tag == "forward-port":
            fwd = self._forward(node, context)
            if fwd is not None:
                v["forwards"].append(fwd)
        elif tag == "interface" and role == "zone":
            v["interfaces"].append(node.get("name").strip())
        elif tag == "source" and role == "zone":
            address = node.get("address").strip() or (
                f"ipset:{node.get('ipset').strip()}" if node.has("ipset") else ""
            )
            if node.has("mac"):
                address = f"mac:{node.get('mac').strip()}"
            if is_templated(address):
                self.facts.append(Unresolved(address, "<source>: address is a template", node.location))
            elif address:
                v["sources"].append((address, node.location))
        elif tag in ("ingress-zone", "egress-zone") and role == "policy":
            v["ingress" if tag == "ingress-zone" else "egress"].append(node.get("name").strip())
        elif tag == "disable" and role == "policy":
            self.disabled = True
        elif tag == "rule" and role != "service":
            rule = self._rich(node)
            if rule is not None:
                v["rules"].append(rule)

    def _rich(self, node: _Node) -> RichRule | None:
        family = node.get("family").strip() or "dual"
        source, inverted, destination = "", False, ""
        element, entry, service, forward, action, limited = "none", None, "", None, "", False
        for child in node.children:
            tag = child.tag
            if tag == "source":
                inverted = child.get("invert").strip().lower() in ("yes", "true")
                if child.has("address"):
                    source = child.get("address").strip()
                elif child.has("mac"):
                    source = f"mac:{child.get('mac').strip()}"
                elif child.has("ipset"):
                    source = f"ipset:{child.get('ipset').strip()}"
                if is_templated(source):
                    self.facts.append(Unresolved(source, "rich rule source is a template", child.location))
                    return None
            elif tag == "destination":
                destination = child.get("address").strip() or child.get("ipset").strip()
                if child.get("invert").strip().lower() in ("yes", "true"):
                    destination = f"not {destination}"
            elif tag in ("port", "source-port", "protocol"):
                element = tag
                entry = self._entry(child, f"rich rule <{tag}>")
                if entry is None:
                    return None
                if tag == "protocol":
                    element = "protocol"
            elif tag == "service":
                element, service = "service", child.get("name").strip()
                if is_templated(service):
                    self.facts.append(
                        Unresolved(service, "rich rule <service>: name is a template", child.location)
                    )
                    return None
            elif tag == "forward-port":
                element = "forward-port"
                forward = self._forward(child, "rich rule <forward-port>")
                if forward is None:
                    return None
            elif tag in ("accept", "reject", "drop", "mark"):
                action = tag
                limited = any(c.tag == "limit" for c in child.children)
            elif tag in ("icmp-block", "icmp-type", "masquerade", "tcp-mss-clamp"):
                element = "other"
        return RichRule(
            node.location,
            family,
            source,
            inverted,
            destination,
            element,
            entry,
            service,
            forward,
            action,
            limited,
        )


# --------------------------------------------------------------------------- joining files of a host


def assemble(facts: Sequence[Fact | FirewalldDoc]) -> list[Fact]:
    """Pick the files firewalld loads, resolve services and yield the rules in force."""
    out: list[Fact] = []
    docs: list[FirewalldDoc] = []
    for fact in facts:
        if isinstance(fact, FirewalldDoc):
            docs.append(fact)
        else:
            out.append(fact)
    try:
        out.extend(_Host(docs).rules())
    except Exception as exc:  # pragma: no cover - defensive, as in read()
        where = docs[0].location if docs else Location("<firewalld>")
        out.append(ParseError(f"firewalld reader could not join files ({type(exc).__name__})", where))
    return out


@dataclass(frozen=True)
class _Match:
    """What one rule element matches once services are resolved."""

    protocol: str
    ports: PortRange | None
    source_ports: PortRange | None
    family: str
    evidence: tuple[Evidence, ...]


class _Host:
    def __init__(self, docs: list[FirewalldDoc]) -> None:
        chosen: dict[tuple[str, str], list[FirewalldDoc]] = {}
        for doc in sorted(docs, key=lambda d: (d.rank, d.path)):
            same = chosen.setdefault((doc.role, doc.name), [])
            if not same or same[0].rank == doc.rank:
                same.append(doc)  # a lower rank (/etc) replaces a shipped file of the same name
        self.docs = [d for group in chosen.values() for d in group]
        confs = [d for d in self.docs if d.role == "conf"]
        self.default_zone = next((c.default_zone for c in confs if c.default_zone is not None), "public")
        self.default_zone = self.default_zone or "public"
        self.services = {d.name: d for d in self.docs if d.role == "service"}

    def rules(self) -> Iterator[Fact]:
        for doc in self.docs:
            if doc.role == "zone":
                yield from self._zone(doc)
            elif doc.role == "policy" and not doc.disabled:
                yield from self._policy(doc)

    # ---- zones and policies

    def _zone(self, zone: FirewalldDoc) -> Iterator[Fact]:
        bound = bool(zone.sources or zone.interfaces)
        if zone.rank == 2 and not bound and zone.name != self.default_zone:
            return  # a shipped zone nothing uses
        restricted = bool(zone.sources) and not zone.interfaces and zone.name != self.default_zone
        sources = tuple(s for s, _ in zone.sources) if restricted else ()
        scope: tuple[Evidence, ...] = ()
        if restricted:
            scope = tuple(
                Evidence(loc, f"zone {zone.name} applies only to source {s}") for s, loc in zone.sources
            )
        base = dict(
            firewall=NAME,
            direction="in",
            ruleset_stateful=True,
            chain=zone.name,
            interface=",".join(zone.interfaces),
            sources=sources,
        )
        yield from self._body(zone, base, scope)
        action = _ZONE_TARGETS.get(zone.target)
        # A rich rule with no element and no address (allowed only with a priority) catches
        # every packet before the target does: libvirt's "ACCEPT zone" only forwards.
        if action and any(r.element == "none" and not r.source and not r.destination for r in zone.rules):
            return
        if action:
            yield FirewallRule(
                action=action,
                protocol="any",
                ports=None,
                location=zone.location,
                evidence=(
                    *scope,
                    Evidence(
                        zone.location,
                        f"zone {zone.name} target={zone.target}: every packet no rule matches is {_DONE[action]}",
                    ),
                ),
                **base,  # type: ignore[arg-type]
            )

    def _policy(self, policy: FirewalldDoc) -> Iterator[Fact]:
        if "HOST" in policy.egress:
            direction = "in"
        elif "HOST" in policy.ingress:
            direction = "out"
        else:
            direction = "forward"
        flow = f"policy {policy.name}: {','.join(policy.ingress) or '?'} -> {','.join(policy.egress) or '?'}"
        scope = (Evidence(policy.location, flow),)
        base = dict(firewall=NAME, direction=direction, ruleset_stateful=True, chain=policy.name)
        yield from self._body(policy, base, scope)
        action = _POLICY_TARGETS.get(policy.target)
        if action:
            yield FirewallRule(
                action=action,
                protocol="any",
                ports=None,
                location=policy.location,
                evidence=(*scope, Evidence(policy.location, f"policy target={policy.target}")),
                **base,  # type: ignore[arg-type]
            )

    def _body(self, doc: FirewalldDoc, base: dict[str, Any], scope: tuple[Evidence, ...]) -> Iterator[Fact]:
        """Ports, protocols, source ports, services, forward ports and rich rules of a zone or policy."""
        entries = [(e, False) for e in (*doc.ports, *doc.protocols)] + [(e, True) for e in doc.source_ports]
        for entry, by_source in entries:
            match = _entry_match(entry, by_source)
            if match is not None:
                yield _rule(base, "accept", match, entry.location, scope)
        for name, where in doc.services:
            for item in self._resolve(name, where):
                if isinstance(item, _Match):
                    yield _rule(base, "accept", item, where, scope, service=name)
                else:
                    yield item
        for fwd in doc.forwards:
            yield self._forward(base, fwd, scope)
        for rule in doc.rules:
            yield from self._rich(doc, base, rule, scope)

    def _forward(self, base: dict[str, Any], fwd: Forward, scope: tuple[Evidence, ...]) -> FirewallRule:
        if fwd.to_addr:
            note = f"forward-port: forwarded to {fwd.to_addr}" + (
                f" port {fwd.to_port}" if fwd.to_port else ""
            )
            base = {**base, "direction": "forward"}
        else:
            note = f"forward-port: redirected to local port {fwd.to_port or fwd.ports}"
        match = _Match(fwd.protocol, fwd.ports, None, "dual", (Evidence(fwd.location, note),))
        return _rule(base, "accept", match, fwd.location, scope)

    def _rich(
        self, doc: FirewalldDoc, base: dict[str, Any], rule: RichRule, scope: tuple[Evidence, ...]
    ) -> Iterator[Fact]:
        notes: list[Evidence] = []
        base = dict(base)
        if rule.source and not rule.source_inverted:
            base["sources"] = (rule.source,)
        elif rule.source:
            notes.append(
                Evidence(rule.location, f"rich rule source is inverted: every source except {rule.source}")
            )
        if rule.destination:
            notes.append(Evidence(rule.location, f"rich rule destination {rule.destination}"))
        if rule.limited:
            notes.append(Evidence(rule.location, "rich rule action is rate-limited"))
        extra = (*scope, *notes)
        family = rule.family if rule.family in ("ipv4", "ipv6") else "dual"
        if rule.element == "forward-port" and rule.forward is not None:
            yield self._forward(base, rule.forward, extra)
            return
        if rule.action not in ("accept", "reject", "drop") or rule.element == "other":
            return  # log/audit only, mark, icmp, masquerade: no port is opened or closed
        matches: list[_Match | Fact] = []
        if rule.element == "none":
            matches = [_Match("any", None, None, family, ())]
        elif rule.element == "service":
            matches = list(self._resolve(rule.service, rule.location))
        elif rule.entry is not None:
            m = _entry_match(rule.entry, rule.element == "source-port")
            matches = [m] if m is not None else []
        for item in matches:
            if not isinstance(item, _Match):
                yield item
                continue
            if family != "dual" and item.family != "dual" and family != item.family:
                continue  # an ipv4 rule naming an ipv6-only service matches nothing
            fam = family if item.family == "dual" else item.family
            m = _Match(item.protocol, item.ports, item.source_ports, fam, item.evidence)
            service = rule.service if rule.element == "service" else ""
            yield _rule(base, rule.action, m, rule.location, extra, service=service)

    # ---- services

    def _resolve(self, name: str, where: Location) -> Iterator[_Match | Fact]:
        """Every port a service opens (includes followed), tree files before the catalogue."""
        seen: set[str] = set()
        todo: list[tuple[str, str]] = [(name, "")]
        while todo:
            current, via = todo.pop(0)
            if current in seen:
                continue
            seen.add(current)
            found = self._service(current)
            if found is None:
                reason = (
                    f"firewalld service {current!r}"
                    + (f" (included by {via})" if via else "")
                    + f" is defined neither in this host's service files nor in firewalld {catalogue()[0]}'s "
                    "catalogue: its ports are unknown"
                )
                yield Unresolved(current, reason, where)
                continue
            release = catalogue()[0]
            label = f"service {current}" + (f" (included by {via})" if via else "")
            family = "dual"
            dest = dict(found.destination)
            if dest and len(dest) == 1:
                family = next(iter(dest))
            dest_note = f", destination {', '.join(dest.values())}" if dest else ""
            entries = [(e, False) for e in (*found.ports, *found.protocols)]
            for entry, by_source in entries + [(e, True) for e in found.source_ports]:
                if found.origin:
                    ev = Evidence(entry.location, f"{label} ({found.origin}): {entry.text}{dest_note}")
                else:
                    ev = Evidence(where, f"firewalld {release} {label}: {entry.text}{dest_note}")
                m = _entry_match(entry, by_source)
                if m is not None:
                    yield _Match(m.protocol, m.ports, m.source_ports, family, (ev,))
            todo.extend((inc, current) for inc in found.includes)

    def _service(self, name: str) -> ServiceDef | None:
        doc = self.services.get(name)
        if doc is not None:
            return ServiceDef(
                name,
                doc.ports,
                doc.source_ports,
                doc.protocols,
                tuple(n for n, _ in doc.includes),
                doc.destination,
                doc.path,
            )
        return catalogue()[1].get(name)


def _entry_match(entry: PortEntry, source_port: bool) -> _Match | None:
    """A port entry as a match; protocols without ports (gre, esp, icmp) open no port and are left out."""
    if entry.ports is None:
        if entry.protocol not in PROTOCOLS:
            return None
        return _Match(entry.protocol, None, None, "dual", ())
    if source_port:
        return _Match(entry.protocol, None, entry.ports, "dual", ())
    return _Match(entry.protocol, entry.ports, None, "dual", ())


def _rule(
    base: dict[str, Any],
    action: str,
    match: _Match,
    where: Location,
    scope: tuple[Evidence, ...],
    service: str = "",
) -> FirewallRule:
    return FirewallRule(
        action=action,
        protocol=match.protocol,
        ports=match.ports,
        source_ports=match.source_ports,
        family=match.family,
        location=where,
        service=service,
        evidence=(*match.evidence, *scope),
        **base,
    )
