"""``docker run`` / ``podman run`` / ``nerdctl run`` command lines, read as the compose services
they are equivalent to.

A container started by a command line (a unit's ``ExecStart=``, a provisioning script, an
Ansible ``command:`` task) publishes ports, joins a network mode, runs as a user with
capabilities and sysctls exactly as a compose service does. So the command's options are
turned into a compose service (YAML nodes located at the words of the command) and read by the
compose reader's own ``Document``: one port-spec parser, one set of container facts, one program
recognition (``data/apps.yml``) for both. The container is ``container:<--name>`` in the host's
scope (``<image> (line N)`` when unnamed), beside the host's units and firewall; each fact points
at the word that says it (the ``-p`` value's line), the container at the command's first word.

The option table is the docker CLI's (``cli/command/container/opts.go``, ``run.go``), with
Podman's and nerdctl's additions: which flags take a value decides where the image is. A flag
this table does not know is taken to take a value (most new flags do). ``docker compose run``,
``docker exec``, ``docker start`` start no new container here. ``podman run`` by a known
non-root user (a unit's ``User=``, a user unit) is rootless: its published ports are bound by
the user's port forwarder (``rootless-runtime``), which the host firewall's INPUT filters.

Bounds: ``MAX_WORDS`` words of one command (one ``ParseError`` says the rest was not read),
``MAX_RUNS`` commands per file. ``$(...)`` and backquoted substitutions and inline Jinja are
masked before splitting: what they stand for is unknown (``Unresolved``), never run.

A little over 500 lines: the three runtimes' option tables are most of it, and the parser,
the service it builds and the line scanning that feeds it read best together.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

import yaml

from portpolicy import images
from portpolicy.model import (
    Evidence,
    Fact,
    InvalidPort,
    Listener,
    Location,
    ParseError,
    ProgramStart,
    RunAs,
    Unresolved,
)
from portpolicy.readers.base import Source, mask_inline_jinja, shown
from portpolicy.readers.lexing import split_shell_spans

RUNTIMES = frozenset({"docker", "podman", "nerdctl"})
MAX_WORDS = 4096
"""Words of one container command that are read; a longer one is cut and reported once."""
MAX_RUNS = 256
"""Container commands read per file; the rest are reported once."""
MAX_LINE = 1024 * 1024
"""Characters of one logical line that are split."""

MENTION = re.compile(r"docker|podman|nerdctl")
"""A cheap test before a line is split: it may run a container."""

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"

# Global options that take a value, before the subcommand (docker, podman, nerdctl).
_GLOBAL_VALUES = frozenset(
    {
        "--config", "-c", "--context", "-H", "--host", "-l", "--log-level", "--tlscacert", "--tlscert",
        "--tlskey", "--cdi-spec-dir", "--cgroup-manager", "--conmon", "--connection", "--events-backend",
        "--hooks-dir", "--identity", "--imagestore", "--module", "--network-cmd-path", "--network-config-dir",
        "--out", "--root", "--runroot", "--runtime", "--runtime-flag", "--ssh", "--storage-driver",
        "--storage-opt", "--tmpdir", "--url", "--volumepath", "-n", "--namespace", "-a", "--address",
        "--snapshotter", "--cni-path", "--cni-netconfpath", "--data-root",
        "--host-gateway-ip", "--hosts-dir", "--insecure-registry", "--bridge-ip",
    }
)  # fmt: skip

# ``run``/``create`` options that take no value (pflag booleans; ``--flag=false`` is allowed).
_BOOLEANS = frozenset(
    {
        "detach", "interactive", "tty", "rm", "publish-all", "privileged", "init", "read-only",
        "no-healthcheck", "oom-kill-disable", "quiet", "disable-content-trust", "sig-proxy", "help",
        "use-api-socket", "replace", "rootfs", "env-host", "http-proxy", "tls-verify", "read-only-tmpfs",
        "no-hosts", "no-hostname", "passwd", "rmi", "unsetenv-all", "pull-always", "detach-keys-none",
    }
)  # fmt: skip
_SHORT_BOOLEANS = {"d": "detach", "i": "interactive", "t": "tty", "P": "publish-all", "q": "quiet"}
_SHORT_VALUES = {
    "a": "attach", "c": "cpu-shares", "e": "env", "h": "hostname", "l": "label", "m": "memory",
    "p": "publish", "u": "user", "v": "volume", "w": "workdir",
}  # fmt: skip
_ALIASES = {"net": "network", "net-alias": "network-alias", "dns-opt": "dns-option", "tz": "timezone"}

_PREFIXES = frozenset({"exec", "command", "nohup", "time", "then", "do", "else", "if", "!", "{", "builtin"})
_SUDO_VALUES = frozenset({"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-T", "--user", "--group"})
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh"})
_SUBSTITUTION = re.compile(r"\$\(|`")


@dataclass(frozen=True)
class Word:
    """One word of a command line and where it is written."""

    text: str
    location: Location


@dataclass(frozen=True)
class Invoker:
    """Who runs the command: a unit's user (``run_as``) decides whether Podman runs rootless."""

    run_as: RunAs = field(default_factory=RunAs)
    evidence: tuple[Evidence, ...] = ()


