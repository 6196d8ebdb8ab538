"""The signed webhook: who may post (HMAC, replay window, the issuing kommune's active secrets), what it accepts
(each bad body names its field), idempotency and order tolerance."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools

import httpx
import msgspec
from hypothesis import given
from hypothesis import strategies as st
from litestar import Litestar

from hotline.calls.service import derived_status, fold
from hotline.calls.tables import Call, CallEvent
from hotline.calls.telephony import Abandoned, Answered, CallbackRequested, Ended, Offered, Transferred, encode_batch
from hotline.identity import service as identity
from hotline.identity.tables import AuditEntry
from tests.calls.conftest import AARHUS_NUMBER, Telephony, new_secret
from tests.fixtures.app import FixedClock

TRANSFER_TO = "+4587130000"


async def test_signature_good_bad_expired_other_kommune_and_revoked(
    http: httpx.AsyncClient, calls_app: Litestar, telephony: Telephony, clock: FixedClock
) -> None:
    body = encode_batch([Offered(call_id="s1", at=clock(), dialled_number=AARHUS_NUMBER)])
    assert (await telephony.post_raw(body)).status_code == 200

    refused = [
        ("no headers", await http.post("/api/telephony/events", content=body)),
        ("wrong secret", await telephony.post_raw(body, secret="not-the-secret")),
        ("six minutes old", await telephony.post_raw(body, at=clock() - dt.timedelta(minutes=6))),
        ("from the future", await telephony.post_raw(body, at=clock() + dt.timedelta(minutes=6))),
        (
            "bad header",
            await http.post(
                "/api/telephony/events",
                content=body,
                headers={"x-hotline-kommune": "0751", "x-hotline-signature": "sha256=abc"},
            ),
        ),
    ]
    # A body changed after signing does not match.
    tampered = telephony.headers(body)
    refused.append(("tampered", await http.post("/api/telephony/events", content=body + b" ", headers=tampered)))
    # Horsens' secret does not sign for Aarhus.
    _, horsens_secret = await new_secret("0615", clock, calls_app)
    refused.append(("other kommune's secret", await telephony.post_raw(body, secret=horsens_secret)))
    for what, response in refused:
        assert response.status_code == 401, what
        assert "x-hotline" in response.json()["detail"].lower(), what
    assert "away from the server's clock" in refused[2][1].json()["detail"]
    audited = await AuditEntry.count().where(AuditEntry.action == "telephony_signature_refused")
    assert audited == len(refused)

    # Revoked: refused once the 30 s cache of secrets has passed.
    secret_id, secret = await new_secret("0751", clock, calls_app)
    await asyncio.sleep(0.3)  # unmatched signatures reload the secrets at most every quarter second
    other = Telephony(http, clock, "0751", secret)
    assert (await other.post_raw(body)).json() == {"accepted": 0, "duplicates": 1}
    await identity.revoke_webhook_secret("0751", secret_id, clock())
    clock.now += dt.timedelta(seconds=31)
    assert (await other.post_raw(body)).status_code == 401
    assert (await telephony.post_raw(body)).status_code == 200


async def test_malformed_bodies_name_the_field(telephony: Telephony, clock: FixedClock) -> None:
    at = clock().isoformat()
    cases = {
        b"{}": "events",
        b'{"events": []}': "events",
        b'{"events": [{"kind": "offered", "call_id": "x", "at": "' + at.encode() + b'"}]}': "dialled_number",
        b'{"events": [{"kind": "teleported", "call_id": "x", "at": "' + at.encode() + b'"}]}': "kind",
        b'{"events": [{"kind": "answered", "call_id": "x", "at": "' + at.encode() + b'", "agent_id": 0}]}': "agent_id",
        # Beyond a 32-bit id: refused by name, not a database error (found by the fuzz test on PostgreSQL).
        b'{"events": [{"kind": "answered", "call_id": "x", "at": "' + at.encode() + b'", "agent_id": 2147483648}]}': (
            "agent_id"
        ),
        b'{"events": [{"kind": "ended", "call_id": "bad id!", "at": "' + at.encode() + b'"}]}': "call_id",
        b'{"events": [{"kind": "ended", "call_id": "x", "at": "yesterday"}]}': "at",
        b'{"events": [{"kind": "ended", "call_id": "x", "at": "' + at.encode() + b'", "extra": 1}]}': "extra",
        b'{"events": [{"kind": "transferred", "call_id": "x", "at": "' + at.encode() + b'", "to_number": "12"}]}': (
            "to_number"
        ),
    }
    not_json = await telephony.post_raw(b"not json")
    assert not_json.status_code == 400  # not even JSON: a malformed request, not a wrong event
    for body, field in cases.items():
        response = await telephony.post_raw(body)
        assert response.status_code == 422, body
        assert field in response.text, (body, response.text)
    too_many = encode_batch([Ended(call_id=f"m{i}", at=clock()) for i in range(501)])
    response = await telephony.post_raw(too_many)
    assert response.status_code == 422
    assert "events" in response.text
    assert await CallEvent.count() == 0


async def test_events_are_idempotent_per_call_and_kind(telephony: Telephony, clock: FixedClock) -> None:
    offered = Offered(call_id="i1", at=clock(), dialled_number=AARHUS_NUMBER, caller_number="+4520000002")
    first = await telephony.post(offered, offered)
    assert first.json() == {"accepted": 1, "duplicates": 1}
    again = await telephony.post(offered, Ended(call_id="i1", at=clock()))
    assert again.json() == {"accepted": 1, "duplicates": 1}
    assert await CallEvent.count() == 2
    assert await Call.count() == 1
    row = await Call.select(Call.status).where(Call.call_id == "i1").first()
    assert row["status"] == "abandoned"


def _sequence(call_id: str, start: dt.datetime) -> list[Offered | Answered | Transferred | Ended]:
    return [
        Offered(call_id=call_id, at=start, dialled_number=AARHUS_NUMBER, caller_number="+4520000003"),
        Answered(call_id=call_id, at=start + dt.timedelta(seconds=30), agent_id=7),
        Transferred(call_id=call_id, at=start + dt.timedelta(seconds=90), to_number=TRANSFER_TO),
        Ended(call_id=call_id, at=start + dt.timedelta(seconds=120)),
    ]


async def test_every_delivery_order_of_a_call_ends_in_the_same_row(telephony: Telephony, clock: FixedClock) -> None:
    orders = list(itertools.permutations(range(4)))
    for number, order in enumerate(orders):
        events = _sequence(f"p{number}", clock())
        for index in order:  # one request per event, in this order
            assert (await telephony.post(events[index])).status_code == 200
    rows = await Call.select().order_by(Call.call_id)
    assert len(rows) == len(orders)
    keep = ("status", "answered_at", "agent_id", "transferred_to", "ended_at", "kommune_code", "offered_at")
    shapes = {tuple(str(row[key]) for key in keep) for row in rows}
    assert len(shapes) == 1
    (shape,) = shapes
    assert shape[0] == "wrap_up"
    assert shape[3] == TRANSFER_TO
    assert await CallEvent.count().where(CallEvent.applied == False) == 0  # noqa: E712


async def test_events_before_the_offered_wait_for_it(telephony: Telephony, clock: FixedClock) -> None:
    await telephony.post(Ended(call_id="w1", at=clock()), Answered(call_id="w1", at=clock(), agent_id=3))
    assert await Call.count() == 0
    assert await CallEvent.count().where(CallEvent.applied == False) == 2  # noqa: E712
    await telephony.post(Offered(call_id="w1", at=clock() - dt.timedelta(minutes=1), dialled_number=AARHUS_NUMBER))
    row = await Call.select().where(Call.call_id == "w1").first()
    assert row["status"] == "wrap_up"
    assert row["agent_id"] == 3


async def test_callback_requested_queues_a_callback_with_kommune_and_number(
    telephony: Telephony, clock: FixedClock
) -> None:
    from hotline.calls.tables import Callback

    await telephony.post(
        Offered(call_id="cb1", at=clock(), dialled_number=AARHUS_NUMBER, caller_number="+4520000004"),
        CallbackRequested(call_id="cb1", at=clock()),
        Abandoned(call_id="cb1", at=clock()),
    )
    callback = await Callback.select().where(Callback.call_id == "cb1").first()
    assert callback["kommune_code"] == "0751"
    assert callback["number"] == "+4520000004"
    assert callback["status"] == "queued"
    row = await Call.select(Call.status).where(Call.call_id == "cb1").first()
    assert row["status"] == "callback"


KINDS = ("answered", "transferred", "ended", "abandoned", "callback_requested")


@given(st.permutations(list(KINDS)), st.integers(min_value=0, max_value=len(KINDS)))
def test_status_does_not_depend_on_the_order_of_events(kinds: list[str], take: int) -> None:
    start = dt.datetime(2026, 11, 25, 18, 0, tzinfo=dt.UTC)
    payloads = {
        "answered": {"at": start.isoformat(), "agent_id": 5},
        "transferred": {"at": start.isoformat(), "to_number": TRANSFER_TO},
        "ended": {"at": start.isoformat()},
        "abandoned": {"at": start.isoformat()},
        "callback_requested": {"at": start.isoformat()},
    }
    chosen = kinds[:take]

    def final(order: list[str]) -> str | None:
        row: dict[str, object] = {}
        for kind in order:
            row.update(fold(row, kind, payloads[kind]))
        return derived_status(row)

    assert final(chosen) == final(sorted(chosen)) == final(list(reversed(chosen)))


def test_the_contract_round_trips() -> None:
    event = Offered(call_id="r1", at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dialled_number=AARHUS_NUMBER)
    decoded = msgspec.json.decode(encode_batch([event]))
    assert decoded["events"][0]["kind"] == "offered"
