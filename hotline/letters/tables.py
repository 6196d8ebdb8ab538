"""Tables of the letters area: one row per letterhead reply, carrying its own outbox (delivery) fields.

The letter and its outbox entry are one row, so writing the letter *is* enqueueing it: there is no state in which
a letter exists without its delivery, or a delivery without its letter. The rendered e-mail (HTML, text, PDF) is
kept only until it is delivered or has failed for good.

Personal data: ``recipient``, ``subject`` (the agent may write in it), ``body`` and the rendered ``html`` /
``text`` / ``pdf``. Once the letter is older than its kommune's ``retention_days``, the retention sweep
(``service.retention_sweep``) erases them and keeps the row: kommune, topic, call, template, language, the sender
(the kommune's own), ``created_at``, ``sent_at`` and the delivery state are what the figures count ("replies
within 2 working days").
"""

from typing import Final

from piccolo.columns import Bytea, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table

NOTICE_PREFIX: Final = "notice:"
"""``template`` of a notice: an e-mail to kommune or federation staff (no letterhead, no PDF) sent through this
outbox. A notice is not a reply to a citizen and is never counted as a letter."""


class Letter(Table, tablename="letter"):
    """A reply under a kommune's letterhead and its delivery state (queued → sending → sent | failed)."""

    letter_id = Varchar(length=32, unique=True, index=True)
    kommune_code = Varchar(length=4, index=True)
    template = Varchar(length=64, default="")  # a reply template's key, or NOTICE_PREFIX + the notice's kind
    topic = Varchar(length=64, default="")
    # The call this letter answers (the agent console opens compose with ``call=<call id>``); empty otherwise.
    call_id = Varchar(length=64, default="", index=True)
    language = Varchar(length=2, default="da")
    subject = Varchar(length=300)
    recipient = Varchar(length=254)
    # The sender as it was when the agent sent the letter (the e-mail goes out as previewed).
    sender_name = Varchar(length=200)
    sender_address = Varchar(length=254)
    reply_to = Varchar(length=254)
    body = Text()
    created_by = Varchar(length=200, default="")
    created_at = Timestamptz()
    message_id = Varchar(length=300)
    # The e-mail exactly as previewed and accepted, kept until it is delivered (then cleared).
    html = Text(null=True, default=None)
    text = Text(null=True, default=None)
    pdf = Bytea(null=True, default=None)
    # Outbox.
    status = Varchar(length=16, default="queued", index=True)
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(index=True)
    lease_owner = Varchar(length=64, default="")
    lease_until = Timestamptz(null=True, default=None)
    last_error = Varchar(length=500, default="")
    sent_at = Timestamptz(null=True, default=None)