@dataclass
class Run:
    """One container command's options, each value with its word."""

    runtime: str
    where: Location
    sudo: bool
    options: dict[str, list[Word]] = field(default_factory=dict)
    flags: dict[str, Word] = field(default_factory=dict)
    image: Word | None = None
    command: list[Word] = field(default_factory=list)
    cut: bool = False


def container_run(words: Sequence[Word]) -> Run | None:
    """The container a simple command starts (``docker [opts] [container] run|create ...``), else None."""
    i, sudo = _past_prefixes(words)
    if i >= len(words):
        return None
    exe = words[i].text.lstrip("-@:+!").rsplit("/", 1)[-1]
    if exe not in RUNTIMES:
        return None
    where = words[i].location
    i += 1
    while i < len(words) and words[i].text.startswith("-"):  # global options
        key = words[i].text.partition("=")[0]
        i += 2 if key in _GLOBAL_VALUES and "=" not in words[i].text else 1
    if i < len(words) and words[i].text == "container":
        i += 1
    if i >= len(words) or words[i].text not in ("run", "create"):
        return None
    run = Run(exe, where, sudo)
    _options(run, words, i + 1)
    return run


def _past_prefixes(words: Sequence[Word]) -> tuple[int, bool]:
    """The index of the program word, past ``sudo -u x``, ``env A=1``, ``exec`` and assignments."""
    i, sudo = 0, False
    while i < len(words):
        w = words[i].text
        base = w.rsplit("/", 1)[-1]
        if _ASSIGNMENT.match(w) or w in _PREFIXES:
            i += 1
        elif base in ("sudo", "doas", "env", "nice", "nohup"):
            sudo = sudo or base in ("sudo", "doas")
            i += 1
            while i < len(words) and (words[i].text.startswith("-") or _ASSIGNMENT.match(words[i].text)):
                i += 2 if words[i].text in _SUDO_VALUES or words[i].text == "-n" else 1
        else:
            break
    return i, sudo


def _options(run: Run, words: Sequence[Word], i: int) -> None:
    """The ``run`` options up to the image (pflag: flags stop at the first argument), then the command."""
    end = min(len(words), i + MAX_WORDS)
    run.cut = len(words) > end
    while i < end:
        word = words[i]
        text = word.text
        if text == "--":
            i += 1
            break
        if not text.startswith("-") or text == "-":
            break
        if text.startswith("--"):
            name, eq, inline = text[2:].partition("=")
            name = _ALIASES.get(name, name)
            if name in _BOOLEANS:
                run.flags[name] = Word(inline if eq else "true", word.location)
                i += 1
                continue
            if eq:
                value = Word(inline, _shifted(word.location, len(name) + 3))
                i += 1
            elif i + 1 < end:
                value, i = words[i + 1], i + 2
            else:
                break
            run.options.setdefault(name, []).append(value)
            continue
        i = _shorts(run, words, i, end)
    from portpolicy.apps import MAX_WORDS as MAX_ARGS  # the program table reads as many

    run.image = words[i] if i < end else None
    run.command = list(words[i + 1 : min(end, i + 1 + MAX_ARGS)])
    run.cut = run.cut or end - (i + 1) > MAX_ARGS


