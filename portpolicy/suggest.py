"""'Did you mean ...?' for a rule id or name that matches nothing (``--select PP0O1``).

Looks for, in order: the same id in another case, the id with look-alike characters fixed
(O for 0, I or l for 1), rule names that start with the word, then the closest spellings.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

LOOK_ALIKES = str.maketrans({"O": "0", "o": "0", "I": "1", "i": "1", "l": "1"})
MAX_SUGGESTIONS = 3
CUTOFF = 0.6


def suggestions(word: str, candidates: Iterable[str]) -> list[str]:
    """Up to three candidates the user probably meant, best first; empty when none is close."""
    pool = sorted(set(candidates))
    for same in (_same_ignoring_case, _same_but_look_alikes, _extensions):
        found = [c for c in pool if same(word, c)]
        if found:
            return found[:MAX_SUGGESTIONS]
    return _closest(word, pool)


def hint(word: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'PP001'?)`` or the empty string."""
    found = suggestions(word, candidates)
    if not found:
        return ""
    quoted = [repr(c) for c in found]
    listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    return f" (did you mean {listed}?)"


def _same_ignoring_case(word: str, candidate: str) -> bool:
    return word.casefold() == candidate.casefold()


def _same_but_look_alikes(word: str, candidate: str) -> bool:
    head = word[:2].upper()
    return head + word[2:].translate(LOOK_ALIKES) == candidate.upper() and head == candidate[:2].upper()


def _extensions(word: str, candidate: str) -> bool:
    return len(word) >= 4 and not word[-1].isdigit() and candidate.startswith(word)


def _closest(word: str, pool: list[str]) -> list[str]:
    scored = [(difflib.SequenceMatcher(None, word.upper(), c.upper()).ratio(), c) for c in pool]
    scored = [(score, c) for score, c in scored if score >= CUTOFF]
    if not scored:
        return []
    best = max(score for score, _ in scored)
    return [c for score, c in sorted(scored, key=lambda s: (-s[0], s[1])) if score == best][:MAX_SUGGESTIONS]
