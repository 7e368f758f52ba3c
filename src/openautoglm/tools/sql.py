"""SQL databases as tools, read-only unless the configuration grants writes, enforced by the database itself.

Output shape of every ``*.query`` tool (for planners)::

    {"columns": ["product", "units"], "rows": [{"product": "无线耳机", "units": 1784}, ...],
     "row_count": 2, "truncated": false}
    # ${q.output.rows.0.units}; truncated is true when more than max_rows rows matched

``sql.<name>.tables`` returns ``{"tables": [{"name": ..., "columns": [{"name": ..., "type": ...}]}]}``;
``sql.<name>.execute`` (only with ``allow_writes``; has side effects, so it needs approval) returns
``{"rowcount": n}``.

Configuration (``autoglm.yaml``)::

    sql_databases:
      - {name: shop, url: "sqlite:///data/shop.db"}
      - {name: erp, url: "postgresql+psycopg://autoglm_ro@db.internal/erp", max_rows: 500, timeout_s: 20}
      - {name: notes, url: "sqlite:///notes.db", allow_writes: true}     # adds sql.notes.execute

How read-only is enforced — never by reading the SQL text:

- SQLite: the file is opened with ``mode=ro``; ``PRAGMA query_only=ON``; and an authorizer
  (``sqlite3.Connection.set_authorizer``) allows only SELECT, reads, functions (minus a deny list), recursive CTEs
  and a list of introspection PRAGMAs. Everything else — INSERT/UPDATE/DELETE, CREATE/DROP/ALTER, ATTACH/DETACH,
  transactions, ``PRAGMA query_only=OFF`` or any other PRAGMA that sets something — is refused by SQLite at
  prepare time. A progress handler stops queries that run past the time limit. The driver runs one statement
  per call.
- PostgreSQL: every call is its own transaction, started with ``SET TRANSACTION READ ONLY`` and a transaction-local
  ``statement_timeout``, and always rolled back, so a ``set_config`` or ``SET`` inside a query dies with it. The
  statement is sent as a server-side prepared statement, which PostgreSQL refuses to hold more than one command
  in. A read-only transaction still lets a superuser (or a member of pg_write_server_files /
  pg_execute_server_program) write files and run programs with ``COPY ... TO``, so such a login is refused unless
  ``allow_superuser`` is set. Recommended: connect as a role that only has SELECT on what it should see, e.g.
  ``CREATE ROLE autoglm_ro LOGIN; GRANT USAGE ON SCHEMA s TO autoglm_ro; GRANT SELECT ON ALL TABLES IN SCHEMA s
  TO autoglm_ro; ALTER ROLE autoglm_ro SET default_transaction_read_only = on;``
- Other databases: refused (no read-only guarantee we can vouch for).
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import sqlite_driver
from ..errors import ConfigError, ToolArgumentError, ToolError, ToolPermissionError
from .base import Tool, ToolContext

DEFAULT_MAX_ROWS = 100
HARD_MAX_ROWS = 10_000
MAX_DESCRIPTION_CHARS = 4000

# Introspection PRAGMAs that only read, with or without an argument (a table or index name).
SQLITE_READ_PRAGMAS = frozenset({
    "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo", "foreign_key_list",
    "collation_list", "database_list", "function_list", "pragma_list", "module_list",
})
# Settings a reader may look at (but not set: a PRAGMA with a value is refused).
SQLITE_READABLE_SETTINGS = frozenset({
    "query_only", "read_uncommitted", "foreign_keys", "user_version", "schema_version", "encoding", "page_size",
    "page_count", "journal_mode", "application_id", "compile_options", "data_version", "freelist_count",
})
SQLITE_DENIED_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"})


# ---------------------------------------------------------------------------------------------------------------
# results


def jsonable(value: Any) -> Any:
    """A JSON-friendly form of one database value."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() and abs(value) < 2**53 else float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        return {"base64": base64.b64encode(raw[:1024]).decode(), "bytes": len(raw)}
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)


def result_dict(columns: Sequence[str], rows: Sequence[Sequence[Any]], max_rows: int) -> dict[str, Any]:
    names = _unique_names(columns)
    kept = rows[:max_rows]
    return {
        "columns": names,
        "rows": [{n: jsonable(v) for n, v in zip(names, row, strict=False)} for row in kept],
        "row_count": len(kept),
        "truncated": len(rows) > max_rows,
    }


