"""Tables of the hand-offs area: enquiries the hotline passed to the department of the caller's kommune that owns
the topic, their status history, and the outbox that carries them to the kommune's NATS subject.

The hand-off, its first history row and its outbox row are written in one transaction with the call's outcome.
Descriptions are CPR-masked before they are stored.

Personal data: the citizen's e-mail and phone (optional, used only for the "passed on / done" e-mails), the
agent's ``description`` of the enquiry, the kommune's ``status_notes`` and the ``note`` of each history row. They
are kept while the hand-off is open or acknowledged; once it has been closed for longer than its kommune's
``retention_days`` the retention sweep (``service.retention_sweep``) erases them and keeps the row (kommune,
department, topic, times, status) for the figures.
"""

from piccolo.columns import Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class HandOff(Table, tablename="handoff"):
    """``status`` follows Open311: open → (acknowledged) → closed. ``due_at`` is the owning department's next
    opening after the hand-off; past it, an open hand-off is overdue and escalates (``escalated_at``)."""

    handoff_id = Varchar(length=36, unique=True, index=True)  # Open311 service_request_id
    call_id = Varchar(length=64, default="", index=True)
    kommune_code = Varchar(length=4, index=True)  # Open311 jurisdiction_id
    department = Varchar(length=64, default="")
    department_name = Varchar(length=200, default="")
    topic = Varchar(length=64, default="")  # Open311 service_code
    description = Text(default="")
    citizen_email = Varchar(length=254, default="")
    citizen_phone = Varchar(length=20, default="")
    language = Varchar(length=8, default="da")
    created_by = Varchar(length=200, default="")
    created_at = Timestamptz(index=True)
    due_at = Timestamptz(index=True)
    status = Varchar(length=16, default="open", index=True)
    status_notes = Text(default="")
    updated_at = Timestamptz(default=TimestamptzNow())
    acknowledged_at = Timestamptz(null=True, default=None)
    closed_at = Timestamptz(null=True, default=None)
    citizen_informed_at = Timestamptz(null=True, default=None)
    escalated_at = Timestamptz(null=True, default=None)


class HandOffUpdate(Table, tablename="handoff_update"):
    """One status change, by the hotline, a kommune admin or a kommune system (Open311 or NATS)."""

    handoff_id = Varchar(length=36, index=True)
    status = Varchar(length=16)
    note = Text(default="")
    source = Varchar(length=32, default="")
    actor = Varchar(length=200, default="")
    at = Timestamptz(default=TimestamptzNow())


class HandOffOutbox(Table, tablename="handoff_outbox"):
    """A hand-off (or a change to one) still to be published on ``handoffs.<kommune code>`` (JetStream)."""

    handoff_id = Varchar(length=36, index=True)
    subject = Varchar(length=200)
    payload = Text()
    created_at = Timestamptz(default=TimestamptzNow())
    attempts = Integer(default=0)
