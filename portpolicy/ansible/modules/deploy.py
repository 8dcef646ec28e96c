"""The module handlers that deploy a file (``template``, ``copy``, ``lineinfile``,
``blockinfile``): what each writes is read by the reader of its destination's format.

A template is rendered with the task's variables; each output line remembers its template
line, so a finding points at the line the user edits. Expressions that do not resolve stay
as written (the format's reader reports them as unresolved). Branches and loops whose
condition does not resolve are left out; facts that the raw template has inside them become
``Unresolved`` instead of findings. A template that cannot be parsed is read raw, with its
Jinja statements masked, as the per-file readers would.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, replace
from typing import Any

from portpolicy import regex
from portpolicy.ansible import destinations, jinja
from portpolicy.ansible.args import Arg, Resolved, is_literal
from portpolicy.ansible.context import Ctx, ModuleCall, resolve_path
from portpolicy.ansible.jinja import Rendered, TemplateSyntaxError, Unknown
from portpolicy.model import (
    Evidence,
    FirewallRule,
    InvalidPort,
    KernelSetting,
    Listener,
    Location,
    ParseError,
    RunAs,
    Unresolved,
)
from portpolicy.readers.base import Source, mask_jinja, strip_template
from portpolicy.yamlnodes import ScalarNode

_PRIVILEGE_WORDS = re.compile(r"(?i)\buser\b|user=|capabilit|privateusers|\broot\b|setcap")
_PORT_FACTS = (Listener, FirewallRule, KernelSetting)


def template(ctx: Ctx, call: ModuleCall) -> None:
    """``template``: ``src`` rendered with the task's variables, read as its ``dest``."""
    a = call.args
    src = a.known("src")
    if not isinstance(src, str) or not src:
        if ctx.role is not None:
            ctx.loader.open_sources.add(ctx.role.root)  # its templates may be deployed: read them raw
        return
    path = resolve_path(ctx, src, "templates")
    if path is None:
        return
    named = _destination(a, src)
    dest = named or strip_template(posixpath.basename(src))
    deploy_template(ctx, a, path, dest, destinations.reader_for(dest))


def deploy_template(ctx: Ctx, a: Resolved, path: str, dest: str, reader: Any) -> str | None:
    """The template at ``path`` rendered in ``a.scope`` and read as ``dest`` (by ``reader``, else
    by what its content is), each fact at the template line that wrote it; returns why it
    was not (fully) rendered, None when it was.

    Also what a ``lookup('template', ...)`` applied as a manifest renders (``containers``).
    """
    text = ctx.loader.text(path)
    if text is None:
        return ctx.loader.reasons.get(path, "not readable")
    whole = splice_includes(ctx, path, text)
    ctx.out.claimed.add(path)
    try:
        folders = [posixpath.join(ctx.role.root, "templates")] if ctx.role else []
        load = jinja.folder_loader(ctx.loader.text, ctx.project.files, [*folders, posixpath.dirname(path)])
        rendered = jinja.render(whole.text, a.scope, load=load)
    except (TemplateSyntaxError, Unknown, RecursionError) as exc:
        why = exc.reason if isinstance(exc, Unknown) else str(exc)
        masked = mask_statements(text)
        if reader is None:
            reader, _ = destinations.by_content(dest, masked)
            if reader is None:
                return why
        _read_raw(ctx, destinations.recognised(reader, dest, masked), dest, path, masked, why)
        return why
    if reader is None:
        reader, why = destinations.by_content(dest, rendered.text)
        if reader is None:
            if why:  # a format's shape that the rendered text does not complete: counted, not dropped
                first = f" ({rendered.unresolved[0][2]})" if rendered.unresolved else ""
                ctx.out.facts.append(
                    ("ansible", Unresolved(posixpath.basename(path), why + first, Location(path)))
                )
            return None
    _read_rendered(ctx, destinations.recognised(reader, dest, rendered.text), dest, whole, rendered, a)
    left_out = [why for _, why in rendered.skipped] + [why for _, _, why in rendered.unresolved]
    return left_out[0] if left_out else None


