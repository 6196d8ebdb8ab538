"""The demo's mailbox: a local SMTP server (aiosmtpd) that keeps every message it receives as a file in the data
directory, and the page that shows each one as the citizen would see it (HTML, plain text and the PDF).

Demo mode only: nothing mounts the page or starts the server outside it. The same server class is what the tests
deliver to, so "accepted by the SMTP server" in a test means a real SMTP conversation over TCP.
"""

from __future__ import annotations

import datetime as dt
import email
import logging
import re
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller as SmtpController
from aiosmtpd.smtp import SMTP as SmtpServer
from aiosmtpd.smtp import Envelope, Session

_NAME = re.compile(r"^[0-9TZ]{16}-[0-9a-f]{32}\.eml$")


class StoringHandler:
    """aiosmtpd handler: write each message to ``<directory>/<received>-<uuid>.eml`` (written to a temporary name
    and renamed, so a reader never sees half a message)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SmtpServer, session: Session, envelope: Envelope) -> str:
        self.store(envelope.original_content or b"")
        return "250 Message accepted for delivery"

    def store(self, content: bytes) -> Path:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        path = self.directory / f"{stamp}-{uuid.uuid4().hex}.eml"
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(content)
        temporary.rename(path)
        return path


class MailSink:
    """A local SMTP server on ``host:port`` (its own thread and event loop), storing into ``directory``."""

    def __init__(self, directory: Path, *, host: str = "127.0.0.1", port: int = 8025, handler: Any = None) -> None:
        self.directory = directory
        self.handler = handler or StoringHandler(directory)
        self.host, self.port = host, port
        self._controller: SmtpController | None = None

    def start(self) -> None:
        # aiosmtpd logs every envelope (sender and recipient addresses) at INFO: personal data, never logged here.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        self._controller = SmtpController(self.handler, hostname=self.host, port=self.port, ready_timeout=10)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@dataclass(frozen=True)
class ReceivedMail:
    name: str
    received_at: dt.datetime
    sender: str
    recipient: str
    subject: str
    message_id: str
    text: str
    html: str
    pdf: bytes
    pdf_name: str
    dkim_signed: bool


def parse(name: str, raw: bytes) -> ReceivedMail:
    message = email.message_from_bytes(raw, policy=default)
    if not isinstance(message, EmailMessage):  # the default policy always gives one; this narrows the type
        raise TypeError("not an e-mail message")
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    pdf, pdf_name = b"", ""
    for part in message.iter_attachments():
        if part.get_content_type() == "application/pdf":
            pdf, pdf_name = part.get_content(), part.get_filename() or "brev.pdf"
    stamp = dt.datetime.strptime(name[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    return ReceivedMail(
        name=name,
        received_at=stamp,
        sender=str(message.get("From", "")),
        recipient=str(message.get("To", "")),
        subject=str(message.get("Subject", "")),
        message_id=str(message.get("Message-ID", "")),
        text=text_part.get_content() if text_part is not None else "",
        html=html_part.get_content() if html_part is not None else "",
        pdf=pdf,
        pdf_name=pdf_name,
        dkim_signed="DKIM-Signature" in message,
    )


class Mailbox:
    """Reads what the sink stored, newest first."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def names(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted((p.name for p in self.directory.glob("*.eml") if _NAME.match(p.name)), reverse=True)

    def get(self, name: str) -> ReceivedMail | None:
        if not _NAME.match(name):
            return None
        path = self.directory / name
        return parse(name, path.read_bytes()) if path.is_file() else None

    def all(self, limit: int = 100) -> list[ReceivedMail]:
        found = (self.get(name) for name in self.names()[:limit])
        return [mail for mail in found if mail is not None]
