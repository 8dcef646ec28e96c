"""Configuration: found by walking up from the scanned paths, validated by a shipped schema.

``.portpolicy.yml`` (or ``.yaml``) wins over ``[tool.portpolicy]`` in ``pyproject.toml`` in
the same directory. jsonschema is imported only when there is a file to validate, so a
run without a config file stays light.

A config decides verdicts, so the search trusts only what the repository's owner wrote: it
stops at the repository root (the first folder with ``.git``) or where the filesystem
changes, and passes over a config that is a symbolic link or sits in a folder (or is a file)
that others than its owner may write: a ``.portpolicy.yml`` dropped into ``/tmp`` must not
silence a scan below it. What was passed over is reported in ``notes`` (shown by ``-v``).
A config that is found but broken stops the run (exit 2) naming the file and line.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from collections.abc import Iterable
from dataclasses import field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from portpolicy import safeio
from portpolicy.errors import UsageError
from portpolicy.records import record

if TYPE_CHECKING:  # pathspec costs tens of milliseconds to import: only when a glob is compiled
    import pathspec

CONFIG_NAMES = (".portpolicy.yml", ".portpolicy.yaml")
SEVERITIES = ("error", "warning", "info")
FAIL_ON = ("error", "warning", "info", "never")
CONFIG_LIMIT = 1024 * 1024
MAX_CONFIG_VALUES = 100_000


class ConfigError(UsageError):
    """A configuration problem the user must fix; the CLI prints it and exits 2."""


@record
class HostConfig:
    name: str
    paths: tuple[str, ...] = ()
    platform: str | None = None
    runtime: str | None = None
    kernel: dict[str, str] = field(default_factory=dict)


@record
class HelmChart:
    """How one chart is installed: extra values files (relative to the config's folder), release, namespace."""

    values: tuple[str, ...] = ()
    release: str | None = None
    namespace: str | None = None


@record
class HelmConfig:
    """The ``helm:`` section: a ``helm`` executable to use, and per-chart install settings
    keyed by the chart's folder relative to the config's folder."""

    executable: str | None = None
    charts: dict[str, HelmChart] = field(default_factory=dict)
    max_releases: int = 8
    """Releases rendered per chart: its default values, then switches and values overlays."""


@record
class PortModule:
    """What a custom Ansible module's arguments mean (``port-modules``): its code is never run.

    ``fact`` is ``firewall`` (the module opens ports) or ``listener`` (a process binds them);
    ``port`` the argument holding the port, a range or a list of them; ``protocol`` an
    argument's name or a literal protocol (``tcp``); ``action`` the firewall verdict;
    ``address`` (listener) the argument holding the bind address, else the wildcard.
    """

    fact: str
    port: str
    protocol: str = "tcp"
    action: str = "accept"
    address: str | None = None


@record
class Config:
    """Everything that changes a verdict; the defaults are a stock Linux host with rootful Docker."""

    path: str | None = None
    root: str = "."
    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    severity: dict[str, str] = field(default_factory=dict)
    fail_on: str = "error"
    exclude: tuple[str, ...] = ()
    per_file_ignores: dict[str, tuple[str, ...]] = field(default_factory=dict)
    platform: str = "linux"
    runtime: str = "docker"
    kernel: dict[str, str] = field(default_factory=dict)
    rules_dirs: tuple[str, ...] = ()
    hosts: tuple[HostConfig, ...] = ()
    wide_range: int = 1000
    """A firewall opening of at least this many ports is "wide" (PP003)."""
    runtime_set: bool = False
    """True when the runtime was chosen (config or command line), not defaulted."""
    respect_gitignore: bool = True
    """Pass over what ``.gitignore`` files and ``.git/info/exclude`` ignore (inside a git repository)."""
    roots: tuple[str, ...] = ()
    """Resolved roots of the scan (set by ``scan``): no scanned file is read outside them."""
    helm: HelmConfig = field(default_factory=HelmConfig)
    """How charts are rendered (``portpolicy.helm``)."""
    ansible_host_classes: int = 8
    """At most this many classes of hosts per Ansible play that disagree on a value it uses."""
    jobs: int | None = None
    """Processes that read files at once (``--jobs``); None: one per CPU this process may use."""
    cache_dir: str | None = None
    """Where per-file reads are cached between runs (``--cache``, ``portpolicy.cache``); None: no cache."""
    port_modules: dict[str, PortModule] = field(default_factory=dict)
    """Custom Ansible modules (``library/``) whose arguments declare ports, by module name."""

    def rule_directories(self) -> list[str]:
        """Custom rule directories, relative ones taken from the config file's directory."""
        base = self.root if self.path else "."
        return [d if os.path.isabs(d) else os.path.join(base, d) for d in self.rules_dirs]


def find_config(paths: list[str], notes: list[str] | None = None) -> Path | None:
    """The nearest trusted config file above the first scanned path (or the working directory).

    Configs passed over (a link, a folder others may write) are described in ``notes``.
    """
    start = safeio.root_of(paths[0] if paths else ".")
    if not os.path.isdir(start):
        start = os.path.dirname(start)
    for directory in safeio.ancestors(start):
        found = _config_in(Path(directory), notes if notes is not None else [])
        if found is not None:
            return found
    return None


def _config_in(directory: Path, notes: list[str]) -> Path | None:
    for name in (*CONFIG_NAMES, "pyproject.toml"):
        candidate = directory / name
        try:
            info = candidate.lstat()
        except OSError:
            continue
        distrust = _untrusted(directory, info)
        if distrust is not None:
            notes.append(f"ignored config {candidate}: {distrust}")
            continue
        if name != "pyproject.toml" or _pyproject_section(candidate) is not None:
            return candidate
    return None


def _untrusted(directory: Path, info: os.stat_result) -> str | None:
    """Why a config found by searching cannot be trusted, or None."""
    if stat.S_ISLNK(info.st_mode):
        return "it is a symbolic link (a config found by searching must be a regular file)"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if _others_may_write(info):
        return "the file is writable by others than its owner"
    try:
        folder = directory.stat()
    except OSError:
        return "its folder cannot be read"
    if _others_may_write(folder):
        return f"its folder {directory} is writable by others than its owner"
    return None


def _others_may_write(info: os.stat_result) -> bool:
    """World-writable, or group-writable for a group that is more than the owner.

    ``/tmp`` is world-writable with the sticky bit: nobody can replace a file there, but
    anybody can create one, so it counts as writable by others. A group-writable file of
    the owner's own private group (``umask 002`` on Debian and Ubuntu) is the owner's alone.
    """
    if os.name == "nt":  # pragma: no cover - no POSIX modes to go by
        return False
    if info.st_mode & stat.S_IWOTH:
        return True
    return bool(info.st_mode & stat.S_IWGRP) and not _private_group(info.st_uid, info.st_gid)


def _private_group(uid: int, gid: int) -> bool:
    import grp
    import pwd

    try:
        owner = pwd.getpwuid(uid).pw_name
        group = grp.getgrgid(gid)
    except KeyError:
        return False
    return group.gr_name == owner and set(group.gr_mem) <= {owner}


def load_config(path: Path | None, overrides: dict[str, Any] | None = None) -> Config:
    """Read and validate ``path`` (or defaults), then apply command-line ``overrides``."""
    data: dict[str, Any] = {}
    if path is not None:
        data, text = _read(path)
        validate(data, str(path), text)
        if data.get("cache-dir"):
            data["cache-dir"] = _cache_folder(str(data["cache-dir"]), path)
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    root = str(path.parent) if path is not None else "."
    return _build(data, str(path) if path else None, root)


def _read(path: Path) -> tuple[dict[str, Any], str]:
    """The settings in ``path`` and the text they came from (for line numbers)."""
    data = safeio.read_bytes(str(path), limit=CONFIG_LIMIT)
    if isinstance(data, safeio.Refusal):
        raise ConfigError(f"{path}: cannot read config: {data.reason}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: config is not UTF-8 text") from None
    if path.name == "pyproject.toml":
        section = _pyproject_section(path, text)
        return section or {}, text
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ConfigError(
            f"{path}{where}: config is not valid YAML: {getattr(exc, 'problem', None) or 'syntax error'}"
        ) from None
    if loaded is None:
        return {}, text
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: config must be a mapping of settings, not {type(loaded).__name__}")
    if _expands_beyond(loaded, MAX_CONFIG_VALUES):
        raise ConfigError(f"{path}: config expands to more than {MAX_CONFIG_VALUES} values (YAML aliases?)")
    return loaded, text


def _expands_beyond(data: Any, limit: int) -> bool:
    """True when ``data`` holds more than ``limit`` values, counting each alias use again.

    YAML aliases make a few lines stand for billions of values; validation messages and
    ``str()`` would walk every one of them.
    """
    stack = [data]
    count = 0
    while stack:
        item = stack.pop()
        count += 1
        if count > limit:
            return True
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


_TOML_LINE = re.compile(r"\(at line (\d+), column \d+\)")


def _pyproject_section(path: Path, text: str | None = None) -> dict[str, Any] | None:
    """``[tool.portpolicy]`` of a pyproject.toml, None when it has none; broken TOML stops the run."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]
    if text is None:
        data = safeio.read_bytes(str(path), limit=CONFIG_LIMIT)
        if isinstance(data, safeio.Refusal):
            raise ConfigError(f"{path}: cannot read: {data.reason}")
        text = data.decode("utf-8-sig", errors="replace")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_LINE.search(str(exc))
        where = f":{found.group(1)}" if found else ""
        raise ConfigError(f"{path}{where}: invalid TOML: {_TOML_LINE.sub('', str(exc)).strip()}") from None
    tool = doc.get("tool")
    section = tool.get("portpolicy") if isinstance(tool, dict) else None
    if section is None:
        return None
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [tool.portpolicy] must be a table of settings")
    return section


def schema() -> dict[str, Any]:
    text = resources.files("portpolicy.schemas").joinpath("config.schema.json").read_text(encoding="utf-8")
    result: dict[str, Any] = json.loads(text)
    return result


def validate(data: dict[str, Any], where: str, text: str | None = None) -> None:
    """Raise ConfigError naming the first bad key, the file and (given its ``text``) the line."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    err = errors[0]
    path = [str(p) for p in err.absolute_path]
    if err.validator == "additionalProperties":
        known = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(known))
        if extra:
            path.append(extra[0])
            import difflib

            guess = difflib.get_close_matches(extra[0], known, n=1)
            hint = f" (did you mean '{guess[0]}'?)" if guess else ""
            raise ConfigError(f"{where}{_line(text, path)}: unknown config key '{'.'.join(path)}'{hint}")
    key = ".".join(path) or "(top level)"
    raise ConfigError(f"{where}{_line(text, path)}: config key '{key}': {err.message}")


