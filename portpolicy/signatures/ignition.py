"""Recognition of Ignition configs (``*.ign``), Butane configs (``*.bu``) and MachineConfigs.

By name: ``*.ign`` (Ignition's JSON) and ``*.bu`` (Butane's YAML), read whole. In other YAML
the cheap sniff is a MachineConfig's API group or Butane's ``variant:`` beside ``storage:``
or ``systemd:``; the reader's ``claims`` then wants every document to be one of these.
"""

from __future__ import annotations

import re

from portpolicy.lazyre import lazy
from portpolicy.paths import strip_template
from portpolicy.signatures import Signature

_SNIFF = lazy(
    r"machineconfiguration\.openshift\.io|^variant:[ \t]*(?:fcos|flatcar|openshift|rhcos|r4e|fiot)\b"
    r"|\"ignition\"[ \t]*:[ \t]*\{",
    re.M,
)


def named(rel: str) -> bool:
    return strip_template(rel.rsplit("/", 1)[-1]).lower().endswith((".ign", ".bu"))


def looks(text: str) -> bool:
    """A MachineConfig, a Butane config or an Ignition config, by a word only they write."""
    return _SNIFF.search(text) is not None and ("storage" in text or "systemd" in text)


SIGNATURE = Signature(
    "ignition",
    "portpolicy.readers.ignition",
    "an Ignition, Butane or MachineConfig file",
    named,
    looks=looks,
    yaml=True,
    empty_by_name=False,
    role="host",
    scope="project",
    project_files=frozenset({"config.ign"}),
)
