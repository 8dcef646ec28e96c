"""ansible.posix.sysctl: the setting is read as the line it writes to a sysctl file.

The sysctl reader sees ``name = value`` at the task's ``sysctl_file`` (or
``/etc/sysctl.conf``), so kernel settings from tasks and from files are one kind of fact;
locations point at the task's value argument, evidence at where loop items and variables
were written.
"""

from __future__ import annotations

from dataclasses import replace

from portpolicy.ansible import destinations, jinja
from portpolicy.ansible.context import Ctx, ModuleCall
from portpolicy.ansible.jinja import Unknown
from portpolicy.model import KernelSetting, ParseError, Unresolved


def sysctl(ctx: Ctx, call: ModuleCall) -> None:
    """``name = value`` read by the sysctl reader, placed at the task's arguments."""
    a, module = call.args, call.module
    state = a.known("state", default="present")
    if state is None or str(state).lower() != "present":
        return
    name_arg, value_arg = a.get("name", "key"), a.get("value", "val")
    if name_arg is None or value_arg is None:
        return
    reader = destinations.named_reader("sysctl")
    if reader is None:
        return
    reasons: list[str] = []
    parts = []
    for arg in (name_arg, value_arg):
        try:
            parts.append(jinja.to_string(a.value(arg.name)))
        except Unknown as exc:
            parts.append(str(arg.raw) if jinja.has_template(str(arg.raw)) else "{{ unknown }}")
            reasons.append(exc.reason)
    dest = a.known("sysctl_file") or "/etc/sysctl.conf"
    if not isinstance(dest, str) or not destinations.named_as("sysctl", dest):
        dest = "/etc/sysctl.conf"
    text = f"{parts[0]} = {parts[1]}\n"
    facts = destinations.read_as(reader, dest, text, lambda loc: value_arg.location)
    for fact in facts:
        if isinstance(fact, Unresolved) and reasons:
            fact = replace(
                fact, value=str(value_arg.raw), reason=f"{module} {fact.reason.split(':')[0]}: {reasons[-1]}"
            )
        elif not isinstance(fact, (Unresolved, ParseError)):
            ctx.out.resolved += value_arg.templated or name_arg.templated
        if isinstance(fact, KernelSetting):
            # where the name and the value were written, when variables or loop items hold them
            # (the value's definition is where a bad value is fixed; the name's is context)
            named = tuple(replace(e, value=False) for e in a.evidence(name_arg))
            evidence = tuple(dict.fromkeys((*a.evidence(value_arg), *named)))
            if a.item_location is not None:
                # Loop items apply in list order: keep that order among writes at one task line.
                fact = replace(
                    fact,
                    order=(*fact.order, a.item_location.line, a.item_location.column),
                    evidence=evidence,
                )
            elif evidence:
                fact = replace(fact, evidence=evidence)
        ctx.out.facts.append((reader.NAME, fact))
