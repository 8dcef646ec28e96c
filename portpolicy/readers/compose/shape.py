"""What a compose file looks like: its name, its top-level keys, and the YAML shapes ``claims`` accepts."""

from __future__ import annotations

import re

from portpolicy.readers.base import Format
from portpolicy.yamlnodes import MappingNode, Node, ScalarNode, is_null, items

NAME = "compose"


FORMAT = Format(
    "a Compose file",
    "top-level Compose key",
    re.compile(
        r"[\"']?(?:services|version|name|networks|volumes|configs|secrets|include|x-[\w.-]*)[\"']?[ \t]*:"
    ),
    comments=("#", "---", "%"),
)


TOP_LEVEL_KEYS = frozenset(
    {"version", "name", "services", "networks", "volumes", "configs", "secrets", "include", "models"}
)


# Service attributes of the Compose specification that identify a service: enough to tell
# a compose file from another YAML file that happens to have a ``services`` mapping.
_SERVICE_MARKERS = frozenset(
    {
        "image",
        "build",
        "ports",
        "expose",
        "network_mode",
        "user",
        "command",
        "entrypoint",
        "environment",
        "env_file",
        "volumes",
        "depends_on",
        "restart",
        "container_name",
        "networks",
        "healthcheck",
        "cap_add",
        "cap_drop",
        "sysctls",
        "extends",
        "deploy",
        "labels",
        "logging",
        "profiles",
        "working_dir",
        "privileged",
        "security_opt",
        "hostname",
        "links",
        "tmpfs",
    }
)


SERVICE_KEYS = frozenset(
    """annotations attach blkio_config build cap_add cap_drop cgroup cgroup_parent command configs
    container_name cpu_count cpu_percent cpu_period cpu_quota cpu_rt_period cpu_rt_runtime
    cpu_shares cpus cpuset credential_spec depends_on deploy develop device_cgroup_rules devices
    dns dns_opt dns_search domainname driver_opts entrypoint env_file environment expose extends
    external_links extra_hosts gpus group_add healthcheck hostname image init ipc isolation
    label_file labels links logging mac_address mem_limit mem_reservation mem_swappiness
    memswap_limit models network_mode networks oom_kill_disable oom_score_adj pid pids_limit
    platform ports post_start pre_stop privileged profiles provider pull_policy read_only restart
    runtime scale secrets security_opt shm_size stdin_open stop_grace_period stop_signal
    storage_opt sysctls tmpfs tty ulimits use_api_socket user userns_mode uts volumes
    volumes_from working_dir
    net dockerfile log_driver log_opt volume_driver""".split()  # noqa: SIM905 - a word list reads best as words
)
"""Every service attribute of the Compose specification, and those of version 1 files (``net``...).

A service fragment may hold no other key: that is what tells it from other YAML.
"""


def claims(docs: list[Node]) -> bool:
    """True when a YAML file of any name has the shape of a compose file or a service fragment.

    A compose file: the top level holds only compose's top-level keys (and ``x-``
    extensions), and ``services`` maps names to service mappings with at least one service
    attribute. A fragment: see ``looks_like_fragment``. Ansible playbooks (a list),
    Kubernetes manifests (``apiVersion``/``kind``), GitHub workflows (``jobs.*.services``),
    Helm values (``image: {repository, tag}`` beside ``replicaCount``) fail both tests.
    """
    return any(_looks_like_compose(doc) or looks_like_fragment(doc) for doc in docs)


def _looks_like_compose(doc: Node) -> bool:
    """One document's shape test for ``claims``."""
    if not isinstance(doc, MappingNode):
        return False
    services: Node | None = None
    for key, _, value in items(doc):
        if key == "services":
            services = value
        elif key not in TOP_LEVEL_KEYS and not key.startswith("x-"):
            return False
    if not isinstance(services, MappingNode):
        return False
    marked = False
    for _, _, svc in items(services):
        if is_null(svc):
            continue
        if not isinstance(svc, MappingNode):
            return False
        keys = {key for key, _, _ in items(svc)}
        if keys & _SERVICE_MARKERS:
            marked = True
    return marked


def looks_like_fragment(doc: Node) -> bool:
    """Service names mapping to service bodies, with no ``services:`` (a file merged into a compose file).

    Every top-level key but ``x-`` extensions is a service: a mapping whose keys are all
    Compose service attributes, with ``image: <name>`` (a string, as Compose requires),
    ``build`` or ``extends``. That is specific: a vars file or Helm values has keys no
    service has (``repository``, ``replicaCount``) or values that are not such mappings.
    """
    if not isinstance(doc, MappingNode):
        return False
    found = False
    for key, _, body in items(doc):
        if key.startswith("x-"):
            continue
        if key in TOP_LEVEL_KEYS or not _is_service_body(body):
            return False
        found = True
    return found


def _is_service_body(body: Node) -> bool:
    """A mapping of Compose service attributes that says what it runs (``image``, ``build``, ``extends``)."""
    if not isinstance(body, MappingNode):
        return False
    runs = False
    for key, _, value in items(body):
        if key.startswith("x-"):
            continue
        if key not in SERVICE_KEYS:
            return False
        if key == "image":
            runs = runs or (isinstance(value, ScalarNode) and not is_null(value))
        elif key in ("build", "extends"):
            runs = runs or not is_null(value)
    return runs


def is_legacy(doc: MappingNode) -> bool:
    """A version 1 file: services at the top level, no ``services`` key."""
    found = False
    for key, _, value in items(doc):
        if key in TOP_LEVEL_KEYS or key.startswith("x-"):
            return False
        if not isinstance(value, MappingNode):
            return False
        found = found or bool({k for k, _, _ in items(value)} & _SERVICE_MARKERS)
    return found
