"""The reader registry: which module reads which file.

Path readers are asked in order by path; YAML files no path reader claims are composed
once and offered to the YAML content readers, each of which decides from the documents.
Adding a format is one module and one line here.
"""

from __future__ import annotations

from types import ModuleType

from portpolicy.readers import (
    apache,
    compose,
    daemons,
    dockerfile,
    firewalld,
    haproxy,
    iptables,
    kubernetes,
    nftables,
    nginx,
    sshd,
    sysctl,
    systemd,
    ufw,
)

# Order matters: sysctl.d and systemd drop-ins (``*.conf``) are claimed before the daemon
# readers look at ``*.conf`` names; Apache's directories before nginx's ``sites-enabled/``.
PATH_READERS: tuple[ModuleType, ...] = (
    sysctl,
    systemd,
    compose,
    firewalld,
    dockerfile,
    kubernetes,
    sshd,
    apache,
    nginx,
    haproxy,
    daemons,
    nftables,
    ufw,
    iptables,
)
YAML_READERS: tuple[ModuleType, ...] = (compose, kubernetes)
