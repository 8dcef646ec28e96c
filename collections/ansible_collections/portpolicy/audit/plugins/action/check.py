# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portpolicy authors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0.txt)
"""Controller side of portpolicy.audit.check: gather port facts on the target, audit them with portpolicy."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys
from pathlib import Path

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

try:
    from portpolicy import live_audit
    from portpolicy.config import ConfigError, find_config, load_config
    from portpolicy.errors import UsageError
    from portpolicy.report.json import finding_dict
except ImportError as exc:  # the controller's Python lacks portpolicy
    live_audit = None
    IMPORT_ERROR = str(exc)
else:
    IMPORT_ERROR = None

ARGUMENT_SPEC = dict(
    facts=dict(type="dict"),
    live=dict(type="bool", default=True),
    paths=dict(type="list", elements="path", default=[]),
    fail_on=dict(type="str", choices=["error", "warning", "info", "never"], default="error"),
    select=dict(type="list", elements="str"),
    ignore=dict(type="list", elements="str"),
    config=dict(type="path"),
)
FACTS_MODULE = "portpolicy.audit.port_facts"


def outcome(findings, fail_on):
    """The task's message: only findings at or above ``fail_on`` count as failing it."""
    if fail_on == "never":
        return "portpolicy: %d finding(s), fail_on is never" % len(findings)
    rank = live_audit.RANK[fail_on]
    failing = [f for f in findings if live_audit.RANK[f["severity"]] >= rank]
    if not failing:
        return "portpolicy: %d finding(s), none at or above %s" % (len(findings), fail_on)
    first = failing[0]
    others = len(findings) - len(failing)
    below = "; %d more below %s" % (others, fail_on) if others else ""
    return "portpolicy found %d problem(s) at or above %s%s; first: %s %s:%s: %s" % (
        len(failing), fail_on, below, first["rule"], first["path"], first["line"], first["message"])


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        if task_vars is None:
            task_vars = dict()
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        if live_audit is None:
            raise AnsibleActionFail(
                "portpolicy.audit.check needs the portpolicy Python package on the controller, in the "
                "Python that runs Ansible (%s); it is not on PyPI yet, so install it from a clone: "
                "pip install './portpolicy[ansible]' (%s)" % (sys.executable, IMPORT_ERROR)
            )
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        facts = args["facts"]
        if facts is None and args["live"]:
            remote = self._execute_module(
                module_name=FACTS_MODULE, module_args=dict(), task_vars=task_vars
            )
            if remote.get("failed"):
                result.update(remote)
                return result
            facts = remote.get("ansible_facts", {}).get("portpolicy_port_facts")
        if facts is None:
            facts = {"version": 1, "listeners": [], "sysctls": {}, "errors": []}
        base = self._loader.get_basedir()
        paths = [p if os.path.isabs(p) else os.path.join(base, p) for p in args["paths"]]
        missing = [p for p in paths if not os.path.exists(p)]
        if missing:
            raise AnsibleActionFail("paths not found on the controller: %s" % ", ".join(missing))
        host = task_vars.get("inventory_hostname", "localhost")
        try:
            config = self._config(args, paths)
            report = live_audit.audit(facts, host, config, paths)
        except (UsageError, live_audit.FactsError) as exc:
            raise AnsibleActionFail("portpolicy: %s" % exc)
        findings = [finding_dict(f) for f in report.findings]
        result.update(changed=False, findings=findings, summary=report.summary())
        if isinstance(facts.get("process_scan"), dict):
            result["process_scan"] = facts["process_scan"]
        if live_audit.failed(report.findings, args["fail_on"]):
            result["failed"] = True
        result["msg"] = outcome(findings, args["fail_on"])
        return result

    @staticmethod
    def _config(args, paths):
        overrides = {"fail-on": args["fail_on"], "select": args["select"], "ignore": args["ignore"]}
        if args["config"]:
            if not os.path.isfile(args["config"]):
                raise ConfigError("config file %s does not exist" % args["config"])
            return load_config(Path(args["config"]), overrides)
        return load_config(find_config(paths) if paths else None, overrides)
