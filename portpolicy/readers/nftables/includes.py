"""``include`` directives spliced in place, as nft's scanner does, across a host's files.

``read`` keeps each file's tokens in an ``NftFile``; ``assemble`` sees every nftables file of
a host, splices each include where it stands and interprets each ruleset that no other file
includes. Include paths are tried relative to the including file's directory and, for
absolute paths (``/etc/nftables.d/*.nft``), below the root-filesystem tree the including file
sits in; nft's default include directory is ``/etc``. Globs expand in sorted order, a ``.j2``
template stands for the file it renders, depth and size are bounded, and an include that
matches no scanned file is Unresolved.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field

from portpolicy.model import Fact, Location, ParseError, Unresolved
from portpolicy.readers.base import Source, shown, strip_template
from portpolicy.readers.lexing import glob_matches
from portpolicy.readers.nftables.interpreter import interpret
from portpolicy.readers.nftables.lexer import Tok

MAX_INCLUDE_DEPTH = 16
MAX_TOKENS = 2_000_000


@dataclass
class NftFile:
    """One tokenized file, waiting for ``assemble`` to splice includes and interpret it."""

    path: str
    tokens: list[Tok]
    location: Location = field(default_factory=lambda: Location("", 1, 1))
    root: str | None = None
    """The folder (as ``path`` is shown) that plays ``/`` for absolute includes, when the
    path below the scanned root has an ``etc/`` (``rootfs_of``); None when it has none."""


def rootfs_of(rel: str) -> str | None:
    """The folder of ``rel`` (a path below the scanned root) that plays ``/``: the one holding
    its ``etc/`` or ``usr/``; ``.`` when the path starts there; None when it has neither."""
    parts = rel.split("/")[:-1]
    for i, part in enumerate(parts):
        if part == "etc" or (part == "usr" and i + 1 < len(parts)):
            return "/".join(parts[:i]) or "."
    return None


def shown_root(source: Source) -> str | None:
    """``rootfs_of`` the path below the scanned root, as a prefix of the path shown (``source.path``).

    Only folders below the scanned root count: a tree checked out under ``etc/`` reads the
    same as anywhere else.
    """
    root = rootfs_of(source.name_path)
    if root is None:
        return None
    rel = source.name_path
    above = source.path[: len(source.path) - len(rel)] if source.path.endswith(rel) else ""
    return posixpath.normpath(posixpath.join(above or ".", root))


def assemble(facts: Sequence[Fact | NftFile]) -> list[Fact]:
    files = {f.path: f for f in facts if isinstance(f, NftFile)}
    out: list[Fact] = [f for f in facts if not isinstance(f, NftFile)]
    included: set[str] = set()
    spliced: dict[str, list[Tok]] = {}
    notes: dict[str, list[Fact]] = {}
    for path in sorted(files):
        notes[path] = []
        spliced[path] = _splice(files[path], files, included, notes[path], (path,))
    for path in sorted(files):
        if path in included:
            continue
        out.extend(notes[path])
        out.extend(interpret(spliced[path]))
    return out


def _splice(
    file: NftFile, files: dict[str, NftFile], included: set[str], notes: list[Fact], chain: tuple[str, ...]
) -> list[Tok]:
    out: list[Tok] = []
    toks = file.tokens
    i = 0
    while i < len(toks):
        tok = toks[i]
        if (
            tok.kind == "word"
            and tok.text == "include"
            and i + 1 < len(toks)
            and toks[i + 1].kind in ("string", "tmpl")
        ):
            target = toks[i + 1]
            i += 2
            if target.kind == "tmpl":
                notes.append(Unresolved(target.text, "nftables include path is a template", target.at))
                continue
            found = _resolve(file, target.text, files)
            if not found and not any(ch in target.text for ch in "*?["):
                notes.append(
                    Unresolved(
                        target.text,
                        "nftables include not found in the scanned files; its rules are not read",
                        target.at,
                    )
                )
            for path in found:
                if path in chain or len(chain) >= MAX_INCLUDE_DEPTH:
                    notes.append(ParseError(f"include loop or nesting too deep at {shown(path)}", target.at))
                    continue
                included.add(path)
                out.extend(_splice(files[path], files, included, notes, (*chain, path)))
                out.append(Tok("\n", "nl", target.at))
                if len(out) > MAX_TOKENS:
                    notes.append(ParseError("ruleset too large after includes", target.at))
                    return out
            continue
        out.append(tok)
        i += 1
    return out


def _resolve(file: NftFile, pattern: str, files: dict[str, NftFile]) -> list[str]:
    includer, root = file.path, file.root
    bases = []
    if pattern.startswith("/"):
        if root is not None:
            bases.append(posixpath.normpath(posixpath.join(root, pattern.lstrip("/"))))
    else:
        bases.append(posixpath.normpath(posixpath.join(posixpath.dirname(includer), pattern)))
        if root is not None:  # nft's default include directory is /etc
            bases.append(posixpath.normpath(posixpath.join(root, "etc", pattern)))
    found: list[str] = []
    for want in bases:
        for path in sorted(files):
            shown = strip_template(path)
            if path != includer and path not in found and _glob(shown, want):
                found.append(path)
        if found:
            break
    return found


def _glob(path: str, pattern: str) -> bool:
    a, b = path.split("/"), pattern.split("/")
    return len(a) == len(b) and all(glob_matches(x, y) for x, y in zip(a, b, strict=True))
