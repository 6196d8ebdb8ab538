"""Records of the knowledge area that cross the wire: what an author sends, and what agents read back.

The article itself, as every replica holds it, is :class:`kb_sync.subjects.ArticleRecord`.
"""

from __future__ import annotations

import datetime as dt

import msgspec

from kb_sync.subjects import ArticleRecord, Handling, Link, Mode

__all__ = ["ArticleDraft", "ArticleRecord", "Diff", "Link", "RevertRequest", "SearchHit", "SearchResult", "Version"]


class ArticleDraft(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What an author writes: a new article, or the whole next version of an existing one."""

    topic: str
    title: str
    body: str
    mode: Mode = "add"
    links: tuple[Link, ...] = ()
    department: str = ""
    handling: Handling = "solve"
    valid_from: dt.datetime | None = None
    valid_to: dt.datetime | None = None
    review_by: dt.date | None = None
    language: str = "da"


class RevertRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Make ``version`` the content of a new, current version (history is never rewritten)."""

    version: int


class Version(msgspec.Struct, frozen=True):
    version: int
    author: str
    note: str
    created_at: dt.datetime
    title: str


class Diff(msgspec.Struct, frozen=True):
    """A unified diff of the article's Markdown text (title, fields and body) between two versions."""

    article_id: str
    from_version: int
    to_version: int
    diff: str


class SearchHit(msgspec.Struct, frozen=True):
    id: str
    scope: str
    topic: str
    title: str
    snippet: str
    score: float


class SearchResult(msgspec.Struct, frozen=True):
    query: str
    kommune: str | None
    revision: int
    hits: tuple[SearchHit, ...]
