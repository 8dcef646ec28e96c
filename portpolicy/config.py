"""Configuration: found by walking up from the scanned paths, validated by a shipped schema.

``.portpolicy.yml`` (or ``.yaml``) wins over ``[tool.portpolicy]`` in ``pyproject.toml`` in
the same directory. jsonschema is imported only when there is a file to validate, so a
run without a config file stays light.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from portpolicy.errors import UsageError

CONFIG_NAMES = (".portpolicy.yml", ".portpolicy.yaml")
SEVERITIES = ("error", "warning", "info")
FAIL_ON = ("error", "warning", "info", "never")


class ConfigError(UsageError):
    """A configuration problem the user must fix; the CLI prints it and exits 2."""


@dataclass(frozen=True)
class HostConfig:
    name: str
    paths: tuple[str, ...] = ()
    platform: str | None = None
    runtime: str | None = None
    kernel: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
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

    def rule_directories(self) -> list[str]:
        """Custom rule directories, relative ones taken from the config file's directory."""
        base = self.root if self.path else "."
        return [d if os.path.isabs(d) else os.path.join(base, d) for d in self.rules_dirs]


def find_config(paths: list[str]) -> Path | None:
    """The nearest config file above the first scanned path (or the working directory)."""
    start = Path(paths[0] if paths else ".").resolve()
    if start.is_file():
        start = start.parent
    for directory in (start, *start.parents):
        for name in CONFIG_NAMES:
            candidate = directory / name
            if candidate.is_file():
                return candidate
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file() and _pyproject_section(pyproject) is not None:
            return pyproject
    return None


def load_config(path: Path | None, overrides: dict[str, Any] | None = None) -> Config:
    """Read and validate ``path`` (or defaults), then apply command-line ``overrides``."""
    data: dict[str, Any] = {}
    if path is not None:
        data = _read(path)
        validate(data, str(path))
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    root = str(path.parent) if path is not None else "."
    return _build(data, str(path) if path else None, root)


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: config is not UTF-8 text") from None
    if path.name == "pyproject.toml":
        section = _pyproject_section(path, text)
        return section or {}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ConfigError(
            f"{path}{where}: config is not valid YAML: {getattr(exc, 'problem', exc)}"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: config must be a mapping of settings, not {type(data).__name__}")
    return data


def _pyproject_section(path: Path, text: str | None = None) -> dict[str, Any] | None:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]
    try:
        doc = tomllib.loads(text if text is not None else path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None
    except tomllib.TOMLDecodeError as exc:
        if text is None:
            return None
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    section = doc.get("tool", {}).get("portpolicy")
    return section if isinstance(section, dict) else None


def schema() -> dict[str, Any]:
    text = resources.files("portpolicy.schemas").joinpath("config.schema.json").read_text(encoding="utf-8")
    result: dict[str, Any] = json.loads(text)
    return result


def validate(data: dict[str, Any], where: str) -> None:
    """Raise ConfigError naming the first bad key and the file."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    err = errors[0]
    key = ".".join(str(p) for p in err.absolute_path) or "(top level)"
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        key = ".".join([*(str(p) for p in err.absolute_path), extra[0]]) if extra else key
        raise ConfigError(f"{where}: unknown config key '{key}'")
    raise ConfigError(f"{where}: config key '{key}': {err.message}")


def _tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(str(v) for v in value)


def _kernel(value: Any) -> dict[str, str]:
    result: dict[str, str] = {}
    for key, raw in (value or {}).items():
        result[key] = " ".join(str(v) for v in raw) if isinstance(raw, list) else str(raw)
    return result


def _build(data: dict[str, Any], path: str | None, root: str) -> Config:
    hosts = tuple(
        HostConfig(
            name=str(name),
            paths=_tuple(spec.get("paths")),
            platform=spec.get("platform"),
            runtime=spec.get("runtime"),
            kernel=_kernel(spec.get("kernel")),
        )
        for name, spec in (data.get("hosts") or {}).items()
    )
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
        exclude=_tuple(data.get("exclude")),
        per_file_ignores={str(k): _tuple(v) for k, v in (data.get("per-file-ignores") or {}).items()},
        platform=str(data.get("platform", "linux")),
        runtime=str(data.get("runtime", "docker")),
        kernel=_kernel(data.get("kernel")),
        rules_dirs=_tuple(data.get("rules-dirs")),
        hosts=hosts,
        wide_range=int(data.get("wide-range", 1000)),
        runtime_set="runtime" in data,
    )