def _read_raw(ctx: Ctx, reader: Any, dest: str, path: str, masked: str, why: str) -> None:
    """A template that cannot be rendered, read raw with its statements masked: no verdict on syntax."""
    facts = destinations.read_as(reader, dest, masked, lambda loc: Location(path, loc.line, loc.column))
    for fact in facts:
        if isinstance(fact, Unresolved):
            fact = replace(fact, reason=f"{fact.reason} (template not rendered: {why})")
        elif isinstance(fact, ParseError):
            # the raw template is not the file Ansible writes: its syntax says nothing
            fact = Unresolved(
                posixpath.basename(path),
                f"template not rendered ({why}), and its raw text does not parse: {fact.message}",
                fact.location,
            )
        ctx.out.facts.append((reader.NAME, fact))


def _destination(a: Resolved, src: str) -> str | None:
    """Where the file lands; a directory destination takes the template's name without its
    template suffix (``.j2``: ``base.strip_template``)."""
    name = strip_template(posixpath.basename(src))
    dest = a.known("dest", "path")
    if isinstance(dest, str) and dest:
        return dest + name if dest.endswith("/") else dest
    # Unknown destination: the template's own name may still say which format it is.
    return name if destinations.reader_for(name) is not None else None


def _read_rendered(ctx: Ctx, reader: Any, dest: str, whole: Spliced, rendered: Rendered, a: Resolved) -> None:
    path, text = whole.path, whole.text
    reasons = {line: reason for line, _, reason in rendered.unresolved}
    for line, reason in reasons.items():
        ctx.out.reasons[whole.origin(line)] = reason
    try:
        facts = list(reader.read(Source(dest, rendered.text)))
    except Exception as exc:  # a reader bug must not stop the Ansible stage
        ctx.out.facts.append(
            (
                "ansible",
                ParseError(
                    f"internal error in the {reader.NAME} reader ({type(exc).__name__})", Location(path)
                ),
            )
        )
        return
    skipped_text = "\n".join(
        "\n".join(text.split("\n")[start - 1 : end]) for start, end in rendered.skipped_ranges
    )
    degrade = bool(_PRIVILEGE_WORDS.search(skipped_text))

    def mapper(loc: Location) -> Location:
        return whole.location(rendered.template_line(loc.line), loc.column)

    _register_evidence(ctx, whole, rendered, a)
    for fact in facts:
        loc = getattr(fact, "location", None)
        out_line = loc.line if isinstance(loc, Location) and loc.path == dest else 0
        t_line = rendered.template_line(out_line) if out_line else 0
        if isinstance(fact, Unresolved) and t_line in reasons:
            fact = replace(fact, reason=f"{fact.reason}: {reasons[t_line]}")
        elif isinstance(fact, ParseError) and reasons:
            # an expression left unrendered can break the syntax of the file around it: the
            # file Ansible writes would have a value there, so this is no verdict on the file
            where = f" near line {whole.origin(t_line)[1]}" if t_line else ""
            first = reasons.get(t_line) or next(iter(reasons.values()))
            fact = Unresolved(
                posixpath.basename(path),
                f"not fully rendered ({first}){where}, and the partial result does not parse: {fact.message}",
                fact.location,
            )
        if isinstance(fact, Listener) and degrade:
            fact = replace(fact, run_as=RunAs())
        ctx.out.facts.append((reader.NAME, destinations.remap(fact, dest, mapper)))
    if rendered.skipped_ranges:
        _skipped_facts(ctx, reader, dest, whole, rendered)


def _register_evidence(ctx: Ctx, whole: Spliced, rendered: Rendered, a: Resolved) -> None:
    """Where the values on each rendered line were defined, keyed by the template line.

    A logical line continued with a trailing backslash (systemd ``ExecStart=``) is one key:
    readers place the fact at its first line. The facts themselves are often only built
    when the reader joins files (``assemble``), so the pipeline applies this map afterwards.
    """
    lines = rendered.text.split("\n")
    start = 1
    for number, line in enumerate(lines, start=1):
        exprs = rendered.uses.get(number)
        if exprs:
            key = whole.origin(rendered.template_line(start))
            found = _origins(a, exprs)
            if found:
                ctx.out.evidence[key] = tuple(dict.fromkeys(ctx.out.evidence.get(key, ()) + found))[:6]
        if not line.endswith("\\"):
            start = number + 1


@dataclass
class Spliced:
    """A template with its literal ``{% include %}`` tags replaced by the included text, and
    where each of its lines comes from (so a finding points at the included file's line)."""

    path: str
    text: str
    origins: list[tuple[str, int]] | None = None
    """(file, line) of each line of ``text``; None when nothing was spliced (the template's own)."""

    def origin(self, line: int) -> tuple[str, int]:
        if self.origins is None:
            return self.path, line
        if not self.origins:
            return self.path, 1
        return self.origins[min(max(line, 1), len(self.origins)) - 1]

    def location(self, line: int, column: int) -> Location:
        path, at = self.origin(line)
        return Location(path, at, column)


