"""Optional dependencies: a module that needs an extra says so, by name, the moment it is imported."""

from __future__ import annotations

import importlib

from .errors import MissingExtraError


def require_extra(extra: str, what: str, *modules: str) -> None:
    """Import ``modules`` or raise :class:`MissingExtraError` telling how to install ``extra``."""
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise MissingExtraError(f"{what} needs {', '.join(missing)}: pip install 'openautoglm[{extra}]'")
