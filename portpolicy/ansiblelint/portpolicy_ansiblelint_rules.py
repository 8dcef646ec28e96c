"""portpolicy findings inside an ansible-lint run: one rule, ``portpolicy[<rule name>]`` per finding.

ansible-lint imports this file as a top-level module by its stem (so absolute imports only,
and a stem that is not ``portpolicy``). The project is scanned once per run with
``portpolicy.scan`` (readers need the other files: group_vars, sysctl.d, socket units) and
each YAML file ansible-lint lints gets the findings whose location lies in it, at the
finding's line and column. ``# noqa: portpolicy`` or ``# noqa: portpolicy[<rule name>]``
silences one, as for any ansible-lint rule.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ansiblelint.rules import AnsibleLintRule

if TYPE_CHECKING:
    from ansiblelint.errors import MatchError
    from ansiblelint.file_utils import Lintable

    from portpolicy.pipeline import Report

SEVERITY = {"error": "HIGH", "warning": "MEDIUM", "info": "LOW"}


def docs_base() -> str:
    """The rule docs' address: the package's ``Documentation`` URL plus ``/rules/`` (or the repo path)."""
    try:
        from importlib.metadata import PackageNotFoundError, metadata

        for entry in metadata("portpolicy").get_all("Project-URL") or ():
            label, _, url = entry.partition(",")
            if label.strip().lower() == "documentation" and url.strip():
                return str(url).strip().rstrip("/") + "/rules/"
    except PackageNotFoundError:
        pass
    return "docs/rules/"


def docs_link(rule: str) -> str:
    """Where a rule is documented (``portpolicy explain`` shows the same offline)."""
    return f"{docs_base()}{rule}.md"


class PortpolicyRule(AnsibleLintRule):
    """Port misuse found by portpolicy (privileged ports, ephemeral range, conflicts, kernel settings)."""

    id = "portpolicy"
    description = (
        "Reports portpolicy's findings for the files ansible-lint lints: listeners on privileged ports "
        "without the privilege, listeners inside the ephemeral port range, port conflicts, invalid ports "
        "and kernel port settings the kernel refuses. Configure it with portpolicy's own config file "
        "(.portpolicy.yml or [tool.portpolicy] in pyproject.toml)."
    )
    severity = "HIGH"
    tags = ["portpolicy", "security"]  # noqa: RUF012 (the base class declares it so)
    version_changed = "0.1.0"
    link = docs_base()

    def __init__(self) -> None:
        super().__init__()
        self._reports: dict[str, Report] = {}
        self._failed = False

    @property
    def url(self) -> str:  # AnsibleLintRule.url ignores ``link``
        return self.link

    def matchyaml(self, file: Lintable) -> list[MatchError]:
        target = os.path.abspath(str(file.path))
        matches: list[MatchError] = []
        try:
            report = self._report()
        except Exception as exc:  # ansible-lint would log it as a warning and pass: make it a failure
            if self._failed:
                return []
            self._failed = True
            message = (
                f"portpolicy could not scan the project ({type(exc).__name__}: {exc}); nothing was checked"
            )
            return [self.create_matcherror(message=message, filename=file, tag=f"{self.id}[internal-error]")]
        findings = [f for f in report.findings if os.path.abspath(f.location.path) == target]
        if findings and str(file.base_kind) == "text/yaml":
            file.data  # noqa: B018 (parsing it collects the file's ``# noqa`` comments into line_skips)
        for finding in findings:
            # ansible-lint drops a match whose full tag is skipped on its line; a bare id skips them all.
            if self.id in file.line_skips.get(finding.location.line, ()):
                continue
            matches.append(
                self.create_matcherror(
                    message=f"{finding.rule} {finding.severity}: {finding.message}",
                    lineno=finding.location.line,
                    column=finding.location.column,
                    details=f"{finding.rule} {finding.name}: {docs_link(finding.rule)} (or: portpolicy explain {finding.rule})",
                    filename=file,
                    tag=f"{self.id}[{finding.name}]",
                )
            )
        return matches

    def _report(self) -> Report:
        """One scan of the project (the working directory ansible-lint runs in) per run."""
        root = os.getcwd()
        if root not in self._reports:
            from portpolicy.config import find_config, load_config
            from portpolicy.pipeline import scan

            self._reports[root] = scan(["."], load_config(find_config(["."])))
        return self._reports[root]
