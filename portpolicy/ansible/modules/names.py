"""The modules the Ansible stage knows, and every spelling of their names.

A task names its module short (``sysctl``), fully qualified (``ansible.posix.sysctl``) or
through the legacy collection; ``canonical`` maps each spelling to one name, which the
task walker (control flow: ``include_tasks``, ``set_fact``...) and the handler table
(``modules.HANDLERS``) are keyed by. A module that is named here but has no handler
(``service``) is still a module: its task runs, and declares no port.
"""

from __future__ import annotations

BUILTIN = ("ansible.builtin", "ansible.legacy")
# canonical name -> the collections that ship it (short names are accepted too)
MODULES: dict[str, tuple[str, ...]] = {
    "firewalld": ("ansible.posix", "community.general"),
    "ufw": ("community.general",),
    "iptables": BUILTIN,
    "sysctl": ("ansible.posix", *BUILTIN),
    "template": BUILTIN,
    "copy": BUILTIN,
    "lineinfile": BUILTIN,
    "blockinfile": BUILTIN,
    "docker_container": ("community.docker", "community.general"),
    "command": BUILTIN,
    "shell": BUILTIN,
    "k8s": ("kubernetes.core", "community.kubernetes", "community.okd"),
    "include_tasks": BUILTIN,
    "import_tasks": BUILTIN,
    "include": BUILTIN,
    "include_role": BUILTIN,
    "import_role": BUILTIN,
    "set_fact": BUILTIN,
    "include_vars": BUILTIN,
    "systemd_service": BUILTIN,
    "systemd": BUILTIN,
    "service": BUILTIN,
}
ALIASES: dict[str, str] = {name: name for name in MODULES} | {
    f"{coll}.{name}": name for name, colls in MODULES.items() for coll in colls
}


def canonical(module: str) -> str | None:
    return ALIASES.get(module)
