"""The reader registry: which module reads which file.

Path readers are asked in order by path; YAML files no path reader claims are composed
once and offered to the YAML content readers, each of which decides from the documents.
Adding a format is one module and one line here.
"""

from __future__ import annotations

from types import ModuleType

from portpolicy.readers import compose, sysctl, systemd

PATH_READERS: tuple[ModuleType, ...] = (sysctl, systemd, compose)
YAML_READERS: tuple[ModuleType, ...] = (compose,)
