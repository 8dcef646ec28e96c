"""Ansible variables: values taken from YAML nodes, and the precedence that picks one.

Covered, lowest to highest (Ansible's documented order, the part that sets ports):
role defaults < inventory ``all`` group vars < parent group vars < child group vars <
inventory host vars (host line, then ``host_vars/``) < play ``vars`` < play ``vars_files``
< role ``vars/`` < block ``vars`` < task ``vars`` < ``include_*``/``import_role`` params
< ``set_fact``. Inventory files next to the playbook (``group_vars/`` beside it) rank above
the inventory's own, as in Ansible. Not covered: extra vars (``-e``), registered results,
gathered facts (all unknown), ``vars_prompt``.

Values are templated lazily, like Ansible does: a string holding ``{{ }}`` is evaluated
when it is used, in the scope of the use.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from portpolicy.ansible import jinja
from portpolicy.ansible.jinja import Undefined, Unknown, UnknownValue
from portpolicy.model import Location
from portpolicy.yamlnodes import MappingNode, Node, ScalarNode, SequenceNode, items, location

_STANDARD_TAG = "tag:yaml.org,2002:"
FACT_PREFIXES = ("ansible_", "facter_", "ohai_")
MAGIC_UNKNOWN = {
    "inventory_hostname": "the inventory host name differs per host of the play",
    "inventory_hostname_short": "the inventory host name differs per host of the play",
    "hostvars": "hostvars of other hosts are not evaluated statically",
    "vars": "the host's whole set of variables is not evaluated statically (one of them is)",
    "groups": "inventory group membership is not evaluated statically",
    "group_names": "inventory group membership is not evaluated statically",
    "play_hosts": "the play's hosts are only known when it runs",
    "ansible_play_hosts": "the play's hosts are only known when it runs",
    "environment": "the environment is only known when the playbook runs",
}


@dataclass(frozen=True)
class Var:
    """One definition of a variable: its value, its node and where it is written."""

    name: str
    value: Any
    location: Location
    origin: str
    node: Node | None = None


def node_value(node: Node | None) -> Any:
    """The Python value of a node as Ansible's loader builds it; vaulted values are unknown."""
    if node is None:
        return None
    if isinstance(node, ScalarNode):
        tag = node.tag or ""
        if tag.endswith("vault"):
            return UnknownValue("the value is vault-encrypted")
        if tag == "!unsafe":
            text = str(node.value)
            if jinja.has_template(text):
                return UnknownValue("the value is marked !unsafe (never templated)")
            return text
        if not tag.startswith(_STANDARD_TAG):
            return UnknownValue(f"the value has the custom tag {tag}")
        if tag.endswith(":str"):
            return str(node.value)
        try:
            # a constructor per value: one shared constructor keeps every node it built
            # (``constructed_objects``) for the life of the process, across scans and threads
            return yaml.constructor.SafeConstructor().construct_object(node)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError):
            return str(node.value)
    if isinstance(node, SequenceNode):
        return [node_value(n) for n in node.value]
    if isinstance(node, MappingNode):
        out: dict[Any, Any] = {}
        for key, _, value in items(node):
            out[key] = node_value(value)
        return out
    return None


def vars_of(node: Node | None, path: str, origin: str) -> dict[str, Var]:
    """The variables a mapping node defines (a vars file, a ``vars:`` block)."""
    out: dict[str, Var] = {}
    for key, key_node, value in items(node):
        out[key] = Var(key, node_value(value), location(path, key_node), origin, value)
    return out


INDEX_LAYERS = 6
"""Above this many layers a scope keeps one merged index: a play that ran a hundred roles has
a layer per role's defaults and vars, and every variable look-up would scan them all."""


