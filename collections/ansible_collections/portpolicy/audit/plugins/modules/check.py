#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portpolicy authors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: check
short_description: Audit a host's live ports, and its config files, with portpolicy's rules
version_added: "0.1.0"
description:
  - Runs on the controller. With no options it gathers M(portpolicy.audit.port_facts) from the
    target and evaluates portpolicy's rules on the host's live state, exactly as
    C(portpolicy live) does on the host itself.
  - A live listener is already bound, which proves the kernel let it bind, so rule PP001
    (privileged port without privilege) never fires for one, and live sockets never form a
    conflict (PP004). A listener inside the ephemeral range and not reserved (PP002), and a
    lowered C(ip_unprivileged_port_start) (PP008) are reported.
  - With O(paths), config files on the controller (systemd units, compose files, sysctl.d
    files, ...) are read as files of the same host and checked together with its live state;
    the live kernel settings are the base the files' settings are applied on.
  - Returns the findings in the shape of C(portpolicy check --format json), and fails when a
    finding reaches O(fail_on).
  - Needs the C(portpolicy) Python package in the Python that runs Ansible on the controller
    (installed from a clone with C(pip install './portpolicy[ansible]'), as no release is on
    PyPI yet). Nothing is installed on the target.
options:
  facts:
    description:
      - Port facts to audit instead of gathering them, in the format M(portpolicy.audit.port_facts)
        returns (for example C(ansible_facts.portpolicy_port_facts) of an earlier run).
    type: dict
  live:
    description:
      - Gather the target's live port facts when O(facts) is not given.
      - Set to C(false) to check only O(paths) (nothing runs on the target).
    type: bool
    default: true
  paths:
    description:
      - Files or directories on the controller to read as config files of this host.
      - Relative paths are taken from the playbook's directory.
    type: list
    elements: path
    default: []
  fail_on:
    description: Lowest finding severity that fails the task; C(never) only reports.
    type: str
    choices: [error, warning, info, never]
    default: error
  select:
    description: Rules (or id prefixes) to run instead of the defaults.
    type: list
    elements: str
  ignore:
    description: Rules (or id prefixes) not to run.
    type: list
    elements: str
  config:
    description:
      - A portpolicy config file (C(.portpolicy.yml) or C(pyproject.toml)) on the controller.
      - By default the nearest one above the first of O(paths) is used, if any.
    type: path
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: Only reads; the facts module it runs supports check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
seealso:
  - module: portpolicy.audit.port_facts
author:
  - portpolicy authors (@portpolicy)
"""

EXAMPLES = r"""
- name: Audit each host's live listeners and kernel port settings
  portpolicy.audit.check:

- name: Audit live state together with the host's config files from the repository
  portpolicy.audit.check:
    paths:
      - "host_files/{{ inventory_hostname }}/etc"
    fail_on: warning

- name: Report only, and keep the findings
  portpolicy.audit.check:
    fail_on: never
  register: audit

- name: Show them
  ansible.builtin.debug:
    msg: "{{ item.rule }} {{ item.message }}"
  loop: "{{ audit.findings }}"
"""

RETURN = r"""
findings:
  description:
    - The findings, each as in C(portpolicy check --format json), with C(rule), C(name), C(severity),
      C(message), C(path), C(line), C(column), C(host) and C(related).
    - Live findings point at the /proc file and line they come from, for example C(/proc/net/tcp).
  returned: always
  type: list
  elements: dict
  sample:
    - rule: PP002
      name: listener-in-ephemeral-range
      severity: info
      message: "java (pid 4121) listens on tcp/45000, inside the ephemeral range 32768-60999 ..."
      path: /proc/net/tcp
      line: 5
      column: 1
      host: web1
      related: []
summary:
  description: Counts, as in the JSON report's C(summary).
  returned: always
  type: dict
  sample: {"findings": 1, "by_severity": {"error": 0, "warning": 0, "info": 1}, "by_rule": {"PP002": 1}}
process_scan:
  description: Whether the owning process of every live socket was found, and why not.
  returned: when live facts were gathered or given
  type: dict
  sample: {"complete": false, "reason": "no visible process holds 2 socket(s)"}
"""
