"""Docker's daemon config (``/etc/docker/daemon.json``): how published ports meet the host firewall.

Rootful Docker publishes a port with a DNAT rule in ``nat PREROUTING`` and an accept in the
``DOCKER`` chain of ``FORWARD``: the packet never reaches INPUT, where ufw, firewalld zones and
most nftables rulesets filter. Two keys change that (dockerd(8), "daemon configuration file"):

* ``"iptables": false``: Docker writes no rules; a published port is a socket of docker-proxy,
  which INPUT filters ("filtered");
* ``"ip": "127.0.0.1"``: the default host address of ``-p``/``ports:`` without one; published
  ports bind loopback and nothing outside reaches them ("loopback").

Anything else read here leaves Docker's default ("bypasses"). ``"userland-proxy"`` changes
which process answers local clients, not the DNAT path, so it decides nothing here. The file is
parsed as JSON only when small (``MAX_BYTES``); no value of it is ever quoted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from portpolicy.model import Fact, Location, ParseError, Posture, Unresolved
from portpolicy.readers.base import Source, is_templated

NAME = "dockerd"
MAX_BYTES = 256 * 1024
"""A real daemon.json is a few hundred bytes; a larger one is not parsed (hostile input)."""
FILTERED = 'Docker daemon.json "iptables": false: Docker writes no DNAT or FORWARD rules, so INPUT filters published ports'
LOOPBACK = 'Docker daemon.json "ip": {ip}: published ports without a host address bind loopback only'
DEFAULT = "Docker daemon.json leaves Docker's iptables rules on (the default)"


def read(source: Source) -> Iterator[Fact]:
    text = source.masked
    if len(text) > MAX_BYTES:
        yield ParseError(f"daemon.json over {MAX_BYTES // 1024} KiB is not parsed", source.at(1))
        return
    try:
        config = json.loads(text)
    except (ValueError, RecursionError) as exc:
        if source.jinja:
            yield Unresolved("daemon.json", "a template that is no JSON until rendered", source.at(1))
        else:
            yield ParseError(f"daemon.json is no valid JSON: {type(exc).__name__}", _where(text, exc, source))
        return
    if not isinstance(config, dict):
        yield ParseError("daemon.json must hold a JSON object", source.at(1))
        return
    yield from _posture(config, text, source)


def _posture(config: dict[str, object], text: str, source: Source) -> Iterator[Fact]:
    iptables, ip = config.get("iptables"), config.get("ip")
    if isinstance(iptables, str) and is_templated(iptables):
        yield Unresolved("iptables", '"iptables" is a template', _key(text, "iptables", source))
    elif iptables is False:
        yield Posture("runtime", "filtered", FILTERED, _key(text, "iptables", source))
        return
    if isinstance(ip, str) and is_templated(ip):
        yield Unresolved("ip", '"ip" is a template', _key(text, "ip", source))
    elif isinstance(ip, str) and _loopback(ip):
        yield Posture("runtime", "loopback", LOOPBACK.format(ip=ip), _key(text, "ip", source))
        return
    yield Posture("runtime", "bypasses", DEFAULT, source.at(1))


def _loopback(ip: str) -> bool:
    value = ip.strip().strip("[]").lower()
    return value == "::1" or re.fullmatch(r"127(?:\.[0-9]{1,3}){3}", value) is not None


def _key(text: str, key: str, source: Source) -> Location:
    """Where ``"key":`` is written at the top of the object (the first such spelling)."""
    found = re.search(rf'"{re.escape(key)}"\s*:', text)
    if found is None:
        return source.at(1)
    line = text.count("\n", 0, found.start()) + 1
    return source.at(line, found.start() - (text.rfind("\n", 0, found.start()) + 1) + 1)


def _where(text: str, exc: Exception, source: Source) -> Location:
    if isinstance(exc, json.JSONDecodeError):
        return source.at(exc.lineno, exc.colno)
    return source.at(1)