def _shorts(run: Run, words: Sequence[Word], i: int, end: int) -> int:
    """Combined short flags (``-dp 80:80``, ``-p80:80``, ``-e=A=1``): the index after them."""
    word = words[i]
    text = word.text
    for k in range(1, len(text)):
        char = text[k]
        if char in _SHORT_BOOLEANS:
            run.flags[_SHORT_BOOLEANS[char]] = Word("true", word.location)
            continue
        name = _SHORT_VALUES.get(char)
        if name is None:
            return i + 1  # a short flag no runtime documents: passed over
        rest = text[k + 1 :]
        if rest:
            skip = 1 if rest.startswith("=") else 0
            run.options.setdefault(name, []).append(Word(rest[skip:], _shifted(word.location, k + 1 + skip)))
            return i + 1
        if i + 1 < end:
            run.options.setdefault(name, []).append(words[i + 1])
            return i + 2
        return i + 1
    return i + 1


def _shifted(loc: Location, columns: int) -> Location:
    return Location(loc.path, loc.line, loc.column + columns)


# -- the compose service ----------------------------------------------------------------------


def _mark(loc: Location) -> yaml.Mark:
    return yaml.Mark(loc.path, 0, loc.line - 1, loc.column - 1, None, 0)


def _scalar(text: str, loc: Location) -> yaml.ScalarNode:
    mark = _mark(loc)
    return yaml.ScalarNode(_STR, text, mark, mark, style="'")


def _sequence(values: Sequence[Word], loc: Location) -> yaml.SequenceNode:
    mark = _mark(loc)
    return yaml.SequenceNode(_SEQ, [_scalar(v.text, v.location) for v in values], mark, mark)


def _split_commas(values: Sequence[Word]) -> list[Word]:
    """``--cap-add NET_ADMIN,SYS_TIME``: Podman and nerdctl take lists (a name holds no comma)."""
    return [Word(part.strip(), v.location) for v in values for part in v.text.split(",") if part.strip()]


def _publish(value: Word) -> Word:
    """Docker's long ``-p published=8080,target=80,protocol=udp`` as the short spec it converts it to."""
    if "=" not in value.text:
        return value
    params = {"protocol": "tcp"}
    for param in value.text.split(","):
        key, _, val = param.partition("=")
        params[key.strip()] = val.strip()
    return Word(
        f"{params.get('published', '')}:{params.get('target', '')}/{params['protocol']}", value.location
    )


def service_node(run: Run) -> tuple[str, yaml.MappingNode]:
    """The compose service this command is equivalent to, and its name."""
    pairs: list[tuple[yaml.Node, yaml.Node]] = []

    def put(key: str, at: Location, value: yaml.Node) -> None:
        pairs.append((_scalar(key, at), value))

    opts = run.options
    first = {k: v[0] for k, v in opts.items() if v}
    last = {k: v[-1] for k, v in opts.items() if v}
    if run.image is not None:
        put("image", run.image.location, _scalar(run.image.text, run.image.location))
    if "user" in last:
        put("user", last["user"].location, _scalar(last["user"].text, last["user"].location))
    if "network" in first:
        put(
            "network_mode",
            first["network"].location,
            _scalar(first["network"].text, first["network"].location),
        )
    for option, key in (("cap-add", "cap_add"), ("cap-drop", "cap_drop")):
        if option in opts:
            put(
                key,
                opts[option][0].location,
                _sequence(_split_commas(opts[option]), opts[option][0].location),
            )
    privileged = run.flags.get("privileged")
    if privileged is not None and privileged.text.lower() in ("true", "1", "t"):
        put("privileged", privileged.location, _scalar("true", privileged.location))
    ports = [_publish(v) for v in opts.get("publish", [])]
    exposed = list(opts.get("expose", []))
    publish_all = run.flags.get("publish-all")
    if publish_all is not None and publish_all.text.lower() in ("true", "1", "t"):
        known = images.lookup(run.image.text) if run.image is not None else None
        ports += [Word(v.text, publish_all.location) for v in exposed]  # to random host ports
        ports += [Word(p, publish_all.location) for p in (known.ports if known is not None else ())]
    if ports:
        put("ports", ports[0].location, _sequence(ports, ports[0].location))
    if exposed:
        put("expose", exposed[0].location, _sequence(exposed, exposed[0].location))
    for option, key in (("sysctl", "sysctls"), ("security-opt", "security_opt"), ("env", "environment")):
        if option in opts:
            put(key, opts[option][0].location, _sequence(opts[option], opts[option][0].location))
    if "env-file" in opts:
        put(
            "env_file",
            opts["env-file"][0].location,
            _sequence(opts["env-file"], opts["env-file"][0].location),
        )
    entrypoint = last.get("entrypoint")
    if entrypoint is not None and entrypoint.text:
        put("entrypoint", entrypoint.location, _sequence([entrypoint], entrypoint.location))
    if run.command:
        put("command", run.command[0].location, _sequence(run.command, run.command[0].location))
    mark = _mark(run.where)
    return _name(run), yaml.MappingNode(_MAP, pairs, mark, mark)