def _line(text: str | None, path: list[str]) -> str:
    """``:N`` for the line where the innermost key of ``path`` is written, found by its spelling.

    In a pyproject.toml the search starts at ``[tool.portpolicy``, so another tool's key of
    the same name is not blamed.
    """
    keys = [p for p in path if not p.isdigit()]
    if not text or not keys:
        return ""
    start = max(text.find("[tool.portpolicy"), 0)
    key = re.escape(keys[-1])
    spelled = re.compile(rf"""^[ \t]*(?:-[ \t]*)?(?:\[[\w.-]*\.)?["']?{key}["']?[ \t]*[:=\]]""", re.M)
    found = spelled.search(text, start)
    return f":{text.count(chr(10), 0, found.start()) + 1}" if found else ""


def compile_globs(patterns: Iterable[str]) -> pathspec.GitIgnoreSpec:
    """Gitignore-style patterns (``exclude``, ``per-file-ignores``, ``.gitignore``) on RE2.

    RE2 runs in linear time, whatever a hostile pattern looks like. Raises ValueError for
    a pattern git would not accept either.
    """
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(list(patterns), backend="re2")


def _checked_globs(patterns: tuple[str, ...], where: str, key: str) -> tuple[str, ...]:
    if not patterns:
        return patterns
    try:
        compile_globs(patterns)
    except ValueError as exc:
        raise ConfigError(f"{where}: {key}: {exc}") from None
    return patterns


