"""Ansible's regular-expression filters (``regex_replace``, ``regex_search``,
``regex_findall``, ``regex_escape``) and tests (``match``, ``search``, ``regex``).

Patterns come from scanned content: they run in RE2's linear-time engine
(``portpolicy/regex.py``) with Python's ``re`` semantics, and what they build is
bounded like every other filter's result.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from portpolicy import regex
from portpolicy.ansible.jinja.budget import MAX_LENGTH, MAX_VALUE_SIZE, Evaluation, size_of
from portpolicy.ansible.jinja.operations import to_string
from portpolicy.ansible.jinja.values import BudgetExceeded, Unknown, is_int


def _subject(ev: Evaluation, value: Any) -> str:
    text = to_string(value)
    ev.budget.spend(len(text) >> 6)
    return text


def regex_replace(
    ev: Evaluation,
    value: Any = "",
    pattern: Any = "",
    replacement: Any = "",
    ignorecase: bool = False,
    multiline: bool = False,
    count: Any = 0,
    mandatory_count: Any = 0,
) -> str:
    """Ansible's ``regex_replace``: Python's ``re.sub`` semantics, run by RE2."""
    text = _subject(ev, value)
    if not isinstance(replacement, str) or not is_int(count) or not is_int(mandatory_count):
        raise Unknown("regex_replace needs a string replacement and integer counts")
    compiled = regex.compile_untrusted(pattern, bool(ignorecase), bool(multiline))
    template = regex.parse_template(replacement)
    pieces: list[str] = []
    end = found = size = 0
    for match in compiled.finditer(text):
        if 0 < count <= found:
            break
        ev.budget.spend()
        found += 1
        piece = regex.expand(match, template)
        size += match.start() - end + len(piece)
        if size > MAX_LENGTH:
            raise BudgetExceeded(f"regex_replace would build a string longer than {MAX_LENGTH}")
        pieces += (text[end : match.start()], piece)
        end = match.end()
    if found < mandatory_count:
        raise Unknown(f"regex_replace made {found} replacements, fewer than mandatory_count")
    return "".join(pieces) + text[end:]


def regex_search(ev: Evaluation, value: Any, pattern: Any = "", *args: Any, **flags: Any) -> Any:
    """Ansible's ``regex_search``: the match, or a list of the groups named by ``'\\\\1'``/``'\\\\g<x>'``."""
    refs = [_group_ref(a) for a in args]
    match = _compile(pattern, flags).search(_subject(ev, value))
    if match is None:
        return None
    if not refs:
        return regex.group(match, 0)
    return [regex.group(match, ref) for ref in refs]


def _group_ref(arg: Any) -> int | str:
    m = re.fullmatch(r"\\g<(\w{1,32})>|\\(\d{1,2})", arg) if isinstance(arg, str) else None
    if m is None:
        raise Unknown("regex_search arguments must be group references such as '\\1'")
    return m.group(1) if m.group(1) is not None else int(m.group(2))


def _compile(pattern: Any, flags: dict[str, Any]) -> Any:
    unknown = set(flags) - {"ignorecase", "multiline"}
    if unknown:
        raise Unknown(f"regular expression option {sorted(unknown)[0]!r} is not evaluated statically")
    return regex.compile_untrusted(pattern, bool(flags.get("ignorecase")), bool(flags.get("multiline")))


def regex_findall(ev: Evaluation, value: Any, pattern: Any = "", **flags: Any) -> list[Any]:
    """Ansible's ``regex_findall``: Python's ``re.findall`` (whole match, one group, or a list of groups)."""
    compiled = _compile(pattern, flags)
    out: list[Any] = []
    size = 0
    for match in compiled.finditer(_subject(ev, value)):
        ev.budget.spend()
        groups = [regex.group(match, i) or "" for i in range(1, compiled.groups + 1)]
        found: Any = groups if len(groups) > 1 else groups[0] if groups else regex.group(match, 0)
        size += size_of(found)
        if size > MAX_VALUE_SIZE or len(out) >= MAX_LENGTH:
            raise BudgetExceeded(f"regex_findall found more than {MAX_VALUE_SIZE} items and characters")
        out.append(found)
    return out


def regex_escape(_: Evaluation, value: Any, re_type: Any = "python") -> str:
    if re_type != "python":
        raise Unknown(f"regex_escape for {re_type!r} is not evaluated statically")
    return re.escape(to_string(value))


def regex_test(kind: str) -> Callable[..., bool]:
    """Ansible's ``match``/``search``/``regex`` tests, run by RE2."""

    def run(
        value: Any, pattern: Any = "", ignorecase: bool = False, multiline: bool = False, **more: Any
    ) -> bool:
        match_type = more.pop("match_type", "search") if kind == "regex" else kind
        if more or match_type not in ("match", "search", "fullmatch"):
            raise Unknown(f"test {kind!r} with these options is not evaluated statically")
        if not isinstance(value, str):
            raise Unknown(f"test {kind!r} needs a string")
        compiled = regex.compile_untrusted(pattern, bool(ignorecase), bool(multiline))
        return getattr(compiled, match_type)(value) is not None

    return run
