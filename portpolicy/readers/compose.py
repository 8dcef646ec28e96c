"""Docker Compose files: published ports, container ports, users, capabilities, sysctls.

Each service with its own network namespace is declared as ``container:<service>``. A
published port gives two listeners: the host side, bound by the container runtime in the
host namespace, and the container side, bound by the service's process in the container's
namespace. Port strings follow the Compose specification and ``docker/go-connections``
``nat.ParsePortSpec`` (the parser Compose uses); values are interpolated the way Compose
does it (``portpolicy.readers.dotenv``), with defaults taken and unknown variables reported as
``Unresolved``.

A service fragment (a mapping of service names to service bodies with ``image``/``build``,
no ``services:``; a tool merges it into the real compose file) is read as the services of a
project of its own. A file that uses variables is read at once without a ``.env``; ``join``
then reads it again with the ``.env`` of its folder (the project directory), if there is one.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from portpolicy.model import (
    BindAddress,
    ContainerLink,
    Evidence,
    Fact,
    InvalidPort,
    KernelSetting,
    Listener,
    Location,
    Mount,
    NetnsDecl,
    ParseError,
    PortRange,
    PortSet,
    RunAs,
    Unresolved,
)
from portpolicy.readers.base import (
    MAX_DIGITS,
    Format,
    Source,
    cut_values,
    mask_inline_jinja,
    parse_port_range,
    shown,
)
from portpolicy.readers.dotenv import UNKNOWN, Env, EnvFile, interpolate, references
from portpolicy.readers.lexing import replace_templates
from portpolicy.signatures import compose as signature
from portpolicy.yamlnodes import (
    MappingNode,
    Node,
    ScalarNode,
    SequenceNode,
    YamlError,
    compose_documents,
    is_null,
    items,
    location,
    scalar,
    seq,
)

NAME = "compose"

FORMAT = Format(
    "a Compose file",
    "top-level Compose key",
    re.compile(
        r"[\"']?(?:services|version|name|networks|volumes|configs|secrets|include|x-[\w.-]*)[\"']?[ \t]*:"
    ),
    comments=("#", "---", "%"),
)

TOP_LEVEL_KEYS = frozenset(
    {"version", "name", "services", "networks", "volumes", "configs", "secrets", "include", "models"}
)

# Service attributes of the Compose specification that identify a service: enough to tell
# a compose file from another YAML file that happens to have a ``services`` mapping.
_SERVICE_MARKERS = frozenset(
    {
        "image",
        "build",
        "ports",
        "expose",
        "network_mode",
        "user",
        "command",
        "entrypoint",
        "environment",
        "env_file",
        "volumes",
        "depends_on",
        "restart",
        "container_name",
        "networks",
        "healthcheck",
        "cap_add",
        "cap_drop",
        "sysctls",
        "extends",
        "deploy",
        "labels",
        "logging",
        "profiles",
        "working_dir",
        "privileged",
        "security_opt",
        "hostname",
        "links",
        "tmpfs",
    }
)

SERVICE_KEYS = frozenset(
    """annotations attach blkio_config build cap_add cap_drop cgroup cgroup_parent command configs
    container_name cpu_count cpu_percent cpu_period cpu_quota cpu_rt_period cpu_rt_runtime
    cpu_shares cpus cpuset credential_spec depends_on deploy develop device_cgroup_rules devices
    dns dns_opt dns_search domainname driver_opts entrypoint env_file environment expose extends
    external_links extra_hosts gpus group_add healthcheck hostname image init ipc isolation
    label_file labels links logging mac_address mem_limit mem_reservation mem_swappiness
    memswap_limit models network_mode networks oom_kill_disable oom_score_adj pid pids_limit
    platform ports post_start pre_stop privileged profiles provider pull_policy read_only restart
    runtime scale secrets security_opt shm_size stdin_open stop_grace_period stop_signal
    storage_opt sysctls tmpfs tty ulimits use_api_socket user userns_mode uts volumes
    volumes_from working_dir
    net dockerfile log_driver log_opt volume_driver""".split()  # noqa: SIM905 - a word list reads best as words
)
"""Every service attribute of the Compose specification, and those of version 1 files (``net``...).

A service fragment may hold no other key: that is what tells it from other YAML.
"""

KERNEL_KEYS = frozenset(
    {
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.ip_unprivileged_port_start",
    }
)

_PROTOCOLS = ("tcp", "udp", "sctp")
# Stands in for the part of a value that is not known statically (a variable, a template).
_UNKNOWN = UNKNOWN
_PLACEHOLDER = re.compile(r"\$J([0-9]+)_*")
_PLACEHOLDER_DIGITS = 9
"""More digits than the number of any placeholder (one per template in an 8 MiB file)."""
_HEX_OR_OCTAL = re.compile(r"0[xX][0-9a-fA-F]+|0o[0-7]+")
_NO_NEW_PRIVS = re.compile(r"no-new-privileges(?:[:=](\w+))?")


def matches(path: str) -> bool:
    """Compose's default file names (and their ``.j2`` templates) are compose files by name."""
    return signature.named(path)


