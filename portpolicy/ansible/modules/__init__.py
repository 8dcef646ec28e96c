"""The module handlers: ``HANDLERS`` maps each module that declares ports to its handler.

A task's module name is first made canonical (``names.canonical``: ``ansible.posix.sysctl``
and ``sysctl`` are one module); the task walker (``tasks.py``) runs the play's own control
flow itself (``include_tasks``, ``include_role``, ``set_fact``, ``include_vars``) and hands
every other call, once per loop item, to the handler found here. A handler takes the play's
context and the call (``context.ModuleCall``) and adds facts to ``ctx.out``.

* ``firewall``: firewalld, ufw, iptables arguments as firewall rules.
* ``sysctl``: a kernel setting, read as the line it writes.
* ``containers``: docker_container as a compose service, k8s as the manifests it applies.
* ``commands``: the containers a ``command``/``shell`` task's ``docker run`` line starts.
* ``deploy``: files a task writes (template, copy, lineinfile, blockinfile), read by the
  reader of their destination's format.
"""

from __future__ import annotations

from collections.abc import Callable

from portpolicy.ansible.context import Ctx, ModuleCall
from portpolicy.ansible.modules import commands, containers, deploy, firewall, sysctl
from portpolicy.ansible.modules.names import canonical

Handler = Callable[[Ctx, ModuleCall], None]

HANDLERS: dict[str, Handler] = {
    "firewalld": firewall.as_handler(firewall.firewalld),
    "ufw": firewall.as_handler(firewall.ufw),
    "iptables": firewall.as_handler(firewall.iptables),
    "sysctl": sysctl.sysctl,
    "template": deploy.template,
    "copy": deploy.content,
    "lineinfile": deploy.content,
    "blockinfile": deploy.content,
    "docker_container": containers.docker_container,
    "k8s": containers.k8s,
    "command": commands.command,
    "shell": commands.command,
}
"""Canonical module name -> its handler (every key is a name in ``names.MODULES``)."""


def _and_kubectl_stdin(first: Handler | None) -> Handler:
    """A ``command``/``shell`` handler that also reads a manifest piped to ``kubectl apply -f -``."""

    def handler(ctx: Ctx, call: ModuleCall) -> None:
        if first is not None:
            first(ctx, call)
        containers.kubectl_stdin(ctx, call)

    return handler


for _name in ("command", "shell"):
    HANDLERS[_name] = _and_kubectl_stdin(HANDLERS.get(_name))

__all__ = ["HANDLERS", "Handler", "canonical"]