def _name(run: Run) -> str:
    """``--name``, else the image's name and the command's line (Docker would pick a random name)."""
    name = run.options.get("name")
    if name and name[-1].text.strip():
        return name[-1].text.strip()
    image = run.image.text if run.image is not None else run.runtime
    base = image.partition("@")[0].rsplit("/", 1)[-1].partition(":")[0] or run.runtime
    return f"{base} (line {run.where.line})"


# -- facts ------------------------------------------------------------------------------------


def facts(run: Run, path: str, invoker: Invoker, placeholders: Mapping[str, str] | None = None) -> list[Fact]:
    """The container's facts, as the compose reader reads the service equivalent to ``run``."""
    from portpolicy.readers.compose.document import Document

    name, svc = service_node(run)
    mark = _mark(run.where)
    key = _scalar(name, run.where)
    root = yaml.MappingNode(
        _MAP, [(_scalar("services", run.where), yaml.MappingNode(_MAP, [(key, svc)], mark, mark))], mark, mark
    )
    doc = Document(Source(path, ""), dict(placeholders or {}), None)
    out: list[Fact] = []
    if run.cut:
        out.append(
            ParseError(
                f"{run.runtime} run: more than {MAX_WORDS} words; the rest of the command is not read",
                run.where,
            )
        )
    rootless = _rootless(run, invoker)
    for fact in doc.document(root, by_name=False):
        out.append(_adapted(fact, name, rootless, invoker))
    return out


def _rootless(run: Run, invoker: Invoker) -> bool:
    """Podman run by a known non-root user (not through sudo): rootless."""
    return run.runtime == "podman" and not run.sudo and invoker.run_as.is_root is False


def _adapted(fact: Fact, name: str, rootless: bool, invoker: Invoker) -> Fact:
    """A compose fact said of a command: the container named, rootless publishing, flags' words."""
    if isinstance(fact, Listener):
        evidence = tuple(_flag_words(e) for e in fact.evidence)
        if fact.bound_by == "runtime":
            if rootless:
                why = Evidence(
                    invoker.run_as.location or fact.location,
                    _ROOTLESS.format(user=shown(invoker.run_as.user or "")),
                )
                return replace(
                    fact,
                    bound_by="rootless-runtime",
                    run_as=invoker.run_as,
                    evidence=(*evidence, why, *invoker.evidence),
                )
            return replace(fact, evidence=evidence)
        return replace(fact, container=name, evidence=evidence)
    if isinstance(fact, ProgramStart):
        return replace(fact, container=name, evidence=tuple(_flag_words(e) for e in fact.evidence))
    if isinstance(fact, InvalidPort):
        return replace(fact, reason=_flag_text(fact.reason))
    if isinstance(fact, Unresolved) and _SUBSTITUTION.search(fact.value):
        return replace(
            fact, reason=_UNKNOWN_WHY.sub(" is a command substitution, known only when it runs", fact.reason)
        )
    return fact


_UNKNOWN_WHY = re.compile(r" (?:holds a variable without a default|is not known statically)$")
_ROOTLESS = (
    "podman run by user {user!r}: rootless, its published ports are bound by the user's port forwarder"
)


def _flag_words(evidence: Evidence) -> Evidence:
    return replace(evidence, message=_flag_text(evidence.message))


def _flag_text(text: str) -> str:
    return text.replace("network_mode: ", "--network ").replace("'ports'", "-p")


