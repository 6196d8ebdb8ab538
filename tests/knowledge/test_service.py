"""The rules of the knowledge bank: validation with field-named errors, safe Markdown, versions, diff and revert,
the merge of kommune articles with general ones, pushes, and the idempotent demo seed."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from hotline.knowledge import repository, service
from hotline.knowledge.service import KnowledgeError
from hotline.knowledge.tables import KbArticle, KbArticleVersion, KbOutbox
from kb_sync.subjects import ArticleRecord, Link, PushedArticle, record_decoder
from tests.fixtures.databases import Database
from tests.fixtures.knowledge import create, draft, update

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def record(scope: str, topic: str, mode: str = "add", **changes: object) -> ArticleRecord:
    values: dict[str, object] = {
        "id": f"{scope}-{topic}-{mode}-{changes.get('title', '')}",
        "scope": scope,
        "kind": "general" if scope == "general" else "kommune",
        "topic": topic,
        "title": f"{scope} {topic}",
        "body": "x",
        "body_html": "<p>x</p>",
        "version": 1,
        "author": "t",
        "updated_at": NOW,
        "mode": mode,
    }
    return ArticleRecord(**{**values, **changes})  # type: ignore[arg-type]


# -- validation ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "changes", "field"),
    [
        ("0751", {"topic": "no-such-topic"}, "topic"),
        ("0751", {"department": "no-such-department"}, "department"),
        ("0751", {"body": "x" * (service.MAX_BODY + 1)}, "body"),
        ("0751", {"title": ""}, "title"),
        ("0751", {"title": "t" * 201}, "title"),
        ("0751", {"links": [{"title": "evil", "url": "javascript:alert(1)"}]}, "links[0].url"),
        (
            "0751",
            {"valid_from": dt.datetime(2026, 1, 2, tzinfo=dt.UTC), "valid_to": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)},
            "valid_to",
        ),
        ("0751", {"valid_from": dt.datetime(2026, 1, 2)}, "valid_from"),  # noqa: DTZ001 - the naive time is the point
        ("0751", {"language": "sv"}, "language"),
        ("general", {"mode": "replace"}, "mode"),
        ("general", {"department": "borgerservice"}, "department"),
        ("federation", {"topic": "surge"}, "valid_to"),
        ("9999", {}, "scope"),
    ],
)
async def test_a_bad_article_is_refused_naming_the_field(
    demo_federation: Database, scope: str, changes: dict[str, object], field: str
) -> None:
    from msgspec import convert

    from hotline.knowledge.schemas import ArticleDraft

    bad = convert({"topic": "storskrald", "title": "T", "body": "B", **changes}, ArticleDraft)
    with pytest.raises(KnowledgeError) as refused:
        await service.create_article(scope, bad, "test")
    assert refused.value.field == field
    assert str(refused.value).startswith(f"{field}: ")
    assert await KbArticle.count().run() == 0
    assert await KbOutbox.count().run() == 0


async def test_a_save_breaking_several_rules_is_refused_with_every_one_of_them(demo_federation: Database) -> None:
    bad = draft(
        title="",
        department="no-such-department",
        links=(Link(title="", url="javascript:alert(1)"),),
        valid_from=dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
        valid_to=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )
    with pytest.raises(KnowledgeError) as refused:
        await service.create_article("0751", bad, "test")
    found = [(v.field, v.key) for v in refused.value.violations]
    assert found == [
        ("title", "kb.error.empty"),
        ("links[0].title", "kb.error.link_title"),
        ("links[0].url", "kb.error.link_url"),
        ("valid_to", "kb.error.ends_before_start"),
        ("department", "kb.error.unknown_department"),
    ]
    assert refused.value.field == "title"
    assert str(refused.value).startswith("title: must not be empty; ")
    assert "department: Aarhus Kommune has no department 'no-such-department'" in str(refused.value)
    assert refused.value.violations[-1].params["department"] == "no-such-department"
    assert await KbArticle.count().run() == 0
    assert await KbOutbox.count().run() == 0


async def test_an_edit_reports_a_moved_topic_together_with_the_other_rules_it_breaks(
    demo_federation: Database,
) -> None:
    article = await create("0751")
    with pytest.raises(KnowledgeError) as refused:
        await service.update_article(article.id, draft(topic="pas", body=" "), "t", acting_scope="0751")
    assert [(v.field, v.key) for v in refused.value.violations] == [
        ("topic", "kb.error.topic_fixed"),
        ("body", "kb.error.empty"),
    ]
    row = await repository.article(article.id)
    assert row is not None
    assert row["version"] == 1


def test_script_and_html_in_markdown_are_neutralised() -> None:
    html = service.render_markdown(
        '# Hej\n\n<script>alert("x")</script>\n\n<img src=x onerror=alert(1)>\n\n[klik](javascript:alert(1)) '
        "[borger.dk](https://www.borger.dk)"
    )
    assert "<script" not in html
    assert "<img" not in html
    assert 'href="javascript' not in html  # the link is left as plain text
    assert "&lt;script&gt;" in html  # shown as text, harmlessly
    assert '<a href="https://www.borger.dk" rel="noopener noreferrer">borger.dk</a>' in html
    assert "<h1>Hej</h1>" in html


async def test_editing_another_kommunes_article_is_refused(demo_federation: Database) -> None:
    horsens = await create("0615", department="affald-og-genbrug")
    with pytest.raises(KnowledgeError) as refused:
        await service.update_article(horsens.id, draft(title="Aarhus was here"), "test", acting_scope="0751")
    assert refused.value.problem == "forbidden"
    assert "0615" in str(refused.value)
    with pytest.raises(KnowledgeError):
        await service.revert_article(horsens.id, 1, "test", acting_scope="general")
    assert (await service.get_article(horsens.id)).title == "Storskrald"


# -- versions -------------------------------------------------------------------------------------------


async def test_each_change_is_a_version_with_an_outbox_row_and_revert_makes_a_new_version(
    demo_federation: Database,
) -> None:
    first = await create("0751", body="Hentes mandag.")
    second = await update(first, body="Hentes tirsdag.\n\nHusk at bestille.")
    assert second.version == 2
    async with repository.transaction():
        reverted = await service.revert_article(first.id, 1, "coordinator", acting_scope="0751")
    assert reverted.version == 3
    assert reverted.body == first.body
    history = await service.history(first.id)
    assert [(v.version, v.note) for v in history] == [(1, "created"), (2, "edited"), (3, "reverted to version 1")]
    diff = await service.diff(first.id, 1, 2)
    assert "-Hentes mandag." in diff.diff
    assert "+Hentes tirsdag." in diff.diff
    assert "+Husk at bestille." in diff.diff
    outbox = await repository.outbox_batch(10)
    assert [record_decoder.decode(row["payload"]).version for row in outbox] == [1, 2, 3]
    assert {row["key"] for row in outbox} == {f"0751.storskrald.{first.id}"}
    assert await KbArticleVersion.count().run() == 3


async def test_the_topic_of_an_article_cannot_move(demo_federation: Database) -> None:
    article = await create("0751")
    with pytest.raises(KnowledgeError) as refused:
        await service.update_article(article.id, draft(topic="pas"), "t", acting_scope="0751")
    assert refused.value.field == "topic"


async def test_a_missing_version_or_article_is_not_found(demo_federation: Database) -> None:
    article = await create("general")
    with pytest.raises(KnowledgeError) as refused:
        await service.diff(article.id, 1, 7)
    assert refused.value.problem == "not_found"
    with pytest.raises(KnowledgeError) as missing:
        await service.history("00000000-0000-0000-0000-000000000000")
    assert missing.value.problem == "not_found"


# -- merge ----------------------------------------------------------------------------------------------


def test_a_kommune_adds_to_replaces_or_declines_a_general_topic() -> None:
    general = [record("general", "pas")]
    added = service.merge_topic("pas", general, [record("0751", "pas", "add")], NOW)
    assert added is not None
    assert [a.scope for a in added.articles] == ["0751", "general"]
    replaced = service.merge_topic("pas", general, [record("0751", "pas", "replace")], NOW)
    assert replaced is not None
    assert [a.scope for a in replaced.articles] == ["0751"]
    declined = service.merge_topic("pas", general, [record("0825", "pas", "not_offered")], NOW)
    assert declined is not None
    assert declined.offered is False
    assert [a.scope for a in declined.articles] == ["0825"]
    assert service.merge_topic("pas", [], [], NOW) is None


def test_articles_outside_their_validity_window_are_left_out() -> None:
    later = record("0751", "pas", "replace", valid_from=NOW + dt.timedelta(days=1))
    merged = service.merge_topic("pas", [record("general", "pas")], [later], NOW)
    assert merged is not None
    assert [a.scope for a in merged.articles] == ["general"]
    assert service.next_boundary([later], NOW) == NOW + dt.timedelta(days=1)
    expired = record("0751", "pas", "replace", valid_to=NOW)
    merged = service.merge_topic("pas", [record("general", "pas")], [expired], NOW)
    assert merged is not None
    assert [a.scope for a in merged.articles] == ["general"]


# -- pushes and the seed --------------------------------------------------------------------------------


async def test_a_push_creates_then_updates_the_same_article(demo_federation: Database) -> None:
    pushed = PushedArticle(external_id="sys-1", topic="storskrald", title="Fra fagsystemet", body="Version A")
    async with repository.transaction():
        first = await service.upsert_pushed("0751", pushed)
    async with repository.transaction():
        second = await service.upsert_pushed("0751", msgspec.structs.replace(pushed, body="Version B"))
    assert (first.id, second.id, second.version, second.author) == (first.id, first.id, 2, "system:0751")
    assert first.scope == "0751"


async def test_the_seed_is_idempotent_and_leaves_an_edited_article_alone(demo_federation: Database) -> None:
    async with repository.transaction():
        report = await service.seed()
    assert report.created >= 16
    assert (report.updated, report.unchanged) == (0, 0)
    async with repository.transaction():
        again = await service.seed()
    assert (again.created, again.updated, again.unchanged) == (0, 0, report.created)
    rows = await KbArticle.select().where(KbArticle.scope == "0751").run()
    aarhus = next(service.record_from_row(row) for row in rows if row["topic"] == "storskrald")
    await update(aarhus, title="Aarhus' egen tekst", department="affald-og-genbrug", mode="replace")
    async with repository.transaction():
        third = await service.seed()
    assert third.updated == 0
    assert (await service.get_article(aarhus.id)).title == "Aarhus' egen tekst"


async def test_aarhus_and_horsens_storskrald_really_differ(demo_federation: Database) -> None:
    async with repository.transaction():
        await service.seed()
    rows = await KbArticle.select().where(KbArticle.topic == "storskrald").run()
    by_scope = {row["scope"]: service.record_from_row(row) for row in rows}
    assert {"general", "0751", "0615"} <= set(by_scope)
    assert by_scope["0751"].mode == by_scope["0615"].mode == "replace"
    assert "bestilling" in by_scope["0751"].body
    assert "faste runder" in by_scope["0615"].body
    assert all(record.demo for record in by_scope.values())