def _unique_names(columns: Sequence[str]) -> list[str]:
    seen: dict[str, int] = {}
    names = []
    for raw in columns:
        name = str(raw) or "column"
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 1
        names.append(name)
    return names


def render_table(output: dict[str, Any], limit: int = 20) -> str:
    """A result as a small text table, for the answer."""
    columns = output.get("columns") or []
    rows = output.get("rows") or []
    if not rows:
        return "(无结果 / no rows)"
    lines = [" | ".join(columns)]
    for row in rows[:limit]:
        lines.append(" | ".join(_cell(row.get(c)) for c in columns))
    more = len(rows) - limit
    if more > 0:
        lines.append(f"... {more} more rows")
    if output.get("truncated"):
        lines.append(f"(showing the first {output.get('row_count', len(rows))} rows)")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    return "" if value is None else str(value)


# ---------------------------------------------------------------------------------------------------------------
# SQLite


@dataclass
class _Denials:
    """What the authorizer refused during one statement, to say why in the error."""

    items: list[str] = field(default_factory=list)


def _sqlite_action_names() -> dict[int, str]:
    names = ("CREATE_INDEX CREATE_TABLE CREATE_TEMP_INDEX CREATE_TEMP_TABLE CREATE_TEMP_TRIGGER CREATE_TEMP_VIEW "
             "CREATE_TRIGGER CREATE_VIEW DELETE DROP_INDEX DROP_TABLE DROP_TEMP_INDEX DROP_TEMP_TABLE "
             "DROP_TEMP_TRIGGER DROP_TEMP_VIEW DROP_TRIGGER DROP_VIEW INSERT PRAGMA READ SELECT TRANSACTION UPDATE "
             "ATTACH DETACH ALTER_TABLE REINDEX ANALYZE CREATE_VTABLE DROP_VTABLE FUNCTION SAVEPOINT RECURSIVE")
    return {getattr(sqlite3, f"SQLITE_{n}"): n.replace("_", " ") for n in names.split()
            if hasattr(sqlite3, f"SQLITE_{n}")}


_ACTION_NAMES = _sqlite_action_names()
_SCHEMA_TABLES = frozenset({"sqlite_master", "sqlite_temp_master", "sqlite_schema", "sqlite_temp_schema"})


def read_only_authorizer(denials: _Denials) -> Callable[[int, str | None, str | None, str | None, str | None], int]:
    """An authorizer that lets SQLite prepare only statements that read."""

    def authorize(action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
        if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE):
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION:
            if (arg2 or "").lower() in SQLITE_DENIED_FUNCTIONS:
                denials.items.append(f"function {arg2}()")
                return sqlite3.SQLITE_DENY
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA:
            name = (arg1 or "").lower()
            if name in SQLITE_READ_PRAGMAS or (arg2 is None and name in SQLITE_READABLE_SETTINGS):
                return sqlite3.SQLITE_OK
            denials.items.append(f"PRAGMA {arg1}" + (f"={arg2}" if arg2 is not None else ""))
            return sqlite3.SQLITE_DENY
        what = _ACTION_NAMES.get(action, f"action {action}")
        if (arg1 or "").lower() in _SCHEMA_TABLES:
            # CREATE/DROP/ALTER reach the authorizer first as a write to the schema table: say so in words.
            denials.items.append("a schema change (CREATE/DROP/ALTER)")
        else:
            target = arg1 if action != sqlite3.SQLITE_ATTACH else "a database file"
            denials.items.append(f"{what}" + (f" {target}" if target else ""))
        return sqlite3.SQLITE_DENY

    return authorize


