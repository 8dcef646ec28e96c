"""One compose document: its services, each placed in its network namespace with its listeners."""

from __future__ import annotations

from collections.abc import Iterator

from portpolicy.model import (
    BindAddress,
    Evidence,
    Fact,
    InvalidPort,
    Listener,
    NetnsDecl,
    ParseError,
    PortRange,
    PortSet,
    Unresolved,
)
from portpolicy.readers.base import Source, shown
from portpolicy.readers.compose import mounts, starts, users
from portpolicy.readers.compose.mounts import Configs, read_configs
from portpolicy.readers.compose.namespaces import (
    NetMode,
    internal_networks,
    internal_only,
    net_mode,
    netns_of,
    sysctls,
)
from portpolicy.readers.compose.ports import PortMapping, base60, container_side, expose_entry, port_entry
from portpolicy.readers.compose.services import Services
from portpolicy.readers.compose.shape import is_legacy, looks_like_fragment
from portpolicy.readers.dotenv import Env
from portpolicy.yamlnodes import MappingNode, Node, SequenceNode, is_null, items


class Document(Services):
    """Reads one compose document; holds what the services need to know about each other."""

    def __init__(self, source: Source, placeholders: dict[str, str], env: Env | None = None) -> None:
        super().__init__(source, placeholders, env)
        self.modes: dict[str, NetMode] = {}
        self.container_names: dict[str, str] = {}
        self.configs: Configs = {}
        self.internal: frozenset[str] = frozenset()

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
                read_configs(self, value, self.configs)
            elif key == "networks":
                self.internal = internal_networks(self, value)
        if services is None and ((by_name and is_legacy(doc)) or looks_like_fragment(doc)):
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
            self.modes[name] = net_mode(self, svc, legacy, self.container_names)
        for name, (key_node, svc) in self.services.items():
            yield from self.service(name, key_node, svc)

    def service(self, name: str, key_node: Node, svc: MappingNode) -> Iterator[Fact]:
        """One service's namespace, kernel settings and listeners, as its network mode places them."""
        mode = self.modes[name]
        netns = netns_of(self.modes, name)
        if mode.kind in ("own", "none"):
            yield NetnsDecl(f"container:{name}", "container", self.loc(key_node))
            yield from sysctls(self, name, svc)
        if mode.kind == "unknown":
            assert mode.location is not None
            yield Unresolved(mode.value, "network_mode holds a variable without a default", mode.location)
        run_as = users.run_as(self, svc)
        image_value = self.value(self.attr(svc, "image"))
        image = image_value.text.strip() if image_value is not None and image_value.known else ""
        link = mounts.link(
            self, self.configs, name, key_node, svc, netns if mode.kind != "unknown" else None, run_as
        )
        if link.dockerfile or link.mounts or link.image:  # an image may be one a build call builds
            yield link
        built = mounts.build_call(self, svc, link)
        if built is not None:
            yield built
        mappings: list[PortMapping] = []
        exposed: list[PortMapping] = []
        for key in ("ports", "expose"):
            node = self.attr(svc, key)
            if not is_null(node) and not isinstance(node, SequenceNode):
                assert node is not None
                yield ParseError(f"service {shown(name)!r}: '{key}' must be a list", self.loc(node))
        for node in self.attr_list(svc, "ports"):
            yield from port_entry(self, node, mappings)
        for node in self.attr_list(svc, "expose"):
            yield from expose_entry(self, node, exposed)
        for key in ("ports", "expose"):  # PP020: read otherwise by YAML 1.1 loaders
            for node in self.attr_list(svc, key):
                note = base60(self, node, f"services.{name}.{key}")
                if note is not None:
                    yield note
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
        internal = internal_only(self, svc, mode, self.internal)
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
                        refuses_repeat=True,  # Docker: "port is already allocated"
                        forwards_to=m.container,
                        image=image,
                        internal_only=internal,
                    )
            yield from container_side(name, m, run_as, netns, "ports", covered, evidence, image)
        for m in exposed:
            yield from container_side(name, m, run_as, netns, "expose", covered, evidence, image)
        yield from starts.service_listeners(self, name, svc, run_as, netns, covered, evidence, image)