def _tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(str(v) for v in value)


def _kernel(value: Any, where: str) -> dict[str, str]:
    """Kernel settings as text; a value the kernel would refuse is a config error, not a guess."""
    from portpolicy import kernel

    result: dict[str, str] = {}
    for key, raw in (value or {}).items():
        text = " ".join(str(v) for v in raw) if isinstance(raw, list) else str(raw)
        parsed = kernel.parse_override(str(key), text)
        if isinstance(parsed, str):
            raise ConfigError(f"{where}: kernel.{key}: {parsed}")
        result[key] = text
    return result


def _build(data: dict[str, Any], path: str | None, root: str) -> Config:
    hosts = tuple(
        HostConfig(
            name=str(name),
            paths=_tuple(spec.get("paths")),
            platform=spec.get("platform"),
            runtime=spec.get("runtime"),
            kernel=_kernel(spec.get("kernel"), path or "config"),
        )
        for name, spec in (data.get("hosts") or {}).items()
    )
    where = path or "config"
    fail_on = data.get("fail-on", "error")
    if fail_on not in FAIL_ON:
        raise ConfigError(f"--fail-on must be one of {', '.join(FAIL_ON)}, not {fail_on!r}")
    return Config(
        path=path,
        root=root,
        select=_tuple(data["select"]) if data.get("select") is not None else None,
        extend_select=_tuple(data.get("extend-select")),
        ignore=_tuple(data.get("ignore")),
        severity={str(k): str(v) for k, v in (data.get("severity") or {}).items()},
        fail_on=fail_on,
        exclude=_checked_globs(_tuple(data.get("exclude")), where, "exclude"),
        per_file_ignores={
            _checked_globs((str(k),), where, "per-file-ignores")[0]: _tuple(v)
            for k, v in (data.get("per-file-ignores") or {}).items()
        },
        platform=str(data.get("platform", "linux")),
        runtime=str(data.get("runtime", "docker")),
        kernel=_kernel(data.get("kernel"), path or "config"),
        rules_dirs=_tuple(data.get("rules-dirs")),
        hosts=hosts,
        wide_range=int(data.get("wide-range", 1000)),
        runtime_set="runtime" in data,
        respect_gitignore=bool(data.get("respect-gitignore", True)),
        helm=_helm(data.get("helm")),
        ansible_host_classes=int(data.get("ansible-host-classes", 8)),
        jobs=int(data["jobs"]) if data.get("jobs") is not None else None,
        cache_dir=str(data["cache-dir"]) if data.get("cache-dir") else None,
        port_modules=_port_modules(data.get("port-modules")),
    )


