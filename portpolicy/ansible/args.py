"""A task's module arguments: YAML mapping or legacy ``k=v`` string, resolved on demand.

Every argument keeps its node and location, so a fact points at the argument line (where
``# noqa: PPnnn`` is written) and its evidence at the line that defined the variable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from portpolicy.ansible import jinja
from portpolicy.ansible.jinja import OMIT, Unknown
from portpolicy.ansible.variables import Scope, node_value
from portpolicy.model import Evidence, Location
from portpolicy.readers.lexing import JINJA_EXPRESSIONS, split_shell, template_spans
from portpolicy.yamlnodes import MappingNode, Node, ScalarNode, items, location

_KV = re.compile(r"""(?<!\w)(\w+)=((?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|\{\{.*?\}\}|[^\s"'{]|\{(?!\{))+)""")
"""``key=value`` with a quoted, templated or plain value. A key starts a word (the look-behind
keeps a long word without ``=`` from being tried at each of its characters); it runs on text
whose unclosed ``{{`` are blanked (``_closed_templates_only``), or each would send the lazy
``.*?`` to the end of the line."""


@dataclass(frozen=True)
class Arg:
    name: str
    raw: Any
    node: Node | None
    location: Location

    @property
    def templated(self) -> bool:
        return _templated(self.raw)


def _templated(value: Any) -> bool:
    if isinstance(value, str):
        return jinja.has_template(value)
    if isinstance(value, list):
        return any(_templated(v) for v in value)
    if isinstance(value, dict):
        return any(_templated(v) for v in value.values())
    return False


def parse_args(path: str, module_node: Node | None, args_node: Node | None) -> dict[str, Arg]:
    """Arguments of a module call: the module's mapping or ``k=v`` text, then ``args:``."""
    out: dict[str, Arg] = {}
    if isinstance(module_node, MappingNode):
        for key, _key_node, value in items(module_node):
            out[key] = Arg(key, node_value(value), value, location(path, value))
    elif isinstance(module_node, ScalarNode) and isinstance(module_node.value, str):
        out.update(_free_form(path, module_node))
    for key, _, value in items(args_node):
        out.setdefault(key, Arg(key, node_value(value), value, location(path, value)))
    return out


def _free_form(path: str, node: ScalarNode) -> dict[str, Arg]:
    """Legacy ``port=8080/tcp state=enabled`` arguments, each at its own column when on one line;
    the whole text as ``_raw_params`` (as Ansible names it) when it holds other words
    (``command: docker run ...``)."""
    text = str(node.value)
    base = location(path, node)
    out: dict[str, Arg] = {}
    single = "\n" not in text and node.style is None
    for m in _KV.finditer(_closed_templates_only(text)):
        key, value = m.group(1), text[m.start(2) : m.end(2)]
        try:
            parts = split_shell(value) if not value.startswith("{{") else [value]
            value = parts[0] if len(parts) == 1 else value
        except ValueError:
            pass
        column = base.column + m.start(2) if single else base.column
        out[key] = Arg(key, value, None, Location(path, base.line, column))
    if _KV.sub("", _closed_templates_only(text)).strip():  # words besides k=v: a command's free form
        out.setdefault("_raw_params", Arg("_raw_params", text, node, base))
    return out


def _closed_templates_only(text: str) -> str:
    """``text`` with each ``{{`` that no ``}}`` closes on its line blanked, at the same length.

    A blank ends a plain value just as an unclosed ``{{`` does, so ``_KV`` finds the same
    keys and value spans (values are then cut from the original text).
    """
    if "{{" not in text:
        return text
    pieces: list[str] = []
    done = 0
    for start, end in template_spans(text, JINJA_EXPRESSIONS):
        pieces.append(text[done:start].replace("{{", "  "))
        pieces.append(text[start:end])
        done = end
    pieces.append(text[done:].replace("{{", "  "))
    return "".join(pieces)


class Resolved:
    """Resolves arguments in one scope and remembers where each value came from."""

    def __init__(self, args: dict[str, Arg], scope: Scope, item_location: Location | None = None) -> None:
        self.args = args
        self.scope = scope
        self.item_location = item_location

    def get(self, *names: str) -> Arg | None:
        for name in names:
            arg = self.args.get(name)
            if arg is not None:
                return arg
        return None

    def value(self, *names: str, default: Any = None) -> Any:
        """The resolved value, ``default`` when absent or ``omit``; raises ``Unknown``."""
        arg = self.get(*names)
        if arg is None:
            return default
        value = self.scope.template(arg.raw)
        return default if value is OMIT else value

    def known(self, *names: str, default: Any = None) -> Any:
        """Like ``value`` but None when it cannot be resolved (for settings that only narrow)."""
        try:
            return self.value(*names, default=default)
        except Unknown:
            return None

    def text(self, *names: str, default: str | None = None) -> str | None:
        value = self.value(*names, default=default)
        return None if value is None else jinja.to_string(value)

    def flag(self, *names: str, default: bool = False) -> bool | None:
        """A boolean argument; None when it cannot be resolved."""
        try:
            value = self.value(*names, default=default)
        except Unknown:
            return None
        if isinstance(value, str):
            return value.strip().lower() in ("yes", "true", "on", "1", "y")
        return bool(value)

    def evidence(self, arg: Arg | None) -> tuple[Evidence, ...]:
        """Where the variables behind an argument are defined (and the loop item, if any)."""
        out: list[Evidence] = []
        if arg is not None and arg.templated:
            for var in self.scope.origins(_text_of(arg.raw)):
                if var.location != arg.location and var.origin != "loop item":
                    out.append(
                        Evidence(
                            var.location, f"{var.name} is defined here ({var.origin})", is_literal(var.value)
                        )
                    )
        if self.item_location is not None and arg is not None and "item" in _text_of(arg.raw):
            out.append(Evidence(self.item_location, "the loop item with this value", True))
        return tuple(dict.fromkeys(out))[:5]


def is_literal(value: Any) -> bool:
    """A value written out as it is (no template in it): where a bad value is to be fixed."""
    return not jinja.has_template(_text_of(value)) if isinstance(value, (str, list, dict)) else True


def _text_of(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(_text_of(v) for v in value)
    if isinstance(value, dict):
        return " ".join(_text_of(v) for v in value.values())
    return ""


def reason(exc: Unknown) -> str:
    return exc.reason
