"""Search for agents: Danish stemming, synonyms and typo tolerance over the demo articles."""

from __future__ import annotations

import pytest

from hotline.knowledge import service
from hotline.knowledge.search import ScopedSearch, SearchIndex, scopes_for, terms
from hotline.knowledge.tables import KbArticle
from kb_sync.subjects import ArticleRecord
from tests.fixtures.databases import Database


@pytest.fixture
async def seeded_index(kb_seeded: Database) -> SearchIndex:
    index = SearchIndex()
    for row in await KbArticle.select().run():
        index.add(service.record_from_row(row))
    return index


def titles(hits: list[tuple[ArticleRecord, float]]) -> list[str]:
    return [record.title for record, _ in hits]


def test_danish_words_meet_at_their_stem() -> None:
    assert set(terms("flytter")) & set(terms("flytning"))
    assert "~storskrald" in terms("Hvornår henter I stort affald?")
    assert "~sundhedskort" in terms("det gule kort")


@pytest.mark.parametrize(
    ("query", "kommune", "expected_first"),
    [
        ("stort affald", "0751", "Aarhus: storskrald hentes efter bestilling"),
        ("storskrald", "0615", "Horsens: storskrald på faste runder hver 4. uge"),
        ("storskald", "0615", "Horsens: storskrald på faste runder hver 4. uge"),  # a typo
        ("rejsepas", None, "Pas: bestilling og fornyelse"),
        ("sygesikring", None, "Sundhedskort (det gule kort) og lægevalg"),
        ("flytter", None, "Flytning: anmeld ny adresse"),
        ("brevstemme", "0101", "København: brevstemme på biblioteker og i Borgerservice"),
        ("nemid spærret", None, "MitID: spærret, glemt eller ny"),
    ],
)
def test_agents_find_the_right_article(
    seeded_index: SearchIndex, query: str, kommune: str | None, expected_first: str
) -> None:
    hits = seeded_index.search(query, scopes_for(kommune))
    assert titles(hits)[:1] == [expected_first], titles(hits)


def test_the_callers_kommune_comes_before_the_general_articles(seeded_index: SearchIndex) -> None:
    hits = seeded_index.search("pas", scopes_for("0615"))
    assert [record.scope for record, _ in hits][:2] == ["0615", "general"]
    assert "Aarhus" not in " ".join(titles(seeded_index.search("storskrald", scopes_for("0615"))))


def test_an_unrelated_query_finds_nothing(seeded_index: SearchIndex) -> None:
    assert seeded_index.search("xylofon", scopes_for("0751")) == []
    assert seeded_index.search("", scopes_for("0751")) == []


def test_the_replicas_scoped_search_answers_before_everything_is_indexed(seeded_index: SearchIndex) -> None:
    records = [record for record in seeded_index._docs if record is not None]
    scoped = ScopedSearch()
    for record in records:
        scoped.stage(record)
    assert scoped.staged == len(records)
    assert len(scoped) == 0
    others = sum(1 for record in records if record.scope not in ("0615", "general", "federation"))
    hits = scoped.search("storskrald", scopes_for("0615"))
    # Only the scopes the search reads were indexed, on demand; the rest is left to the background task.
    assert scoped.staged == others > 0
    assert [r.id for r, _ in hits] == [r.id for r, _ in seeded_index.search("storskrald", scopes_for("0615"))]
    assert scoped.search("storskald", scopes_for("0615"))[0][0].scope == "0615"  # typo tolerance across scopes
    assert scoped.index_some(1) == 1
    assert scoped.staged == others - 1
    scoped.index_all()
    assert scoped.staged == 0
    assert len(scoped) == len(records)
    aarhus = next(record for record in records if record.scope == "0751")
    scoped.stage_removal("0751", aarhus.id)
    assert aarhus.id not in {r.id for r, _ in scoped.search(aarhus.title, scopes_for("0751"))}
