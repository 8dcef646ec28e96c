"""The Ansible stage of the pipeline: projects in, facts per play host out.

``run`` finds Ansible projects among the discovered files, runs every playbook's plays
statically and returns, for each play's ``hosts`` pattern, the facts its roles and tasks
declare. A role used by two plays lands on both hosts; a role no play uses is read on its
own with its defaults (host ``role:<name>``). Files the stage read are returned as
``claimed`` so the per-file readers do not read them again; a template no task deploys is
left to them.

Host names: the play's ``hosts`` pattern as written (``webservers``), prefixed with the
project directory when that is not the scanned directory itself (``infra:webservers``), so
that unrelated projects never share a host. A config ``hosts:`` entry whose ``name`` equals
the pattern (or the prefixed name) gives that host its platform, runtime and kernel settings.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from portpolicy.ansible import accounting, inventory, locate
from portpolicy.ansible.context import Ctx, Out
from portpolicy.ansible.jinja import UnknownValue
from portpolicy.ansible.loader import Loaded, Loader
from portpolicy.ansible.locate import Project
from portpolicy.ansible.roles import role_reference, run_role
from portpolicy.ansible.tasks import run_file, run_list
from portpolicy.ansible.variables import Scope, Var, vars_of
from portpolicy.config import Config, HostConfig
from portpolicy.model import (
    Evidence,
    Fact,
    FirewallRule,
    KernelSetting,
    Listener,
    Location,
    ParseError,
    Unresolved,
)
from portpolicy.yamlnodes import MappingNode, Node, SequenceNode, get, items, location, scalar, seq

MAX_PLAYBOOK_DEPTH = 10


@dataclass
class HostFacts:
    """Facts for one play host (or a role read on its own), with the reason shown by ``portpolicy facts``."""

    host: str
    reason: str
    config: HostConfig | None
    facts: list[tuple[str, Fact]] = field(default_factory=list)
    seen: set[tuple[str, object]] = field(default_factory=set, repr=False)


@dataclass
class Result:
    groups: list[HostFacts] = field(default_factory=list)
    claimed: set[str] = field(default_factory=set)
    resolved: int = 0
    """Port values known only through a variable or a rendered template (``Report.resolved``)."""
    evidence: dict[tuple[str, str, int], tuple[Evidence, ...]] = field(default_factory=dict)
    """(host, template path, line) -> where the values rendered there were defined."""
    reasons: dict[tuple[str, str, int], str] = field(default_factory=dict)
    """(host, template path, line) -> why a ``{{ }}`` there did not resolve."""
    tasks: list[accounting.TaskMark] = field(default_factory=list, repr=False)
    """Every run of every task, with its bucket; ``task_totals`` has one entry per task."""
    task_totals: list[accounting.TaskTotal] = field(default_factory=list)
    """Each task of the plays run, in one bucket (``accounting.combine``): ``--statistics``."""

    def annotate(self, host: str, facts: list[tuple[str, Fact]]) -> list[tuple[str, Fact]]:
        """Add where template values were defined to facts built from rendered lines.

        Called by the pipeline after readers joined files (systemd units, nginx blocks),
        because that is when those facts exist. Each fact that gains evidence counts as a
        resolved port value.
        """
        if not self.evidence and not self.reasons:
            return facts
        out: list[tuple[str, Fact]] = []
        for reader, fact in facts:
            loc = getattr(fact, "location", None)
            if isinstance(fact, Unresolved) and isinstance(loc, Location):
                why = self.reasons.get((host, loc.path, loc.line))
                if why and why not in fact.reason:
                    fact = replace(fact, reason=f"{fact.reason}: {why}")
            found = self.evidence.get((host, loc.path, loc.line)) if isinstance(loc, Location) else None
            if found and isinstance(fact, (Listener, FirewallRule, KernelSetting)):
                self.resolved += 1
                fact = replace(fact, evidence=tuple(dict.fromkeys(fact.evidence + found)))
            out.append((reader, fact))
        return out


def run(paths: Iterable[str], config: Config) -> Result:
    """The Ansible stage over the discovered file paths; never raises on content."""
    result = Result()
    paths = list(paths)
    roots = locate.find_projects(paths)
    loader = Loader(config.roots)
    roots = locate.outermost(roots + locate.lone_playbook_dirs(paths, roots, _Texts(loader), config.roots))
    for root in roots:
        project = locate.load_project(root, roots=config.roots)
        _run_project(project, loader, config, result)
    result.task_totals = accounting.combine(result.tasks)
    result.tasks = []
    return result


def _run_project(project: Project, loader: Loader, config: Config, result: Result) -> None:
    groups: dict[str, HostFacts] = {}
    used_roles: set[str] = set()
    playbooks = [
        p
        for p in locate.playbook_candidates(project, _Texts(loader))
        if _is_playbook(loader.load(p)) or _is_broken_playbook(loader.load(p))
    ]
    imported: set[str] = set()
    for playbook in playbooks:
        for doc in loader.load(playbook).docs:
            for play in seq(doc):
                target = _import_target(play)
                if target:
                    imported.add(posixpath.normpath(posixpath.join(posixpath.dirname(playbook), target)))
    for playbook in playbooks:
        if playbook in imported:
            continue  # run through the playbook that imports it, with that one's context
        _run_playbook(project, loader, config, playbook, groups, used_roles, result, 0)
    for role_list in project.roles.values():
        for role in role_list:
            if role.root in used_roles:
                continue
            if "/molecule/" in role.root or role.root.startswith("molecule/"):
                continue
            name = _host_name(project, f"role:{role.name}")
            out = Out()
            ctx = Ctx(project, loader, out, Scope(), role.root + "/tasks/main.yml", role.root + "/x.yml")
            ctx.port_modules = config.port_modules
            run_role(ctx, role, {}, run_file)
            _merge(
                groups,
                name,
                f"Ansible role {role.root} read on its own with its defaults (no play uses it)",
                _host_config(config, name, role.name),
                out,
                result,
            )
    # A role that ran deployed the templates and files its tasks chose; the others (a
    # haproxy.cfg.j2 beside the nginx.conf.j2 that a `when:` picked) are not on the host.
    ran = tuple(
        f"{root}/{kind}/" for root in used_roles - loader.open_sources for kind in ("templates", "files")
    )
    # Whatever a role keeps in its Ansible directories is Ansible YAML, whichever tasks ran:
    # a skipped ``tasks/docker-compose.yml`` is a task file, not a compose file.
    ansible_dirs = tuple(
        f"{role.root}/{kind}/" if role.root != "." else f"{kind}/"
        for roles in project.roles.values()
        for role in roles
        for kind in ("tasks", "handlers", "defaults", "vars", "meta")
    )
    prefixes = ran + ansible_dirs
    if prefixes:
        result.claimed.update(f for f in project.files if f.startswith(prefixes))
    result.groups.extend(groups.values())


class _Texts:
    """Lazy text access for the playbook sniff (reads only the YAML files it is asked about)."""

    def __init__(self, loader: Loader) -> None:
        self.loader = loader

    def get(self, path: str) -> str | None:
        return self.loader.text(path)


def _is_playbook(loaded: Loaded) -> bool:
    if not loaded.docs or not isinstance(loaded.docs[0], SequenceNode):
        return False
    plays = seq(loaded.docs[0])
    return bool(plays) and all(
        isinstance(p, MappingNode) and (get(p, "hosts") is not None or _import_target(p)) for p in plays
    )


def _is_broken_playbook(loaded: Loaded) -> bool:
    """A playbook candidate whose YAML is refused: its top level is a list, as plays are.

    The sniff found a play's first key in it (``hosts:``, ``import_playbook:``); a top-level
    list tells it from a Kubernetes or compose file (mappings) that has a ``- hosts:`` inside.
    """
    return loaded.error is not None and _TOP_LEVEL_LIST.search(loaded.text) is not None


_TOP_LEVEL_LIST = re.compile(r"^-(?:[ \t]|$)", re.M)


def _import_target(play: object) -> str | None:
    for key in ("import_playbook", "ansible.builtin.import_playbook", "include"):
        value = scalar(get(play, key)) if isinstance(play, MappingNode) else None
        if value:
            return value
    return None


def _run_playbook(
    project: Project,
    loader: Loader,
    config: Config,
    playbook: str,
    groups: dict[str, HostFacts],
    used_roles: set[str],
    result: Result,
    depth: int,
) -> None:
    if depth > MAX_PLAYBOOK_DEPTH:
        return
    loaded = loader.load(playbook)
    result.claimed.add(playbook)
    if loaded.error is not None:
        _report_unreadable(project, playbook, loaded.error, groups, result)
        return
    inv = _inventory(project, loader, playbook, result)
    for doc in loaded.docs:
        for play in seq(doc):
            if not isinstance(play, MappingNode):
                continue
            target = _import_target(play)
            if target:
                path = posixpath.normpath(posixpath.join(posixpath.dirname(playbook) or ".", target))
                if path in project.files and "{{" not in target:
                    _run_playbook(project, loader, config, path, groups, used_roles, result, depth + 1)
                continue
            _run_play(project, loader, config, playbook, play, inv, groups, used_roles, result)


def _report_unreadable(
    project: Project, playbook: str, error: ParseError, groups: dict[str, HostFacts], result: Result
) -> None:
    """PP000 for a playbook that cannot be read or parsed, on a host of its own: its plays are unknown."""
    out = Out()
    out.facts.append(("ansible", error))
    within = playbook if project.root == "." else playbook[len(project.root) + 1 :]
    name = _host_name(project, f"playbook:{within}")
    _merge(
        groups,
        name,
        f"Ansible playbook {playbook} (does not parse: its plays are unknown)",
        None,
        out,
        result,
    )


def _inventory(project: Project, loader: Loader, playbook: str, result: Result) -> inventory.Inventory:
    """The playbook's inventory: it depends only on the playbook's directory, so it is built once per directory."""
    directory = posixpath.dirname(playbook) or "."
    cached = project.inventories.get(directory)
    if cached is not None:
        inv, claimed = cached
        result.claimed |= claimed
        return inv  # type: ignore[no-any-return]
    before = set(result.claimed)
    inv = _build_inventory(project, loader, playbook, result)
    project.inventories[directory] = (inv, result.claimed - before)
    return inv


def _build_inventory(project: Project, loader: Loader, playbook: str, result: Result) -> inventory.Inventory:
    inv = inventory.Inventory()
    files = locate.inventory_files(project, playbook)
    for path in files:
        text = loader.text(path)
        if text is None:
            continue
        yaml_named = path.endswith((".yml", ".yaml", ".json"))
        # Ansible tries its yaml plugin, then ini: an INI inventory named .yml is read as INI
        ini = not yaml_named or loader.load(path).error is not None
        if ini and inventory.looks_like_ini_inventory(text):
            inventory.read_ini(inv, path, text)
            result.claimed.add(path)
        elif (yaml_named or ":" in text) and inventory.read_yaml(inv, loader.load(path)):
            result.claimed.add(path)
    vars_files: dict[str, Loaded] = {}
    for base in locate.vars_dirs(project, playbook, inv.files):
        prefix = "" if base == "." else base + "/"
        for f in project.files:
            if (
                f.startswith(prefix)
                and inventory.is_vars_file(f[len(prefix) :])
                and f[len(prefix) :].split("/")[0]
                in (
                    "group_vars",
                    "host_vars",
                )
            ):
                vars_files[f] = loader.load(f)
                result.claimed.add(f)
        inventory.read_vars_dirs(inv, base, vars_files, 0)
        vars_files = {}
    return inv


def _run_play(
    project: Project,
    loader: Loader,
    config: Config,
    playbook: str,
    play: MappingNode,
    inv: inventory.Inventory,
    groups: dict[str, HostFacts],
    used_roles: set[str],
    result: Result,
) -> None:
    """Run one play for its hosts: once when they agree, else once per class of hosts (``_host_classes``)."""
    keys = {k: v for k, _, v in items(play)}
    pattern = _pattern(keys)
    host = _host_name(project, _scenario(playbook) + pattern)
    play_name = scalar(keys.get("name")) or ""
    at = location(playbook, play)
    intro = f"Ansible play {play_name!r} at {at.path}:{at.line} (hosts: {pattern}; inventory:"
    hc = _host_config(config, host, pattern)

    def run(layers: list[dict[str, Var]]) -> _PlayRun:
        return _play_once(project, loader, playbook, keys, layers, inv.errors, result, config)

    view = _with_group_names(inv, inv.host_view(pattern), playbook)
    if view is None:
        out = run(inv.group_layers(pattern)).out
        used_roles |= out.used_roles
        _merge(groups, host, f"{intro} no inventory host matches; group variables only)", hc, out, result)
        return
    classes = _host_classes(view, pattern, config.ansible_host_classes, run)
    total = len(view)
    for hosts, out, split_on in classes:
        used_roles |= out.used_roles
        if len(classes) == 1:
            _merge(groups, host, f"{intro} {total} inventory host(s){split_on})", hc, out, result)
            continue
        name = f"{host}:{_class_label(hosts)}"
        why = f"{intro} {len(hosts)} of {total} inventory host(s): {', '.join(hosts[:10])}{split_on})"
        _merge(groups, name, why, _host_config(config, name, pattern) or hc, out, result)


def _with_group_names(
    inv: inventory.Inventory, view: dict[str, dict[str, Var]] | None, playbook: str
) -> dict[str, dict[str, Var]] | None:
    """Each host's ``group_names`` (its groups but ``all``, sorted, as Ansible sets it) beside its
    inventory variables: hosts that differ in it are run as classes like any value they differ on."""
    if view is None:
        return None
    where = Location(inv.files[0] if inv.files else playbook)
    lookup = inventory._Lookup(inv)  # the group relations, worked out once for all hosts
    return {
        host: {
            **values,
            "group_names": Var(
                "group_names",
                sorted(g for g in inv.groups_of(host, lookup) if g != "all"),
                where,
                "inventory group membership",
            ),
        }
        for host, values in view.items()
    }


def _pattern(keys: dict[str, Node]) -> str:
    """The play's ``hosts`` pattern as one string (a list of patterns joined by commas)."""
    pattern = scalar(keys.get("hosts"))
    if pattern is None:
        hosts_node = keys.get("hosts")
        pattern = (
            ",".join(str(scalar(n)) for n in seq(hosts_node))
            if isinstance(hosts_node, SequenceNode)
            else "all"
        )
    return pattern.strip() or "all"