def sniff(text: str) -> bool:
    """Cheap text test before any YAML is composed: ``services``, or a service fragment's shape."""
    return signature.looks(text)


def claims(docs: list[Node]) -> bool:
    """True when a YAML file of any name has the shape of a compose file or a service fragment.

    A compose file: the top level holds only compose's top-level keys (and ``x-``
    extensions), and ``services`` maps names to service mappings with at least one service
    attribute. A fragment: see ``_looks_like_fragment``. Ansible playbooks (a list),
    Kubernetes manifests (``apiVersion``/``kind``), GitHub workflows (``jobs.*.services``),
    Helm values (``image: {repository, tag}`` beside ``replicaCount``) fail both tests.
    """
    return any(_looks_like_compose(doc) or _looks_like_fragment(doc) for doc in docs)


def _looks_like_compose(doc: Node) -> bool:
    """One document's shape test for ``claims``."""
    if not isinstance(doc, MappingNode):
        return False
    services: Node | None = None
    for key, _, value in items(doc):
        if key == "services":
            services = value
        elif key not in TOP_LEVEL_KEYS and not key.startswith("x-"):
            return False
    if not isinstance(services, MappingNode):
        return False
    marked = False
    for _, _, svc in items(services):
        if is_null(svc):
            continue
        if not isinstance(svc, MappingNode):
            return False
        keys = {key for key, _, _ in items(svc)}
        if keys & _SERVICE_MARKERS:
            marked = True
    return marked


def _looks_like_fragment(doc: Node) -> bool:
    """Service names mapping to service bodies, with no ``services:`` (a file merged into a compose file).

    Every top-level key but ``x-`` extensions is a service: a mapping whose keys are all
    Compose service attributes, with ``image: <name>`` (a string, as Compose requires),
    ``build`` or ``extends``. That is specific: a vars file or Helm values has keys no
    service has (``repository``, ``replicaCount``) or values that are not such mappings.
    """
    if not isinstance(doc, MappingNode):
        return False
    found = False
    for key, _, body in items(doc):
        if key.startswith("x-"):
            continue
        if key in TOP_LEVEL_KEYS or not _is_service_body(body):
            return False
        found = True
    return found


def _is_service_body(body: Node) -> bool:
    """A mapping of Compose service attributes that says what it runs (``image``, ``build``, ``extends``)."""
    if not isinstance(body, MappingNode):
        return False
    runs = False
    for key, _, value in items(body):
        if key.startswith("x-"):
            continue
        if key not in SERVICE_KEYS:
            return False
        if key == "image":
            runs = runs or (isinstance(value, ScalarNode) and not is_null(value))
        elif key in ("build", "extends"):
            runs = runs or not is_null(value)
    return runs


def read(source: Source) -> Iterator[Fact | Pending]:
    """Compose a compose file (a ``.j2`` template with its Jinja masked) and read it."""
    text = source.masked
    placeholders: dict[str, str] = {}
    if source.template:
        text, placeholders = mask_inline_jinja(text, "$J")
    try:
        docs = compose_documents(text)
    except YamlError as exc:
        yield ParseError(f"invalid YAML: {exc}", source.at(exc.line, exc.column))
        return
    yield from _with_pending(source, docs, placeholders, by_name=True)


def read_yaml(source: Source, docs: list[Node]) -> Iterator[Fact | Pending]:
    """Read already composed documents of a file that ``claims`` accepted."""
    yield from _with_pending(source, docs, {}, by_name=False)


def _with_pending(
    source: Source, docs: list[Node], placeholders: dict[str, str], by_name: bool
) -> Iterator[Fact | Pending]:
    """The facts read without a ``.env``; then, if the file uses variables, what ``join`` needs."""
    facts = list(_read_guarded(source, docs, placeholders, by_name))
    yield from facts
    names = references(source.text)
    if names and not source.template:
        yield Pending(source, docs, placeholders, by_name, names, len(facts))


def _read_guarded(
    source: Source, docs: list[Node], placeholders: dict[str, str], by_name: bool, env: Env | None = None
) -> Iterator[Fact]:
    """A reader never raises: an unexpected failure becomes a ParseError, not a crash of the run."""
    try:
        for doc in docs:
            yield from _Reader(source, placeholders, env).document(doc, by_name)
    except Exception as exc:  # pragma: no cover - a safety net for bugs, not for bad input
        yield ParseError(f"compose reader failed ({type(exc).__name__}); please report it", source.at(1))


# -- the project's .env -------------------------------------------------------------------------


class Pending:
    """A compose file that uses variables, kept (with its documents) until its folder's ``.env`` is known.

    Not a dataclass, so nothing that walks facts (``handoff.remap``) walks its documents.
    """

    kind = "compose_pending"

    def __init__(
        self,
        source: Source,
        docs: list[Node],
        placeholders: dict[str, str],
        by_name: bool,
        names: frozenset[str],
        count: int,
    ) -> None:
        self.source = source
        self.docs = docs
        self.placeholders = placeholders
        self.by_name = by_name
        self.names = names
        """The variables the file may use."""
        self.count = count
        """How many facts the reader gave before this record (those ``join`` replaces)."""
        self.location = source.at(1)


