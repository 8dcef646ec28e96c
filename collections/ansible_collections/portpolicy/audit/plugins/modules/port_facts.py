#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portpolicy authors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: port_facts
short_description: Gather a Linux host's live listening ports and kernel port settings
version_added: "0.1.0"
description:
  - Reads the listening TCP and UDP sockets, over IPv4 and IPv6, from C(/proc/net/tcp),
    C(/proc/net/tcp6), C(/proc/net/udp) and C(/proc/net/udp6), with address, port, owning
    uid and user name, and socket inode.
  - A TCP socket counts when it is in state LISTEN. A UDP socket counts when it is bound to
    a port and has no peer (what C(ss -lu) shows); a connected UDP socket is a client.
  - Finds the process that holds each socket by reading C(/proc/<pid>/fd) links and
    C(/proc/<pid>/comm). Without root only the connecting user's own processes are visible;
    C(process_scan) in the result says whether every socket was placed. The command line of
    a process is never read, since it can hold secrets.
  - Reads C(net.ipv4.ip_local_port_range), C(net.ipv4.ip_local_reserved_ports) and
    C(net.ipv4.ip_unprivileged_port_start) from C(/proc/sys).
  - Reads nothing else and writes nothing. Malformed lines are reported in C(errors), never
    raised. Fails with a clear message on hosts that are not Linux.
  - The facts are in the format the C(portpolicy) package audits; use
    M(portpolicy.audit.check) to evaluate them.
options:
  processes:
    description:
      - Look up the process that holds each listening socket.
      - Set to C(false) to read only C(/proc/net) and C(/proc/sys).
    type: bool
    default: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: posix
notes:
  - Sockets are read in the network namespace the module runs in.
author:
  - portpolicy authors (@portpolicy)
"""

EXAMPLES = r"""
- name: Gather live port facts
  portpolicy.audit.port_facts:

- name: Show what listens below 1024
  ansible.builtin.debug:
    msg: "{{ ansible_facts.portpolicy_port_facts.listeners | selectattr('port', 'lt', 1024) | list }}"

- name: Sockets only, no process lookup
  portpolicy.audit.port_facts:
    processes: false
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: complex
  contains:
    portpolicy_port_facts:
      description: The host's live port facts.
      returned: always
      type: complex
      contains:
        version:
          description: Format version of these facts.
          type: int
          sample: 1
        listeners:
          description:
            - One entry per listening socket, with C(protocol) (tcp or udp), C(family) (ipv4 or ipv6;
              a v4-mapped IPv6 address is shown as IPv4), C(address), C(port), C(uid), C(user)
              (null when the uid has no account), C(inode), C(pid) and C(process) (null when not visible),
              and C(source) and C(line), the /proc file and line it was read from.
          type: list
          elements: dict
          sample:
            - {"protocol": "tcp", "family": "ipv4", "address": "0.0.0.0", "port": 22, "uid": 0,
               "user": "root", "inode": 18210, "pid": 812, "process": "sshd",
               "source": "/proc/net/tcp", "line": 2}
        sysctls:
          description: The three kernel port settings, whitespace collapsed; null when unreadable
            (C(ip_unprivileged_port_start) is absent before Linux 4.11).
          type: dict
          sample: {"net.ipv4.ip_local_port_range": "32768 60999", "net.ipv4.ip_local_reserved_ports": "",
                   "net.ipv4.ip_unprivileged_port_start": "1024"}
        process_scan:
          description: Whether every socket's process was found (C(complete)), and why not (C(reason)).
          type: dict
          sample: {"complete": true, "reason": "every socket placed"}
        errors:
          description: Lines or files that could not be read, with C(path), C(line) and C(message).
          type: list
          elements: dict
          sample: []
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.portpolicy.audit.plugins.module_utils.live import gather, unsupported_reason


def main():
    module = AnsibleModule(
        argument_spec=dict(processes=dict(type="bool", default=True)),
        supports_check_mode=True,
    )
    reason = unsupported_reason()
    if reason:
        module.fail_json(msg="portpolicy.audit.port_facts supports Linux only: " + reason)
    facts = gather(processes=module.params["processes"])
    module.exit_json(changed=False, ansible_facts=dict(portpolicy_port_facts=facts))


if __name__ == "__main__":
    main()