# -- command lines ----------------------------------------------------------------------------

Position = Callable[[int], Location]


def mask(text: str, template: bool) -> tuple[str, dict[str, str]]:
    """``$(...)``, backquotes and (in a template) inline Jinja as ``$J<n>`` words, same length."""
    placeholders: dict[str, str] = {}
    if template and ("{{" in text or "{%" in text):
        text, placeholders = mask_inline_jinja(text, "$J")
    if "$(" not in text and "`" not in text:
        return text, placeholders
    out: list[str] = []
    i = done = 0
    n = len(text)
    while i < n:
        if text.startswith("$(", i) and not text.startswith("$((", i):
            end = _closing(text, i + 2)
        elif text[i] == "`":
            close = text.find("`", i + 1)
            end = n if close < 0 else close + 1
        else:
            i += 1
            continue
        out.append(text[done:i])
        original = text[i:end]
        word = f"$J{len(placeholders)}"
        word += "_" * max(0, len(original) - len(word))
        placeholders[word] = original
        out.append(word)
        i = done = end
    out.append(text[done:])
    return "".join(out), placeholders


def _closing(text: str, i: int) -> int:
    """The end of a ``$(`` substitution (nested parentheses counted; unclosed: the line's end)."""
    depth = 1
    n = len(text)
    while i < n:
        char = text[i]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return n


def commands(text: str, position: Position) -> Iterator[list[Word]]:
    """The simple commands of one (masked) logical line, words located by ``position``; raises ValueError."""
    current: list[Word] = []
    for word, offset in split_shell_spans(text[:MAX_LINE], punctuation=";&|()", comments=True):
        if word and all(c in ";&|()" for c in word):
            if current:
                yield current
            current = []
        elif not (word[:1].isdigit() and ">" in word) and word[:1] not in "<>":
            current.append(Word(word, position(offset)))
    if current:
        yield current


def unwrap_shell(words: list[Word]) -> list[Word]:
    """``sh -c "docker run ..."``: the inner command's words, all at the ``-c`` argument's place."""
    i, _ = _past_prefixes(words)
    if i + 2 < len(words) and words[i].text.rsplit("/", 1)[-1] in _SHELLS and words[i + 1].text == "-c":
        where = words[i + 2].location
        try:
            inner = split_shell_spans(words[i + 2].text[:MAX_LINE], punctuation=";&|()", comments=True)
        except ValueError:
            return words
        cut = next((k for k, (w, _) in enumerate(inner) if w and all(c in ";&|()" for c in w)), len(inner))
        return [Word(w, where) for w, _ in inner[:cut]]
    return words


@dataclass
class Reads:
    """The container commands of one file, bounded (``MAX_RUNS``), with their facts."""

    path: str
    invoker: Invoker = field(default_factory=Invoker)
    found: list[Fact] = field(default_factory=list)
    count: int = 0

    def line(self, text: str, position: Position, template: bool = False) -> None:
        """Every container command of one logical line."""
        if MENTION.search(text) is None:
            return
        masked, placeholders = mask(text, template)
        try:
            for words in commands(masked, position):
                self.words(unwrap_shell(words), placeholders)
        except ValueError as exc:
            if _mentions_run(masked):
                self.found.append(ParseError(f"cannot split the command line: {exc}", position(0)))

    def words(self, words: Sequence[Word], placeholders: Mapping[str, str] | None = None) -> None:
        """One simple command: its container's facts when it runs one."""
        run = container_run(words)
        if run is None:
            return
        self.count += 1
        if self.count > MAX_RUNS:
            if self.count == MAX_RUNS + 1:
                why = f"more than {MAX_RUNS} container commands; the rest are not read"
                self.found.append(ParseError(why, run.where))
            return
        self.found.extend(facts(run, self.path, self.invoker, placeholders))


def _mentions_run(text: str) -> bool:
    """Does a line that cannot be split look like a container command (one PP000, not silence)?"""
    words = text.split(None, 64)[:64]
    for k, w in enumerate(words):
        if w.rsplit("/", 1)[-1] in RUNTIMES and any(x in ("run", "create") for x in words[k + 1 : k + 8]):
            return True
    return False
