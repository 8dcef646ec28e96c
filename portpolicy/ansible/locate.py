"""Find Ansible structure in a scanned tree: projects, playbooks, roles, inventories.

A project root is a directory with ``ansible.cfg``, a ``roles/`` directory of roles, or
``group_vars``/``host_vars`` (an ``inventories/<env>/`` directory counts for its parent).
A standalone role (a role repository: ``tasks/main.yml`` beside ``defaults/`` or ``meta/``)
is a project of its own. Project roots nested inside another are part of the outer one.
Each project is listed once with ``os.walk`` so that files without an extension
(inventories, ``group_vars/all``) are seen even though no reader claims them by name.
"""

from __future__ import annotations

import configparser
import itertools
import os
import posixpath
import re
from collections.abc import Iterable, Iterator
from dataclasses import field
from typing import Any, Protocol

from portpolicy import safeio
from portpolicy.discover import SKIP_DIRS
from portpolicy.readers.base import TEMPLATE_SUFFIXES
from portpolicy.records import record

ROLE_DIRS = ("tasks", "handlers", "defaults", "vars", "meta", "templates", "files")
YAML_EXT = (".yml", ".yaml")
VARS_EXT = (".yml", ".yaml", ".json", "")
INVENTORY_DIRS = {"inventory", "inventories", "environments", "hosts"}
NOT_INVENTORY_SUFFIXES = (".md", ".py", ".sh", ".cfg", *TEMPLATE_SUFFIXES)
"""Files in an inventory folder that are no inventory: documents, scripts, templates."""
INVENTORY_NAMES = re.compile(
    r"^(?:hosts|inventory|inventory\.ini|hosts\.ini|.*\.ini|hosts\.ya?ml|inventory\.ya?ml)$"
)
NOT_PLAYBOOK_DIRS = {
    "group_vars",
    "host_vars",
    "templates",
    "files",
    "vars",
    "defaults",
    "meta",
    "handlers",
    "tasks",
    ".github",
    ".gitlab",
    "docs",
    "filter_plugins",
    "library",
    "module_utils",
}
_PLAYBOOK_SNIFF = re.compile(
    r"^[ \t]*(?:-[ \t]+)?(?:hosts|(?:ansible\.builtin\.)?import_playbook)[ \t]*:", re.M
)
"""A play's first key. Blanks within one line only: ``\\s*-?\\s*`` let each line start try
every split of the blank lines after it, cubic on a file of blank lines."""
MAX_FILES = 200_000
CONFIG_LIMIT = 1024 * 1024
MAX_PLAYBOOK_DEPTH = 4  # path components below the project root, file name included


class _TextSource(Protocol):
    def get(self, path: str) -> str | None: ...


@record(frozen=False)
class Role:
    """A role directory: ``name`` as plays refer to it, ``root`` its path."""

    name: str
    root: str

    def file(self, files: set[str], kind: str, stem: str = "main") -> str | None:
        """``<root>/<kind>/<stem>`` with a vars/tasks extension, as Ansible looks it up."""
        base = f"{self.root}/{kind}/{stem}" if self.root != "." else f"{kind}/{stem}"
        for ext in VARS_EXT:
            if base + ext in files:
                return base + ext
        if base in files:
            return base
        return None

    def dir_files(self, files: set[str], kind: str) -> list[str]:
        """Files directly in ``<root>/<kind>/`` (looked up by directory, not by scanning all files)."""
        directory = f"{self.root}/{kind}" if self.root != "." else kind
        try:
            names = os.listdir(directory)
        except OSError:
            return []
        return sorted(p for p in (f"{directory}/{n}" for n in names) if p in files)


