"""Who a service's processes run as: ``user``, capabilities, ``privileged`` and ``no-new-privileges``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from portpolicy import images
from portpolicy.model import Location, RunAs
from portpolicy.readers.compose.services import Services
from portpolicy.readers.compose.values import Values
from portpolicy.yamlnodes import MappingNode, Node

_NO_NEW_PRIVS = re.compile(r"no-new-privileges(?:[:=](\w+))?")


def run_as(doc: Services, svc: MappingNode) -> RunAs:
    """``user`` as written (None when absent or unknown: the image decides) and capabilities."""
    user: str | None = None
    user_loc: Location | None = None
    val = doc.value(doc.attr(svc, "user"))
    if val is not None:
        user_loc = val.location
        user = val.text.strip() if val.known and val.text.strip() else None
    added = capabilities(doc, doc.attr_list(svc, "cap_add"))
    dropped = capabilities(doc, doc.attr_list(svc, "cap_drop"))
    privileged = doc.value(doc.attr(svc, "privileged"))
    if privileged is not None and privileged.text.strip().lower() == "true":
        added |= {"ALL"}
    cap_key = next(
        (k for k in (doc.attr_key(svc, key) for key in ("cap_add", "cap_drop", "privileged")) if k), None
    )
    no_new_privs = False
    for opt_node in doc.attr_list(svc, "security_opt"):
        opt = doc.value(opt_node)
        flag = _NO_NEW_PRIVS.fullmatch(opt.text.strip()) if opt is not None and opt.known else None
        if flag is not None:
            no_new_privs = flag.group(1) is None or flag.group(1).lower() == "true"
    written = RunAs(
        user=user,
        location=user_loc,
        added=frozenset(added),
        dropped=frozenset(dropped),
        no_new_privileges=no_new_privs,
        capability_location=doc.loc(cap_key) if cap_key else None,
    )
    return written if val is not None else _image_user(doc, svc, written)


def _image_user(doc: Services, svc: MappingNode, written: RunAs) -> RunAs:
    """No ``user:``: a known image's default user (``data/images.yml``), unless it builds its own."""
    image = doc.value(doc.attr(svc, "image"))
    if image is None or not image.known or doc.attr(svc, "build") is not None:
        return written
    known = images.default_user(image.text, image.location)
    if known is None:
        return written
    return replace(written, user=known.user, location=known.location, origin=known.origin)


def capabilities(values: Values, nodes: Iterable[Node]) -> set[str]:
    """Names as the model keeps them: upper case, no ``CAP_`` (Docker accepts both)."""
    caps: set[str] = set()
    for node in nodes:
        val = values.value(node)
        if val is None or not val.known:
            continue
        cap = val.text.strip().upper()
        caps.add(cap[4:] if cap.startswith("CAP_") else cap)
    return caps
