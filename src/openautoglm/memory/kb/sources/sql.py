"""``kind: sql``: the rows of one read-only query, each row a document cited as table and key.

```yaml
knowledge:
  sources:
    - {kind: sql, name: faq, url: sqlite:///shop.db, query: "SELECT id, question, answer FROM faq", key: id}
```

The query runs through the SQL tools' read-only readers (SQLite opened read-only with an authorizer, PostgreSQL in
a read-only transaction), so a source cannot write even when its query tries.
"""

from __future__ import annotations

import asyncio
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ....errors import AutoGLMError
from ....tools.sql import sql_reader
from ..ingest import Record
from .base import RecordSource, SourceError, field_lines, knowledge_sources

_FROM = re.compile(r"\bfrom\s+([\"`\[]?[\w.]+[\"`\]]?)", re.IGNORECASE)


class SQLSourceOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="SQLAlchemy URL: sqlite:///path.db or postgresql+psycopg://user@host/db")
    query: str = Field(description="one SELECT; each row becomes a document")
    key: list[str] = Field(min_length=1, description="the column(s) that identify a row")
    table: str | None = Field(default=None, description="cited as (default: the table after FROM)")
    text: list[str] | None = Field(default=None, description="columns searched (default: all but key and title)")
    title: str | None = Field(default=None, description="a column used as each row's heading")
    max_rows: int = Field(default=100_000, ge=1)
    timeout_s: float = Field(default=60.0, gt=0)
    allow_superuser: bool = False

    @field_validator("key", mode="before")
    @classmethod
    def _one_or_more(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


@knowledge_sources.register("sql")
class SQLSource(RecordSource):
    kind = "sql"
    Options = SQLSourceOptions
    options: SQLSourceOptions

    async def records(self) -> list[Record]:
        o = self.options
        reader = sql_reader(f"knowledge.sources '{self.name}'", o.url, o.timeout_s, o.allow_superuser)
        try:
            result = await asyncio.to_thread(reader.query, o.query, o.max_rows, (), o.timeout_s,
                                             f"knowledge.sources '{self.name}'")
        except AutoGLMError as exc:
            raise SourceError(f"knowledge source '{self.name}': {exc}") from exc
        finally:
            close = getattr(reader, "close", None)
            if close is not None:
                close()
        if result["truncated"]:
            raise SourceError(f"knowledge source '{self.name}': the query returned more than max_rows "
                              f"({o.max_rows}) rows; raise max_rows or narrow the query")
        columns = result["columns"]
        missing = [k for k in o.key + (o.text or []) + ([o.title] if o.title else []) if k not in columns]
        if missing:
            raise SourceError(f"knowledge source '{self.name}': the query returns no column {', '.join(missing)} "
                              f"(it returns {', '.join(columns)})")
        table = o.table or _table_of(o.query) or self.name
        text_columns = o.text or [c for c in columns if c not in o.key and c != o.title]
        out = []
        for row in result["rows"]:
            place = ", ".join(f"{k}={row[k]}" for k in o.key)
            out.append(Record(source=self.key(f"{table}:{place}"), name=table, type="sql", place=place,
                              text=field_lines(row, text_columns),
                              heading=str(row[o.title]) if o.title and row[o.title] is not None else ""))
        return out


def _table_of(query: str) -> str | None:
    m = _FROM.search(query)
    return m.group(1).strip("\"`[]") if m else None