class SQLiteReader:
    """Read-only queries over one SQLite file, each on its own connection (cheap for SQLite, no shared state)."""

    def __init__(self, path: str | Path, timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s

    def connect(self) -> tuple[sqlite3.Connection, _Denials]:
        if not self.path.is_file():
            raise ToolError(f"database file not found: {self.path}")
        conn = sqlite_driver.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=5,
                                     check_same_thread=False)
        conn.execute("PRAGMA query_only=ON")
        denials = _Denials()
        conn.set_authorizer(read_only_authorizer(denials))
        return conn, denials

    def query(self, sql: str, max_rows: int, params: Sequence[Any] = (), timeout_s: float | None = None,
              tool_name: str = "sql.query") -> dict[str, Any]:
        conn, denials = self.connect()
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
        try:
            cursor = conn.execute(sql, tuple(params))
            columns = [d[0] for d in cursor.description or ()]
            rows = cursor.fetchmany(max_rows + 1) if cursor.description else []
            return result_dict(columns, rows, max_rows)
        except (sqlite_driver.dbapi().Warning, sqlite_driver.dbapi().ProgrammingError) as exc:
            if "one statement" in str(exc):
                raise ToolArgumentError(f"{tool_name}: send one SQL statement at a time") from None
            raise ToolArgumentError(f"{tool_name}: {exc}") from None
        except sqlite_driver.dbapi().DatabaseError as exc:
            raise _sqlite_error(exc, denials, tool_name, timeout_s or self.timeout_s) from None
        finally:
            conn.close()

    def tables(self) -> list[dict[str, Any]]:
        conn, _ = self.connect()
        try:
            found = conn.execute(
                "SELECT name, type FROM sqlite_master WHERE type IN ('table','view') AND name NOT LIKE 'sqlite_%'"
                " ORDER BY type, name").fetchall()
            out = []
            for name, kind in found:
                # PRAGMA, not pragma_table_info(): the authorizer allows the statement, not the virtual table.
                quoted = '"' + name.replace('"', '""') + '"'
                cols = conn.execute(f"PRAGMA table_info({quoted})").fetchall()
                out.append({"name": name, "kind": kind,
                            "columns": [{"name": c[1], "type": c[2] or ""} for c in cols]})
            return out
        finally:
            conn.close()


def _sqlite_error(exc: Exception, denials: _Denials, tool_name: str, timeout_s: float,
                  refusal: str = "this connection is read-only") -> ToolError:
    text = str(exc)
    if denials.items or "not authorized" in text or "prohibited" in text:
        what = ", ".join(dict.fromkeys(denials.items)) or text
        return ToolPermissionError(f"{tool_name}: refused by the database: {refusal} ({what})")
    if "readonly" in text or "read-only" in text or "query_only" in text:
        return ToolPermissionError(f"{tool_name}: refused by the database: this connection is read-only ({text})")
    if "interrupted" in text:
        return ToolError(f"{tool_name}: the query ran longer than {timeout_s:g}s and was stopped; narrow it down")
    return ToolArgumentError(f"{tool_name}: {text}")