@record(frozen=False)
class Project:
    root: str
    files: set[str] = field(default_factory=set)
    roles: dict[str, list[Role]] = field(default_factory=dict)
    playbooks: list[str] = field(default_factory=list)
    standalone_role: Role | None = None
    collection: str = ""
    """``namespace.name`` when the project is a collection (``galaxy.yml`` at its root)."""
    config_inventory: list[str] = field(default_factory=list)
    roles_path: list[str] = field(default_factory=list)
    inventories: dict[str, Any] = field(default_factory=dict, repr=False)
    """Inventories already built, by playbook directory: every playbook there shares one."""
    roots: tuple[str, ...] = ()
    """The scan's roots (``Config.roots``): ``ansible.cfg`` and ``galaxy.yml`` are read inside them only."""
    collection_modules: dict[str, str] | None = field(default=None, repr=False)
    """``ns.coll.name`` -> the first file of a collection's ``plugins/modules/`` in the tree
    (built once, on the first task naming a module no handler knows)."""

    def find_role(self, name: str, near: str) -> Role | None:
        """The role a play or include names: beside the playbook first, then anywhere in the project."""
        short = name.rsplit("/", 1)[-1]
        if "." in name and "/" not in name:
            parts = name.split(".")
            if len(parts) == 3:
                ns, coll, short = parts
                for role in self.roles.get(short, ()):
                    if f"ansible_collections/{ns}/{coll}/roles/" in role.root + "/":
                        return role
        candidates = self.roles.get(short) or self.roles.get(name) or []
        if not candidates:
            return None
        directory = posixpath.dirname(near)
        while True:
            for role in candidates:
                if role.root in (_join(directory, "roles", short), _join(directory, short)):
                    return role
            if directory in ("", ".", "/") or directory == self.root:
                break
            directory = posixpath.dirname(directory) or "."
        for base in self.roles_path:
            for role in candidates:
                if role.root == _join(base, short):
                    return role
        return candidates[0] if len(candidates) == 1 else sorted(candidates, key=lambda r: len(r.root))[0]


def _join(*parts: str) -> str:
    joined = posixpath.normpath(posixpath.join(*parts))
    return joined


def find_projects(paths: Iterable[str]) -> list[str]:
    """Project roots (outermost only) suggested by the paths of discovered files."""
    roots: set[str] = set()
    checked: dict[str, bool] = {}
    for path in paths:
        parts = path.split("/")
        for i, part in enumerate(parts[:-1]):
            parent = "/".join(parts[:i]) or "."
            if part == "roles" and i + 2 < len(parts) and parts[i + 2] in ROLE_DIRS:
                roots.add(parent)
            elif part in ("group_vars", "host_vars"):
                up = parent
                if posixpath.basename(up) not in INVENTORY_DIRS:
                    up2 = posixpath.dirname(up)
                    if posixpath.basename(up2) in INVENTORY_DIRS:
                        up = posixpath.dirname(up2) or "."
                else:
                    up = posixpath.dirname(up) or "."
                roots.add(up)
            elif (
                part == "tasks"
                and i + 1 == len(parts) - 1
                and parts[-1] in ("main.yml", "main.yaml")
                and "roles" not in parts[: max(i - 1, 0)]
                and _is_role_dir(parent)
            ):
                roots.add(parent)
        directory = posixpath.dirname(path) or "."
        if directory not in checked:
            checked[directory] = os.path.isfile(os.path.join(directory, "ansible.cfg"))
            if checked[directory]:
                roots.add(directory)
    return outermost(roots)


def outermost(roots: Iterable[str]) -> list[str]:
    """Project roots with those nested inside another dropped (they are part of it)."""
    ordered = sorted(set(roots), key=lambda r: (r.count("/"), r))
    outer: list[str] = []
    for root in ordered:
        if not any(_inside(root, o) for o in outer):
            outer.append(root)
    return outer


def lone_playbook_dirs(
    paths: Iterable[str], roots: list[str], texts: _TextSource, scan_roots: tuple[str, ...] = ()
) -> list[str]:
    """Directories of playbooks that have no roles, config or inventory beside them.

    Only YAML files near the top of the scanned tree (two directories deep below the scanned
    root, whatever folder the scan runs from) are read for this, so that a large tree of other
    YAML is not read twice.
    """
    found: list[str] = []
    depth: dict[str, int] = {}  # folder -> folders below its scanned root (one realpath per folder)
    for path in paths:
        if not path.endswith(YAML_EXT) or any(_inside(path, r) for r in roots):
            continue
        if any(p in NOT_PLAYBOOK_DIRS for p in path.split("/")[:-1]):
            continue
        folder = posixpath.dirname(path)
        if folder not in depth:
            depth[folder] = _folders_below_root(folder, scan_roots)
        if depth[folder] > 2:
            continue
        text = texts.get(path)
        if text is not None and _PLAYBOOK_SNIFF.search(text) and re.search(r"^-", text, re.M):
            found.append(posixpath.dirname(path) or ".")
    return found