MAX_INCLUDE_DEPTH = 5
MAX_SPLICED = 1_000_000
"""Characters a template may grow to with what it includes: a tree of includes stays bounded."""
_INCLUDE = re.compile(
    r"\{%[-+]?[ \t]*include[ \t]+(['\"])([^'\"\n{}%]{1,300})\1([ \t]+ignore[ \t]+missing)?"
    r"(?:[ \t]+with[ \t]+context)?[ \t]*[-+]?%\}"
)
"""``{% include 'name' %}`` with a literal name (the only kind spliced; others are not)."""


def splice_includes(ctx: Ctx, path: str, text: str) -> Spliced:
    """``text`` with each literal ``{% include %}`` replaced by the file Ansible would find.

    Jinja renders an included template in the includer's context, so rendering the spliced
    text gives the same output. An included template that sets variables (its ``set``
    would leak into the includer here), an include that is not found, or past the bounds:
    the tag stays, and the renderer refuses the template (read raw), as before.
    """
    if "include" not in text:
        return Spliced(path, text)
    out = _Splicer(ctx)
    out.add(path, text, 0)
    if not out.changed:
        return Spliced(path, text)
    return Spliced(path, "".join(out.parts), out.origins)


class _Splicer:
    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.parts: list[str] = []
        self.size = 0
        self.origins: list[tuple[str, int]] = []
        self.line_blank = True
        """Nothing but blanks on the current output line yet (an included first line takes it)."""
        self.changed = False

    def emit(self, chunk: str, path: str, line: int) -> None:
        """Append ``chunk``, which starts on ``line`` of ``path``."""
        if not chunk:
            return
        if not self.origins:
            self.origins.append((path, line))
        pieces = chunk.split("\n")
        if pieces[0].strip() and self.line_blank:
            self.origins[-1] = (path, line)
            self.line_blank = False
        for i, piece in enumerate(pieces[1:], start=1):
            self.origins.append((path, line + i))
            self.line_blank = not piece.strip()
        self.parts.append(chunk)
        self.size += len(chunk)

    def add(self, path: str, text: str, depth: int) -> None:
        pos, line = 0, 1
        for m in _INCLUDE.finditer(text):
            self.emit(text[pos : m.start()], path, line)
            line += text.count("\n", pos, m.start())
            included = self._included(m.group(2), m.group(3) is not None, depth)
            if included is None:
                self.emit(m.group(0), path, line)
            elif included:
                self.changed = True
                inc_path, inc_text = included
                self.add(inc_path, inc_text[:-1] if inc_text.endswith("\n") else inc_text, depth + 1)
            else:
                self.changed = True  # ``ignore missing``: Jinja renders nothing there
            line += m.group(0).count("\n")
            pos = m.end()
        self.emit(text[pos:], path, line)

    def _included(self, name: str, ignore_missing: bool, depth: int) -> tuple[str, str] | tuple[()] | None:
        """The file an include names and its text; () when missing and ignored; None: keep the tag."""
        if depth >= MAX_INCLUDE_DEPTH:
            return None
        found = resolve_path(self.ctx, name.strip(), "templates")
        text = self.ctx.loader.text(found) if found is not None else None
        if found is None or text is None:
            return () if ignore_missing else None
        if "set " in text and re.search(r"\{%[-+]?\s*set\s", text):
            return None
        if self.size + len(text) > MAX_SPLICED:
            return None
        self.ctx.out.claimed.add(found)
        return found, text


_STATEMENT_LINES = regex.compile_trusted(r"(?ms)^[ \t]*\{%.*?%\}[ \t]*$")
"""RE2: Python's ``re`` takes quadratic time on this pattern when many ``{%`` never close."""


def mask_statements(text: str) -> str:
    """``mask_jinja``, also for ``{% %}`` tags that span several lines (keeps line numbers)."""
    text = _STATEMENT_LINES.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    return mask_jinja(text)


