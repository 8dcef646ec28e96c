"""A rule's documentation page, made from its rule file alone so the two cannot drift."""

from __future__ import annotations

import sys

from portpolicy.engine import Rule


def _checks(rule: Rule) -> str:
    from portpolicy.suppress import UNUSED_RULE

    return "suppression comments in every scanned file" if rule.id == UNUSED_RULE else f"`{rule.fact}` facts"


def _levels(rule: Rule) -> str:
    return "".join(f"; **{severity}** {text}" for severity, text in rule.level_texts)


def render(rule: Rule) -> str:
    state = "on by default" if rule.enabled else "off by default; enable with `extend-select`"
    out = [
        f"# {rule.id} {rule.name}",
        "",
        f"Severity: **{rule.severity}**{_levels(rule)} ({state}). Checks: {_checks(rule)}.",
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


REPOSITORY = "https://github.com/portpolicy/portpolicy"
"""The project's repository; equal to ``[project.urls] Repository`` in pyproject.toml (tested)."""
DOCS_DIR = "docs/rules"
HEADER = (
    "<!-- Generated from the rule file by `python -m portpolicy.ruledoc --write docs/rules`; do not edit. -->"
)


def is_builtin(rule: Rule) -> bool:
    from pathlib import Path

    from portpolicy.engine import builtin_rules_dir

    return Path(rule.source).resolve().parent == builtin_rules_dir().resolve()


def rule_url(rule: Rule) -> str | None:
    """Where a built-in rule's page is published; user rules have none."""
    return f"{REPOSITORY}/blob/main/{DOCS_DIR}/{rule.id}.md" if is_builtin(rule) else None


def page(rule: Rule) -> str:
    """The committed ``docs/rules/PPnnn.md`` page: the same text as ``portpolicy explain``."""
    return f"{HEADER}\n\n{render(rule)}"


def index(rules: list[Rule]) -> str:
    out = [
        HEADER,
        "",
        "# Rules",
        "",
        "Every built-in rule, generated from the files in [`rules/`](../../rules). The same text is",
        "printed by `portpolicy explain PPnnn`; `portpolicy rules` lists the rules a run would use.",
        "",
        "| id | name | severity | default | summary |",
        "|---|---|---|---|---|",
    ]
    for r in rules:
        summary = r.summary.replace("|", "\\|").replace("\n", " ")
        out.append(
            f"| [{r.id}]({r.id}.md) | `{r.name}` | {r.severity} | {'on' if r.enabled else 'off'} | {summary} |"
        )
    return "\n".join(out) + "\n"


def pages() -> dict[str, str]:
    """File name -> content for every page of ``docs/rules``, from the built-in rule files."""
    from portpolicy.engine import load_rules

    rules = [r for r in load_rules() if is_builtin(r)]
    result = {f"{r.id}.md": page(r) for r in rules}
    result["index.md"] = index(rules)
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m portpolicy.ruledoc --write docs/rules`` (or ``--check``): regenerate the pages."""
    import argparse
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m portpolicy.ruledoc", description=main.__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", metavar="DIR", help="write the pages into DIR, removing stale ones")
    group.add_argument("--check", metavar="DIR", help="exit 1 if DIR differs from the generated pages")
    args = parser.parse_args(argv)
    directory = Path(args.write or args.check)
    wanted = pages()
    present = {p.name for p in directory.glob("*.md")} if directory.is_dir() else set()
    stale = sorted(present - set(wanted))
    changed = sorted(
        name
        for name, text in wanted.items()
        if not (directory / name).is_file() or (directory / name).read_text(encoding="utf-8") != text
    )
    if args.check:
        for name in [*changed, *stale]:
            print(f"{directory / name}: out of date", file=sys.stderr)
        return 1 if changed or stale else 0
    directory.mkdir(parents=True, exist_ok=True)
    for name in changed:
        (directory / name).write_text(wanted[name], encoding="utf-8")
    for name in stale:
        (directory / name).unlink()
    print(f"{directory}: {len(changed)} written, {len(stale)} removed, {len(wanted)} pages", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
