"""The base of the :class:`~openautoglm.store.sql.Store`'s table mixins (ledger, approval records, policies, tickets,
schedules): what they use of the Store, named once so the type checker can check each mixin on its own."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import Connection


class StoreMixin:
    """Store defines every one of these for real; it comes first in its own MRO, so these stand-ins never run."""

    engine: Engine

    def _write(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def seal_content(self, value: str | None) -> str | None:
        raise NotImplementedError

    def open_value(self, value: str | None) -> str | None:
        raise NotImplementedError

    def seal_json(self, value: Any) -> Any:
        raise NotImplementedError

    def open_json(self, value: Any) -> Any:
        raise NotImplementedError
