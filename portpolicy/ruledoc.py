"""A rule's documentation page, made from its rule file alone so the two cannot drift."""

from __future__ import annotations

from portpolicy.engine import Rule


def render(rule: Rule) -> str:
    state = "on by default" if rule.enabled else "off by default; enable with `extend-select`"
    out = [
        f"# {rule.id} {rule.name}",
        "",
        f"Severity: **{rule.severity}** ({state}). Checks: `{rule.fact}` facts.",
        "",
        rule.summary,
        "",
        "## Why it matters",
        "",
        rule.rationale,
        "",
        "## How to fix",
        "",
        rule.remediation,
    ]
    if rule.examples:
        out += ["", "## Examples"]
        for ex in rule.examples:
            verdict = (
                "no finding"
                if ex["expect"] == 0
                else f"{ex['expect']} finding{'s' if ex['expect'] != 1 else ''}"
            )
            out += ["", f"{ex['description']} ({verdict})"]
            for path, text in ex["files"].items():
                out += ["", f"`{path}`:", "", "```", text.rstrip("\n"), "```"]
    if rule.references:
        out += ["", "## References", ""]
        out += [f"- {ref}" for ref in rule.references]
    return "\n".join(out) + "\n"