def _folders_below_root(folder: str, scan_roots: tuple[str, ...]) -> int:
    """How deep the shown ``folder`` lies below the scanned root that holds it (its shown depth
    when no root holds it): a scan from the parent folder counts as one from inside."""
    real = os.path.realpath(folder or ".")
    for root in scan_roots:
        if real == root:
            return 0
        if real.startswith(root.rstrip(os.sep) + os.sep):
            return real[len(root.rstrip(os.sep)) + 1 :].count(os.sep) + 1
    return folder.count("/") + 1 if folder else 0


def _inside(path: str, root: str) -> bool:
    return root == "." or path == root or path.startswith(root + "/")


def _is_role_dir(directory: str) -> bool:
    return any(
        os.path.isdir(os.path.join(directory, d)) for d in ("defaults", "meta", "handlers", "templates")
    )


def load_project(root: str, sniff: dict[str, str] | None = None, roots: tuple[str, ...] = ()) -> Project:
    """List a project's files and find its roles, playbooks and configured paths.

    Only files inside the scan's ``roots`` are listed (a project root found above a named
    file is not read beyond it), and a link is listed only when its target is a regular
    file inside them: every other file of the stage is looked up in this list.
    """
    project = Project(root, roots=roots)
    project.files.update(itertools.islice(_project_files(root, roots), MAX_FILES))
    _config(project)
    _collection(project)
    for path in project.files:
        parts = path.split("/")
        for i in range(len(parts) - 2):
            if parts[i] != "roles":
                continue
            # roles/<name>/tasks/..., and nested roles named with a slash (kubespray's
            # ``role: kubernetes/node`` is roles/kubernetes/node/tasks/...)
            for j in range(i + 2, min(i + 5, len(parts) - 1)):
                if parts[j] in ROLE_DIRS:
                    _add_role(project, "/".join(parts[i + 1 : j]), "/".join(parts[:j]))
                    break
            break
    if root != "." and _is_role_dir(root) and any(p.startswith(f"{root}/tasks/main") for p in project.files):
        project.standalone_role = Role(_role_name(root), root)
        _add_role(project, project.standalone_role.name, root)
    elif root == "." and any(p.startswith("tasks/main") for p in project.files) and _is_role_dir("."):
        project.standalone_role = Role(_role_name(os.getcwd()), ".")
        _add_role(project, project.standalone_role.name, ".")
    return project


def _project_files(root: str, roots: tuple[str, ...]) -> Iterator[str]:
    """Regular files below ``root`` that may be read under ``roots``; links to folders are not followed."""
    real_root = os.path.realpath(root)
    for dirpath, dirnames, filenames in os.walk(root):
        real_dir = os.path.normpath(os.path.join(real_root, os.path.relpath(dirpath, root)))
        dirnames[:] = sorted(
            d for d in dirnames if d not in SKIP_DIRS and _may_hold_scanned(os.path.join(real_dir, d), roots)
        )
        for name in filenames:
            full = os.path.join(dirpath, name)
            if _readable(full, os.path.join(real_dir, name), roots):
                yield posixpath.normpath(full.replace(os.sep, "/"))


def _may_hold_scanned(real_dir: str, roots: tuple[str, ...]) -> bool:
    """A folder inside a root, or above one (the walk passes through it to reach the root)."""
    if not roots:
        return True
    return safeio.within(real_dir, roots) or any(safeio.within(r, (real_dir,)) for r in roots)


def _readable(full: str, real: str, roots: tuple[str, ...]) -> bool:
    """A regular file whose own path, and whose target when it is a link, lie inside ``roots``."""
    if roots and not safeio.within(real, roots):
        return False
    if os.path.islink(full):
        return safeio.containment(full, roots) is None and os.path.isfile(full)
    return os.path.isfile(full)


def _role_name(root: str) -> str:
    base = posixpath.basename(posixpath.normpath(os.path.abspath(root)).replace(os.sep, "/"))
    for prefix in ("ansible-role-", "ansible_role_", "ansible-"):
        if base.startswith(prefix):
            return base[len(prefix) :]
    return base


