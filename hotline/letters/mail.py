"""The e-mail of a letter: headers built with the standard library (never by string concatenation), the HTML and
plain-text parts, the PDF attached (a notice to staff has none), a DKIM signature per kommune domain when a key is
configured, and delivery to the configured SMTP relay with ``aiosmtplib``.

The Message-ID is derived from the letter id, and the Date from the letter's creation time, so a letter that is
sent again after a crash carries the same Message-ID and is the same message: the relay and the recipient's
mail system can recognise the duplicate.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ssl
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Final, Literal

import aiosmtplib

from hotline.config.settings import SmtpSettings

MESSAGE_ID_DOMAIN: Final = "hotline.invalid"
_SIGNED_HEADERS: Final = (
    b"from",
    b"to",
    b"reply-to",
    b"subject",
    b"date",
    b"message-id",
    b"mime-version",
    b"content-type",
)


class HeaderRefused(ValueError):
    """A header value that would let data write headers of its own (CR or LF), or an address that is not one."""


@dataclass(frozen=True)
class Envelope:
    """Who a letter is from and to, as plain values."""

    from_name: str
    from_address: str
    reply_to: str
    recipient: str


def _clean(name: str, value: str) -> str:
    if "\r" in value or "\n" in value or "\x00" in value:
        raise HeaderRefused(f"{name}: line breaks are not allowed in a header")
    return value


def address(name: str, addr_spec: str, display_name: str = "") -> Address:
    _clean(name, addr_spec)
    _clean(name, display_name)
    try:
        parsed = Address(display_name=display_name, addr_spec=addr_spec)
    except (ValueError, IndexError, HeaderParseError) as exc:
        raise HeaderRefused(f"{name}: not an e-mail address") from exc
    if not parsed.username or not parsed.domain or "." not in parsed.domain:
        raise HeaderRefused(f"{name}: not an e-mail address")
    return parsed


def message_id(letter_id: str, from_address: str) -> str:
    """``<letter-ID@domain>``: the same for every attempt to send the same letter."""
    domain = from_address.rsplit("@", 1)[-1] if "@" in from_address else MESSAGE_ID_DOMAIN
    return f"<letter-{letter_id}@{domain}>"


def check_headers(*, envelope: Envelope, subject: str, message_id_value: str, language: str) -> None:
    """Every header value :func:`build_message` will set, checked the same way but without building the MIME
    message (which costs more than the check): raises :class:`HeaderRefused`."""
    address("From", envelope.from_address, envelope.from_name)
    address("To", envelope.recipient)
    address("Reply-To", envelope.reply_to)
    for name, value in (("Subject", subject), ("Message-ID", message_id_value), ("Content-Language", language)):
        _clean(name, value)


def build_message(
    *,
    envelope: Envelope,
    subject: str,
    message_id_value: str,
    created_at: dt.datetime,
    html: str,
    text: str,
    pdf: bytes,
    pdf_name: str,
    language: str,
) -> EmailMessage:
    message = EmailMessage(policy=SMTP)
    message["From"] = address("From", envelope.from_address, envelope.from_name)
    message["To"] = address("To", envelope.recipient)
    message["Reply-To"] = address("Reply-To", envelope.reply_to)
    message["Subject"] = _clean("Subject", subject)
    message["Date"] = format_datetime(created_at.astimezone(dt.UTC))
    message["Message-ID"] = _clean("Message-ID", message_id_value)
    message["Content-Language"] = _clean("Content-Language", language)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text, subtype="plain", charset="utf-8")
    message.add_alternative(html, subtype="html", charset="utf-8")
    # Boundaries from the Message-ID instead of random ones, so a resend is byte for byte the same message.
    # "=_" never occurs in base64 or quoted-printable content, so the boundary cannot collide with a part.
    seed = hashlib.sha256(message_id_value.encode("utf-8")).hexdigest()[:24]
    if not pdf:  # a notice to staff (``tables.NOTICE_PREFIX``): text and HTML only
        message.set_boundary(f"=_letter_{seed}_alternative")
        return message
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename=_clean("filename", pdf_name))
    message.set_boundary(f"=_letter_{seed}_mixed")
    for part in message.iter_parts():
        if part.get_content_type() == "multipart/alternative":
            part.set_boundary(f"=_letter_{seed}_alternative")
    return message


def dkim_key(settings: SmtpSettings, domain: str) -> bytes | None:
    """The private key for ``domain`` from HOTLINE_DKIM_DIR, if one is configured."""
    if not settings.dkim_dir or not domain or "/" in domain or domain.startswith("."):
        return None
    path = Path(settings.dkim_dir) / f"{domain.lower()}.pem"
    return path.read_bytes() if path.is_file() else None


def sign(message: bytes, *, domain: str, selector: str, private_key: bytes) -> bytes:
    """``message`` with a DKIM-Signature header (relaxed/relaxed, rsa-sha256) prepended."""
    import dkim

    signature: bytes = dkim.sign(
        message,
        selector.encode("ascii"),
        domain.encode("ascii"),
        private_key,
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=list(_SIGNED_HEADERS),
    )
    return signature + message


def wire_bytes(message: EmailMessage, settings: SmtpSettings, from_address: str) -> bytes:
    """The message as sent: CRLF line ends, DKIM-signed when the sender's domain has a key."""
    raw = message.as_bytes(policy=SMTP)
    domain = from_address.rsplit("@", 1)[-1].lower()
    key = dkim_key(settings, domain)
    return sign(raw, domain=domain, selector=settings.dkim_selector, private_key=key) if key else raw