Entry = tuple[str, str, list[Any]]
"""(path, reader name, what the reader gave) for one read file, as the pipeline holds it."""


def join(entries: Sequence[Entry]) -> list[Entry]:
    """Every compose file that uses a variable its folder's ``.env`` sets, read again with that file.

    The folder of the compose file is its project directory, where Compose looks for
    ``.env``; only a ``.env`` the scan read is used (it lies inside the scanned roots and
    went through the same safe read). Runs once over all read files, before they are
    grouped into hosts, so a file that is its own project (a fragment, ``prod.yml``) gets
    the ``.env`` beside it as a default-named project file does.
    """
    envs: dict[str, EnvFile] = {}
    for path, _, facts in entries:
        for fact in facts:
            if isinstance(fact, EnvFile):
                envs[posixpath.dirname(path)] = fact
    out: list[Entry] = []
    for path, name, facts in entries:
        if name == NAME:
            env_file = envs.get(posixpath.dirname(path))
            facts = _with_env(path, facts, env_file.env if env_file is not None else None)
        out.append((path, name, facts))
    return out


def _with_env(path: str, facts: list[Any], env: Env | None) -> list[Any]:
    """A compose file's facts, read again with ``env`` when it sets a variable the file uses."""
    at = next((i for i, f in enumerate(facts) if isinstance(f, Pending)), None)
    refused = [_refused(path, env)] if env is not None and env.broken else []
    if at is None:
        return facts + refused
    pending: Pending = facts[at]
    if env is None or env.broken or not pending.names & env.names:
        return facts[:at] + facts[at + 1 :] + refused
    start = at - pending.count
    fresh = _read_guarded(pending.source, pending.docs, pending.placeholders, pending.by_name, env)
    return facts[:start] + cut_values(list(fresh)) + facts[at + 1 :]


def _refused(path: str, env: Env) -> ParseError:
    """Compose refuses a project whose ``.env`` it cannot read: said on the compose file, so no line of
    the ``.env`` (which holds secrets) is ever shown under a finding."""
    why = f"Compose cannot read {env.path} ({env.broken}), so it refuses to start this project"
    return ParseError(why, Location(path, 1))


def assemble(facts: Sequence[Any]) -> list[Any]:
    """What ``join`` did not use (a compose text read outside the pipeline's files) is dropped."""
    return [f for f in facts if not isinstance(f, Pending)]


@dataclass
class _Value:
    """A scalar after interpolation: ``text`` holds ``_UNKNOWN`` where a part is not known."""

    raw: str
    text: str
    problem: str | None
    location: Location

    @property
    def known(self) -> bool:
        return _UNKNOWN not in self.text and self.problem is None


@dataclass
class _NetMode:
    """How a service is networked: ``own`` (bridge or named networks), ``host``, ``none``,
    ``join`` (``service:x`` / ``container:x``) or ``unknown`` (a variable)."""

    kind: str
    target: str = ""
    value: str = ""
    location: Location | None = None


@dataclass
class _Mapping:
    """One parsed ``ports`` entry: the host side (None when automatic) and the container side."""

    container: PortRange
    protocol: str
    container_location: Location
    host: PortRange | None = None
    address: BindAddress = field(default_factory=BindAddress)
    host_location: Location | None = None


