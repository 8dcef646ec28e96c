"""``lookup('template', name)``: the one lookup whose result is in the scanned tree.

Every other lookup reads the controller's world (environment, files outside the tree, a
vault, a URL) and stays unknown. A template lookup renders a file of the role's
``templates/`` folder with the task's variables, which the Ansible stage can do itself,
with the line map of a ``template:`` task: kubespray applies its CoreDNS and nodelocaldns
manifests as ``stdin: "{{ lookup('template', item) }}"`` of ``kubectl apply -f -``, and
``kubernetes.core.k8s`` takes ``definition: "{{ lookup('template', 'x.yml.j2') | from_yaml }}"``.

``template_lookup`` recognises a value that is exactly such a lookup (with filters that keep
the manifest: ``from_yaml``, ``from_yaml_all``, ``string``, ``trim``) and evaluates the
template's name and its ``template_vars``; the caller renders the file. A name that is
absolute or climbs out with ``..`` is refused: it is never looked up, let alone read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from portpolicy.ansible.jinja.budget import Budget
from portpolicy.ansible.jinja.evaluator import evaluate_node
from portpolicy.ansible.jinja.parser import Node, parse
from portpolicy.ansible.jinja.values import Resolver, TemplateSyntaxError, Unknown

TEMPLATE_LOOKUPS = frozenset({"template", "ansible.builtin.template", "ansible.legacy.template"})
KEEPING_FILTERS = frozenset({"from_yaml", "from_yaml_all", "string", "trim"})
"""Filters after the lookup that leave the manifest as the template renders it."""
MAX_VALUE_TEXT = 2000
"""A lookup expression longer than this is not parsed (unknown when it names a template)."""
_TEMPLATE_WORD = re.compile(r"""lookup\(\s*['"](?:ansible\.(?:builtin|legacy)\.)?template['"]""")


@dataclass(frozen=True)
class TemplateLookup:
    """A value that is one ``lookup('template', ...)``, its arguments evaluated."""

    name: str
    """The template's name as the task gives it (searched like a ``template:`` task's ``src``)."""
    template_vars: dict[str, Any]
    """``template_vars=``: variables for the template only, above the task's."""


class Refused(Unknown):
    """The lookup names a template the scan will not look for (absolute, or ``..``)."""


def template_lookup(value: Any, resolve: Resolver) -> TemplateLookup | None:
    """The template lookup ``value`` is, or None when it is something else.

    Raises ``Unknown`` when it is one but its name or ``template_vars`` do not resolve, or
    the lookup has arguments that are not followed (``Refused`` for an unsafe name).
    """
    node = _lookup_call(value)
    if node is None:
        return None
    _, _, args, kwargs = node
    if len(args) != 2:
        raise Unknown("lookup('template') with more than one template is not followed")
    unknown_kwargs = set(kwargs) - {"template_vars"}
    if unknown_kwargs:
        raise Unknown(f"lookup('template') with {', '.join(sorted(unknown_kwargs))} is not followed")
    budget = Budget()
    name = evaluate_node(args[1], resolve, budget, final=True)
    if not isinstance(name, str) or not name.strip():
        raise Unknown("the template name is not a string")
    template_vars: Any = {}
    if "template_vars" in kwargs:
        template_vars = evaluate_node(kwargs["template_vars"], resolve, budget, final=True)
        if not isinstance(template_vars, dict) or not all(isinstance(k, str) for k in template_vars):
            raise Unknown("template_vars is not a mapping of names")
    return TemplateLookup(safe_name(name), template_vars)


def safe_name(name: str) -> str:
    """``name`` when it stays inside the folders Ansible searches; else ``Refused``."""
    text = name.strip()
    if "\x00" in text:
        raise Refused("the template name holds a NUL character: refused, not read")
    if text.startswith(("/", "\\", "~")) or ":" in text.split("/", 1)[0]:
        raise Refused("the template name is an absolute path: refused, not read")
    if ".." in text.replace("\\", "/").split("/"):
        raise Refused("the template name climbs out of the templates folder (..): refused, not read")
    return text


def _lookup_call(value: Any) -> tuple[Any, ...] | None:
    """The ``call`` node of ``{{ lookup('template', ...) | keeping filters }}``, or None."""
    if not isinstance(value, str) or "lookup" not in value:
        return None
    text = value.strip()
    if not (text.startswith("{{") and text.endswith("}}")) or text.count("{{") != 1:
        return None
    if len(text) > MAX_VALUE_TEXT:
        if _TEMPLATE_WORD.search(text[:MAX_VALUE_TEXT]):
            raise Unknown(f"a lookup expression longer than {MAX_VALUE_TEXT} characters is not followed")
        return None
    try:
        node: Node = parse(text[2:-2].strip())
    except (TemplateSyntaxError, RecursionError, ValueError) as exc:
        if _TEMPLATE_WORD.search(text):
            raise Unknown(f"a lookup expression not understood ({type(exc).__name__})") from None
        return None
    while node[0] == "filter" and node[2] in KEEPING_FILTERS and not node[3] and not node[4]:
        node = node[1]
    if node[0] != "call" or node[1] != ("name", "lookup"):
        return None
    args = node[2]
    if not args or args[0][0] != "const" or args[0][1] not in TEMPLATE_LOOKUPS:
        return None
    return tuple(node)


def is_template_lookup(value: Any) -> bool:
    """True when ``value`` is a bare template lookup (whether or not its name resolves)."""
    return _lookup_call(value) is not None
