"""Entry-point plugins: drivers and sequences from other installed packages.

A site adds its own instrument or procedure by installing a package that declares an entry point in the
group ``hilcal.drivers`` (an object that is a ``DriverSpec``) or ``hilcal.sequences`` (a ``Sequence``
instance or class). Each group is read once per process, when its registry is first imported. A plugin
that cannot be loaded, is of the wrong kind or would shadow a built-in name is never silently skipped:
it becomes a ``PluginProblem`` (logged as a warning at load, listed by ``hilcal rig check`` and named in
the error of a rig or session that asks for a name the registry does not have).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import TypeVar

log = logging.getLogger("hilcal.plugins")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PluginProblem:
    """One entry point that did not become a registry entry, and why."""

    group: str
    name: str
    value: str  # ``module:object`` as declared
    distribution: str  # ``name version`` of the package that declared it
    reason: str

    def __str__(self) -> str:
        return (
            f"plugin {self.name!r} = {self.value!r} (group {self.group}, from {self.distribution}): "
            f"{self.reason}"
        )


def _distribution(entry: EntryPoint) -> str:
    dist = entry.dist
    if dist is None:
        return "an unknown distribution"
    return f"{dist.metadata['Name']} {dist.version}"


def load_plugins(
    group: str,
    builtins: Mapping[str, object],
    convert: Callable[[str, object], T],
) -> tuple[dict[str, T], list[PluginProblem]]:
    """Load every entry point of ``group``; ``convert(name, obj)`` returns the entry or raises ``TypeError``.

    Returns the entries that loaded and the problems of those that did not. A name that is a built-in, or
    that two plugins declare, is a problem (neither duplicate is used: which one wins would be an accident
    of install order).
    """
    found: dict[str, T] = {}
    problems: list[PluginProblem] = []
    declared: dict[str, list[EntryPoint]] = {}
    for entry in entry_points(group=group):
        declared.setdefault(entry.name, []).append(entry)
    for name, entries in sorted(declared.items()):
        if len(entries) > 1:
            # Two distributions (or two copies on sys.path) claim one name: report each copy.
            sources = sorted({f"{e.value} from {_distribution(e)}" for e in entries})
            if len(sources) > 1:
                for entry in entries:
                    problems.append(_problem(group, entry, f"declared more than once ({'; '.join(sources)})"))
                continue
        entry = entries[0]
        if name in builtins:
            problems.append(_problem(group, entry, f"shadows the built-in {name!r}; choose another name"))
            continue
        try:
            loaded = entry.load()
        except Exception as err:  # any import-time failure of a third-party module is that plugin's fault
            problems.append(_problem(group, entry, f"cannot be loaded: {type(err).__name__}: {err}"))
            continue
        try:
            found[name] = convert(name, loaded)
        except (TypeError, ValueError) as err:
            problems.append(_problem(group, entry, str(err)))
    for problem in problems:
        log.warning("%s", problem)
    return found, problems


def _problem(group: str, entry: EntryPoint, reason: str) -> PluginProblem:
    return PluginProblem(group, entry.name, entry.value, _distribution(entry), reason)