class SQLiteWriter:
    """Statements with effects on a SQLite file: one statement per call, committed."""

    def __init__(self, path: str | Path, timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s

    def execute(self, sql: str, tool_name: str) -> dict[str, Any]:
        if not self.path.is_file():
            raise ToolError(f"database file not found: {self.path}")
        conn = sqlite_driver.connect(self.path, timeout=5, check_same_thread=False)
        denials = _Denials()
        conn.set_authorizer(_writer_authorizer(denials))
        deadline = time.monotonic() + self.timeout_s
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
        try:
            with conn:
                cursor = conn.execute(sql)
                return {"rowcount": cursor.rowcount}
        except (sqlite_driver.dbapi().Warning, sqlite_driver.dbapi().ProgrammingError) as exc:
            raise ToolArgumentError(f"{tool_name}: {exc}") from None
        except sqlite_driver.dbapi().DatabaseError as exc:
            raise _sqlite_error(exc, denials, tool_name, self.timeout_s, "this tool may not") from None
        finally:
            conn.close()


def _writer_authorizer(denials: _Denials) -> Callable[[int, str | None, str | None, str | None, str | None], int]:
    """Writes granted still stay inside this one file: no ATTACH (which creates files), no extensions."""

    def authorize(action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
        if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH) or (
                action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in SQLITE_DENIED_FUNCTIONS):
            denials.items.append(_ACTION_NAMES.get(action, str(action)) + (f" {arg2}()" if arg2 else ""))
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    return authorize


# ---------------------------------------------------------------------------------------------------------------
# PostgreSQL (and the SQLAlchemy engine behind it)


class PostgresReader:
    """Read-only queries through SQLAlchemy + psycopg 3: a read-only transaction per call, always rolled back."""

    def __init__(self, url: str, timeout_s: float = 10.0, allow_superuser: bool = False) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        if parsed.drivername != "postgresql+psycopg":
            raise ConfigError(f"{parsed.drivername}: use postgresql+psycopg:// (psycopg 3) for PostgreSQL tools")
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise ConfigError("PostgreSQL tools need psycopg: pip install 'openautoglm[postgres]'") from None
        from sqlalchemy.pool import NullPool

        # A fresh session per call: nothing one call does to its session (PREPARE, SET) can reach the next, and no
        # connection outlives the call. A loopback connect costs a few milliseconds.
        self.engine = create_engine(parsed, poolclass=NullPool)
        self.timeout_s = timeout_s
        self.allow_superuser = allow_superuser
        self._checked = False
        self._lock = threading.Lock()

    def _check_login(self, raw: Any) -> None:
        """Refuse a login that can write files or run programs whatever the transaction mode."""
        if self._checked or self.allow_superuser:
            return
        with raw.cursor() as cur:
            cur.execute(
                "SELECT current_user, r.rolsuper,"
                " pg_has_role(current_user, 'pg_write_server_files', 'MEMBER'),"
                " pg_has_role(current_user, 'pg_execute_server_program', 'MEMBER')"
                " FROM pg_roles r WHERE r.rolname = current_user")
            row = cur.fetchone()
        raw.rollback()
        if row and any(row[1:]):
            raise ToolPermissionError(
                f"refused: the database login '{row[0]}' is a superuser or may write server files or run programs, "
                "which a read-only transaction does not stop; connect as a read-only role (GRANT SELECT only) or "
                "set allow_superuser: true for this database if you accept that")
        with self._lock:
            self._checked = True

    def _run(self, work: Callable[[Any], Any], tool_name: str, read_only: bool, timeout_s: float) -> Any:
        import psycopg

        with self.engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            try:
                if read_only:
                    self._check_login(raw)
                with raw.cursor() as cur:
                    if read_only:
                        cur.execute("SET TRANSACTION READ ONLY")
                    cur.execute("SELECT set_config('statement_timeout', %s, true)", (str(int(timeout_s * 1000)),))
                    result = work(cur)
                if read_only:
                    raw.rollback()
                else:
                    raw.commit()
                return result
            except psycopg.Error as exc:
                raw.rollback()
                raise _postgres_error(exc, tool_name, timeout_s) from None
            finally:
                if raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    raw.rollback()

    def query(self, sql: str, max_rows: int, params: Sequence[Any] = (), timeout_s: float | None = None,
              tool_name: str = "sql.query") -> dict[str, Any]:
        def work(cur: Any) -> dict[str, Any]:
            # prepare=True: a server-side prepared statement holds exactly one command; PostgreSQL refuses more.
            cur.execute(sql, tuple(params) if params else None, prepare=True)
            if cur.description is None:
                return result_dict([], [], max_rows)
            columns = [d.name for d in cur.description]
            return result_dict(columns, cur.fetchmany(max_rows + 1), max_rows)

        return self._run(work, tool_name, read_only=True, timeout_s=timeout_s or self.timeout_s)

    def execute(self, sql: str, tool_name: str) -> dict[str, Any]:
        def work(cur: Any) -> dict[str, Any]:
            cur.execute(sql, None, prepare=True)
            return {"rowcount": cur.rowcount}

        return self._run(work, tool_name, read_only=False, timeout_s=self.timeout_s)

    def tables(self) -> list[dict[str, Any]]:
        from sqlalchemy import inspect

        inspector = inspect(self.engine)
        out = []
        schemas = [s for s in inspector.get_schema_names() if s not in ("information_schema", "pg_catalog")
                   and not s.startswith("pg_")]
        for schema in schemas:
            for kind, names in (("table", inspector.get_table_names(schema=schema)),
                                ("view", inspector.get_view_names(schema=schema))):
                for name in names:
                    cols = inspector.get_columns(name, schema=schema)
                    qualified = name if schema == "public" else f"{schema}.{name}"
                    out.append({"name": qualified, "kind": kind,
                                "columns": [{"name": c["name"], "type": str(c["type"])} for c in cols]})
        return out

    def close(self) -> None:
        self.engine.dispose()


def _postgres_error(exc: Any, tool_name: str, timeout_s: float) -> ToolError:
    import psycopg
    from psycopg import errors as pg

    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, pg.ReadOnlySqlTransaction) or (getattr(exc, "sqlstate", None) or "").startswith("25"):
        # Class 25, invalid transaction state: the read-only transaction refused a write or a change of mode.
        return ToolPermissionError(f"{tool_name}: refused by the database: read-only transaction ({text})")
    if isinstance(exc, pg.InsufficientPrivilege):
        return ToolPermissionError(f"{tool_name}: refused by the database: {text}")
    if isinstance(exc, pg.QueryCanceled):
        return ToolError(f"{tool_name}: the query ran longer than {timeout_s:g}s and was stopped; narrow it down")
    if "multiple commands" in text:
        return ToolArgumentError(f"{tool_name}: send one SQL statement at a time ({text})")
    if isinstance(exc, psycopg.ProgrammingError | psycopg.errors.SyntaxError | psycopg.DataError):
        return ToolArgumentError(f"{tool_name}: {text}")
    if isinstance(exc, psycopg.OperationalError):
        return ToolError(f"{tool_name}: cannot reach the database: {text}")
    return ToolError(f"{tool_name}: {text}")


