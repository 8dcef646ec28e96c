"""portpolicy findings inside an ansible-lint run: one rule, ``portpolicy[<rule name>]`` per finding.

ansible-lint imports this file as a top-level module by its stem (so absolute imports only,
and a stem that is not ``portpolicy``). The project is scanned once per run with
``portpolicy.scan`` (readers need the other files: group_vars, sysctl.d, socket units).

- Each file ansible-lint lints gets the findings whose location lies in it, at the
  finding's line and column.
- Findings in files ansible-lint gives no kind to (a role's ``files/etc/sysctl.d/90-x.conf``,
  a unit, an nginx config) are never handed to a rule; they are reported once, from the
  first directory (a role) or file ansible-lint hands the rule, each under its own file name.
- Only findings at or above portpolicy's ``fail-on`` (default ``error``) fail the run; the
  others are ansible-lint warnings: their tags join the run's ``warn_list``, the list
  ansible-lint itself reads to tell warnings from failures. A user's own ``warn_list``
  entry (``portpolicy``, ``portpolicy[port-conflict]``) is a warning whatever its severity.
- ``# noqa: portpolicy``, ``# noqa: portpolicy[<rule name>]`` and ``# noqa: PP004`` silence
  a finding in both channels: the scan applies them (``portpolicy.suppress``).
- A match's rule links to the finding's own page (``docs/rules/PPxxx.md``); ``ansible-lint
  -L`` prints ansible-lint's own address for every rule, which no rule can change.
"""

from __future__ import annotations

import copy
import os
from typing import TYPE_CHECKING

from ansiblelint.rules import AnsibleLintRule

if TYPE_CHECKING:
    from ansiblelint.errors import MatchError
    from ansiblelint.file_utils import Lintable

    from portpolicy.model import Finding
    from portpolicy.pipeline import Report

SEVERITY = {"error": "HIGH", "warning": "MEDIUM", "info": "LOW"}
RANK = {"info": 0, "warning": 1, "error": 2}
REPOSITORY = "https://github.com/portpolicy/portpolicy"


def docs_base() -> str:
    """The rule pages' address: the package's ``Repository`` URL plus ``/blob/main/docs/rules/``."""
    try:
        from importlib.metadata import PackageNotFoundError, metadata

        for entry in metadata("portpolicy").get_all("Project-URL") or ():
            label, _, url = entry.partition(",")
            if label.strip().lower() == "repository" and url.strip():
                return str(url).strip().rstrip("/") + "/blob/main/docs/rules/"
    except PackageNotFoundError:
        pass
    return REPOSITORY + "/blob/main/docs/rules/"


def docs_link(rule: str) -> str:
    """Where a rule is documented (``portpolicy explain`` shows the same offline)."""
    return f"{docs_base()}{rule}.md"


class PortpolicyRule(AnsibleLintRule):
    """Port misuse found by portpolicy (privileged ports, ephemeral range, conflicts, kernel settings)."""

    id = "portpolicy"
    description = (
        "Reports portpolicy's findings for the project ansible-lint lints: listeners on privileged ports "
        "without the privilege, listeners inside the ephemeral port range, port conflicts, invalid ports "
        "and kernel port settings the kernel refuses. Configure it with portpolicy's own config file "
        "(.portpolicy.yml or [tool.portpolicy] in pyproject.toml); findings below its fail-on are warnings."
    )
    severity = "HIGH"
    tags = ["portpolicy", "security"]  # noqa: RUF012 (the base class declares it so)
    version_changed = "0.2.0"
    link = docs_base() + "index.md"

    def __init__(self) -> None:
        super().__init__()
        self._reports: dict[str, Report] = {}
        self._failed = False
        self._unlinted_done = False
        self._pages: dict[str, PortpolicyRule] = {}
        self._fail_on = "error"

    @property
    def url(self) -> str:  # AnsibleLintRule.url ignores ``link``
        return self.link

    def matchyaml(self, file: Lintable) -> list[MatchError]:
        target = os.path.abspath(str(file.path))
        report = self._report_or_error(file)
        if isinstance(report, list):
            return report
        findings = [f for f in report.findings if os.path.abspath(f.location.path) == target]
        if findings and str(file.base_kind) == "text/yaml":
            file.data  # noqa: B018 (parsing it collects the file's ``# noqa`` comments into line_skips)
        matches = [
            self._match(finding, file)
            for finding in findings
            # ansible-lint drops a match whose full tag is skipped on its line; a bare id skips them all
            if self.id not in file.line_skips.get(finding.location.line, ())
        ]
        return matches + self._unlinted(report)

    def matchdir(self, lintable: Lintable) -> list[MatchError]:
        report = self._report_or_error(lintable)
        if isinstance(report, list):
            return report
        return self._unlinted(report)

    def _unlinted(self, report: Report) -> list[MatchError]:
        """Once per run: findings in files ansible-lint gives no kind (it never hands them to a rule)."""
        if self._unlinted_done:
            return []
        self._unlinted_done = True
        from ansiblelint.file_utils import Lintable

        out: list[MatchError] = []
        kinds: dict[str, bool] = {}
        for finding in report.findings:
            path = finding.location.path
            if path not in kinds:
                kinds[path] = _has_kind(Lintable, path)
            if not kinds[path]:
                out.append(self._match(finding, Lintable(path)))
        return out

    def _match(self, finding: Finding, file: Lintable) -> MatchError:
        fatal = _fatal(finding.severity, self._fail_on)
        tag = f"{self.id}[{finding.name}]"
        if not fatal and self.options is not None and tag not in self.options.warn_list:
            self.options.warn_list.append(tag)
        return self._page(finding.rule).create_matcherror(
            message=f"{finding.rule} {finding.severity}: {finding.message}",
            lineno=finding.location.line,
            column=finding.location.column,
            details=f"{finding.rule} {finding.name}: {docs_link(finding.rule)} (or: portpolicy explain {finding.rule})",
            filename=file,
            tag=tag,
        )

    def _page(self, rule: str) -> PortpolicyRule:
        """This rule, linking to one portpolicy rule's page (what a match's ``rule.url`` shows)."""
        if rule not in self._pages:
            page = copy.copy(self)
            page.link = docs_link(rule)
            self._pages[rule] = page
        return self._pages[rule]

    def _report_or_error(self, file: Lintable) -> Report | list[MatchError]:
        try:
            return self._report()
        except Exception as exc:  # ansible-lint would log it as a warning and pass: make it a failure
            if self._failed:
                return []
            self._failed = True
            message = (
                f"portpolicy could not scan the project ({type(exc).__name__}: {exc}); nothing was checked"
            )
            return [self.create_matcherror(message=message, filename=file, tag=f"{self.id}[internal-error]")]

    def _report(self) -> Report:
        """One scan of the project (the working directory ansible-lint runs in) per run."""
        root = os.getcwd()
        if root not in self._reports:
            from portpolicy.config import find_config, load_config
            from portpolicy.pipeline import scan

            config = load_config(find_config(["."]))
            self._fail_on = config.fail_on
            self._reports[root] = scan(["."], config)
        return self._reports[root]


def _fatal(severity: str, fail_on: str) -> bool:
    """True when a finding of ``severity`` fails the run under portpolicy's ``fail-on``."""
    return fail_on != "never" and RANK.get(severity, 2) >= RANK.get(fail_on, 2)


def _has_kind(lintable: type[Lintable], path: str) -> bool:
    """Whether ansible-lint gives the file a kind (only those reach a rule's ``matchyaml``)."""
    try:
        return bool(lintable(path).kind)
    except Exception:  # an unreadable file has no kind to ansible-lint either
        return False
