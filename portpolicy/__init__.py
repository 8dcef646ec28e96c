"""portpolicy: audit service configs and firewall definitions for port misuse."""

from __future__ import annotations

__version__ = "0.1.0"