def _origins(a: Resolved, exprs: list[str]) -> tuple[Evidence, ...]:
    out: list[Evidence] = []
    for expr in exprs:
        for var in a.scope.origins("{{ " + expr + " }}"):
            ev = Evidence(var.location, f"{var.name} is defined here ({var.origin})", is_literal(var.value))
            if ev not in out:
                out.append(ev)
    return tuple(out[:5])


def _skipped_facts(ctx: Ctx, reader: Any, dest: str, whole: Spliced, rendered: Rendered) -> None:
    """Port facts the raw template has inside unresolved branches: unresolved, never findings."""
    raw = destinations.read_as(reader, dest, mask_statements(whole.text), lambda loc: loc)
    assemble = getattr(reader, "assemble", None)
    if assemble is not None:
        raw = assemble(raw)  # facts such as systemd's listeners only exist once units are joined
    for fact in raw:
        if not isinstance(fact, (*_PORT_FACTS, InvalidPort)):
            continue
        line = fact.location.line
        for (start, end), (_, why) in zip(rendered.skipped_ranges, rendered.skipped, strict=False):
            if start <= line <= end:
                value = str(getattr(fact, "ports", None) or getattr(fact, "value", ""))
                at = whole.location(line, fact.location.column)
                ctx.out.facts.append(
                    (
                        "ansible",
                        Unresolved(value, f"inside a template block that was not rendered: {why}", at),
                    )
                )
                break


def content(ctx: Ctx, call: ModuleCall) -> None:
    """``copy`` (content or src), ``lineinfile`` (line), ``blockinfile`` (block) into a known format."""
    a, name = call.args, call.name
    if str(a.known("state", default="present")).lower() == "absent":
        return
    dest = a.known("dest", "path", "name")
    if not isinstance(dest, str) or not dest:
        return
    reader = destinations.reader_for(dest)
    if reader is None:
        return
    key = {"copy": "content", "lineinfile": "line", "blockinfile": "block"}[name]
    arg = a.get(key)
    if arg is None and name == "copy":
        src = a.known("src")
        if not isinstance(src, str) or a.flag("remote_src") is not False:
            return
        path = resolve_path(ctx, src, "files")
        text = ctx.loader.text(path) if path else None
        if path is None or text is None:
            return
        ctx.out.claimed.add(path)
        reader = destinations.recognised(reader, dest, text)  # facts are filed under the reader that reads
        for fact in destinations.read_as(
            reader, dest, text, lambda loc: Location(path, loc.line, loc.column)
        ):
            ctx.out.facts.append((reader.NAME, fact))
        return
    if arg is None or not isinstance(arg.raw, str):
        return
    try:
        rendered = jinja.render(arg.raw, a.scope, trim_blocks=False)
    except (TemplateSyntaxError, Unknown, RecursionError):
        rendered = Rendered(arg.raw, list(range(1, arg.raw.count("\n") + 2)))
    text = rendered.text if rendered.text.endswith("\n") else rendered.text + "\n"
    reader = destinations.recognised(reader, dest, text)
    first = _first_content_line(arg)

    def mapper(loc: Location) -> Location:
        if first is None:
            return arg.location
        return Location(arg.location.path, first + rendered.template_line(loc.line) - 1, loc.column)

    reasons = [reason for _, _, reason in rendered.unresolved]
    for fact in destinations.read_as(reader, dest, text, mapper):
        if isinstance(fact, Unresolved) and reasons:
            fact = replace(fact, reason=f"{fact.reason}: {reasons[0]}")
        elif isinstance(fact, ParseError) and name != "copy":
            # a line or block goes into a file the tree does not have (an iptables rule after
            # the distribution's ``:OUTPUT`` line): alone it need not parse, no verdict on it
            fact = Unresolved(
                posixpath.basename(dest) or dest,
                f"{name} adds this to {dest}; read without the rest of that file it does not parse:"
                f" {fact.message}",
                fact.location,
            )
        elif isinstance(fact, _PORT_FACTS) and arg.templated:
            ctx.out.resolved += 1
            if isinstance(fact, (Listener, FirewallRule)):
                fact = replace(fact, evidence=fact.evidence + a.evidence(arg))
        ctx.out.facts.append((reader.NAME, fact))


def _first_content_line(arg: Arg) -> int | None:
    """The file line of the value's first line: block scalars start on the next line."""
    node = arg.node
    if isinstance(node, ScalarNode) and node.style in ("|", ">"):
        return node.start_mark.line + 2
    if isinstance(node, ScalarNode) and "\n" not in str(node.value):
        return None
    return None
