"""Named backends that third parties can add to: model backends, vector stores, planners, routing strategies.

A :class:`Registry` maps a name (what autoglm.yaml says, e.g. ``knowledge.backend: qdrant``) to a class. A backend
joins it in one of two ways, both one line:

- in code, a decorator on the class: ``@vector_stores.register("chroma")``;
- from an installed package, an entry point in the registry's group (as simonw/llm's plugins do)::

      [project.entry-points."openautoglm.vector_stores"]
      chroma = "autoglm_chroma:ChromaStore"

Entry points are listed once, on the first lookup of a name nobody registered in code, and each is imported only
when its name is asked for, so an installed plugin costs nothing until it is used. The project's own backends are
named in ``builtins`` (modules imported on the first lookup) so that looking one up never needs them imported first.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, TypeVar, cast

from .errors import ConfigError

T = TypeVar("T")
C = TypeVar("C", bound=type)


def _entry_points(group: str) -> Iterable[EntryPoint]:
    """The installed entry points of ``group`` (a seam: tests replace it to act as an installed plugin)."""
    return entry_points(group=group)


def _subclass(candidate: object, base: type) -> bool:
    return isinstance(candidate, type) and issubclass(candidate, base)


class Registry(Generic[T]):
    """Names to backend classes (subclasses of ``base``) for one kind of backend."""

    def __init__(self, group: str, kind: str, base: type, builtins: Iterable[str] = ()) -> None:
        self.group = group
        self.kind = kind
        self.base = base
        self.builtins = tuple(builtins)
        self._classes: dict[str, type[T]] = {}
        self._plugins: dict[str, EntryPoint] | None = None  # listed on the first miss
        self._from_plugins: set[str] = set()
        self._builtins_loaded = False

    def register(self, name: str) -> Callable[[C], C]:
        """Class decorator: ``@registry.register("name")``. A later registration under a taken name replaces it
        (a plugin may override a built-in on purpose)."""

        def add(cls: C) -> C:
            if not _subclass(cls, self.base):
                raise TypeError(f"a {self.kind} must be a subclass of {self.base.__name__}, not {cls!r}")
            self._classes[name] = cast("type[T]", cls)
            self._from_plugins.discard(name)
            return cls

        return add

    def get(self, name: str) -> type[T]:
        """The class registered as ``name``; a :class:`ConfigError` naming the known ones when there is none."""
        self._load_builtins()
        found = self._classes.get(name)
        if found is not None:
            return found
        plugin = self._listed().get(name)
        if plugin is None:
            raise ConfigError(f"unknown {self.kind} '{name}'; known: {', '.join(self.names()) or 'none'} "
                              f"(add one with @register or an entry point in group '{self.group}')")
        try:
            loaded = plugin.load()
        except Exception as exc:  # a broken plugin is a configuration problem, said in one line
            raise ConfigError(f"the {self.kind} '{name}' ({plugin.value}) could not be loaded: "
                              f"{type(exc).__name__}: {exc}") from exc
        try:
            self.register(name)(loaded)
        except TypeError as exc:
            raise ConfigError(f"the {self.kind} '{name}' ({plugin.value}): {exc}") from None
        self._from_plugins.add(name)
        return self._classes[name]

    def names(self) -> list[str]:
        """Every name that can be asked for: registered in code or offered by an installed package."""
        self._load_builtins()
        return sorted(set(self._classes) | set(self._listed()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def refresh(self) -> None:
        """Forget what entry points offered (after installing or removing a plugin in a running process)."""
        for name in self._from_plugins:
            self._classes.pop(name, None)
        self._from_plugins.clear()
        self._plugins = None

    def _listed(self) -> dict[str, EntryPoint]:
        if self._plugins is None:
            self._plugins = {ep.name: ep for ep in _entry_points(self.group)}
        return self._plugins

    def _load_builtins(self) -> None:
        if not self._builtins_loaded:
            self._builtins_loaded = True
            for module in self.builtins:
                importlib.import_module(module)