class Scope:
    """Layers of variables, highest precedence last, with lazy templating and a recursion guard."""

    def __init__(
        self,
        layers: list[dict[str, Var]] | None = None,
        recorders: tuple[set[str], ...] = (),
        base: Scope | None = None,
    ) -> None:
        self.layers: list[dict[str, Var]] = list(layers or [])
        """This scope's own layers; a child's lie above its ``base`` scope's."""
        self.recorders = recorders
        """Sets that collect every name looked up (a role run records what it depends on)."""
        self.base = base
        self._index: dict[str, Var] | None = None
        self._active: set[str] = set()
        self._cache: dict[str, Any] = {}
        self.notes: dict[str, None] = {}
        """What evaluating in this scope noted for ``-v`` (``jinja.values.note``: a Python 2 form)."""

    @property
    def all_layers(self) -> list[dict[str, Var]]:
        return [*(self.base.all_layers if self.base else ()), *self.layers]

    def forget(self) -> None:
        """Drop templated values after the layers changed (a role made its variables visible)."""
        self._cache.clear()
        self._index = None

    def child(self, *layers: dict[str, Var]) -> Scope:
        """A scope for a task or loop item: a few layers over this one, which is not copied."""
        return Scope([layer for layer in layers if layer], self.recorders, self)

    def find(self, name: str) -> Var | None:
        for names in self.recorders:
            names.add(name)
        return self.lookup(name)

    def lookup(self, name: str) -> Var | None:
        """``find`` without recording the look-up."""
        if len(self.layers) > INDEX_LAYERS:
            if self._index is None:
                index: dict[str, Var] = {}
                for layer in self.layers:
                    index.update(layer)
                self._index = index
            var = self._index.get(name)
        else:
            var = None
            for layer in reversed(self.layers):
                var = layer.get(name)
                if var is not None:
                    break
        if var is None and self.base is not None:
            return self.base.lookup(name)
        return var

    def __call__(self, name: str) -> Any:
        """Resolver for ``jinja``: the templated value of ``name``."""
        if name in self._cache:
            cached = self._cache[name]
            if isinstance(cached, Unknown):
                raise cached
            return cached
        var = self.find(name)
        if var is None:
            if name in MAGIC_UNKNOWN:
                raise Unknown(MAGIC_UNKNOWN[name])
            if name.startswith(FACT_PREFIXES):
                raise Unknown(f"{name} is a fact gathered from the host when the play runs")
            raise Undefined(f"variable {name!r} is not defined in the files read")
        if name in self._active:
            raise Unknown(f"variable {name!r} refers to itself")
        self._active.add(name)
        try:
            value = self.template(var.value)
            self._cache[name] = value
            return value
        except Unknown as exc:
            self._cache[name] = exc
            raise
        finally:
            self._active.discard(name)

    def template(self, value: Any, depth: int = 0) -> Any:
        """Template every string inside ``value`` (lists and mappings too)."""
        if depth > 50:
            raise Unknown("value nested too deeply")
        if isinstance(value, UnknownValue):
            raise Unknown(value.reason)
        if isinstance(value, str):
            return jinja.template_string(value, self)
        if isinstance(value, list):
            return [self.template(v, depth + 1) for v in value]
        if isinstance(value, dict):
            return {k: self.template(v, depth + 1) for k, v in value.items()}
        return value

    def origins(self, text: str) -> Iterator[Var]:
        """The definitions an expression or templated string reads (for evidence), each once.

        Depth first, as written, through the variables they read in turn; iterative and
        bounded (``MAX_ORIGINS`` names), since variables may refer to each other in a cycle.
        """
        seen: set[str] = set()
        stack: list[Iterator[str]] = [_names(text)]
        while stack:
            name = next(stack[-1], None)
            if name is None:
                stack.pop()
                continue
            if name in seen:
                continue
            seen.add(name)
            var = self.find(name)
            if var is None:
                continue
            yield var
            if isinstance(var.value, str) and jinja.has_template(var.value) and len(seen) < MAX_ORIGINS:
                stack.append(_names(var.value))


MAX_ORIGINS = 20
"""Variable names followed when explaining where a value came from."""


def _names(text: str) -> Iterator[str]:
    for expr in _expressions(text):
        yield from jinja.iter_names(expr)


def _expressions(text: str) -> Iterator[str]:
    start = 0
    while True:
        a = text.find("{{", start)
        if a < 0:
            a = text.find("{%", start)
            if a < 0:
                return
            b = text.find("%}", a)
        else:
            b = text.find("}}", a)
        if b < 0:
            return
        inner = text[a + 2 : b].strip()
        if text.startswith("{%", a):
            inner = inner.split(None, 1)[1] if " " in inner else ""
            inner = inner.split("=", 1)[-1].split(" in ", 1)[-1]
        yield inner
        start = b + 2
