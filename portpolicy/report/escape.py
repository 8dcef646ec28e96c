"""One place that makes text from scanned files safe for each kind of output.

Paths and messages carry whatever a pull request put in a file name or a file: terminal
escape sequences, newlines, bytes that are not UTF-8 (Python hands those over as
surrogate escapes, U+DC80-U+DCFF). Every renderer passes such text through one of these:

- ``display``: for terminals and line-based logs (text, facts, GitHub workflow commands):
  control characters, DEL, C1 controls and bidirectional overrides become ``\\xNN`` or
  ``\\uNNNN``, so nothing reaches a terminal raw and one finding stays one line.
- ``unicode_text``: for JSON, SARIF and GitLab: a byte that is not UTF-8 becomes the four
  characters ``\\xNN`` (the JSON encoder escapes control characters itself), so the
  document is valid UTF-8 and the original bytes can be read back from it.
- ``xml_text``: for JUnit: also what XML 1.0 cannot hold at all, even as a character
  reference (most C0 controls, U+FFFE, U+FFFF), becomes ``\\xNN`` / ``\\uNNNN``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_UNDECODABLE = re.compile("[\udc80-\udcff]")
"""Surrogate escapes: the bytes of a name or file that are not UTF-8."""
_SURROGATE = re.compile("[\ud800-\udfff]")
_TERMINAL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""C0, DEL, C1 (0x9b is a one-byte CSI), line and paragraph separators, bidi controls."""
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
"""Characters XML 1.0 forbids outright (surrogates are handled first)."""


def _code(char: str) -> str:
    point = ord(char)
    return f"\\x{point:02x}" if point < 0x100 else f"\\u{point:04x}"


def _byte(char: str) -> str:
    return f"\\x{ord(char) - 0xDC00:02x}"


def _surrogates(text: str) -> str:
    text = _UNDECODABLE.sub(lambda m: _byte(m.group()), text)
    return _SURROGATE.sub(lambda m: _code(m.group()), text)


def unicode_text(text: str) -> str:
    """Valid Unicode: each byte that was not UTF-8 as ``\\xNN``; everything else unchanged."""
    return _surrogates(text)


def display(text: str) -> str:
    """Printable on one terminal line: no control, escape or bidi character gets through raw."""
    return _TERMINAL.sub(lambda m: _code(m.group()), _surrogates(text))


def xml_text(text: str) -> str:
    """Text XML 1.0 can hold (ElementTree escapes ``<``, ``&``, ``>`` and quotes itself)."""
    return _NOT_XML.sub(lambda m: _code(m.group()), _surrogates(text))


def deep(value: object, escape: Callable[[str], str]) -> Any:
    """``value`` (a JSON-like tree of dicts, lists and scalars) with ``escape`` applied to every string."""
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, dict):
        return {escape(k) if isinstance(k, str) else k: deep(v, escape) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [deep(v, escape) for v in value]
    return value
