"""A program's own config file, read as data: the keys that hold its listen address and port.

Each format is parsed into ``Leaf`` values keyed by a dotted path (``server.http_port``,
``entryPoints.web.address``, ``static_resources.listeners.[].address.socket_address.port_value``):
a nested YAML/JSON/TOML/HCL tree and a flat ``http.port: 9200`` give the same path, as
Elasticsearch and Spring read both. ``data/apps.yml`` says per program which paths hold a
socket (``config.ports``), in which form, and where its address or port is written when the
value names only one of them.

Nothing is executed or evaluated: JSON (``json``), TOML (``tomllib``), YAML (composed nodes,
``portpolicy.yamlnodes``), INI and line formats are read as text, HCL through the literal-only
subset of ``buildcalls.bake``. Every parse is bounded (``MAX_BYTES``, ``MAX_LEAVES``,
``MAX_DEPTH``); a file beyond them, or one that does not parse, is one ``ParseError``.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from portpolicy.apps.table import App, ConfigPort
from portpolicy.apps.values import Port, address_port, port_number, url_ports
from portpolicy.model import (
    Evidence,
    Fact,
    InvalidPort,
    Listener,
    Location,
    ParseError,
    PortRange,
    RunAs,
    Unresolved,
)
from portpolicy.readers.base import LINE_BREAK, Source, is_templated, shown
from portpolicy.readers.netaddr import bind_address

MAX_BYTES = 1024 * 1024
"""A program's config is a few KiB; a larger one is not parsed (hostile input)."""
MAX_LEAVES = 20_000
"""Values of one file that are looked at."""
MAX_DEPTH = 64
"""Nesting read in one tree; a deeper file is refused whole."""
MAX_LIST = 256
"""Sockets one key may list (``listen: [":80", ":443"]``)."""


@dataclass(frozen=True)
class Leaf:
    """One value of a config file at its dotted path, with where it is written."""

    path: str
    value: str
    line: int
    column: int


class TooLarge(Exception):
    """A config beyond the bounds: read as one ``ParseError``."""


# --------------------------------------------------------------------------- formats


def leaves(text: str, form: str) -> list[Leaf]:
    """Every value of ``text`` in ``form``; raises ``TooLarge`` or ``ValueError`` on a bad file."""
    if len(text) > MAX_BYTES:
        raise TooLarge(f"over {MAX_BYTES // 1024} KiB")
    reader = _FORMATS.get(form)
    if reader is None:
        return []
    out = reader(text)
    if len(out) > MAX_LEAVES:
        raise TooLarge(f"more than {MAX_LEAVES} values")
    return out


def _yaml(text: str) -> list[Leaf]:
    from portpolicy import yamlnodes

    try:
        docs = yamlnodes.compose_documents(text)
    except yamlnodes.YamlError as exc:
        raise ValueError(str(exc)) from None
    out: list[Leaf] = []
    for doc in docs[:16]:
        _walk_yaml(doc, "", out, 0)
    return out


def _walk_yaml(node: Any, path: str, out: list[Leaf], depth: int) -> None:
    from portpolicy import yamlnodes

    if depth > MAX_DEPTH:
        raise TooLarge(f"nested deeper than {MAX_DEPTH}")
    if len(out) > MAX_LEAVES:
        raise TooLarge(f"more than {MAX_LEAVES} values")
    if isinstance(node, yamlnodes.MappingNode):
        for key, _, value in yamlnodes.items(node):
            _walk_yaml(value, _join(path, key), out, depth + 1)
    elif isinstance(node, yamlnodes.SequenceNode):
        for item in node.value:
            _walk_yaml(item, _join(path, "[]"), out, depth + 1)
    elif isinstance(node, yamlnodes.ScalarNode) and not yamlnodes.is_null(node):
        mark = node.start_mark
        out.append(Leaf(path, str(node.value), mark.line + 1, mark.column + 1))


def _json(text: str) -> list[Leaf]:
    _shallow(text)
    try:
        data = json.loads(_without_comments(text))
    except RecursionError:
        raise TooLarge(f"nested deeper than {MAX_DEPTH}") from None
    return _tree_leaves(data, text)


_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


