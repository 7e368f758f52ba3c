"""Executors by name (``executor:`` in autoglm.yaml): where a plan's steps run.

``local`` (the default) is :class:`~openautoglm.engine.Executor` itself: every step in the task's own process.
``ray`` (:mod:`.ray_steps`, the ``ray`` extra) sends each step to a Ray cluster. Another kind is one class (a
subclass of ``Executor`` overriding ``invoke`` and, for options of its own, ``for_settings``) and one
registration, ``@executors.register("name")`` or an entry point in the group ``openautoglm.executors``.
"""

from __future__ import annotations

from ..engine import Executor
from ..registry import Registry

executors: Registry[Executor] = Registry("openautoglm.executors", "executor", Executor,
                                         builtins=("openautoglm.executors.ray_steps",))
executors.register("local")(Executor)

__all__ = ["executors"]
