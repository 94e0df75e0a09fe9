"""Plug-in registry fed by entry points.

Built-ins are registered through recbench's own ``pyproject.toml`` entry points, third-party
packages through theirs; nothing is imported until it is asked for. Each group maps a short
name (``sasrec``) to a ``module:attribute`` string.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from recbench.errors import RecbenchError, UnknownNameError

GROUPS = {
    "recommenders": ("recbench.recommenders", "recommender"),
    "datasets": ("recbench.datasets", "dataset"),
    "interpreters": ("recbench.interpreters", "interpreter"),
    "metrics": ("recbench.metrics", "metric"),
    "adapters": ("recbench.adapters", "adapter"),
}


class DuplicatePluginError(RecbenchError):
    """Two plug-ins claim one name in one group."""


@dataclass(frozen=True)
class Entry:
    """One registered plug-in: where it lives and who provides it."""

    name: str
    target: str  # "module:attribute"
    provider: str  # distribution name, or "<runtime>" for objects registered in code
    obj: Any = None

    def load(self) -> Any:
        if self.obj is not None:
            return self.obj
        module, _, attr = self.target.partition(":")
        value: Any = importlib.import_module(module)
        for part in attr.split(".") if attr else []:
            value = getattr(value, part)
        return value

    def description(self) -> str:
        """First line of the plug-in's docstring (imports it)."""
        doc = getattr(self.load(), "__doc__", None) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""


class Registry:
    """Names of one kind of plug-in, discovered from an entry-point group on first use."""

    def __init__(self, kind: str, group: str):
        self.kind = kind
        self.group = group
        self._entries: dict[str, Entry] | None = None
        self._runtime: dict[str, Entry] = {}

    def _discover(self) -> dict[str, Entry]:
        if self._entries is None:
            found: dict[str, Entry] = {}
            for ep in entry_points(group=self.group):
                provider = ep.dist.name if ep.dist is not None else "?"
                entry = Entry(ep.name, ep.value, provider)
                old = found.get(ep.name)
                if old is not None and old.target != entry.target:
                    raise DuplicatePluginError(
                        f"two {self.kind} plug-ins are named '{ep.name}': {old.target} (from {old.provider}) "
                        f"and {entry.target} (from {entry.provider}); uninstall one of them"
                    )
                found[ep.name] = entry
            self._entries = found
        merged = dict(self._entries)
        for name, entry in self._runtime.items():
            old = merged.get(name)
            if old is not None and old.target != entry.target:
                raise DuplicatePluginError(
                    f"two {self.kind} plug-ins are named '{name}': {old.target} (from {old.provider}) "
                    f"and {entry.target} (from {entry.provider})"
                )
            merged[name] = entry
        return merged

    def register(self, name: str, obj: Any) -> None:
        """Register an object in code (tests, notebooks); refuses a name already taken."""
        target = f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', repr(obj))}"
        existing = self._discover().get(name)
        if existing is not None:
            raise DuplicatePluginError(
                f"two {self.kind} plug-ins are named '{name}': {existing.target} (from {existing.provider}) "
                f"and {target} (from <runtime>)"
            )
        self._runtime[name] = Entry(name, target, "<runtime>", obj)

    def unregister(self, name: str) -> None:
        self._runtime.pop(name, None)

    def names(self) -> list[str]:
        return sorted(self._discover())

    def entry(self, name: str) -> Entry:
        entries = self._discover()
        if name not in entries:
            raise UnknownNameError(unknown_name_message(self.kind, name, sorted(entries)))
        return entries[name]

    def get(self, name: str) -> Any:
        """The plug-in object (usually a class) registered under ``name``."""
        return self.entry(name).load()


def unknown_name_message(kind: str, name: str, known: list[str]) -> str:
    """``unknown recommender 'sasrek' (known: gru4rec, sasrec); did you mean 'sasrec'?``"""
    msg = f"unknown {kind} '{name}' (known: {', '.join(known) or 'none'})"
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        msg += f"; did you mean '{close[0]}'?"
    return msg


_REGISTRIES = {plural: Registry(kind, group) for plural, (group, kind) in GROUPS.items()}

recommenders = _REGISTRIES["recommenders"]
datasets = _REGISTRIES["datasets"]
interpreters = _REGISTRIES["interpreters"]
metrics = _REGISTRIES["metrics"]
adapters = _REGISTRIES["adapters"]


def registry(plural: str) -> Registry:
    """The registry for a plural kind name (``recommenders``, ``datasets`` ...)."""
    if plural not in _REGISTRIES:
        raise UnknownNameError(unknown_name_message("plug-in kind", plural, sorted(_REGISTRIES)))
    return _REGISTRIES[plural]