def _cache_folder(value: str, config: Path) -> str:
    """``cache-dir`` of a config file: a folder below the config's own folder, never elsewhere.

    A config comes with the repository (a pull request may change it) and names where
    portpolicy writes: it may not point outside the repository (``/``, ``..``, a symbolic
    link out). ``--cache DIR`` on the command line may name any folder.
    """
    base = config.parent
    folder = os.path.normpath(os.path.join(base, value))
    real_base = os.path.realpath(base)
    real = os.path.realpath(folder)
    inside = real == real_base or real.startswith(real_base + os.sep)
    if os.path.isabs(value) or not inside or real == real_base:
        raise ConfigError(
            f"{config}: cache-dir {value!r} must be a folder below the config file's folder;"
            " give --cache DIR for a folder elsewhere"
        )
    return folder


def _port_modules(value: Any) -> dict[str, PortModule]:
    """The ``port-modules:`` section (already validated by the schema)."""
    return {
        str(name): PortModule(
            fact=str(spec["fact"]),
            port=str(spec["port"]),
            protocol=str(spec.get("protocol", "tcp")),
            action=str(spec.get("action", "accept")),
            address=str(spec["address"]) if spec.get("address") else None,
        )
        for name, spec in (value or {}).items()
    }


def _helm(value: Any) -> HelmConfig:
    """The ``helm:`` section (already validated by the schema)."""
    if not value:
        return HelmConfig()
    charts = {
        str(path).strip("/") or ".": HelmChart(
            values=_tuple((spec or {}).get("values")),
            release=(spec or {}).get("release"),
            namespace=(spec or {}).get("namespace"),
        )
        for path, spec in (value.get("charts") or {}).items()
    }
    executable = value.get("executable")
    return HelmConfig(str(executable) if executable else None, charts, int(value.get("max-releases", 8)))