@dataclass
class _PlayRun:
    out: Out
    names: set[str]
    """Every variable name looked up while the play ran (its roles too, replayed or not)."""
    scope: Scope
    """The play's own scope: inventory, play ``vars`` and ``vars_files``."""


def _play_once(
    project: Project,
    loader: Loader,
    playbook: str,
    keys: dict[str, Node],
    inv_layers: list[dict[str, Var]],
    inv_errors: list[ParseError],
    result: Result,
    config: Config | None = None,
) -> _PlayRun:
    """One run of a play with one view of the inventory variables."""
    names: set[str] = set()
    play_vars = vars_of(keys.get("vars"), playbook, f"play vars in {playbook}")
    scope = Scope([*inv_layers, play_vars])
    errors = list(inv_errors)
    files_layer: dict[str, Var] = {}
    for entry in seq(keys.get("vars_files")):
        name = scalar(entry)
        if not name:
            continue
        try:
            resolved = scope.template(name)
        except Exception:  # an unresolved file name: its variables stay unknown
            continue
        path = posixpath.normpath(posixpath.join(posixpath.dirname(playbook) or ".", str(resolved)))
        if path in project.files:
            vloaded = loader.load(path)
            result.claimed.add(path)
            if vloaded.error is not None:
                errors.append(vloaded.error)
            if vloaded.docs:
                files_layer.update(vars_of(vloaded.docs[0], path, path))
    scope = Scope([*inv_layers, play_vars, files_layer], (names,))
    out = Out()
    out.names.append(names)  # role runs (and their replays) record their look-ups here too
    out.facts.extend(("ansible", error) for error in errors)  # variable files that do not parse: PP000
    ctx = Ctx(project, loader, out, scope, playbook, playbook)
    ctx.port_modules = config.port_modules if config is not None else {}
    run_list(ctx, keys.get("pre_tasks"))
    for ref in seq(keys.get("roles")):
        name, params = role_reference(ref, playbook)
        if not name:
            continue
        role = project.find_role(name, playbook)
        if role is not None:
            when = get(ref, "when") if isinstance(ref, MappingNode) else None
            run_role(ctx, role, params, run_file, when=when)  # evaluated in the role's scope
    for part in ("tasks", "post_tasks", "handlers"):
        run_list(ctx, keys.get(part))
    out.names.clear()
    return _PlayRun(out, names, scope)