class _Reader:
    """Reads one compose document; holds what the services need to know about each other."""

    def __init__(self, source: Source, placeholders: dict[str, str], env: Env | None = None) -> None:
        self.source = source
        self.placeholders = placeholders
        self.env = env
        self.services: dict[str, tuple[Node, MappingNode]] = {}
        self.modes: dict[str, _NetMode] = {}
        self.container_names: dict[str, str] = {}
        self.configs: dict[str, tuple[str, Location]] = {}
        self._by_number: dict[str, str] | None = None

    # -- values -----------------------------------------------------------------------

    def loc(self, node: Node) -> Location:
        """Where a node starts in this file (merged and aliased nodes keep their own place)."""
        return location(self.source.path, node)

    def restore(self, text: str) -> str:
        """The text as written in the template (masked Jinja put back)."""
        if not self.placeholders or "$J" not in text:
            return text
        if self._by_number is None:
            self._by_number = {ph[2:].rstrip("_"): ph for ph in self.placeholders}
        return _PLACEHOLDER.sub(self._put_back, text)

    def _put_back(self, m: re.Match[str]) -> str:
        """The template behind ``$J<n>___``: the longest placeholder the match starts with.

        Looked up by number, not by a regex alternation of every placeholder, which costs
        time proportional to their number at each ``$J``.
        """
        found, digits = m.group(0), m.group(1)
        assert self._by_number is not None
        for end in range(min(len(digits), _PLACEHOLDER_DIGITS), 0, -1):
            ph = self._by_number.get(digits[:end])
            if ph is not None and found.startswith(ph):
                return self.placeholders[ph] + found[len(ph) :]
        return found

    def value(self, node: Node | None) -> _Value | None:
        """Interpolate a scalar as Compose does; None for anything but a scalar."""
        text = scalar(node)
        if text is None or node is None:
            return None
        if isinstance(node, ScalarNode) and not node.style and _HEX_OR_OCTAL.fullmatch(text):
            # YAML 1.2 (Compose's parser) reads 0x50 / 0o120 as integers.
            return _Value(text, _yaml_integer(text), None, self.loc(node))
        return self.text_value(text, self.loc(node))

    def text_value(self, text: str, loc: Location) -> _Value:
        """Interpolate text as found in the (masked) file, keeping the text as written."""
        raw = self.restore(text)
        resolved, problem = _interpolate(text, self.env)
        if _UNKNOWN in resolved and problem is None:
            problem = "holds a variable without a default"
        if raw != text and ("{{" in raw or "{%" in raw):
            problem = "is a Jinja template"
        elif "{{" in resolved or "{%" in resolved:
            resolved = replace_templates(resolved, lambda _: _UNKNOWN)
            problem = "is a Jinja template"
        return _Value(raw, resolved, problem, loc)

    def unresolved(self, val: _Value, what: str) -> Unresolved:
        """The fact for a value only known at deploy time: no verdict is drawn from it."""
        return Unresolved(val.raw, f"{what} {val.problem or 'is not known statically'}", val.location)

    # -- document and services -------------------------------------------------------

    def document(self, doc: Node, by_name: bool) -> Iterator[Fact]:
        """All services of a document; network modes first, as services refer to each other."""
        if is_null(doc):
            return
        if not isinstance(doc, MappingNode):
            yield ParseError("a compose file must be a mapping at the top level", self.loc(doc))
            return
        services: Node | None = None
        legacy = False
        for key, _, value in items(doc):
            if key == "services":
                services = value
            elif key == "configs":
                self.read_configs(value)
        if services is None and ((by_name and _is_legacy(doc)) or _looks_like_fragment(doc)):
            services, legacy = doc, True
        if services is None or is_null(services):
            return
        if not isinstance(services, MappingNode):
            yield ParseError("'services' must be a mapping of service names", self.loc(services))
            return
        for key, key_node, svc in items(services):
            if is_null(svc):
                continue
            if not isinstance(svc, MappingNode):
                yield ParseError(f"service {shown(key)!r} must be a mapping", self.loc(svc))
                continue
            self.services[self.restore(key)] = (key_node, svc)
        for name, (_, svc) in self.services.items():
            cname = self.value(self.attr(svc, "container_name"))
            if cname is not None and cname.known:
                self.container_names[cname.text] = name
        for name, (_, svc) in self.services.items():
            self.modes[name] = self.net_mode(svc, legacy)
        for name, (key_node, svc) in self.services.items():
            yield from self.service(name, key_node, svc)

    def attr(self, svc: MappingNode, key: str, seen: frozenset[str] = frozenset()) -> Node | None:
        """A service attribute, inherited through same-file ``extends`` when not set here."""
        for k, _, v in items(svc):
            if k == key:
                return v
        base = self.extends(svc, seen)
        return self.attr(base[1], key, seen | {base[0]}) if base else None

    def attr_list(self, svc: MappingNode, key: str, seen: frozenset[str] = frozenset()) -> list[Node]:
        """A list attribute with same-file ``extends`` applied (Compose appends the lists)."""
        base = self.extends(svc, seen)
        inherited = self.attr_list(base[1], key, seen | {base[0]}) if base else []
        own = [v for k, _, v in items(svc) if k == key]
        return inherited + (seq(own[0]) if own else [])

    def attr_key(self, svc: MappingNode, key: str, seen: frozenset[str] = frozenset()) -> Node | None:
        """The key node of an attribute (inherited through ``extends``), to point at its line."""
        for k, key_node, _ in items(svc):
            if k == key:
                return key_node
        base = self.extends(svc, seen)
        return self.attr_key(base[1], key, seen | {base[0]}) if base else None

    def extends(self, svc: MappingNode, seen: frozenset[str]) -> tuple[str, MappingNode] | None:
        """The base service of ``extends: name`` / ``extends: {service: name}`` in this file.

        ``extends`` with ``file:`` names another file this reader does not see.
        """
        node: Node | None = None
        for k, _, v in items(svc):
            if k == "extends":
                node = v
        if node is None:
            return None
        name = scalar(node)
        if isinstance(node, MappingNode):
            fields = {k: v for k, _, v in items(node)}
            if "file" in fields:
                return None
            name = scalar(fields.get("service"))
        if name is None or name in seen or name not in self.services:
            return None
        return name, self.services[name][1]

    def net_mode(self, svc: MappingNode, legacy: bool) -> _NetMode:
        """The service's ``network_mode`` (``net`` in version 1 files); none set is a bridge."""
        node = self.attr(svc, "network_mode")
        if node is None and legacy:
            node = self.attr(svc, "net")
        val = self.value(node)
        if val is None:
            return _NetMode("own")
        if not val.known:
            return _NetMode("unknown", value=val.raw, location=val.location)
        mode = val.text.strip()
        if mode in ("host", "none"):
            return _NetMode(mode, value=mode, location=val.location)
        for prefix in ("service:", "container:"):
            if mode.startswith(prefix):
                target = mode[len(prefix) :]
                if prefix == "container:" and target in self.container_names:
                    target = self.container_names[target]
                return _NetMode("join", target, mode, val.location)
        return _NetMode("own", value=mode, location=val.location)

    def netns_of(self, name: str, seen: frozenset[str] = frozenset()) -> str | None:
        """The namespace a service's processes listen in; None when it is not known."""
        mode = self.modes.get(name)
        if mode is None or mode.kind in ("own", "none"):
            return f"container:{name}"
        if mode.kind == "host":
            return "host"
        if mode.kind == "join":
            if mode.target in self.modes and mode.target not in seen:
                return self.netns_of(mode.target, seen | {name})
            return f"container:{mode.target}"
        return None

    def service(self, name: str, key_node: Node, svc: MappingNode) -> Iterator[Fact]:
        """One service's namespace, kernel settings and listeners, as its network mode places them."""
        mode = self.modes[name]
        netns = self.netns_of(name)
        if mode.kind in ("own", "none"):
            yield NetnsDecl(f"container:{name}", "container", self.loc(key_node))
            yield from self.sysctls(name, svc)
        if mode.kind == "unknown":
            assert mode.location is not None
            yield Unresolved(mode.value, "network_mode holds a variable without a default", mode.location)
        run_as = self.run_as(svc)
        link = self.link(name, key_node, svc, netns if mode.kind != "unknown" else None, run_as)
        if link.dockerfile or link.mounts:
            yield link
        mappings: list[_Mapping] = []
        exposed: list[_Mapping] = []
        for key in ("ports", "expose"):
            node = self.attr(svc, key)
            if not is_null(node) and not isinstance(node, SequenceNode):
                assert node is not None
                yield ParseError(f"service {shown(name)!r}: '{key}' must be a list", self.loc(node))
        for node in self.attr_list(svc, "ports"):
            yield from self.port_entry(node, mappings)
        for node in self.attr_list(svc, "expose"):
            yield from self.expose_entry(node, exposed)
        if mode.kind == "join" and mappings:
            # moby's runconfig: "conflicting options: port publishing and the container type
            # network mode": the container is never created (``expose`` is left alone: whether
            # Compose passes it on as the daemon's explicit exposed ports is not established)
            for m in mappings:
                yield InvalidPort(
                    str(m.container),
                    f"service {shown(name)!r}: Docker refuses 'ports' with network_mode: {shown(mode.value)} (conflicting "
                    "options: port publishing and the container type network mode); publish the port on "
                    "the service that owns the namespace",
                    m.container_location,
                    "ports",
                )
            return
        if mode.kind in ("none", "unknown") or netns is None:
            return
        evidence: tuple[Evidence, ...] = ()
        if mode.kind == "host" and mode.location is not None:
            why = "network_mode: host: the process binds in the host's namespace"
            evidence = (Evidence(mode.location, why),)
        elif mode.kind == "join" and mode.location is not None:
            why = f"network_mode: {shown(mode.value)}: the process binds in the namespace {netns}"
            evidence = (Evidence(mode.location, why),)
        covered: dict[str, PortSet] = {}
        published: set[tuple[str, PortRange, BindAddress, PortRange]] = set()
        for m in mappings:
            if mode.kind == "own" and m.host is not None and m.host_location is not None:
                binding = (m.protocol, m.host, m.address, m.container)
                if binding not in published:
                    published.add(binding)
                    yield Listener(
                        service=name,
                        protocol=m.protocol,
                        ports=m.host,
                        address=m.address,
                        location=m.host_location,
                        bound_by="runtime",
                        netns="host",
                        source=f"services.{name}.ports",
                    )
            yield from self.container_side(name, m, run_as, netns, "ports", covered, evidence)
        for m in exposed:
            yield from self.container_side(name, m, run_as, netns, "expose", covered, evidence)

    def container_side(
        self,
        name: str,
        m: _Mapping,
        run_as: RunAs,
        netns: str,
        key: str,
        covered: dict[str, PortSet],
        evidence: tuple[Evidence, ...],
    ) -> Iterator[Listener]:
        """The container's own socket; a port the service already declared is one socket, not two."""
        have = covered.get(m.protocol, PortSet())
        for piece in PortSet.of([m.container]).minus(have):
            yield Listener(
                service=name,
                protocol=m.protocol,
                ports=piece,
                address=BindAddress.wildcard(),
                location=m.container_location,
                run_as=run_as,
                bound_by="process",
                netns=netns,
                source=f"services.{name}.{key}",
                evidence=evidence,
            )
        covered[m.protocol] = have.union(m.container)

    # -- ports -------------------------------------------------------------------------

    def port_entry(self, node: Node, out: list[_Mapping]) -> Iterator[Fact]:
        """A ``ports`` entry in short (string or number) or long (mapping) syntax."""
        if isinstance(node, MappingNode):
            yield from self.long_port(node, out)
            return
        val = None if is_null(node) else self.value(node)
        if val is None:
            why = "ports: an entry must be a port string, a number or a mapping"
            yield InvalidPort("", why, self.loc(node))
            return
        yield from self.short_port(val, out)

    def short_port(self, val: _Value, out: list[_Mapping]) -> Iterator[Fact]:
        """``[IP:][HOST:]CONTAINER[/PROTO]`` as ``nat.ParsePortSpec`` splits it."""
        raw, loc = val.raw, val.location
        ip, host, container = _split_parts(val.text.strip())
        container, _, proto = container.partition("/")
        if _UNKNOWN in container or _UNKNOWN in proto:
            yield self.unresolved(val, "port mapping: the container port")
            return
        protocol = _protocol(proto)
        if protocol is None:
            why = f"port mapping {shown(raw)!r}: unknown protocol {shown(proto)!r} (tcp, udp or sctp)"
            yield InvalidPort(raw, why, loc)
            return
        if not container:
            yield InvalidPort(raw, f"port mapping {shown(raw)!r}: no container port", loc)
            return
        crange = parse_port_range(
            container, loc, f"port mapping {shown(raw)!r}: container port", allow_zero=True
        )
        if not isinstance(crange, PortRange):
            if crange is not None:
                yield _with_value(crange, raw)
            return
        mapping = _Mapping(crange, protocol, loc)
        if _UNKNOWN in ip or _UNKNOWN in host:
            yield self.unresolved(val, "port mapping: the host side")
            out.append(mapping)
            return
        address = _address(ip)
        if address is None:
            yield InvalidPort(raw, f"port mapping {shown(raw)!r}: {shown(ip)!r} is no IP address", loc)
            return
        host_fact = _host_range(host, crange, loc, f"port mapping {shown(raw)!r}")
        if isinstance(host_fact, (InvalidPort, Unresolved)):
            if not ip and _address(host) is not None:
                why = f"{host_fact.reason} (an IP needs IP:HOST:CONTAINER, e.g. '{shown(host)}::{shown(container)}')"
                host_fact = InvalidPort(raw, why, loc, f"port mapping {shown(raw)!r}: host port")
            yield _with_value(host_fact, raw)
            return
        mapping.address, mapping.host, mapping.host_location = address, host_fact, loc
        out.append(mapping)

    def long_port(self, node: MappingNode, out: list[_Mapping]) -> Iterator[Fact]:
        """``target`` / ``published`` / ``host_ip`` / ``protocol`` (``mode``, ``name`` do not matter)."""
        fields = {k: v for k, _, v in items(node)}
        target = self.value(fields.get("target"))
        if target is None:
            yield InvalidPort("", "long-syntax port without a 'target' container port", self.loc(node))
            return
        if not target.known:
            yield self.unresolved(target, "port target")
            return
        ctx = f"port target {shown(target.raw)!r}"
        if "-" in target.text.strip()[1:]:
            why = f"{ctx}: the target must be one port, not a range"
            yield InvalidPort(target.raw, why, target.location, ctx)
            return
        crange = parse_port_range(target.text, target.location, ctx, allow_zero=True)
        if not isinstance(crange, PortRange):
            if crange is not None:
                yield _with_value(crange, target.raw)
            return
        proto_val = self.value(fields.get("protocol"))
        if proto_val is not None and not proto_val.known:
            yield self.unresolved(proto_val, "port protocol")
            return
        proto = proto_val.text if proto_val is not None else ""
        protocol = _protocol(proto)
        if protocol is None:
            assert proto_val is not None
            why = f"port protocol {shown(proto)!r} is not tcp, udp or sctp"
            yield InvalidPort(proto_val.raw, why, proto_val.location)
            return
        mapping = _Mapping(crange, protocol, target.location)
        out.append(mapping)
        ip_val = self.value(fields.get("host_ip"))
        published = self.value(fields.get("published"))
        if published is None:
            return
        for part in (ip_val, published):
            if part is not None and not part.known:
                yield self.unresolved(part, "published port" if part is published else "port host_ip")
                return
        address = _address(ip_val.text.strip() if ip_val is not None else "")
        if address is None:
            assert ip_val is not None
            out.pop()
            yield InvalidPort(
                ip_val.raw, f"port host_ip {shown(ip_val.raw)!r} is no IP address", ip_val.location
            )
            return
        ctx = f"published port {shown(published.raw)!r}"
        host = _host_range(published.text.strip(), crange, published.location, ctx)
        if isinstance(host, (InvalidPort, Unresolved)):
            out.pop()
            yield _with_value(host, published.raw)
            return
        mapping.address, mapping.host, mapping.host_location = address, host, published.location

    def expose_entry(self, node: Node, out: list[_Mapping]) -> Iterator[Fact]:
        """``PORT[-END][/PROTO]``: a container port, never published."""
        val = None if is_null(node) else self.value(node)
        if val is None:
            yield InvalidPort("", "expose: an entry must be a port string or number", self.loc(node))
            return
        if not val.known:
            yield self.unresolved(val, "exposed port")
            return
        port, _, proto = val.text.strip().partition("/")
        protocol = _protocol(proto)
        ctx = f"exposed port {shown(val.raw)!r}"
        if protocol is None:
            why = f"{ctx}: unknown protocol {shown(proto)!r} (tcp, udp or sctp)"
            yield InvalidPort(val.raw, why, val.location, ctx)
            return
        prange = parse_port_range(port, val.location, ctx, allow_zero=True)
        if isinstance(prange, PortRange):
            out.append(_Mapping(prange, protocol, val.location))
        elif prange is not None:
            yield _with_value(prange, val.raw)

    # -- ties to other files (read by correlate) -----------------------------------------

    def link(
        self, name: str, key_node: Node, svc: MappingNode, netns: str | None, run_as: RunAs
    ) -> ContainerLink:
        """The image the service builds and the files it bind-mounts, for ``correlate``."""
        base = posixpath.dirname(self.source.path)
        dockerfile = context = target = None
        build = self.attr(svc, "build")
        fields = {k: v for k, _, v in items(build)} if isinstance(build, MappingNode) else {}
        ctx = self.value(fields.get("context") if fields else build)
        ctx_text = ctx.text.strip() if ctx is not None and ctx.known else ("." if fields else None)
        if ctx_text is not None and "://" not in ctx_text and not ctx_text.startswith("git@"):
            file_val = self.value(fields.get("dockerfile"))
            file_text = (
                "Dockerfile" if file_val is None else file_val.text.strip() if file_val.known else None
            )
            if "dockerfile_inline" not in fields and file_text:
                context = _local(base, ctx_text)
                dockerfile = _local(context, file_text)
            tgt = self.value(fields.get("target"))
            target = tgt.text.strip() if tgt is not None and tgt.known else None
        mounts = [m for node in self.attr_list(svc, "volumes") if (m := self.mount(base, node)) is not None]
        for node in self.attr_list(svc, "configs"):
            mounts.extend(self.config_mount(base, node))
        return ContainerLink(
            service=name,
            netns=netns or "",
            location=self.loc(key_node),
            run_as=run_as,
            user_set=self.attr(svc, "user") is not None,
            dockerfile=dockerfile,
            build_context=context,
            target=target,
            mounts=tuple(mounts),
        )

    def mount(self, base: str, node: Node) -> Mount | None:
        """A bind mount of a relative path: ``./src:/dst[:ro]`` or ``{type: bind, source, target}``."""
        if isinstance(node, MappingNode):
            fields = {k: v for k, _, v in items(node)}
            kind = self.value(fields.get("type"))
            src, dst = self.value(fields.get("source")), self.value(fields.get("target"))
            if kind is None or kind.text.strip() != "bind" or src is None or dst is None:
                return None
        else:
            val = self.value(node)
            if val is None or not val.known:
                return None
            parts = val.text.split(":")
            if len(parts) < 2:
                return None
            src = _Value(parts[0], parts[0], None, val.location)
            dst = _Value(parts[1], parts[1], None, val.location)
        if not (src.known and dst.known) or not src.text.startswith("."):
            return None  # named volumes, absolute host paths and ~ are not in the scanned tree
        return Mount(_local(base, src.text.strip()), dst.text.strip(), src.location, "mounted")

    def read_configs(self, node: Node) -> None:
        """Top-level ``configs: {name: {file: ./path}}`` that services may mount."""
        for name, _, cfg in items(node):
            file_node = next((v for k, _, v in items(cfg) if k == "file"), None)
            val = self.value(file_node)
            if val is not None and val.known and val.text.strip().startswith("."):
                self.configs[name] = (val.text.strip(), val.location)

    def config_mount(self, base: str, node: Node) -> Iterator[Mount]:
        """``configs:`` entries whose top-level config is a ``file:`` in the tree."""
        if isinstance(node, MappingNode):
            fields = {k: v for k, _, v in items(node)}
            name, target = scalar(fields.get("source")), self.value(fields.get("target"))
            dst = target.text.strip() if target is not None and target.known else None
        else:
            name, dst = scalar(node), None
        source = self.configs.get(name or "")
        if source is not None:
            yield Mount(_local(base, source[0]), dst or f"/{name}", source[1], "config")

    # -- who runs it, kernel settings ------------------------------------------------------

    def run_as(self, svc: MappingNode) -> RunAs:
        """``user`` as written (None when absent or unknown: the image decides) and capabilities."""
        user: str | None = None
        user_loc: Location | None = None
        val = self.value(self.attr(svc, "user"))
        if val is not None:
            user_loc = val.location
            user = val.text.strip() if val.known and val.text.strip() else None
        added = self.capabilities(self.attr_list(svc, "cap_add"))
        dropped = self.capabilities(self.attr_list(svc, "cap_drop"))
        privileged = self.value(self.attr(svc, "privileged"))
        if privileged is not None and privileged.text.strip().lower() == "true":
            added |= {"ALL"}
        cap_key = next(
            (k for k in (self.attr_key(svc, key) for key in ("cap_add", "cap_drop", "privileged")) if k), None
        )
        no_new_privs = False
        for opt_node in self.attr_list(svc, "security_opt"):
            opt = self.value(opt_node)
            flag = _NO_NEW_PRIVS.fullmatch(opt.text.strip()) if opt is not None and opt.known else None
            if flag is not None:
                no_new_privs = flag.group(1) is None or flag.group(1).lower() == "true"
        return RunAs(
            user=user,
            location=user_loc,
            added=frozenset(added),
            dropped=frozenset(dropped),
            no_new_privileges=no_new_privs,
            capability_location=self.loc(cap_key) if cap_key else None,
        )

    def capabilities(self, nodes: Iterable[Node]) -> set[str]:
        """Names as the model keeps them: upper case, no ``CAP_`` (Docker accepts both)."""
        caps: set[str] = set()
        for node in nodes:
            val = self.value(node)
            if val is None or not val.known:
                continue
            cap = val.text.strip().upper()
            caps.add(cap[4:] if cap.startswith("CAP_") else cap)
        return caps

    def sysctls(self, name: str, svc: MappingNode) -> Iterator[Fact]:
        """The port sysctls of a container's own namespace, map or ``key=value`` list form."""
        node = self.attr(svc, "sysctls")
        entries: list[tuple[str, _Value | None, Location]] = []
        if isinstance(node, MappingNode):
            for key, key_node, value_node in items(node):
                val = None if is_null(value_node) else self.value(value_node)
                entries.append((key, val, self.loc(key_node)))
        else:
            for item in seq(node):
                text = scalar(item)
                if text is None or "=" not in text:
                    continue
                key, _, value = text.partition("=")
                entries.append((self.restore(key), self.text_value(value, self.loc(item)), self.loc(item)))
        for key, val, loc in entries:
            key = key.strip().replace("/", ".")
            if key not in KERNEL_KEYS:
                continue
            if val is not None and not val.known:
                yield self.unresolved(val, f"sysctl {key}")
                continue
            value = "" if val is None else val.text.strip()
            yield KernelSetting(key, value, loc, netns=f"container:{name}", order=(0, "", loc.line))


