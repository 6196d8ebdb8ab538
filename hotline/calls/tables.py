"""Tables of the calls area: calls and every telephony event, agent presence (now and as worked spans), and the
callback queue.

The ``call_event`` row is written before the webhook answers 2xx, so an accepted event is never lost; the
``call`` row is the state derived from all of a call's events (order-tolerant: each event sets its own
timestamp column, and the status only ever moves forward).

Times are UTC. Personal data: the caller's number (``Call.caller_number``, ``Callback.number`` and the
``caller_number`` / ``number`` of the ``offered`` / ``callback_requested`` event payloads), kept for callbacks
and shown to the agent who handles the call, and the agent's notes (``Call.notes``, CPR-masked, but free text).
The retention sweep (``service.retention_sweep``, run by the runtime's tick) erases them once the call was
offered (the callback requested) longer ago than the kommune's ``retention_days``; calls of no configured kommune
(an unknown number, kommune code ``""``) use ``tenancy.service.NO_KOMMUNE_RETENTION_DAYS``. The rows stay, with
everything the figures and the settlement count.
"""

from piccolo.columns import JSON, Boolean, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class Call(Table, tablename="call"):
    """One citizen call, from offered to ended or abandoned.

    ``status``: queued → ringing (offered to ``ring_agent_id`` until ``ring_until``) → answered → wrap_up → done;
    or queued → abandoned | callback (the caller chose a callback; see :class:`Callback`).
    ``mode``: "member" (a member kommune's number), "non_member" (general guidance, counted apart) or
    "unknown" (a number no kommune owns: general guidance).
    """

    call_id = Varchar(length=64, unique=True, index=True)
    integration = Varchar(length=100, default="")
    dialled_number = Varchar(length=20, default="")
    kommune_code = Varchar(length=4, default="", index=True)
    mode = Varchar(length=16, default="member")
    misrouted = Boolean(default=False)
    caller_number = Varchar(length=20, default="")
    caller_withheld = Boolean(default=False)
    language = Varchar(length=8, default="da")
    priority = Integer(default=0)
    caller_topic = Varchar(length=64, default="")
    status = Varchar(length=16, default="queued", index=True)
    offered_at = Timestamptz(index=True)
    ring_agent_id = Integer(null=True, default=None)
    ring_until = Timestamptz(null=True, default=None)
    ring_attempts = Integer(default=0)
    answered_at = Timestamptz(null=True, default=None)
    agent_id = Integer(null=True, default=None, index=True)
    agent_kommune = Varchar(length=4, default="")
    transferred_to = Varchar(length=20, default="")
    transferred_at = Timestamptz(null=True, default=None)
    ended_at = Timestamptz(null=True, default=None)
    abandoned_at = Timestamptz(null=True, default=None)
    callback_requested_at = Timestamptz(null=True, default=None)
    wrapped_up_at = Timestamptz(null=True, default=None)
    outcome = Varchar(length=24, default="")
    topic = Varchar(length=64, default="")
    notes = Text(default="")
    updated_at = Timestamptz(default=TimestamptzNow())


class CallEvent(Table, tablename="call_event"):
    """A telephony event as accepted, unique per (call id, event kind): a repeat is answered 200 and ignored."""

    call_id = Varchar(length=64, index=True)
    kind = Varchar(length=24)
    dedupe_key = Varchar(length=100, unique=True)
    occurred_at = Timestamptz()
    received_at = Timestamptz(default=TimestamptzNow())
    integration = Varchar(length=100, default="")
    payload = JSON(default={})
    applied = Boolean(default=False)


class AgentPresence(Table, tablename="agent_presence"):
    """An agent's current presence: offline, available, ringing, on_call, wrap_up or pause.

    ``idle_since`` orders available agents (longest idle first). ``node`` is the app process holding the agent's
    live connection; ``last_seen_at`` is refreshed by it so a dead process's agents fall back to offline.
    """

    user_id = Integer(unique=True, index=True)
    display_name = Varchar(length=200, default="")
    home_kommune = Varchar(length=4, default="", index=True)
    state = Varchar(length=16, default="offline", index=True)
    since = Timestamptz(default=TimestamptzNow())
    idle_since = Timestamptz(default=TimestamptzNow())
    languages = JSON(default=["da"])
    skills = JSON(default=[])
    current_call_id = Varchar(length=64, default="")
    node = Varchar(length=64, default="")
    last_seen_at = Timestamptz(default=TimestamptzNow())


class PresenceSpan(Table, tablename="agent_presence_span"):
    """A closed stretch of one presence state: the hours an agent actually worked (rota and settlement)."""

    user_id = Integer(index=True)
    home_kommune = Varchar(length=4, index=True)
    state = Varchar(length=16)
    started_at = Timestamptz(index=True)
    ended_at = Timestamptz()


class Callback(Table, tablename="call_callback"):
    """A callback the caller asked for (or was offered past the maximum wait), queued with kommune and number.

    ``status``: queued → assigned → done | failed (not reached after ``attempts``)."""

    call_id = Varchar(length=64, unique=True, index=True)
    kommune_code = Varchar(length=4, default="", index=True)
    number = Varchar(length=20)
    language = Varchar(length=8, default="da")
    requested_at = Timestamptz(index=True)
    status = Varchar(length=16, default="queued", index=True)
    agent_id = Integer(null=True, default=None)
    attempts = Integer(default=0)
    done_at = Timestamptz(null=True, default=None)
    outcome = Varchar(length=24, default="")
