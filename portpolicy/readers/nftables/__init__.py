"""nftables rulesets: ``*.nft``, ``nftables.conf``, ``nftables.d/*`` and their ``.j2`` templates.

``read`` tokenizes one file the way nft's scanner does (``#`` comments, quoted strings,
braces, ``;`` and newlines as statement ends, backslash continuations) and yields an
``NftFile``; ``assemble`` then splices ``include`` directives in place, as nft's scanner
does, and interprets each ruleset that no other file includes. Include paths are tried
relative to the including file's directory and, for absolute paths (``/etc/nftables.d/*.nft``),
below the root-filesystem tree the including file sits in (``etc/nftables.conf`` includes
``etc/nftables.d/...``); globs expand in sorted order, a ``.j2`` template stands for the
file it renders, depth is bounded. An include that matches no scanned file is Unresolved.

Understood: block syntax (``table inet filter { chain input { type filter hook input
priority 0; policy drop; ... } }``) and the flat command form (``add rule inet filter input
...``, also with a leading ``nft``), ``define``/``$var``, named sets and maps with
``elements``/``add element``, anonymous sets, ranges, ``!=``, ``th``, ``meta l4proto``,
``ip/ip6 saddr``, ``iifname``/``iif``, ``ct state`` (and ``vmap``s on ports, states and
interfaces), verdicts ``accept``/``drop``/``reject``/``jump``/``goto``/``return``.

Directions come from the base chain's ``hook``: input, output, forward (``type filter``
only; nat, route and prerouting/postrouting chains decide no filter verdict). A regular
chain takes the direction (and matches) of the base chains that jump to it; a chain that
nothing reaches counts only when it is named like one (``input``, ``in_wan``, ``output``,
``forward``): nftables.d fragments add rules to a base chain declared in another file.
``arp``, ``bridge`` and ``netdev`` tables are not host port filters and are skipped.

The package splits the reader by job: ``lexer`` (nft's scanner), ``blocks`` (braces and
statements), ``includes`` (``NftFile``, splicing, ``assemble``), ``interpreter`` (tables,
chains, sets, defines), ``ruleset`` (what they declare) and ``rules`` (one rule's matches).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from portpolicy.model import Fact
from portpolicy.readers.base import Format, Source
from portpolicy.readers.nftables.includes import (
    MAX_INCLUDE_DEPTH,
    MAX_TOKENS,
    NftFile,
    assemble,
    rootfs_of,
    shown_root,
)
from portpolicy.readers.nftables.interpreter import interpret
from portpolicy.readers.nftables.lexer import Tok, tokenize

NAME = "nftables"

FORMAT = Format(
    "an nftables ruleset",
    "nft statement",
    re.compile(
        r"[ \t]*(?:[{}]|(?:table|chain|set|map|flowtable|flush|define|redefine|undefine|include|add|insert"
        r"|create|delete|destroy|replace|list|reset|rename|type|policy|elements|flags|counter|ip6?|inet"
        r"|tcp|udp|sctp|th|meta|ct|iif|oif|iifname|oifname|icmp|icmpv6|accept|drop|reject|jump|goto"
        r"|return|log|limit)(?:[ \t;{]|$))"
    ),
)


def read(source: Source) -> Iterator[Fact | NftFile]:
    """Tokenize one file; its includes are spliced and its rules read once ``assemble`` sees the host."""
    text = source.masked
    tokens, errors = tokenize(source, text)
    yield from errors
    yield NftFile(source.path, tokens, source.at(1), root=shown_root(source))


__all__ = [
    "FORMAT",
    "MAX_INCLUDE_DEPTH",
    "MAX_TOKENS",
    "NAME",
    "NftFile",
    "Tok",
    "assemble",
    "interpret",
    "read",
    "rootfs_of",
    "tokenize",
]