def _add_role(project: Project, name: str, root: str) -> None:
    roles = project.roles.setdefault(name, [])
    if all(r.root != root for r in roles):
        roles.append(Role(name, root))


def _collection(project: Project) -> None:
    galaxy = _join(project.root, "galaxy.yml")
    if galaxy not in project.files:
        return
    text = safeio.read_text(galaxy, project.roots, limit=65536)
    if isinstance(text, safeio.Refusal):
        return
    ns = re.search(r"^namespace:\s*['\"]?(\w+)", text, re.M)
    name = re.search(r"^name:\s*['\"]?(\w+)", text, re.M)
    if ns and name:
        project.collection = f"{ns.group(1)}.{name.group(1)}"


def _config(project: Project) -> None:
    cfg = _join(project.root, "ansible.cfg")
    if cfg not in project.files:
        return
    parser = configparser.ConfigParser(interpolation=None, strict=False, inline_comment_prefixes=("#", ";"))
    text = safeio.read_text(cfg, project.roots, limit=CONFIG_LIMIT)
    if isinstance(text, safeio.Refusal):
        return
    try:
        parser.read_string(text, cfg)
    except configparser.Error:
        return
    defaults = parser["defaults"] if parser.has_section("defaults") else {}
    for value in str(defaults.get("inventory", "") or "").split(","):
        if value.strip():
            project.config_inventory.append(_join(project.root, value.strip()))
    for value in re.split(r"[:,]", str(defaults.get("roles_path", "") or "")):
        value = value.strip()
        if value and not value.startswith(("~", "/", "$")):
            project.roles_path.append(_join(project.root, value))


def playbook_candidates(project: Project, sniff_text: _TextSource) -> list[str]:
    """YAML files that look like playbooks by a cheap text test (composed later).

    Playbooks sit near the project root (``site.yml``, ``playbooks/x.yml``,
    ``molecule/default/converge.yml``); deeper files are not read just to sniff them.
    """
    out = []
    base = 0 if project.root == "." else project.root.count("/") + 1
    for path in sorted(project.files):
        if not path.endswith(YAML_EXT):
            continue
        parts = path.split("/")
        if len(parts) - base > MAX_PLAYBOOK_DEPTH or any(
            p in NOT_PLAYBOOK_DIRS or p == "roles" for p in parts[:-1]
        ):
            continue
        text = sniff_text.get(path)
        if text is not None and _PLAYBOOK_SNIFF.search(text):
            out.append(path)
    return out


def inventory_files(project: Project, playbook: str) -> list[str]:
    """Inventory sources for a playbook: ansible.cfg's, then files beside it and up to the root."""
    found: list[str] = []
    for item in project.config_inventory:
        found.extend(sorted(f for f in project.files if f == item or f.startswith(item + "/")))
    directory = posixpath.dirname(playbook) or "."
    dirs = []
    while True:
        dirs.append(directory)
        if directory in (".", "") or directory == project.root:
            break
        directory = posixpath.dirname(directory) or "."
    for d in dirs:
        prefix = "" if d == "." else d + "/"
        for f in sorted(project.files):
            if not f.startswith(prefix):
                continue
            rest = f[len(prefix) :].split("/")
            if (len(rest) == 1 and INVENTORY_NAMES.match(rest[0]) and rest[0] != "ansible.cfg") or (
                rest[0] in INVENTORY_DIRS
                and len(rest) <= 3
                and not any(p in ("group_vars", "host_vars") for p in rest)
            ):
                found.append(f)
    return list(dict.fromkeys(f for f in found if not f.endswith(NOT_INVENTORY_SUFFIXES)))


def vars_dirs(project: Project, playbook: str, inventories: list[str]) -> list[str]:
    """Directories whose ``group_vars``/``host_vars`` apply: beside each inventory, then the playbook."""
    bases = []
    for inv in inventories:
        d = posixpath.dirname(inv) or "."
        if d not in bases:
            bases.append(d)
    pb = posixpath.dirname(playbook) or "."
    if pb in bases:
        bases.remove(pb)
    bases.append(pb)
    return bases
