"""Read deployed, rendered or synthesised text as its destination's format; map locations back.

A template deployed to ``/etc/systemd/system/x.service`` is read by whichever format's
signature (``portpolicy.signatures``) names that destination, never by a reader imported
here: the signatures stay the one place that knows formats, and only the reader chosen is
imported. The reader sees the destination path (unit names and sysctl.d priorities come
from it); every ``Location`` in the facts it returns is then mapped back to the file the
user edits (the template line, the task argument).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

from portpolicy import recognise
from portpolicy.model import Location, ParseError
from portpolicy.readers.base import Source, cut_values, unlike_file
from portpolicy.signatures import Signature, all_signatures, by_name, reader
from portpolicy.signatures import reader as signature_reader
from portpolicy.virtual import move_locations
from portpolicy.yamlnodes import YamlError, compose_documents

Mapper = Callable[[Location], Location]


def _names(signature: Signature, dest: str) -> bool:
    """True when ``dest`` (a deployment path, absolute or relative) is named like the format."""
    probe = dest.rstrip("/")
    return signature.named(probe) or signature.named(probe.lstrip("/"))


def named_as(name: str, dest: str) -> bool:
    """True when the deployment path ``dest`` is named like the format called ``name``."""
    signature = by_name(name)
    return signature is not None and _names(signature, dest)


def reader_for(dest: str) -> ModuleType | None:
    """The reader of the first format (in ``signatures.ORDER``) whose name test accepts ``dest``."""
    signature = next((s for s in all_signatures() if _names(s, dest)), None)
    return reader(signature) if signature is not None else None


def named_reader(name: str, yaml: bool = False) -> ModuleType | None:
    """The reader of the format called ``name`` (with ``yaml``: only a YAML format's)."""
    signature = by_name(name)
    if signature is None or (yaml and not signature.yaml):
        return None
    return reader(signature)


def recognised(reader: ModuleType, dest: str, text: str) -> ModuleType:
    """The reader for ``text`` deployed at ``dest``: ``reader`` (the name's) unless the text is
    recognisably another format, as ``recognise`` decides for a file in the tree."""
    found = recognise.recognise(dest.lstrip("/") or dest, text).signature
    if found is not None and found.name != reader.NAME and not found.yaml:
        return signature_reader(found)
    return reader


def by_content(dest: str, text: str) -> tuple[ModuleType | None, str]:
    """The reader of deployed ``text`` whose destination's name names no format (a Kubernetes
    manifest deployed as ``{{ kube_config_dir }}/metallb.yaml``), as ``recognise`` decides for
    a file in the tree; with None, why a format it looks like could not claim it (or "").
    """
    found = recognise.recognise(dest.lstrip("/") or dest, text)
    if found.signature is not None:
        return signature_reader(found.signature), ""
    if not found.sniffed:
        return None, ""
    try:
        docs = compose_documents(text)
    except YamlError:
        return None, f"looks like {found.sniffed[0].title}, but the rendered text does not parse as YAML"
    for signature in found.sniffed:
        candidate = signature_reader(signature)
        if candidate.claims(docs):
            return candidate, ""
    return None, ""


def read_as(reader: ModuleType, dest: str, text: str, mapper: Mapper) -> list[Any]:
    """Read ``text`` as if it were the file ``dest``; facts come back with mapped locations.

    ``reader`` is the format ``dest``'s name suggests; when the text is recognisably
    another format (Apache content deployed to ``sites-enabled/``), that format reads it,
    as ``recognise`` decides for a file in the tree. A caller that files the facts under a
    reader's name passes the reader ``recognised`` chose: only that format's ``assemble``
    turns its partial facts (nftables' ``NftFile``) into facts.
    """
    reader = recognised(reader, dest, text)
    source = Source(dest, text)
    try:
        facts = list(reader.read(source))
    except Exception as exc:  # a reader bug must not stop the Ansible stage (its text may quote the file)
        return [
            ParseError(
                f"internal error in the {reader.NAME} reader ({type(exc).__name__})", mapper(Location(dest))
            )
        ]
    unlike = unlike_file(reader, source, facts)
    if unlike is not None:  # not the format its name claims: quote none of it
        return [ParseError(unlike, mapper(Location(dest)))]
    return [remap(f, dest, mapper) for f in cut_values(facts)]


def read_docs(reader: ModuleType, path: str, text: str, docs: Iterable[Any]) -> list[Any]:
    """Read already composed YAML nodes of a real file (locations are already right)."""
    try:
        return list(reader.read_yaml(Source(path, text), list(docs)))
    except Exception as exc:
        return [
            ParseError(f"internal error in the {reader.NAME} reader ({type(exc).__name__})", Location(path))
        ]


def remap(obj: Any, dest: str, mapper: Mapper) -> Any:
    """Replace every ``Location`` in ``dest`` inside a fact (nested dataclasses and tuples too)."""
    return move_locations(obj, dest, mapper)
