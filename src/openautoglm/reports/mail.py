"""Report mail over SMTP (the standard library's ``smtplib``, in a thread): the report with its PDF and HTML
attached, or an alert when a run failed. Settings in ``autoglm.yaml`` under ``reports.smtp``; the password may be
written as ``env:VAR`` or sealed (``autoglm secrets seal``), never needing to sit in the file in clear."""

from __future__ import annotations

import asyncio
import os
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from pathlib import Path

from ..config import Settings, SMTPSettings
from ..errors import ConfigError


def smtp_password(settings: Settings) -> str | None:
    value = settings.reports.smtp.password
    if not value:
        return None
    if value.startswith("env:"):
        name = value[4:]
        if name not in os.environ:
            raise ConfigError(f"reports.smtp.password names the environment variable {name}, which is not set")
        return os.environ[name]
    from ..store.sealing import is_sealed, load_sealer

    if is_sealed(value):
        return load_sealer(settings.secret_key_file, settings.data_dir).open(value)
    return value


class Mailer:
    def __init__(self, smtp: SMTPSettings, password: str | None) -> None:
        self.smtp = smtp
        self.password = password

    @classmethod
    def from_settings(cls, settings: Settings) -> Mailer:
        return cls(settings.reports.smtp, smtp_password(settings))

    def _send(self, message: EmailMessage) -> None:
        s = self.smtp
        context = ssl.create_default_context()
        client: smtplib.SMTP = (smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_s, context=context) if s.ssl
                                else smtplib.SMTP(s.host, s.port, timeout=s.timeout_s))
        with client:
            if s.starttls and not s.ssl:
                client.starttls(context=context)
            if s.username:
                client.login(s.username, self.password or "")
            client.send_message(message)

    async def send(self, to: list[str], subject: str, body: str, attachments: Sequence[Path] = ()) -> None:
        message = EmailMessage()
        message["From"] = self.smtp.sender
        message["To"] = ", ".join(to)
        message["Subject"] = subject
        message.set_content(body)
        for path in attachments:
            kind = ("application", "pdf") if path.suffix == ".pdf" else ("text", "html")
            message.add_attachment(path.read_bytes(), maintype=kind[0], subtype=kind[1], filename=path.name)
        await asyncio.to_thread(self._send, message)
