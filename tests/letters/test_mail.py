"""The e-mail of a letter: standard-library headers that refuse CR/LF, a stable Message-ID and byte-identical
resends, and a DKIM signature (with a test key generated here, never stored) that verifies."""

from __future__ import annotations

import base64
import datetime as dt
import email
from email.policy import default
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from hotline.config.settings import SmtpSettings
from hotline.letters import mail

CREATED = dt.datetime(2026, 11, 25, 19, 30, tzinfo=dt.UTC)


def envelope(**changes: str) -> mail.Envelope:
    values = {
        "from_name": "Aarhus Kommune",
        "from_address": "borgerservice@aarhus.kommune.example",
        "reply_to": "post@aarhus.kommune.example",
        "recipient": "borger@example.org",
        **changes,
    }
    return mail.Envelope(**values)


def build(env: mail.Envelope | None = None, subject: str = "Flytning – svar") -> bytes:
    message = mail.build_message(
        envelope=env or envelope(),
        subject=subject,
        message_id_value=mail.message_id("abc123", "borgerservice@aarhus.kommune.example"),
        created_at=CREATED,
        html="<p>Hej</p>",
        text="Hej",
        pdf=b"%PDF-1.7 test",
        pdf_name="brev.pdf",
        language="da",
    )
    return message.as_bytes()


def test_headers_name_the_kommune_and_its_inbox_and_the_message_id_comes_from_the_letter() -> None:
    message = email.message_from_bytes(build(), policy=default)
    assert str(message["From"]) == "Aarhus Kommune <borgerservice@aarhus.kommune.example>"
    assert str(message["Reply-To"]) == "post@aarhus.kommune.example"
    assert str(message["Message-ID"]) == "<letter-abc123@aarhus.kommune.example>"
    assert str(message["Subject"]) == "Flytning – svar"
    assert message.get_content_type() == "multipart/mixed"
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "brev.pdf"
    assert attachment.get_content() == b"%PDF-1.7 test"
    assert build() == build()  # a resend is the same message, byte for byte


@pytest.mark.parametrize(
    ("env", "subject"),
    [
        (envelope(from_name="Aarhus Kommune\r\nBcc: victim@example.org"), "x"),
        (envelope(from_name="Aarhus\nKommune"), "x"),
        (envelope(recipient="borger@example.org\r\nBcc: victim@example.org"), "x"),
        (envelope(reply_to="post@aarhus.kommune.example\nX-Evil: 1"), "x"),
        (envelope(), "Svar\r\nBcc: victim@example.org"),
        (envelope(recipient="not an address"), "x"),
        (envelope(recipient="a@b@c"), "x"),
    ],
)
def test_a_line_break_in_any_header_value_or_a_non_address_is_refused(env: mail.Envelope, subject: str) -> None:
    with pytest.raises(mail.HeaderRefused):
        build(env, subject)
    # The send path checks the same values without building the message: it must refuse exactly as much.
    with pytest.raises(mail.HeaderRefused):
        mail.check_headers(envelope=env, subject=subject, message_id_value="<letter-1@x.example>", language="da")


def test_the_header_check_accepts_what_the_message_accepts() -> None:
    mail.check_headers(envelope=envelope(), subject="Svar", message_id_value="<letter-1@x.example>", language="da")
    build(envelope(), "Svar")


def test_a_dkim_signature_is_added_per_kommune_domain_and_verifies(tmp_path: Path) -> None:
    # TEST KEY, generated for this test only and thrown away with tmp_path: never a real key, never in git.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / "aarhus.kommune.example.pem").write_bytes(pem)
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    settings = SmtpSettings(host="relay.example", dkim_dir=str(tmp_path), dkim_selector="hotline2026")

    message = email.message_from_bytes(build(), policy=default)
    signed = mail.wire_bytes(message, settings, "borgerservice@aarhus.kommune.example")  # type: ignore[arg-type]
    assert signed.startswith(b"DKIM-Signature:")
    assert b"d=aarhus.kommune.example" in signed
    assert b"s=hotline2026" in signed

    def dns(name: bytes, timeout: int = 5) -> bytes:
        return record if name == b"hotline2026._domainkey.aarhus.kommune.example." else b""

    assert dkim.verify(signed, dnsfunc=dns)
    tampered = signed.replace(b"Flytning", b"Flytninx")
    assert not dkim.verify(tampered, dnsfunc=dns)
    # A domain without a key file is sent unsigned (and a path-like domain never reads outside the folder).
    assert not mail.wire_bytes(message, settings, "post@odder.kommune.example").startswith(b"DKIM")  # type: ignore[arg-type]
    assert mail.dkim_key(settings, "../etc") is None
