"""SQL tools on the real PostgreSQL at 127.0.0.1:5432: read-only transactions, one statement, timeouts, logins.

Each test module run creates its own schema and a read-only login role, and drops both afterwards.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from openautoglm import AutoGLM, ScriptedModel, Settings
from openautoglm.errors import ToolArgumentError, ToolError, ToolPermissionError
from openautoglm.tools import Tool, ToolContext, ToolRegistry
from openautoglm.tools.sql import sql_tools
from service_urls import pg_url

ADMIN = pg_url(driver="postgresql")


class Fixture:
    def __init__(self) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.schema = f"b1_sql_{suffix}"
        self.role = f"b1_ro_{suffix}"
        self.reader_url = pg_url(user=self.role)
        self.admin_url = pg_url()

    def admin(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            cur = conn.execute(sql, params or None)
            return cur.fetchall() if cur.description else []

    def checksum(self) -> tuple[Any, ...]:
        s = self.schema
        return (
            self.admin(f"SELECT md5(string_agg(t::text, ',' ORDER BY id)), count(*) FROM {s}.items t")[0],
            self.admin("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s "
                       "ORDER BY 1, 2", (s,)),
            self.admin("SELECT count(*) FROM pg_largeobject_metadata")[0],
            self.admin("SELECT rolname, rolsuper FROM pg_roles WHERE rolname = %s", (self.role,)),
            self.admin("SELECT grantee, privilege_type FROM information_schema.role_table_grants "
                       "WHERE table_schema = %s ORDER BY 1, 2", (s,)),
        )


@pytest.fixture(scope="module")
def pg() -> Iterator[Fixture]:
    f = Fixture()
    s, r = f.schema, f.role
    f.admin(f"CREATE SCHEMA {s}")
    f.admin(f"CREATE TABLE {s}.items (id int PRIMARY KEY, name text NOT NULL, qty int NOT NULL)")
    f.admin(f"CREATE SEQUENCE {s}.ids")
    f.admin(f"INSERT INTO {s}.items SELECT i, 'item' || i, i * 3 FROM generate_series(1, 250) i")
    f.admin(f"INSERT INTO {s}.items VALUES (1000, '苹果', 7)")
    f.admin(f"CREATE ROLE {r} LOGIN")
    f.admin(f"GRANT USAGE ON SCHEMA {s} TO {r}")
    f.admin(f"GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {r}")
    try:
        yield f
    finally:
        f.admin(f"DROP SCHEMA {s} CASCADE")
        f.admin(f"DROP OWNED BY {r}")
        f.admin(f"DROP ROLE {r}")


def reader_tools(pg: Fixture, **kw: Any) -> ToolRegistry:
    return ToolRegistry(sql_tools("pg", pg.reader_url, **kw))


async def call(registry: ToolRegistry, name: str, **args: Any) -> Any:
    tool: Tool = registry.get(name)
    return await tool(tool.validate(args), ToolContext())


async def test_reads_with_schema_in_description(pg: Fixture) -> None:
    tools = reader_tools(pg, max_rows=20)
    description = tools.get("sql.pg.query").description
    assert f"{pg.schema}.items(id INTEGER, name TEXT, qty INTEGER)" in description and "postgresql" in description
    out = await call(tools, "sql.pg.query", sql=f"SELECT name, qty FROM {pg.schema}.items WHERE id IN (2, 1000) "
                     "ORDER BY id")
    assert out == {"columns": ["name", "qty"], "rows": [{"name": "item2", "qty": 6}, {"name": "苹果", "qty": 7}],
                   "row_count": 2, "truncated": False}
    capped = await call(tools, "sql.pg.query", sql=f"SELECT * FROM {pg.schema}.items")
    assert capped["row_count"] == 20 and capped["truncated"]
    typed = await call(tools, "sql.pg.query", sql="SELECT 1.50::numeric AS n, date '2026-11-03' AS d, "
                       "'\\x0102'::bytea AS b, now() - now() AS i")
    assert typed["rows"] == [{"n": 1.5, "d": "2026-11-03", "b": {"base64": "AQI=", "bytes": 2}, "i": 0.0}]
    like = await call(tools, "sql.pg.query",
                      sql=f"SELECT count(*) AS n FROM {pg.schema}.items WHERE name LIKE 'item1%'")
    assert like["rows"] == [{"n": 111}]  # a literal % needs no escaping


PG_ATTACKS = [
    "INSERT INTO {s}.items VALUES (9999, 'evil', 1)",
    "UPDATE {s}.items SET qty = 0",
    "DELETE FROM {s}.items",
    "TRUNCATE {s}.items",
    "DROP TABLE {s}.items",
    "CREATE TABLE {s}.evil (a int)",
    "CREATE TEMP TABLE evil (a int)",
    "ALTER TABLE {s}.items ADD COLUMN evil int",
    "GRANT ALL ON {s}.items TO PUBLIC",
    "SELECT 1; DELETE FROM {s}.items",
    "SELECT * FROM {s}.items; DROP TABLE {s}.items",
    "WITH gone AS (DELETE FROM {s}.items RETURNING *) SELECT count(*) FROM gone",
    "WITH changed AS (UPDATE {s}.items SET qty = 0 RETURNING id) SELECT count(*) FROM changed",
    "SELECT * INTO {s}.copy FROM {s}.items",
    "SELECT * INTO TEMP copy FROM {s}.items",
    "COPY {s}.items FROM '/etc/hostname'",
    "COPY (SELECT * FROM {s}.items) TO '/tmp/b1_pg_exfil.txt'",
    "COPY (SELECT 1) TO PROGRAM 'touch /tmp/b1_pg_pwned'",
    "SELECT nextval('{s}.ids')",
    "DO $$ BEGIN DELETE FROM {s}.items; END $$",
    "SET TRANSACTION READ WRITE",
    "SELECT pg_read_file('/etc/hostname')",
    "CREATE ROLE b1_evil SUPERUSER",
    "ALTER ROLE CURRENT_USER SUPERUSER",
]


@pytest.mark.parametrize("attack", PG_ATTACKS)
async def test_attacks_are_refused(pg: Fixture, attack: str) -> None:
    tools = reader_tools(pg)
    before = pg.checksum()
    with pytest.raises((ToolPermissionError, ToolArgumentError)) as info:
        await call(tools, "sql.pg.query", sql=attack.format(s=pg.schema))
    message = str(info.value)
    assert message.startswith("sql.pg.query: ")
    assert any(word in message for word in ("read-only", "one SQL statement", "permission denied",
                                            "must be superuser", "refused")), message
    assert pg.checksum() == before
    assert pg.admin("SELECT count(*) FROM pg_roles WHERE rolname = 'b1_evil'") == [(0,)]
    assert pg.admin("SELECT pg_stat_file('/tmp/b1_pg_pwned', true)") == [(None,)]


@pytest.mark.parametrize("setup", [
    "SELECT set_config('default_transaction_read_only', 'off', false)",
    "SET default_transaction_read_only = off",
    "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
    "COMMIT",
    "PREPARE wipe AS DELETE FROM {s}.items",
])
async def test_session_tampering_does_not_survive_the_call(pg: Fixture, setup: str) -> None:
    """A statement that would loosen the session runs in a transaction that is rolled back; the next write fails."""
    tools = ToolRegistry(sql_tools("pg", pg.reader_url))
    before = pg.checksum()
    with contextlib.suppress(ToolPermissionError, ToolArgumentError):  # refusing it outright is fine too
        await call(tools, "sql.pg.query", sql=setup.format(s=pg.schema))
    for follow_up in ("DELETE FROM {s}.items", "EXECUTE wipe", "INSERT INTO {s}.items VALUES (5000, 'x', 1)"):
        with pytest.raises((ToolPermissionError, ToolArgumentError)):
            await call(tools, "sql.pg.query", sql=follow_up.format(s=pg.schema))
    shown = await call(tools, "sql.pg.query", sql="SHOW transaction_read_only")
    assert shown["rows"] == [{"transaction_read_only": "on"}]
    assert pg.checksum() == before
    tools.get("sql.pg.query").reader.close()  # type: ignore[attr-defined]


async def test_statement_timeout(pg: Fixture) -> None:
    tools = reader_tools(pg, timeout_s=0.3)
    with pytest.raises(ToolError, match=r"ran longer than 0.3s"):
        await call(tools, "sql.pg.query", sql="SELECT pg_sleep(5)")
    assert (await call(tools, "sql.pg.query", sql="SELECT 1 AS one"))["rows"] == [{"one": 1}]


async def test_superuser_login_is_refused_unless_allowed(pg: Fixture) -> None:
    tools = ToolRegistry(sql_tools("admin", pg.admin_url))
    with pytest.raises(ToolPermissionError, match=r"login 'postgres' is a superuser.*allow_superuser"):
        await call(tools, "sql.admin.query", sql="SELECT 1")
    allowed = ToolRegistry(sql_tools("admin", pg.admin_url, allow_superuser=True))
    assert (await call(allowed, "sql.admin.query", sql="SELECT 2 AS two"))["rows"] == [{"two": 2}]
    before = pg.checksum()
    with pytest.raises(ToolPermissionError, match="read-only transaction"):
        await call(allowed, "sql.admin.query", sql=f"DELETE FROM {pg.schema}.items")
    assert pg.checksum() == before


async def test_writes_granted_go_through_approval(pg: Fixture) -> None:
    settings = Settings(sql_databases=[{"name": "pg", "url": pg.admin_url, "allow_writes": True,
                                        "allow_superuser": True}])
    seen: list[dict[str, Any]] = []

    async def approve(tool: Tool, args: dict[str, Any], ctx: ToolContext) -> bool:
        seen.append(args)
        return True

    app = AutoGLM(settings=settings, model=ScriptedModel(["unused"]), approver=approve)
    plan = {"steps": [{"id": "add", "uses": "sql.pg.execute",
                       "with": {"sql": f"INSERT INTO {pg.schema}.items VALUES (7777, 'granted', 1)"}}]}
    result = await app.execute(plan)
    assert result.steps[0].status == "succeeded" and result.steps[0].output == {"rowcount": 1}
    assert len(seen) == 1
    assert pg.admin(f"SELECT name FROM {pg.schema}.items WHERE id = 7777") == [("granted",)]
    two = {"steps": [{"id": "two", "uses": "sql.pg.execute",
                      "with": {"sql": f"DELETE FROM {pg.schema}.items WHERE id = 7777; DROP TABLE {pg.schema}.items"}}]}
    result = await app.execute(two)
    assert result.steps[0].status == "failed" and "one SQL statement" in (result.steps[0].error or "")
    pg.admin(f"DELETE FROM {pg.schema}.items WHERE id = 7777")
    await app.aclose()


async def test_a_write_through_the_executor_fails_the_step_with_the_refusal(pg: Fixture) -> None:
    settings = Settings(sql_databases=[{"name": "pg", "url": pg.reader_url}])
    app = AutoGLM(settings=settings, model=ScriptedModel(["unused"]))
    before = pg.checksum()
    result = await app.execute({"steps": [
        {"id": "n", "uses": "sql.pg.query", "with": {"sql": f"SELECT count(*) AS n FROM {pg.schema}.items"}},
        {"id": "wipe", "uses": "sql.pg.query", "with": {"sql": f"DELETE FROM {pg.schema}.items"}},
    ]})
    assert [str(s.status) for s in result.steps] == ["succeeded", "failed"]
    assert result.steps[0].output["rows"] == [{"n": 251}]
    failed = [e for e in app.trace(result.task_id) if e.kind == "step.failed"]
    assert failed[0].step_id == "wipe" and failed[0].data["error_type"] == "ToolPermissionError"
    assert "cannot execute DELETE in a read-only transaction" in failed[0].data["error"]
    assert pg.checksum() == before
    await app.aclose()
