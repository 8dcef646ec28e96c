"""A host's unit files joined the way systemd loads a unit: main file and drop-ins in order.

The main file comes from the best-ranked search path (``/etc`` before ``/run`` before
``/usr/lib``); an instance ``foo@bar.socket`` falls back to its template ``foo@.socket``; its
drop-ins come from ``<unit>.d``, the template's, every prefix's (``foo-.socket.d``) and the
type-wide ``socket.d``, one per file name, applied in name order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from portpolicy.readers.systemd.unitfile import Directive, UnitFragment


@dataclass(frozen=True)
class MergedUnit:
    """A unit as systemd loads it: main file (own or template's) and drop-ins in order."""

    name: str
    user_unit: bool
    main: UnitFragment | None
    fragments: tuple[UnitFragment, ...]

    @property
    def broken(self) -> bool:
        return self.main is not None and (self.main.masked or self.main.failed)

    def directives(self, section: str) -> Iterator[Directive]:
        for fragment in self.fragments:
            for directive in fragment.directives:
                if directive.section == section:
                    yield directive

    @property
    def instance(self) -> str | None:
        prefix = self.name.rsplit(".", 1)[0]
        if "@" not in prefix:
            return None
        return prefix.split("@", 1)[1] or None


class HostUnits:
    """All fragments of one host, indexed the way systemd looks units up."""

    def __init__(self, fragments: list[UnitFragment]) -> None:
        self.mains: dict[tuple[bool, str], UnitFragment] = {}
        self.dropins: dict[tuple[bool, str], list[UnitFragment]] = {}
        for fragment in sorted(fragments, key=lambda f: (f.priority, f.path)):
            key = (fragment.user_unit, fragment.unit)
            if fragment.dropin:
                self.dropins.setdefault(key, []).append(fragment)
            else:
                self.mains.setdefault(key, fragment)

    def merged(self, user_unit: bool, name: str) -> MergedUnit | None:
        """The unit ``name`` with everything systemd would load for it, or None if absent."""
        stem, dot, unit_type = name.rpartition(".")
        if not dot:
            return None
        base, at, instance = stem.partition("@")
        template = f"{base}@.{unit_type}" if at and instance else None
        main = self.mains.get((user_unit, name))
        if main is None and template:
            main = self.mains.get((user_unit, template))
        own = [name] + ([template] if template else [])
        if main is None and not any((user_unit, n) in self.dropins for n in own):
            return None
        pieces = base.split("-")
        prefixes = [f"{'-'.join(pieces[:i])}-.{unit_type}" for i in range(len(pieces) - 1, 0, -1)]
        dirs = [*own, *prefixes, unit_type]
        candidates = [
            (fragment.priority, specificity, fragment)
            for specificity, dir_name in enumerate(dirs)
            for fragment in self.dropins.get((user_unit, dir_name), [])
        ]
        chosen: dict[str, UnitFragment] = {}
        for _, _, fragment in sorted(candidates, key=lambda c: (c[0], c[1], c[2].path)):
            chosen.setdefault(fragment.dropin_name, fragment)
        ordered = [chosen[k] for k in sorted(chosen)]
        return MergedUnit(name, user_unit, main, tuple([main, *ordered] if main else ordered))

    def socket_names(self) -> list[tuple[bool, str]]:
        """Socket units that can run: a template only when no instance of it is present."""
        names = {key for key in [*self.mains, *self.dropins] if _is_concrete_socket(key[1])}
        with_instances = {(user, name.split("@", 1)[0]) for user, name in names if _instance_of(name)}
        return sorted(
            (user, name)
            for user, name in names
            if not (
                "@" in name and not _instance_of(name) and (user, name.split("@", 1)[0]) in with_instances
            )
        )


def _is_concrete_socket(name: str) -> bool:
    """A real socket unit name, not a prefix (``foo-.socket``) or type-wide (``socket``) drop-in."""
    return name.endswith(".socket") and not name.endswith("-.socket")


def _instance_of(name: str) -> str:
    """The instance part of ``foo@bar.socket`` (empty for templates and plain units)."""
    return name.rsplit(".", 1)[0].partition("@")[2]