def _without_comments(text: str) -> str:
    """JSON as .NET's configuration reads it: ``//`` and ``/* */`` comments and trailing commas
    are allowed (``appsettings.json`` often has them). Comments become spaces, so every value
    keeps its line and column; text inside strings is left alone."""
    out: list[str] = []
    i, n, in_string = 0, len(text), False
    while i < n:
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
            out.append(c)
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:end]))
            i = end
            continue
        else:
            out.append(c)
        i += 1
    return _TRAILING_COMMA.sub(r" \1", "".join(out))


def _toml(text: str) -> list[Leaf]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

    _shallow(text)
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise TooLarge(f"nested deeper than {MAX_DEPTH}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(str(exc).split("(", 1)[0].strip()) from None
    return _tree_leaves(data, text)


def _shallow(text: str) -> None:
    """Refuse a bracket nesting deeper than ``MAX_DEPTH`` before a recursive parser sees it."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    depth = 0
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise TooLarge(f"nested deeper than {MAX_DEPTH}")
        elif char in "]}":
            depth -= 1


def _tree_leaves(data: object, text: str) -> list[Leaf]:
    """Leaves of a parsed JSON/TOML tree; each located at its key's first spelling after its parent's."""
    out: list[Leaf] = []
    finder = _Finder(text)
    _walk_tree(data, "", out, finder, 0, 0)
    return out


class _Finder:
    """Where a key is written: parsers of JSON and TOML keep no positions, so the text is searched."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [m.end() for m in LINE_BREAK.finditer(text)]

    def find(self, key: str, after: int) -> int:
        found = self.text.find(key, after)
        return after if found < 0 else found

    def position(self, offset: int) -> tuple[int, int]:
        import bisect

        line = bisect.bisect_right(self.starts, offset)
        return line, offset - self.starts[line - 1] + 1


def _walk_tree(data: object, path: str, out: list[Leaf], finder: _Finder, at: int, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise TooLarge(f"nested deeper than {MAX_DEPTH}")
    if len(out) > MAX_LEAVES:
        raise TooLarge(f"more than {MAX_LEAVES} values")
    if isinstance(data, dict):
        for key, value in data.items():
            where = finder.find(str(key), at)
            _walk_tree(value, _join(path, str(key)), out, finder, where, depth + 1)
    elif isinstance(data, list):
        for item in data:
            _walk_tree(item, _join(path, "[]"), out, finder, at, depth + 1)
    elif data is not None and not isinstance(data, bool):
        line, column = finder.position(at)
        out.append(Leaf(path, str(data), line, column))


_INI_SETTING = re.compile(r"([^=:\s][^=:]*?)\s*[=:]\s*(.*)\Z")
_KV_SETTING = re.compile(r"([A-Za-z_][\w.-]*)(?:\s*=\s*|\s+)(.*)\Z")
_PROPERTIES = re.compile(r"([^=:\s]+)\s*[=:\s]\s*(.*)\Z")


def _lines(text: str) -> Iterator[tuple[int, str, str]]:
    """(line number, the line, the line stripped) of every line that is not blank or a comment."""
    for number, raw in enumerate(LINE_BREAK.split(text), start=1):
        stripped = raw.strip()
        if stripped and stripped[0] not in "#;!":
            yield number, raw, stripped


def _ini(text: str) -> list[Leaf]:
    out: list[Leaf] = []
    section = ""
    for number, raw, stripped in _lines(text):
        if stripped.startswith("["):
            section = stripped[1 : stripped.find("]")].strip() if "]" in stripped else ""
            continue
        match = _INI_SETTING.match(stripped)
        if match:
            out.append(_line_leaf(_join(section, match.group(1).strip()), match.group(2), number, raw))
    return out


def _key_value(text: str) -> list[Leaf]:
    """``key value`` / ``key=value`` lines (squid, chrony, rsyncd, dnsmasq)."""
    out: list[Leaf] = []
    for number, raw, stripped in _lines(text):
        match = _KV_SETTING.match(stripped)
        if match:
            out.append(_line_leaf(match.group(1), match.group(2), number, raw))
    return out


def _properties(text: str) -> list[Leaf]:
    out: list[Leaf] = []
    for number, raw, stripped in _lines(text):
        match = _PROPERTIES.match(stripped)
        if match:
            out.append(_line_leaf(match.group(1), match.group(2), number, raw))
    return out


def _unbound(text: str) -> list[Leaf]:
    """unbound.conf: ``server:`` clauses, ``name: value`` attributes (quotes optional)."""
    out: list[Leaf] = []
    clause = ""
    for number, raw, stripped in _lines(text):
        name, colon, value = stripped.partition(":")
        if not colon:
            continue
        value = value.split("#", 1)[0].strip()
        if not value:
            clause = name.strip()
            continue
        out.append(_line_leaf(_join(clause, name.strip()), value, number, raw))
    return out


_HCL_ATTRIBUTE = re.compile(r'^([A-Za-z_][\w-]*)\s*=\s*"?([^"\n{\[]*)"?\s*$', re.M)


def _hcl(text: str) -> list[Leaf]:
    """Consul/Vault HCL: top-level literal attributes and one level of blocks (``listener "tcp" {}``)."""
    from portpolicy.buildcalls.bake import hcl_blocks

    out: list[Leaf] = []
    finder = _Finder(text)
    depth = 0
    for match in _HCL_ATTRIBUTE.finditer(text):  # top level only: no open brace before it
        depth = text.count("{", 0, match.start()) - text.count("}", 0, match.start())
        if depth == 0:
            line, column = finder.position(match.start(2))
            out.append(Leaf(match.group(1), match.group(2).strip(), line, column))
    blocks, _notes = hcl_blocks(text)
    for block in blocks[:MAX_LEAVES]:
        prefix = ".".join([block.kind, *block.labels])
        start = finder.starts[min(block.line, len(finder.starts)) - 1]
        for key, value in block.attrs.items():
            if isinstance(value, str):
                line, column = finder.position(finder.find(key, start))
                out.append(Leaf(_join(prefix, key), value, line, column))
            elif isinstance(value, list):
                line, column = finder.position(finder.find(key, start))
                out.extend(Leaf(_join(prefix, key), v, line, column) for v in value[:MAX_LIST] if v)
    return out


def _line_leaf(path: str, value: str, number: int, raw: str) -> Leaf:
    value = value.strip()
    column = raw.find(value) + 1 if value else 1
    if value[:1] in ("'", '"') and value.find(value[0], 1) > 0:
        value = value[1 : value.find(value[0], 1)]
    else:
        value = re.split(r"\s[#;]", value, maxsplit=1)[0].strip()
    return Leaf(path, value, number, max(column, 1))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


_FORMATS = {
    "yaml": _yaml,
    "json": _json,
    "toml": _toml,
    "ini": _ini,
    "key-value": _key_value,
    "key=value": _key_value,
    "properties": _properties,
    "unbound": _unbound,
    "hcl": _hcl,
}


def format_of(app: App, name: str) -> str:
    """The format of ``name`` for ``app``: by its suffix where the program reads several."""
    lowered = name.lower().removesuffix(".j2")
    for suffix, form in ((".json", "json"), (".toml", "toml"), (".yml", "yaml"), (".yaml", "yaml")):
        if lowered.endswith(suffix):
            return form
    if lowered.endswith(".properties"):
        return "properties"
    if lowered.endswith(".hcl"):
        return "hcl"
    return app.config_format


# --------------------------------------------------------------------------- listeners


def config_listeners(app: App, source: Source, form: str) -> Iterator[Fact]:
    """The sockets ``app``'s config file ``source`` opens; never raises on input."""
    try:
        found = leaves(source.masked, form)
    except TooLarge as exc:
        yield ParseError(f"{app.name} config {exc}: not read", source.at(1))
        return
    except (ValueError, UnicodeError) as exc:
        if source.jinja:
            yield Unresolved(app.name, f"a {form} template that does not parse until rendered", source.at(1))
        else:
            yield ParseError(f"{app.name} config is not valid {form}: {shown(str(exc))}", source.at(1))
        return
    for spec in app.config_ports:
        yield from _spec_facts(app, spec, found, source)


def _matching(leaves_: list[Leaf], key: str) -> list[Leaf]:
    pattern = _key_pattern(key)
    return [leaf for leaf in leaves_ if pattern.fullmatch(leaf.path)]


def _key_pattern(key: str) -> re.Pattern[str]:
    parts = [r"[^.]+" if part == "*" else re.escape(part) for part in key.split(".")]
    return re.compile(r"\.".join(parts), re.I)


def _spec_facts(app: App, spec: ConfigPort, found: list[Leaf], source: Source) -> Iterator[Fact]:
    if spec.only_without and _matching(found, spec.only_without):
        return
    values = _matching(found, spec.key)
    if not spec.repeat:
        values = values[-1:]
    port_leaf = _last(found, spec.port_key)
    addresses = _matching(found, spec.address_key) if spec.address_key else []
    address_leaf = addresses[-1] if addresses else None
    paired = spec.repeat and len(addresses) == len(values) > 1  # envoy: each listener its own address
    if values:
        for i, leaf in enumerate(values[:MAX_LIST]):
            yield from _value_facts(
                app, spec, leaf, port_leaf, addresses[i] if paired else address_leaf, source
            )
    elif port_leaf is not None and spec.port_key:
        yield from _value_facts(app, spec, None, port_leaf, address_leaf, source)


def _last(found: list[Leaf], key: str | None) -> Leaf | None:
    matched = _matching(found, key) if key else []
    return matched[-1] if matched else None


def _value_facts(
    app: App,
    spec: ConfigPort,
    leaf: Leaf | None,
    port_leaf: Leaf | None,
    address_leaf: Leaf | None,
    source: Source,
) -> Iterator[Fact]:
    written = leaf or port_leaf
    assert written is not None
    where = source.at(written.line, written.column)
    context = f"{app.name} {written.path}"
    for item in (leaf, port_leaf, address_leaf):
        if item is not None and (is_templated(item.value) or "${" in item.value):
            yield Unresolved(item.value, f"{context}: value is a template or variable", where)
            return
    ports = _ports(spec, leaf, port_leaf)
    if isinstance(ports, str):
        yield InvalidPort(written.value, f"{context}: {ports}", where, context)
        return
    hosts = _hosts(spec, address_leaf)
    for found in ports:
        for host in [found.host] if found.host is not None else hosts:
            yield from _listeners(app, spec, found, host, written, where, source)


def _ports(spec: ConfigPort, leaf: Leaf | None, port_leaf: Leaf | None) -> list[Port] | str:
    """The ports a value names in the spec's form, falling back on the spec's port key or default."""
    if leaf is None:
        assert port_leaf is not None
        port = port_number(port_leaf.value)
        return port if isinstance(port, str) else ([Port(None, port)] if port else [])
    value = leaf.value.strip()
    if spec.form == "urls":
        found = url_ports(value)
        return found if isinstance(found, str) else list(found or ())
    if spec.form == "port":
        port = port_number(value)
        return port if isinstance(port, str) else ([Port(None, port)] if port else [])
    fallback = _fallback_port(spec, port_leaf)
    if spec.form == "at":  # unbound's address@port
        host, at, port_text = value.partition("@")
        if not at:
            return [Port(host, fallback)] if fallback else []
        port = port_number(port_text)
        return port if isinstance(port, str) else ([Port(host, port)] if port else [])
    if spec.form == "first-word":  # squid's http_port [host:]port options
        value = value.split()[0] if value.split() else value
    parsed = address_port(value)
    if parsed is None and fallback:
        return [Port(value or None, fallback)]
    return parsed if parsed is not None else []


def _fallback_port(spec: ConfigPort, port_leaf: Leaf | None) -> int:
    if port_leaf is not None:
        port = port_number(port_leaf.value)
        if isinstance(port, int):
            return port
    return spec.port_default or 0


def _hosts(spec: ConfigPort, address_leaf: Leaf | None) -> list[str | None]:
    if address_leaf is None:
        if spec.address_default is None:
            return [None]
        return [spec.address_default] if spec.address_default else []
    parts = [p.strip() for p in re.split(r"[,\s]+", address_leaf.value) if p.strip()]
    return [None if p in ("*", "0.0.0.0") else p for p in parts[:MAX_LIST]] or [None]


def _listeners(
    app: App, spec: ConfigPort, found: Port, host: str | None, leaf: Leaf, where: Location, source: Source
) -> Iterator[Listener]:
    why = f"port {found.port}: {leaf.path} in {app.name}'s config file"
    for protocol in spec.protocols:
        yield Listener(
            service=app.name,
            protocol=protocol,
            ports=PortRange.single(found.port),
            address=bind_address(host),
            location=where,
            run_as=RunAs(),
            bound_by="root-master" if app.root_master else "process",  # as root only (apps.join)
            evidence=(Evidence(where, f"{leaf.path}: {shown(leaf.value)}: {app.name} listens here"),),
            port_origin=why,
            program=app.name,
        )
