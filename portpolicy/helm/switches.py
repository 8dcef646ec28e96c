"""Ports a chart wires in a branch its default values do not render, and the switch that renders it.

A chart often sets ``nodePort: {{ .Values.service.nodePort }}`` only under
``{{- if eq .Values.service.type "NodePort" }}``, with ``service.nodePort: 40080`` in
``values.yaml`` and ``type: ClusterIP`` as the default: rendering the defaults alone never
shows the port. This module finds such wiring in the template text and names the minimal
switch (``service.type=NodePort``) that turns the branch on; the stage renders one more
release with that switch, by Helm itself.

Rendering with the switch, not reading the key through the wiring, is the choice made
here: Helm then evaluates everything else (helpers, defaults, other conditions, the
value's type) as it would for a user who sets the switch, and the port reaches the rules
through the same reader as every other rendered manifest. Only two condition shapes are
understood, and only when the branch's wired value is set in ``values.yaml``:
``eq .Values.k "v"`` (either order, also inside ``or``/``and``) and a bare ``.Values.k``
(flipped to ``true``). Anything else is left alone: no switch is guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from portpolicy.yamlnodes import Node, ScalarNode, YamlError, compose_documents, get

MAX_TEMPLATE_LINES = 20_000
"""Lines of one template read for wiring: real templates are a few hundred."""
MAX_DEPTH = 64
"""Nested blocks followed; deeper ones are not templates a person wrote."""
PORT_KEYS = ("nodePort", "hostPort", "containerPort")

_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}")
_WIRED = re.compile(r"^\s*-?\s*(" + "|".join(PORT_KEYS) + r")\s*:\s*\{\{-?\s*(.*?)\s*-?\}\}")
_VALUES_KEY = re.compile(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
_NEGATED = re.compile(r"\bnot\s+(?:\([^()]*\)|\S+)|\bne\s+\S+\s+\S+")
_EQ = re.compile(
    r"\beq\s+(?:\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s+\"([^\"]{1,63})\""
    r"|\"([^\"]{1,63})\"\s+\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+))"
)
_BARE = re.compile(r"^\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)$")
_OPENS = ("if ", "with ", "range ", "define ", "block ")
_PREFERRED = ("NodePort",)
"""Of ``or (eq t "NodePort") (eq t "LoadBalancer")``, the value that renders a node port."""


@dataclass(frozen=True)
class Switch:
    """Values to set (key path -> value) so that a port wiring's branch renders."""

    settings: tuple[tuple[tuple[str, ...], str | bool], ...]

    @property
    def label(self) -> str:
        """``service.type=NodePort`` (what a user passes to ``helm --set``)."""
        return ",".join(f"{'.'.join(k)}={_shown(v)}" for k, v in self.settings)

    def values(self) -> dict[str, object]:
        """The switch as a values document, applied after the chart's own values."""
        out: dict[str, object] = {}
        for key, value in self.settings:
            node = out
            for part in key[:-1]:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    break
                node = child
            else:
                node[key[-1]] = value
        return out


def _shown(value: str | bool) -> str:
    return str(value).lower() if isinstance(value, bool) else value


def find(templates: Iterable[str], values_text: str | None) -> list[Switch]:
    """The switches that render port wiring the default values leave out: those of a ``nodePort``
    first (the API server refuses a wrong one), then ``hostPort``, then ``containerPort``."""
    defaults = _defaults(values_text)
    found: dict[Switch, int] = {}
    for text in templates:
        for port_key, wired, frames in _wirings(text):
            if not _is_set(_lookup(defaults, wired)):
                continue  # the branch would print nothing worth checking
            switch = _switch(frames, defaults)
            if switch is not None:
                found[switch] = min(found.get(switch, len(PORT_KEYS)), PORT_KEYS.index(port_key))
    return sorted(found, key=lambda s: found[s])


def _defaults(text: str | None) -> Node | None:
    if not text:
        return None
    try:
        docs = compose_documents(text)
    except YamlError:
        return None
    return docs[0] if docs else None


def _wirings(text: str) -> Iterable[tuple[str, tuple[str, ...], list[str]]]:
    """Each port line printing a ``.Values`` key, with the conditions of the blocks around it."""
    stack: list[str] = []
    for line in text.splitlines()[:MAX_TEMPLATE_LINES]:
        wired = _WIRED.match(line)
        if wired is not None:
            key = _VALUES_KEY.search(wired.group(2))
            if key is not None:
                yield wired.group(1), tuple(key.group(1).lstrip(".").split(".")), list(stack)
        for action in _ACTION.findall(line):
            _follow(stack, action.strip())


def _follow(stack: list[str], action: str) -> None:
    """Open, switch or close a block: ``if`` frames keep their condition, others keep ``""``."""
    if action.startswith(_OPENS) and len(stack) < MAX_DEPTH:
        stack.append(action[3:].strip() if action.startswith("if ") else "")
    elif action.startswith("else if ") and stack:
        stack[-1] = action[len("else if ") :].strip()
    elif action.startswith("else") and stack:
        stack[-1] = ""  # the other side of a condition: no switch is guessed for it
    elif action == "end" and stack:
        stack.pop()


def _switch(frames: list[str], defaults: Node | None) -> Switch | None:
    """The settings that make every understood, unmet condition around a wiring hold."""
    settings: dict[tuple[str, ...], str | bool] = {}
    for condition in frames:
        wanted = _wanted(condition)
        if not wanted:
            continue
        if any(_holds(defaults, key, value) for key, value in wanted):
            continue
        key, value = wanted[0]
        settings.setdefault(key, value)
    return Switch(tuple(sorted(settings.items(), key=lambda kv: kv[0]))) if settings else None


def _wanted(condition: str) -> list[tuple[tuple[str, ...], str | bool]]:
    """What ``condition`` asks of the values: ``eq`` pairs (preferred values first), or a bare key."""
    bare = _BARE.match(condition)
    if bare is not None:
        return [(tuple(bare.group(1).lstrip(".").split(".")), True)]
    # a negated part (``not (empty .Values.x)``) is not a switch this module can name: left out
    positive = _NEGATED.sub(" ", condition)
    pairs: list[tuple[tuple[str, ...], str | bool]] = []
    for match in _EQ.finditer(positive):
        path = match.group(1) or match.group(4)
        value = match.group(2) if match.group(1) else match.group(3)
        pairs.append((tuple(path.lstrip(".").split(".")), value))
    return sorted(pairs, key=lambda kv: kv[1] not in _PREFERRED)


def _holds(defaults: Node | None, key: tuple[str, ...], value: str | bool) -> bool:
    node = _lookup(defaults, key)
    if isinstance(value, bool):
        return _is_set(node) and not (isinstance(node, ScalarNode) and node.value in {"false", "False"})
    return isinstance(node, ScalarNode) and node.value == value


def _lookup(defaults: Node | None, key: tuple[str, ...]) -> Node | None:
    node = defaults
    for part in key:
        node = get(node, part)
    return node


def _is_set(node: Node | None) -> bool:
    """A value that renders: not missing, null, empty, ``false`` or ``0``."""
    if node is None:
        return False
    if isinstance(node, ScalarNode):
        return node.value not in {"", "~", "null", "Null", "NULL", "false", "False", "0"}
    return True
