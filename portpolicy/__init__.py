"""portpolicy: audit service configs and firewall definitions for port misuse.

Public API: ``scan(paths, config) -> Report``, with ``Config`` / ``load_config`` /
``find_config`` to build the configuration the way the CLI does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Config", "Report", "__version__", "find_config", "load_config", "scan"]

if TYPE_CHECKING:
    from portpolicy.config import Config, find_config, load_config
    from portpolicy.pipeline import Report, scan


def __getattr__(name: str) -> Any:
    """Import lazily, so ``portpolicy --version`` loads nothing but this file."""
    if name in {"scan", "Report"}:
        from portpolicy import pipeline

        return getattr(pipeline, name)
    if name in {"Config", "find_config", "load_config"}:
        from portpolicy import config

        return getattr(config, name)
    raise AttributeError(name)