# -- delivery -------------------------------------------------------------------------------------------

Outcome = Literal["sent", "temporary", "permanent"]


@dataclass(frozen=True)
class DeliveryResult:
    outcome: Outcome
    reason: str = ""


def classify(exc: BaseException) -> DeliveryResult:
    """Temporary (try again later) or permanent (5xx: mark the letter failed). Reasons carry codes and types,
    never the recipient's address."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [error.code for error in exc.recipients]
        permanent = bool(codes) and all(500 <= code < 600 for code in codes)
        return DeliveryResult("permanent" if permanent else "temporary", f"recipient refused ({codes})")
    if isinstance(exc, aiosmtplib.SMTPResponseException) and not isinstance(exc, aiosmtplib.SMTPServerDisconnected):
        kind: Outcome = "permanent" if 500 <= exc.code < 600 else "temporary"
        return DeliveryResult(kind, f"{type(exc).__name__} {exc.code}")
    return DeliveryResult("temporary", type(exc).__name__)


class SmtpClient:
    """One connection to the relay for a batch of letters."""

    def __init__(self, settings: SmtpSettings, *, timeout: float = 15.0) -> None:
        self.settings = settings
        self.timeout = timeout

    def connection(self) -> aiosmtplib.SMTP:
        settings = self.settings
        context = ssl.create_default_context() if settings.tls != "none" else None
        return aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.port,
            username=settings.username or None,
            password=settings.password or None,
            use_tls=settings.tls == "implicit",
            start_tls=settings.tls == "starttls",
            tls_context=context,
            timeout=self.timeout,
        )


async def send_raw(smtp: aiosmtplib.SMTP, sender: str, recipient: str, raw: bytes) -> None:
    await smtp.sendmail(sender, [recipient], raw)


async def probe(settings: SmtpSettings, limit: float = 1.5) -> tuple[bool, str]:
    """The readiness check: connect, EHLO (and STARTTLS), NOOP, quit."""
    if not settings.host:
        return False, "no SMTP relay configured"
    client = SmtpClient(settings, timeout=limit).connection()
    await client.connect()
    try:
        await client.noop()
    finally:
        client.close()
    return True, f"{settings.host}:{settings.port}"
