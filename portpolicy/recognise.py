"""What a file is: decided here, once, from its content with its path as a prior.

Real repositories keep nginx snippets in ``conf/``, sysctl files in a role's ``files/``,
HAProxy configs as ``<service>.cfg`` and Dockerfiles as ``Dockerfile-prod``; names lie the
other way too (a fail2ban filter named ``nginx-auth.conf``). So a file is claimed by the
first of these that holds, in order:

1. a format its name suggests, whose strong content test (``looks``) passes;
2. any other format whose strong content test passes (in ``signatures.ORDER``);
3. a format its name suggests, whose shape test (``shaped``) passes;
4. a format its name suggests, when the file holds nothing but comments.

Otherwise it is skipped with the reason. YAML is different only in that its strong test is
a cheap text sniff and the reader then decides from the composed documents.

Only paths relative to the scanned root are looked at (``rel``), never a folder above it,
so a tree gives the same verdicts from inside it, from its parent, and under any name.
Types that are never configuration (source code, documents, media, archives, keys) are
not opened at all: their names alone put them in the skipped list.
"""

from __future__ import annotations

import posixpath

from portpolicy import signatures
from portpolicy.paths import is_template, strip_template
from portpolicy.readers.base import mask_jinja
from portpolicy.readers.lexing import JINJA_COMMENTS, replace_templates
from portpolicy.records import record
from portpolicy.signatures import Signature, appconfig

YAML_SUFFIXES = (".yml", ".yaml", ".yml.j2", ".yaml.j2")

CONFIG_BY_NAME = frozenset({"docker/daemon.json"})
"""Folder/name of the few files of a skipped type that are configuration (Docker's daemon.json)."""

NOT_CONFIG_SUFFIXES = frozenset(
    [
        "py",
        "pyc",
        "pyi",
        "pyx",
        "ipynb",
        "js",
        "mjs",
        "cjs",
        "ts",
        "tsx",
        "jsx",
        "vue",
        "svelte",
        "go",
        "rs",
        "java",
        "kt",
        "kts",
        "scala",
        "groovy",
        "gradle",
        "c",
        "h",
        "cc",
        "cpp",
        "cxx",
        "hh",
        "hpp",
        "cs",
        "fs",
        "vb",
        "swift",
        "m",
        "mm",
        "rb",
        "php",
        "pl",
        "pm",
        "t",
        "lua",
        "r",
        "jl",
        "dart",
        "ex",
        "exs",
        "erl",
        "hrl",
        "elm",
        "clj",
        "cljs",
        "hs",
        "ml",
        "nim",
        "zig",
        "v",
        "sol",
        "asm",
        "s",
        "md",
        "markdown",
        "rst",
        "adoc",
        "asciidoc",
        "txt",
        "rtf",
        "tex",
        "org",
        "pod",
        "man",
        "1",
        "5",
        "8",
        "html",
        "htm",
        "xhtml",
        "css",
        "scss",
        "sass",
        "less",
        "png",
        "jpg",
        "jpeg",
        "gif",
        "ico",
        "icns",
        "webp",
        "bmp",
        "tif",
        "tiff",
        "svg",
        "psd",
        "xcf",
        "eps",
        "ai",
        "pdf",
        "ps",
        "mp3",
        "mp4",
        "m4a",
        "wav",
        "ogg",
        "flac",
        "webm",
        "mov",
        "avi",
        "mkv",
        "zip",
        "gz",
        "tgz",
        "bz2",
        "xz",
        "zst",
        "7z",
        "rar",
        "tar",
        "jar",
        "war",
        "ear",
        "whl",
        "egg",
        "deb",
        "rpm",
        "apk",
        "dmg",
        "iso",
        "img",
        "qcow2",
        "vmdk",
        "so",
        "o",
        "a",
        "dll",
        "dylib",
        "exe",
        "bin",
        "class",
        "pyd",
        "lib",
        "obj",
        "wasm",
        "woff",
        "woff2",
        "ttf",
        "otf",
        "eot",
        "json",
        "jsonl",
        "ndjson",
        "lock",
        "sum",
        "csv",
        "tsv",
        "parquet",
        "sqlite",
        "db",
        "sql",
        "xlsx",
        "xls",
        "docx",
        "doc",
        "pptx",
        "odt",
        "pem",
        "crt",
        "cer",
        "der",
        "key",
        "pub",
        "p12",
        "pfx",
        "jks",
        "keystore",
        "csr",
        "gpg",
        "asc",
        "sig",
        "license",
        "tf",
        "tfvars",
        "hcl",
        "nix",
        "cue",
        "jsonnet",
        "libsonnet",
        "rego",
        "proto",
        "graphql",
        "gql",
    ]
)
"""Suffixes of files that are never a config portpolicy reads (after a template suffix is removed).

JSON is here too: Kubernetes accepts JSON manifests, but repositories keep them in YAML, and
JSON files are mostly package metadata and data.
"""