def _host_classes(
    view: dict[str, dict[str, Var]],
    pattern: str,
    bound: int,
    run: Callable[[list[dict[str, Var]]], _PlayRun],
) -> list[tuple[list[str], Out, str]]:
    """The play's hosts in classes that agree on every inventory value the play used, each run once.

    Ansible runs each host with its own values. Hosts are first run together; when a value
    they disagree on was looked up (and not hidden by a play variable), they are split by
    that value and each class is run again, until every class agrees on what it used.
    Hosts that agree stay one run. Past ``bound`` classes the play runs once for all of
    them, and what they disagree on stays unknown, with that reason.
    """
    pending: list[tuple[list[str], tuple[str, ...]]] = [(sorted(view), ())]
    done: list[tuple[list[str], Out, str]] = []
    while pending:
        hosts, split_on = pending.pop(0)
        merged, differing = inventory.merge(view, hosts, pattern)
        played = run([merged])
        on = sorted(n for n in differing & played.names if played.scope.lookup(n) is merged[n])
        split = _split(view, hosts, on)
        if len(split) <= 1:
            done.append((hosts, played.out, f"; hosts split on {', '.join(split_on)}" if split_on else ""))
            continue
        if len(done) + len(pending) + len(split) > bound:
            why = f" (more than {bound} classes of hosts would differ: config ansible-host-classes)"
            everyone = sorted(view)
            merged, _ = inventory.merge(view, everyone, pattern, why)
            return [(everyone, run([merged]).out, "")]
        pending.extend((part, (*split_on, *on)) for part in split)
    return done