# ---------------------------------------------------------------------------------------------------------------
# the tools


def describe_schema(tables: list[dict[str, Any]], limit: int = MAX_DESCRIPTION_CHARS) -> str:
    parts = []
    for t in tables:
        cols = ", ".join(f"{c['name']} {c['type']}".strip() for c in t["columns"])
        parts.append(f"{t['name']}({cols})" + (" [view]" if t.get("kind") == "view" else ""))
    text = "; ".join(parts)
    return text if len(text) <= limit else text[:limit] + " ..."


class SQLQueryTool(Tool):
    """Read-only SQL over one database; its description carries the schema, found when first asked."""

    source = "sql"
    portable = False  # it holds this process's database connection: it runs where the task runs
    returns = {"type": "object", "properties": {  # noqa: RUF012
        "columns": {"type": "array", "items": {"type": "string"}},
        "rows": {"type": "array", "items": {"type": "object"}},
        "row_count": {"type": "integer"}, "truncated": {"type": "boolean"}}}

    def __init__(self, name: str, reader: SQLiteReader | PostgresReader, max_rows: int = DEFAULT_MAX_ROWS,
                 purpose: str = "", schema_text: str | None = None, timeout_s: float | None = None,
                 before: Callable[[], None] | None = None, dialect: str = "sqlite") -> None:
        self.name = name
        self.reader = reader
        self.max_rows = max_rows
        self.purpose = purpose
        self._schema_text = schema_text
        self.timeout_s = timeout_s
        self.before = before
        self.dialect = dialect
        self.parameters = {
            "type": "object",
            "properties": {
                "sql": {"type": "string", "minLength": 1, "description": f"one read-only {dialect} SELECT statement"},
                "max_rows": {"type": "integer", "minimum": 1, "maximum": max_rows,
                             "description": f"at most this many rows come back (default {max_rows})"},
            },
            "required": ["sql"],
            "additionalProperties": False,
        }

    @property
    def description(self) -> str:
        return (f"{self.purpose or 'Run one read-only SQL query'} ({self.dialect}; writes are refused by the "
                f"database). Schema: {self.schema_text()}")

    @description.setter
    def description(self, value: str) -> None:
        self.purpose = value

    def schema_text(self) -> str:
        if self._schema_text is None:
            try:
                if self.before:
                    self.before()
                self._schema_text = describe_schema(self.reader.tables())
            except Exception as exc:  # an unreachable database must not break `autoglm tools`
                return f"(unavailable: {type(exc).__name__}: {str(exc)[:200]})"
        return self._schema_text

    async def __call__(self, args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        import asyncio

        sql = args.get("sql")
        if not isinstance(sql, str) or not sql.strip():
            raise ToolArgumentError(f"{self.name}: give one SQL statement in 'sql'")
        limit = min(int(args.get("max_rows") or self.max_rows), self.max_rows, HARD_MAX_ROWS)

        def run() -> dict[str, Any]:
            if self.before:
                self.before()
            return self.reader.query(sql, limit, tool_name=self.name)

        return await asyncio.to_thread(run)

    def answer(self, output: Any, lang: str) -> str | None:
        if isinstance(output, dict) and "rows" in output:
            return answer_rows(output, lang)
        return None

    def summarize(self, output: Any) -> str:
        if isinstance(output, dict) and "rows" in output:
            return render_table(output)
        return super().summarize(output)


def answer_rows(output: dict[str, Any], lang: str, limit: int = 10) -> str:
    """A query's result in a sentence: the value itself for one cell, else each row's ``column: value`` pairs."""
    columns = output.get("columns") or []
    rows = output.get("rows") or []
    zh = lang == "zh"
    if not rows:
        return "查询没有返回任何结果。" if zh else "The query returned no rows."
    if len(rows) == 1 and len(columns) == 1:
        value = _cell(rows[0].get(columns[0]))
        return f"查询结果：{columns[0]} = {value}。" if zh else f"The result: {columns[0]} = {value}."
    sep = "；" if zh else "; "
    said = sep.join(", ".join(f"{c}: {_cell(row.get(c))}" for c in columns) for row in rows[:limit])
    more = len(rows) - limit
    if zh:
        return f"查询返回 {len(rows)} 行：{said}" + (f"；另有 {more} 行未列出。" if more > 0 else "。")
    return f"The query returned {len(rows)} rows: {said}" + (f"; {more} more not shown." if more > 0 else ".")


class SQLTablesTool(Tool):
    source = "sql"
    portable = False  # it holds this process's database connection: it runs where the task runs
    parameters = {"type": "object", "properties": {}, "additionalProperties": False}  # noqa: RUF012

    def __init__(self, name: str, reader: SQLiteReader | PostgresReader, db_name: str) -> None:
        self.name = name
        self.reader = reader
        self.description = f"List the tables and views of the '{db_name}' database with their columns."

    async def __call__(self, args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        import asyncio

        return {"tables": await asyncio.to_thread(self.reader.tables)}

    def summarize(self, output: Any) -> str:
        if isinstance(output, dict) and "tables" in output:
            return describe_schema(output["tables"], limit=10_000).replace("; ", "\n")
        return super().summarize(output)


class SQLExecuteTool(Tool):
    """A statement with effects (INSERT, UPDATE, DDL...): has side effects, so the executor asks for approval."""

    source = "sql"
    portable = False  # it holds this process's database connection: it runs where the task runs
    side_effects = True
    parameters = {  # noqa: RUF012
        "type": "object",
        "properties": {"sql": {"type": "string", "minLength": 1, "description": "one SQL statement"}},
        "required": ["sql"],
        "additionalProperties": False,
    }

    def __init__(self, name: str, writer: SQLiteWriter | PostgresReader, db_name: str) -> None:
        self.name = name
        self.writer = writer
        self.description = (f"Run one SQL statement that changes the '{db_name}' database (INSERT, UPDATE, DELETE, "
                            "DDL); needs approval.")

    async def __call__(self, args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        import asyncio

        return await asyncio.to_thread(self.writer.execute, str(args["sql"]), self.name)


def _sqlite_path(url: str) -> Path:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if not parsed.database or parsed.database == ":memory:":
        raise ConfigError(f"{url}: SQL tools need a SQLite file, not an in-memory database")
    return Path(parsed.database).expanduser()


def sql_reader(owner: str, url: str, timeout_s: float = 10.0,
               allow_superuser: bool = False) -> SQLiteReader | PostgresReader:
    """A read-only reader of the database at ``url`` (SQLite or PostgreSQL); ``owner`` names it in errors."""
    from sqlalchemy.engine import make_url

    try:
        backend = make_url(url).get_backend_name()
    except Exception as exc:
        raise ConfigError(f"{owner}: not a SQLAlchemy URL: {exc}") from None
    if backend == "sqlite":
        return SQLiteReader(_sqlite_path(url), timeout_s)
    if backend == "postgresql":
        return PostgresReader(url, timeout_s, allow_superuser=allow_superuser)
    raise ConfigError(f"{owner}: read-only enforcement exists for sqlite and postgresql, not {backend}; use one "
                      "of those")


def sql_tools(name: str, url: str, allow_writes: bool = False, max_rows: int = DEFAULT_MAX_ROWS,
              timeout_s: float = 10.0, allow_superuser: bool = False, description: str | None = None) -> list[Tool]:
    """The tools of one configured database: ``sql.<name>.query``, ``sql.<name>.tables`` (+ ``.execute``)."""
    prefix = f"sql.{name}"
    tools: list[Tool] = []
    reader = sql_reader(f"sql_databases.{name}", url, timeout_s, allow_superuser)
    writer: SQLiteWriter | PostgresReader = (SQLiteWriter(reader.path, timeout_s)
                                             if isinstance(reader, SQLiteReader) else reader)
    backend = "sqlite" if isinstance(reader, SQLiteReader) else "postgresql"
    tools.append(SQLQueryTool(f"{prefix}.query", reader, max_rows=max_rows, dialect=backend,
                              purpose=description or f"Run one read-only SQL query on the '{name}' database",
                              timeout_s=timeout_s + 5))
    tools.append(SQLTablesTool(f"{prefix}.tables", reader, name))
    if allow_writes:
        tools.append(SQLExecuteTool(f"{prefix}.execute", writer, name))
    return tools
