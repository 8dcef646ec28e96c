"""Regular expressions written in scanned content, run in RE2's linear-time engine.

A pattern in a role default (``regex_search('(a*)*b')``) is attacker-controlled: Python's
backtracking ``re`` can take exponential time on it. RE2 (``google-re2``) matches in time
linear in the subject and refuses the constructs that need backtracking (backreferences,
lookaround); those leave the value unresolved, never fall back to ``re``.

Differences from Python's ``re``. Handled here: flags become inline ``(?i)``/``(?m)``
prefixes; RE2 would log refused patterns to stderr; replacement templates (``\\1``,
``\\g<name>``, ``\\n``) are expanded here, because the binding's ``expand`` decodes them
with ``unicode_escape`` and mangles non-ASCII text. Not handled (rare in port settings):
``$`` without ``(?m)`` matches only at the very end (Python's also before a final newline),
and ``\\w``, ``\\d``, ``\\s``, ``\\b`` are ASCII-only (Python's are Unicode).

Used by the Jinja subset and by the rule engine's ``matches`` (whose rule patterns are
checked when rules load): it sits outside the Ansible stage, so a check of a tree without
an Ansible project never loads that stage. RE2 itself is imported on first use.
"""

from __future__ import annotations

from typing import Any

from portpolicy.records import record

MAX_PATTERN = 1_000
"""Characters in one pattern (a port-related pattern is a few dozen)."""
MAX_PROGRAM_MEMORY = 1 << 20
"""Bytes RE2 may use for one compiled pattern and its DFA cache (it falls back to a slower,
still linear, matcher when the cache is full); the binding caches 128 compiled patterns."""


class RegexRefused(Exception):
    """A pattern or replacement that is not run; ``reason`` says why (shown to users)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _re2() -> Any:
    import re2  # type: ignore[import-untyped]

    return re2


def _options(ignorecase: bool) -> Any:
    re2 = _re2()
    options = re2.Options()
    options.max_mem = MAX_PROGRAM_MEMORY
    options.log_errors = False
    options.case_sensitive = not ignorecase
    return options


def compile_untrusted(pattern: Any, ignorecase: bool = False, multiline: bool = False) -> Any:
    """A compiled RE2 pattern, or ``RegexRefused`` when RE2 will not run it."""
    if not isinstance(pattern, str):
        raise RegexRefused("a regular expression must be a string")
    if len(pattern) > MAX_PATTERN:
        raise RegexRefused(f"a regular expression longer than {MAX_PATTERN} characters")
    re2 = _re2()
    try:
        return re2.compile(("(?m)" if multiline else "") + pattern, _options(ignorecase))
    except re2.error as exc:
        raise RegexRefused(
            f"regular expression not run by the linear-time engine (no backreferences or "
            f"lookaround): {_message(exc)}"
        ) from None


def _message(exc: Exception) -> str:
    """RE2's reason, with the piece of pattern it quotes cut short (a pattern is scanned content)."""
    from portpolicy.readers.base import shown

    detail = exc.args[0] if exc.args else ""
    text = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
    kind, colon, quoted = text.partition(": ")
    return f"{kind[:80]}{colon}{shown(quoted)}" if colon else shown(text)


def group(match: Any, ref: int | str) -> str | None:
    """One group's text (None when it did not take part); ``RegexRefused`` for a bad reference."""
    try:
        value = match.group(ref)
    except (IndexError, KeyError):
        raise RegexRefused(f"the pattern has no group {ref!r}") from None
    return value if value is None else str(value)


@record
class Ref:
    """A group reference in a replacement template: a number or a name."""

    group: int | str


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "a": "\a", "\\": "\\"}


def parse_template(template: str) -> list[str | Ref]:
    """A replacement template as literal pieces and group references.

    Python's ``re.sub`` syntax: ``\\1``..``\\99``, ``\\g<n>``, ``\\g<name>``, the usual
    character escapes; other escaped letters are errors there, and refused here.
    """
    pieces: list[str | Ref] = []
    text: list[str] = []
    i = 0
    while i < len(template):
        ch = template[i]
        if ch != "\\" or i + 1 == len(template):
            text.append(ch)
            i += 1
            continue
        nxt = template[i + 1]
        ref: Ref | None = None
        if nxt.isascii() and nxt.isdigit() and nxt != "0":
            end = i + 2 + (template[i + 2 : i + 3].isascii() and template[i + 2 : i + 3].isdigit())
            ref, i = Ref(int(template[i + 1 : end])), end
        elif nxt == "g" and template.startswith("<", i + 2) and ">" in template[i + 3 :]:
            close = template.index(">", i + 3)
            name = template[i + 3 : close]
            numbered = name.isascii() and name.isdigit()
            if numbered and len(name) > 3:
                raise RegexRefused("replacement refers to a group number above 999")
            ref = Ref(int(name) if numbered else name)
            i = close + 1
        elif nxt in _ESCAPES:
            text.append(_ESCAPES[nxt])
            i += 2
        elif nxt.isascii() and nxt.isalnum():
            raise RegexRefused(f"replacement escape \\{nxt} is not supported")
        else:
            text.append("\\" + nxt)
            i += 2
        if ref is not None:
            pieces.extend(["".join(text), ref] if text else [ref])
            text = []
    if text:
        pieces.append("".join(text))
    return pieces


def expand(match: Any, pieces: list[str | Ref]) -> str:
    """A parsed replacement template with this match's groups filled in."""
    return "".join(p if isinstance(p, str) else group(match, p.group) or "" for p in pieces)


def compile_trusted(pattern: str) -> Any:
    """One of portpolicy's own patterns, for use on hostile text where Python's ``re`` backtracks.

    Same syntax as ``re`` for the patterns used (inline flags such as ``(?ms)``); RE2 keeps
    the leftmost-first semantics of lazy quantifiers, so submatches are the same.
    """
    return _re2().compile(pattern, _options(False))
