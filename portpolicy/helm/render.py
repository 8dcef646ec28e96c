"""The one module that touches Helm: ``helm template``, or the ``helm-python-sdk`` package.

Both give the same thing: the rendered manifests of one release, keyed by Helm's name for
the template (``app/templates/deployment.yaml``, ``app/charts/db/templates/svc.yaml``), the
``# Source:`` header ``helm template`` prints. Partials, ``NOTES.txt`` and templates that
render to nothing are left out, as ``helm template`` leaves them out.

The package (``helm_python``, Helm's Go SDK behind a C ABI, pinned ``>=0.2.2,<0.3``) is
imported only here and only in the child process; it renders offline and its ``lookup``
returns nothing. The executable runs with a private, empty Helm home (no repositories, no
plugins, no kubeconfig) and is never one inside the scanned tree: the config that names it
may come from the pull request under scan.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from portpolicy import safeio

SDK_MODULE = "helm_python"
NO_ENGINE = "install portpolicy[helm] or put helm on PATH"
"""Why a chart was not checked when neither engine is there (``report.text`` counts these)."""
MAX_REASON = 300
"""How much of Helm's own error message a reason keeps (one line)."""
MAX_OUTPUT = 16 * 1024 * 1024
"""Rendered manifests of one release: more is a chart that generates, not one that deploys."""
SCHEMA_REFUSED = "meet the specifications of the schema"
"""Helm's words when a values schema (or the values it checks) stops the release."""
NO_NETWORK = "http://127.0.0.1:1"
"""The proxy Helm is given: a connection it makes (a schema naming a URL) is refused at once,
on this machine, instead of reaching the network."""
_SOURCE = re.compile(r"^# Source: (.+)$", re.M)


class RenderError(Exception):
    """Helm could not render the release; ``str()`` is the reason shown to the user."""


@dataclass(frozen=True)
class Engine:
    """Which Helm renders: ``executable`` at ``path``, or the ``package``."""

    kind: str
    path: str = ""

    def describe(self) -> str:
        return f"helm executable {self.path}" if self.kind == "executable" else "helm-python-sdk"


def find_engine(executable: str | None, roots: tuple[str, ...]) -> Engine | str:
    """The engine to use, or why there is none: a ``helm`` executable (the one the config
    names, else ``helm`` on ``PATH``) first, as a user who has one expects, else the package.

    An executable inside the scanned tree is never run (the pull request under scan may
    have put it there, and on ``PATH``).
    """
    found = shutil.which(executable or "helm")
    if found and not (roots and safeio.within(os.path.realpath(found), roots)):
        return Engine("executable", os.path.realpath(found))
    if importlib.util.find_spec(SDK_MODULE) is not None:
        return Engine("package")
    return NO_ENGINE


def render(
    engine: Engine,
    archive: bytes,
    values: list[tuple[str, str]],
    release: str,
    namespace: str,
    timeout: float,
) -> dict[str, str]:
    """The release's manifests (Helm's template name -> text); ``RenderError`` with Helm's reason."""
    if engine.kind == "executable":
        manifests = _render_executable(engine.path, archive, values, release, namespace, timeout)
    else:
        manifests = _render_package(archive, values, release, namespace)
    if sum(len(v) for v in manifests.values()) > MAX_OUTPUT:
        raise RenderError(f"rendered manifests are over {MAX_OUTPUT // 1048576} MiB")
    return {name: text for name, text in manifests.items() if _kept(name, text)}


