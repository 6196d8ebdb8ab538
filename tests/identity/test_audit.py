"""The audit log: append-only, no personal data in details, filtered and exported as CSV per kommune."""

from __future__ import annotations

import ast
import csv
import datetime as dt
import io
from pathlib import Path

import httpx
import pytest

from hotline.identity import audit
from hotline.identity.schemas import Grant
from tests.fixtures.app import FixedClock
from tests.fixtures.databases import Database
from tests.fixtures.identity import session_cookie_for

SOURCE = Path(__file__).resolve().parents[2] / "hotline"
NOW = dt.datetime(2026, 11, 25, 18, 0, tzinfo=dt.UTC)
AGENT = audit.Actor(id="https://idp.example/0727|abc", name="Agent A", role="agent")


def test_no_code_path_changes_or_deletes_an_audit_entry() -> None:
    offenders = []
    for path in SOURCE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in {"update", "delete", "raw", "alter"}
                and isinstance(node.value, ast.Name)
                and node.value.id == "AuditEntry"
            ):
                offenders.append(f"{path}:{node.lineno}")
    assert offenders == []


@pytest.mark.parametrize(
    "detail",
    [{"caller": "010203-1234"}, {"note": "ring +45 70 75 10 00"}, {"to": "borger@example.dk"}, {"x": ["0102031234"]}],
)
async def test_personal_data_is_refused_in_audit_details(db: Database, detail: dict[str, object]) -> None:
    with pytest.raises(audit.PersonalDataInAudit):
        await audit.record(audit.PERSONAL_DATA_VIEWED, actor=AGENT, kommune_code="0751", now=NOW, detail=detail)
    with pytest.raises(audit.PersonalDataInAudit):
        await audit.record(audit.PERSONAL_DATA_VIEWED, actor=AGENT, kommune_code="0751", now=NOW, target="12345678")
    assert await audit.entries("0751") == []


async def test_an_id_that_is_a_uuid_of_digits_is_not_taken_for_a_phone_number(db: Database) -> None:
    handoff = "95405874-190a-4602-bf18-d1619e027ea8"  # its first group would pass for an 8-digit phone number
    await audit.record(
        audit.PERSONAL_DATA_VIEWED, actor=AGENT, kommune_code="0751", now=NOW, target=f"handoff {handoff}"
    )
    await audit.record(audit.CONFIG_CHANGED, actor=AGENT, kommune_code="0751", now=NOW, detail={"ids": [handoff]})
    assert [e.target for e in await audit.entries("0751")] == ["", f"handoff {handoff}"]
    with pytest.raises(audit.PersonalDataInAudit):  # personal data beside an id is still refused
        await audit.record(
            audit.PERSONAL_DATA_VIEWED, actor=AGENT, kommune_code="0751", now=NOW, target=f"{handoff} 010203-1234"
        )


async def test_entries_are_filtered_by_kommune_action_actor_and_days(db: Database) -> None:
    for days, action, kommune in (
        (0, audit.SIGN_IN, "0751"),
        (1, audit.CONFIG_CHANGED, "0751"),
        (0, audit.SIGN_IN, "0615"),
    ):
        await audit.record(action, actor=AGENT, kommune_code=kommune, now=NOW - dt.timedelta(days=days), ip="10.0.0.7")
    await audit.record(
        audit.PERSONAL_DATA_VIEWED,
        actor=audit.Actor(id="https://idp.example/0751|x", name="Bo"),
        kommune_code="0751",
        now=NOW,
        target="call:42",
        detail={"what": "caller card"},
    )
    assert len(await audit.entries("0751")) == 3
    assert [e.action for e in await audit.entries("0751", action=audit.SIGN_IN)] == [audit.SIGN_IN]
    assert [e.actor_name for e in await audit.entries("0751", actor="bo")] == ["Bo"]
    yesterday = (NOW - dt.timedelta(days=1)).date()
    assert [e.action for e in await audit.entries("0751", since=yesterday, until=yesterday)] == [audit.CONFIG_CHANGED]
    viewed = (await audit.entries("0751", action=audit.PERSONAL_DATA_VIEWED))[0]
    assert (viewed.target, viewed.detail, viewed.kommune_code) == ("call:42", {"what": "caller card"}, "0751")


async def test_an_auditor_exports_her_kommunes_log_as_csv_without_formula_injection(
    oidc_client: httpx.AsyncClient, clock: FixedClock
) -> None:
    await audit.record(
        audit.CONFIG_CHANGED, actor=audit.Actor(id="x", name="=HYPERLINK()"), kommune_code="0751", now=clock.now
    )
    await audit.record(audit.SIGN_IN, actor=AGENT, kommune_code="0615", now=clock.now)
    cookie = await session_cookie_for([Grant("auditor", "0751")], "0751", now=clock.now)
    oidc_client.cookies.set("hotline_session", cookie)
    answer = await oidc_client.get("/admin/kommuner/0751/audit.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [row["actor_name"] for row in rows] == ["'=HYPERLINK()"]
    page = await oidc_client.get("/admin/kommuner/0751/audit", params={"action": audit.CONFIG_CHANGED})
    assert page.status_code == 200
    assert "config_changed" in page.text
    assert (await oidc_client.get("/admin/kommuner/0751/tokens")).status_code == 403  # auditors read, never change
    viewed = await audit.entries("0751", action=audit.AUDIT_VIEWED)
    assert len(viewed) == 2