NOT_CONFIG = "not a configuration file, by its type"
UNRECOGNISED_YAML = "YAML that no reader recognises"
NO_READER = "no reader recognises its content"
UNPARSED_YAML = "YAML that does not parse, and no reader claims it by name"
NOT_TAKEN = frozenset({NOT_CONFIG, UNRECOGNISED_YAML, NO_READER, UNPARSED_YAML})
NAMED_LIKE = "named like "


def not_taken(reason: str) -> bool:
    """True for a reason that says only that no reader took the file (by type, name or
    content): a later stage that reads it for something else (``buildcalls``) lists it as
    read, or says more precisely what it is."""
    return reason in NOT_TAKEN or reason.startswith(NAMED_LIKE)


HEAD = 64 * 1024
"""Characters of a file the content tests look at: a format shows itself in its first lines.

It bounds the cost of recognition whatever a file holds (an 8 MiB line of blanks costs
what 64 KiB does); a real config does not open with 64 KiB of comments."""


@record
class Recognition:
    """A file's format (``signature``), how that was decided, or why it is not read."""

    signature: Signature | None
    how: str = ""
    reason: str = ""
    sniffed: tuple[Signature, ...] = ()
    """YAML no name claims, whose text these YAML formats' sniffs accept: compose it once and
    let their readers' ``claims`` decide."""

    @property
    def sniff_yaml(self) -> bool:
        return bool(self.sniffed)


def is_yaml(rel: str) -> bool:
    return rel.lower().endswith(YAML_SUFFIXES)


def never_config(rel: str) -> bool:
    """True for a file whose type is never configuration (``app.py``, ``logo.png``, ``README.md``)."""
    name = strip_template(posixpath.basename(rel)).lower()
    stem, dot, suffix = name.rpartition(".")
    if "/".join([*rel.split("/")[-2:-1], name]) in CONFIG_BY_NAME:
        return False
    if suffix in ("json", "hcl") and appconfig.skipped_type_named(rel):  # appsettings.json, vault.hcl
        return False
    return bool(dot and stem and suffix in NOT_CONFIG_SUFFIXES)


def named(rel: str) -> list[Signature]:
    """The formats ``rel``'s name suggests, in ``signatures.ORDER``."""
    return [s for s in signatures.all_signatures() if s.named(rel)]


def claims(rel: str, text: str) -> bool:
    """True when some reader reads the file at ``rel`` holding ``text`` (YAML: its sniff passes)."""
    found = recognise(rel, text)
    return found.signature is not None or found.sniff_yaml


def recognise(rel: str, text: str) -> Recognition:
    """What the file at ``rel`` (relative to its scanned root) holding ``text`` is."""
    priors = named(rel)
    text = text[:HEAD]
    if "\r" in text:  # content tests anchor at "\n" line starts; CR-only files end lines too
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if is_yaml(rel):
        yaml_priors = [s for s in priors if s.yaml]
        if yaml_priors:
            return Recognition(yaml_priors[0], "name")
        sniffed = tuple(s for s in signatures.all_signatures() if s.yaml and s.looks(text))
        if sniffed:
            return Recognition(None, sniffed=sniffed)
        return Recognition(None, reason=UNRECOGNISED_YAML)
    body = _masked(text) if is_template(rel) or "{%" in text or "{#" in text else text
    for signature in priors:
        if signature.looks(body):
            return Recognition(signature, "name and content")
    for signature in signatures.all_signatures():
        if not signature.yaml and signature not in priors and signature.looks(body):
            return Recognition(signature, "content")
    for signature in priors:
        if signature.shaped(body):
            return Recognition(signature, "name and shape")
    for signature in priors:
        if signature.empty_by_name and not _has_content(body, signature.comments):
            return Recognition(signature, "name (the file holds only comments)")
    if priors:
        return Recognition(None, reason=f"{NAMED_LIKE}{priors[0].title}, but its content is not")
    return Recognition(None, reason=NO_READER)


def _masked(text: str) -> str:
    """Jinja statements and comments blanked, even across lines (``{% set x = [`` ... ``] %}``).

    Only for recognition: a statement says nothing of the format, and the lines between
    its ends are no line of the file it renders. Line breaks stay, so nothing moves.
    """
    text = replace_templates(text, _blank, (("{%", "%}"), *JINJA_COMMENTS), across_lines=True)
    return mask_jinja(text)


def _blank(span: str) -> str:
    return "\n" * span.count("\n")


def _has_content(text: str, comments: tuple[str, ...]) -> bool:
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith(comments):
            return True
    return False