def _kept(name: str, text: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return not base.startswith("_") and base != "NOTES.txt" and bool(text.strip())


def _render_package(
    archive: bytes, values: list[tuple[str, str]], release: str, namespace: str
) -> dict[str, str]:
    import helm_python

    merged: dict[str, Any] = {}
    for path, text in values:
        try:
            merge_values(merged, helm_python.values_from_yaml(text))
        except helm_python.HelmError as exc:
            raise RenderError(f"values file {path} is not valid: {one_line(str(exc))}") from None
    try:
        chart = helm_python.Chart.load_archive(archive)
    except helm_python.HelmError as exc:
        raise RenderError(f"Helm cannot load the chart: {one_line(str(exc))}") from None
    with chart:
        _check_dependencies(chart)
        try:
            return chart.render(merged or None, name=release, namespace=namespace, is_install=True)
        except helm_python.HelmError as exc:
            raise RenderError(_failure("a template failed", str(exc))) from None


def _check_dependencies(chart: Any) -> None:
    """What ``helm template`` checks before it renders: every declared dependency is in ``charts/``."""
    loaded = {str(d.get("name", "")) for d in chart.dependencies}
    for dep in chart.metadata.get("dependencies") or ():
        name = str(dep.get("name", ""))
        if name and name not in loaded and str(dep.get("alias", "")) not in loaded:
            raise RenderError(
                f"dependency {name} is declared in Chart.yaml but missing in charts/; "
                "`helm dependency build` vendors it"
            )


def merge_values(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """``extra`` over ``base`` as ``helm -f a -f b`` merges: maps deeply, anything else replaced."""
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            merge_values(base[key], value)
        else:
            base[key] = value


def _render_executable(
    helm: str, archive: bytes, values: list[tuple[str, str]], release: str, namespace: str, timeout: float
) -> dict[str, str]:
    with tempfile.TemporaryDirectory(prefix="portpolicy-helm-") as home:
        chart = os.path.join(home, "chart.tgz")
        with open(chart, "wb") as f:
            f.write(archive)
        command = [helm, "template", release, chart, "--namespace", namespace]
        for i, (_, text) in enumerate(values):
            name = os.path.join(home, f"values-{i}.yaml")
            with open(name, "w", encoding="utf-8") as f:
                f.write(text)
            command += ["--values", name]
        try:
            done = subprocess.run(
                command,
                env=_private_env(home),
                cwd=home,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise RenderError(f"helm template did not finish within {timeout:g} s") from None
        except OSError as exc:
            raise RenderError(f"helm could not be run ({exc.strerror})") from None
    if done.returncode != 0:
        raise RenderError(_failure("helm template failed", _error_line(done.stderr, SCHEMA_REFUSED)))
    return split_stream(done.stdout.decode("utf-8", "replace"))


def _private_env(home: str) -> dict[str, str]:
    """An empty Helm home: no repositories, plugins, registry logins or cluster are seen."""
    env = {"HOME": home, "KUBECONFIG": os.path.join(home, "kubeconfig"), "PATH": os.defpath}
    for name in ("CACHE", "CONFIG", "DATA"):
        env[f"HELM_{name}_HOME"] = os.path.join(home, name.lower())
    env["HELM_PLUGINS"] = os.path.join(home, "plugins")
    env.update(no_network())
    return env


def no_network() -> dict[str, str]:
    """Environment that sends every HTTP(S) request Helm's Go code makes to ``NO_NETWORK``."""
    proxies = {name: NO_NETWORK for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")}
    return {**proxies, **{name.lower(): NO_NETWORK for name in proxies}, "NO_PROXY": "", "no_proxy": ""}


def _failure(what: str, message: str) -> str:
    """The reason of a failed render: Helm's schema verdict as Helm words it, else ``what: message``."""
    return one_line(message) if SCHEMA_REFUSED in message else f"{what}: {one_line(message)}"


def _error_line(stderr: bytes, whole: str = "") -> str:
    """Helm's error: its last ``Error:`` line, or all of it when it contains ``whole`` (a
    schema verdict goes on over several lines)."""
    text = stderr.decode("utf-8", "replace")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    errors = [i for i, ln in enumerate(lines) if ln.startswith("Error:")]
    if whole and errors and whole in lines[errors[-1]]:
        return " ".join(lines[errors[-1] :]).removeprefix("Error: ")
    return (lines[errors[-1]] if errors else (lines or ["no message"])[-1]).removeprefix("Error: ")


def split_stream(text: str) -> dict[str, str]:
    """``helm template`` output back into one text per ``# Source:`` (documents of one template joined)."""
    out: dict[str, list[str]] = {}
    for doc in re.split(r"^---[ \t]*$", text, flags=re.M):
        match = _SOURCE.search(doc)
        if match is None:
            continue
        body = doc[match.end() :].lstrip("\n")
        out.setdefault(match.group(1).strip(), []).append(body)
    return {name: "---\n".join(docs) for name, docs in out.items()}


def one_line(message: str) -> str:
    """Helm's message as one bounded line (a reason, not a dump)."""
    flat = " ".join(message.split())
    return flat if len(flat) <= MAX_REASON else flat[: MAX_REASON - 1] + "…"