def _split(view: dict[str, dict[str, Var]], hosts: list[str], names: list[str]) -> list[list[str]]:
    """``hosts`` grouped by their values of ``names``; values that are unknown anyway do not split."""
    if not names:
        return [hosts]
    classes: dict[tuple[str, ...], list[str]] = {}
    for h in hosts:
        classes.setdefault(tuple(_value_key(view[h].get(n)) for n in names), []).append(h)
    return list(classes.values())


def _value_key(var: Var | None) -> str:
    if var is None:
        return "<undefined>"
    if isinstance(var.value, UnknownValue):
        return "<unknown>"
    return repr(var.value)


def _class_label(hosts: list[str]) -> str:
    """A class of hosts as the report names it: ``web1`` or ``web2,web3`` (the first few)."""
    shown = ",".join(hosts[:3])
    return shown if len(hosts) <= 3 else f"{shown},+{len(hosts) - 3} more"


def _merge(
    groups: dict[str, HostFacts], host: str, reason: str, hc: HostConfig | None, out: Out, result: Result
) -> None:
    group = groups.get(host)
    if group is None:
        group = groups[host] = HostFacts(host, reason, hc)
    elif reason not in group.reason and len(group.reason) < 400:
        group.reason += f"; {reason}"
    seen = group.seen
    for reader, fact in out.facts:
        pair = (reader, fact)
        try:
            if pair in seen:
                continue  # the same role reached twice on one host declares its ports once
            seen.add(pair)
        except TypeError:
            pass
        group.facts.append((reader, fact))
    result.claimed |= out.claimed
    result.resolved += out.resolved
    result.tasks.extend(out.tasks)
    for (path, line), why in out.reasons.items():
        result.reasons[(host, path, line)] = why
    for (path, line), found in out.evidence.items():
        key = (host, path, line)
        result.evidence[key] = tuple(dict.fromkeys(result.evidence.get(key, ()) + found))[:8]


def _scenario(playbook: str) -> str:
    """``molecule/<scenario>:`` for test playbooks: each scenario is a separate set of machines."""
    parts = playbook.split("/")
    if "molecule" in parts[:-2]:
        i = parts.index("molecule")
        return f"molecule/{parts[i + 1]}:"
    return ""


def _host_name(project: Project, pattern: str) -> str:
    return pattern if project.root == "." else f"{project.root}:{pattern}"


def _host_config(config: Config, host: str, pattern: str) -> HostConfig | None:
    for hc in config.hosts:
        if hc.name in (host, pattern):
            return hc
    return None