def _local(base: str, path: str) -> str:
    """A path relative to ``base`` as the working-directory-relative form ``Location`` uses."""
    return posixpath.normpath(posixpath.join(base, path))


def _is_legacy(doc: MappingNode) -> bool:
    """A version 1 file: services at the top level, no ``services`` key."""
    found = False
    for key, _, value in items(doc):
        if key in TOP_LEVEL_KEYS or key.startswith("x-"):
            return False
        if not isinstance(value, MappingNode):
            return False
        found = found or bool({k for k, _, _ in items(value)} & _SERVICE_MARKERS)
    return found


def _interpolate(text: str, env: Env | None = None) -> tuple[str, str | None]:
    """Compose's interpolation (``dotenv.interpolate``): the text, ``UNKNOWN`` where not known, and the first problem."""
    return interpolate(text, env)


def _split_parts(text: str) -> tuple[str, str, str]:
    """IP, host port and container port of a short-syntax mapping (``nat.splitParts``)."""
    parts = text.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return ":".join(parts[:-2]), parts[-2], parts[-1]


def _protocol(text: str) -> str | None:
    """The protocols Docker accepts (any case); None for anything else."""
    proto = text.strip().lower() or "tcp"
    return proto if proto in _PROTOCOLS else None


def _address(ip: str) -> BindAddress | None:
    """The host address a published port binds: none is every address, IPv4 and IPv6."""
    if not ip:
        return BindAddress.wildcard()
    if ip.startswith("["):
        if not ip.endswith("]"):
            return None
        ip = ip[1:-1]
    try:
        parsed = ipaddress.ip_address(ip)
    except ValueError:
        return None
    family = "ipv4" if parsed.version == 4 else "ipv6"
    if parsed.is_unspecified:
        return BindAddress.wildcard(family)
    return BindAddress(ip, family)


def _yaml_integer(text: str) -> str:
    """A YAML 1.2 hex or octal integer in decimal; too long to be any port, it stays as written."""
    return str(int(text, 0)) if len(text) <= MAX_DIGITS else text


def _host_range(
    text: str, container: PortRange, loc: Location, ctx: str
) -> PortRange | InvalidPort | Unresolved | None:
    """The fixed host ports of a mapping, or None when the runtime picks them.

    Empty or 0 is automatic; a host range for one container port means "any free port
    in this range", also a runtime choice. Ranges of different lengths are invalid.
    """
    if not text:
        return None
    host = parse_port_range(text, loc, f"{ctx}: host port", allow_zero=True)
    if not isinstance(host, PortRange):
        return host
    if host.size != container.size:
        if container.size == 1:
            return None
        return InvalidPort(
            text, f"{ctx}: host range {host} and container range {container} differ in length", loc, ctx
        )
    return host


def _with_value(fact: InvalidPort | Unresolved, value: str) -> InvalidPort | Unresolved:
    """The same fact naming the whole entry as written, which is what the user searches for."""
    if isinstance(fact, InvalidPort):
        return InvalidPort(value, fact.reason, fact.location, fact.context)
    return Unresolved(value, fact.reason, fact.location)
