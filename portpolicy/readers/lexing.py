"""Scanners that cost time linear in their input, whatever the input holds.

Scanned files come from strangers' pull requests. A regex such as ``\\{\\{.*?\\}\\}``
rescans the rest of the line from every ``{{`` that is never closed, so a line of
``{{{{...`` costs time quadratic in its length; ``shlex`` appends to its token one
character at a time (a new string each time), quadratic in the length of a word. The
scanners here look for each delimiter once and build strings from slices.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from fnmatch import fnmatchcase
from functools import lru_cache

JINJA_TAGS: tuple[tuple[str, str], ...] = (("{{", "}}"), ("{%", "%}"))
"""Jinja expressions and statements, the inline templates readers mask or resolve."""
JINJA_COMMENTS: tuple[tuple[str, str], ...] = (("{#", "#}"),)
JINJA_EXPRESSIONS: tuple[tuple[str, str], ...] = (("{{", "}}"),)


class ForwardFinder:
    """Where ``needle`` next occurs in ``text``, for positions that never decrease.

    Each query at or before the last answer reuses it, so all queries together scan the
    text once: this is what keeps an unclosed ``{{`` from being searched for again from
    every later position.
    """

    def __init__(self, text: str, needle: str) -> None:
        self.text = text
        self.needle = needle
        self.found = -1  # the answer for positions up to it; -1 before the first query

    def at_or_after(self, pos: int) -> int:
        """The position of the next occurrence at or after ``pos``, or ``len(text)``."""
        if pos > self.found:
            found = self.text.find(self.needle, pos)
            self.found = len(self.text) if found < 0 else found
        return self.found


def template_spans(
    text: str, tags: Sequence[tuple[str, str]] = JINJA_TAGS, across_lines: bool = False
) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each ``open ... close`` span, left to right, as a lazy regex finds them.

    The same spans as ``re.finditer`` of ``\\{\\{.*?\\}\\}|\\{%.*?%\\}`` (``across_lines``:
    with ``re.S``): the leftmost opener that closes wins, and it closes at the first closer
    after it (on its own line unless ``across_lines``).
    """
    n = len(text)
    openers = [ForwardFinder(text, opener) for opener, _ in tags]
    closers = [ForwardFinder(text, closer) for _, closer in tags]
    newline = ForwardFinder(text, "\n")
    blocked = [0] * len(tags)  # where each tag's next opener may start that could still close
    pos = 0
    while True:
        start, which = n, -1
        for index, finder in enumerate(openers):
            found = finder.at_or_after(max(pos, blocked[index]))
            if found < start:
                start, which = found, index
        if which < 0:
            return
        close = closers[which].at_or_after(start + len(tags[which][0]))
        line_end = n if across_lines else newline.at_or_after(start)
        if close < line_end:
            end = close + len(tags[which][1])
            yield start, end
            pos = end
        else:  # no opener of this tag before the line's end can close: skip them all
            blocked[which] = line_end + 1


def replace_templates(
    text: str,
    replace: Callable[[str], str],
    tags: Sequence[tuple[str, str]] = JINJA_TAGS,
    across_lines: bool = False,
) -> str:
    """``text`` with each span of ``template_spans`` replaced by ``replace(span text)``."""
    if not any(opener in text for opener, _ in tags):
        return text
    pieces: list[str] = []
    done = 0
    for start, end in template_spans(text, tags, across_lines):
        pieces.append(text[done:start])
        pieces.append(replace(text[start:end]))
        done = end
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


# --- globs -----------------------------------------------------------------------------------------

MAX_GLOB = 1024
"""Characters in one component's glob: a file name has at most 255 (NAME_MAX), so a longer
pattern is hostile, and ``fnmatch`` translates it in time quadratic in its unclosed ``[``s."""


def glob_matches(name: str, pattern: str) -> bool:
    """``fnmatchcase`` for one path component; a pattern longer than ``MAX_GLOB`` matches nothing."""
    return len(pattern) <= MAX_GLOB and fnmatchcase(name, pattern)


# --- shell words ------------------------------------------------------------------------------------

_BLANKS = " \t\r\n"
"""What ``shlex`` splits words at (not the other Unicode spaces: ``a\u00a0b`` is one word)."""
_QUOTED_PART = re.compile(r"""'([^']*)'|"((?:[^"\\]|\\[\s\S])*)"|\\([\s\S])""")
_DOUBLE_QUOTE_ESCAPE = re.compile(r'\\(["\\])')
_OPEN_DOUBLE_QUOTE = re.compile(r'"(?:[^"\\]|\\[\s\S])*')


@lru_cache(maxsize=8)
def _shell_token(punctuation: str, comments: bool) -> re.Pattern[str]:
    """One token at a position: blanks, a comment, a punctuation run or a word.

    A word is a run of plain characters, quoted strings and escaped characters; each
    alternative starts with its own character, so a failed match never backtracks.
    """
    special = re.escape(_BLANKS + "'\"\\" + punctuation + ("#" if comments else ""))
    alternatives = [r"(?P<blank>[ \t\r\n]+)"]
    if comments:
        alternatives.append(r"(?P<comment>\#[^\n]*\n?)")
    if punctuation:
        alternatives.append("(?P<punct>[" + re.escape(punctuation) + "]+)")
    alternatives.append("(?P<word>(?:[^" + special + r"""]|'[^']*'|"(?:[^"\\]|\\[\s\S])*"|\\[\s\S])+)""")
    return re.compile("|".join(alternatives))


def split_shell(text: str, punctuation: str = "", comments: bool = False) -> list[str]:
    """The words of a shell command line, as ``shlex`` splits them, in linear time.

    The same words as ``shlex.split(text, comments)``, or with ``punctuation`` as a
    ``shlex.shlex(text, posix=True, punctuation_chars=punctuation)`` with ``whitespace_split``
    (a run of punctuation characters is a word of its own). Quotes and backslashes follow
    POSIX rules; an open quote or a trailing backslash raises ValueError with shlex's message.
    Like shlex, ``#`` starts a comment anywhere outside quotes, also inside a word.
    """
    return [word for word, _ in split_shell_spans(text, punctuation, comments)]


def split_shell_spans(text: str, punctuation: str = "", comments: bool = False) -> list[tuple[str, int]]:
    """``split_shell``'s words, each with the offset in ``text`` where it starts (for locations)."""
    token = _shell_token(punctuation, comments)
    words: list[tuple[str, int]] = []
    i, n = 0, len(text)
    while i < n:
        m = token.match(text, i)
        if m is None:
            raise ValueError(_unfinished(text, i))
        kind = m.lastgroup
        if kind == "word":
            word = m.group()
            words.append((_unquote(word) if "'" in word or '"' in word or "\\" in word else word, i))
        elif kind == "punct":
            words.append((m.group(), i))
        i = m.end()
    return words


def _unquote(word: str) -> str:
    """A word without its quotes and escapes (inside ``"..."`` only ``\\"`` and ``\\\\`` escape)."""

    def part(m: re.Match[str]) -> str:
        single, double, escaped = m.groups()
        if single is not None:
            return single
        if double is not None:
            return _DOUBLE_QUOTE_ESCAPE.sub(r"\1", double)
        return escaped

    return _QUOTED_PART.sub(part, word)


def _unfinished(text: str, i: int) -> str:
    """shlex's message for the quote or backslash at ``i`` that the text ends inside."""
    if text[i] == '"':
        body = _OPEN_DOUBLE_QUOTE.match(text, i)
        if body and body.end() < len(text):  # stopped at a last, lone backslash
            return "No escaped character"
        return "No closing quotation"
    return "No closing quotation" if text[i] == "'" else "No escaped character"
