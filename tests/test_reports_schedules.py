"""Scheduled reports against real databases (SQLite and PostgreSQL) and a real SMTP server on loopback (aiosmtpd):
two schedulers on one database run each cron slot once, mail the PDF, and a report whose query fails sends an alert
and leaves a report.failed event. The clock is driven, not waited for; the claims are the store's."""

from __future__ import annotations

import asyncio
import email
import email.policy
import math
import socket
import sqlite3
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from openautoglm.config import Settings
from openautoglm.errors import ConfigError
from openautoglm.events import ReportDelivered, ReportFailed
from openautoglm.reports.schedules import ReportJob
from openautoglm.reports.service import Reports
from openautoglm.schedules import Scheduler, check_cron, latest_slot
from openautoglm.store import Store
from service_urls import fresh_pg_database


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'autoglm.db'}"
        return
    with fresh_pg_database("autoglm_test") as url:
        yield url


def settings_for(tmp_path: Path, database_url: str, port: int) -> Settings:
    shop = tmp_path / "shop.db"
    with sqlite3.connect(shop) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS orders (day TEXT, amount REAL)")
        conn.execute("INSERT INTO orders VALUES (date('now'), 42.5)")
    conn.close()
    folder = tmp_path / "reports"
    folder.mkdir(exist_ok=True)
    body = """
title: Shop orders
language: en
period: this_month
database: shop
queries:
  total: {{sql: "{sql}"}}
indicators:
  - {{id: amount, kind: total, query: total, column: amount, label: Orders, format: money, key: true}}
charts: []
"""
    (folder / "tiny.yaml").write_text("name: tiny\n" + body.format(
        sql="SELECT SUM(amount) AS amount FROM orders WHERE day BETWEEN :start AND :end"), encoding="utf-8")
    (folder / "broken.yaml").write_text("name: broken\n" + body.format(sql="SELECT amount FROM no_such_table"),
                                        encoding="utf-8")
    return Settings(home=tmp_path, database_url=database_url,
                    sql_databases=[{"name": "shop", "url": f"sqlite:///{shop}"}],
                    reports={"dir": folder, "out_dir": tmp_path / "runs", "smtp": {"host": "127.0.0.1", "port": port}})


def test_cron_slots() -> None:
    base = 1_800_000_000.0  # a whole minute
    assert latest_slot("* * * * *", base + 30, base - 600, None) == base
    assert latest_slot("* * * * *", base + 30, base, None) is None  # nothing after `since` yet
    assert latest_slot("* * * * *", base + 60, base - 600, None) == base + 60
    with pytest.raises(ConfigError, match="not a cron expression"):
        check_cron("every minute")


async def test_two_schedulers_run_each_slot_once_and_a_failing_report_alerts(
        tmp_path: Path, database_url: str, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    settings = settings_for(tmp_path, database_url, port)
    setup = Store(database_url)
    tiny = setup.add_schedule("tiny", "* * * * *", ["a@b.c"])
    broken = setup.add_schedule("broken", "* * * * *", ["boss@example.com"])
    setup.close()  # a restart: the schedules live in the database, the replicas open it afresh

    now = [math.ceil(time.time() / 60) * 60 + 1.0]  # one second past the next whole minute
    replicas = []
    for name in ("gw-a", "gw-b"):
        store = Store(database_url)
        job = ReportJob(settings, store, Reports(settings), holder=name)
        replicas.append((store, Scheduler(settings, store, {"report": job}, clock=lambda: now[0], holder=name)))
    try:
        ran = 0
        for _ in range(5):  # 0, 30, 60, 90, 120 s: two minutes and the slots of three whole minutes
            results = await asyncio.gather(*(scheduler.tick() for _, scheduler in replicas))
            ran += sum(results)
            now[0] += 30
    finally:
        for store, _ in replicas:
            store.close()

    store = Store(database_url)
    try:
        runs = store.report_runs()
        by_schedule = {s: sorted(r.slot for r in runs if r.schedule_id == s) for s in (tiny.id, broken.id)}
        assert len(by_schedule[tiny.id]) == 3 and len(set(by_schedule[tiny.id])) == 3  # once per slot
        assert ran == 6 and {r.holder for r in runs} <= {"gw-a", "gw-b"}
        reports = [m for to, m in inbox.messages if to == ["a@b.c"]]
        assert len(reports) == 3
        for message in reports:
            attached = {part.get_filename(): part.get_content_type() for part in message.iter_attachments()}
            assert attached == {"report.pdf": "application/pdf", "report.html": "text/html"}
            pdf = next(p for p in message.iter_attachments() if p.get_filename() == "report.pdf")
            assert pdf.get_payload(decode=True).startswith(b"%PDF")
            assert "Orders: ¥42.50" in message.get_body().get_content()
        alerts = [m for to, m in inbox.messages if to == ["boss@example.com"]]
        assert len(alerts) == 3 and all("broken" in m["Subject"] and "failed" in m["Subject"] for m in alerts)
        assert "no_such_table" in alerts[0].get_body().get_content()
        failed = next(r for r in runs if r.schedule_id == broken.id)
        assert failed.status == "failed" and "no_such_table" in (failed.error or "")
        events = store.events(failed.task_id or "")
        assert any(isinstance(e.payload, ReportFailed) for e in events)
        assert any(isinstance(e.payload, ReportDelivered) and e.payload.purpose == "alert" and e.payload.ok
                   for e in events)
        assert store.get_task(failed.task_id or "").status == "failed"
        succeeded = next(r for r in runs if r.schedule_id == tiny.id)
        assert succeeded.status == "succeeded" and Path(succeeded.result["pdf"]).is_file()
    finally:
        store.close()


async def test_mail_logs_in_with_a_sealed_password_from_the_settings(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    from openautoglm.reports.mail import Mailer
    from openautoglm.store.sealing import load_sealer

    logins: list[tuple[str, str]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword):
            logins.append((data.login.decode(), data.password.decode()))
            return AuthResult(success=data.password == b"s3cret!")
        return AuthResult(success=False)

    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=authenticator,
                            auth_require_tls=False)
    controller.start()
    try:
        sealed = load_sealer(None, tmp_path).seal("s3cret!")
        assert "s3cret" not in sealed
        settings = Settings(home=tmp_path, reports={"smtp": {"host": "127.0.0.1", "port": port, "username": "bot",
                                                             "password": sealed}})
        await Mailer.from_settings(settings).send(["a@b.c"], "hello", "body")
        assert logins == [("bot", "s3cret!")] and len(inbox.messages) == 1
        monkeypatch.setenv("SMTP_PW", "wrong")
        # aiosmtpd answers smtplib's second mechanism after a refused one by going quiet: a short timeout.
        wrong = Settings(home=tmp_path, reports={"smtp": {"host": "127.0.0.1", "port": port, "username": "bot",
                                                          "password": "env:SMTP_PW", "timeout_s": 1}})
        with pytest.raises(OSError):  # refused (SMTPAuthenticationError) or cut off: never sent
            await Mailer.from_settings(wrong).send(["a@b.c"], "hello", "body")
        assert len(inbox.messages) == 1 and logins[-1] == ("bot", "wrong")
    finally:
        controller.stop()
