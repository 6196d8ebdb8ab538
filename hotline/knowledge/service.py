"""The rules of the knowledge bank: what a valid article is, how versions, history, diff and revert work, how a
kommune's articles merge with the general ones, and the demo seed.

No HTTP and no SQL here: queries live in :mod:`hotline.knowledge.repository`, and the caller owns the
transaction. Every change writes the article, its version and an outbox row (the record to publish) together, so
a committed change always reaches NATS, however long NATS is down.

Merge semantics (what an agent sees for kommune K on topic T):

* K marked T "not offered" (``mode="not_offered"``): T is not offered; only K's explanation is shown.
* K has an article with ``mode="replace"`` on T: K's articles only; the general ones are hidden.
* otherwise: K's own (``mode="add"``) articles first, then the general ones.

Articles outside their ``valid_from``/``valid_to`` window are left out.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import tomllib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import msgspec
import nh3
from markdown_it import MarkdownIt

from hotline.knowledge import repository
from hotline.knowledge.messages import MESSAGES
from hotline.knowledge.schemas import ArticleDraft, Diff, Version
from hotline.tenancy import service as tenancy
from kb_sync.subjects import (
    FEDERATION,
    GENERAL,
    SURGE_TOPIC,
    ArticleRecord,
    Kind,
    Link,
    PushedArticle,
    TopicRules,
    article_key,
    encoder,
    record_decoder,
)

MAX_TITLE = 200
MAX_BODY = 20_000
MAX_LINKS = 12
LANGUAGES = frozenset({"da", "en"})
SEED_DIRECTORY = Path(__file__).resolve().parent / "seed"
SEED_AUTHOR = "demo-seed"
_SEED_NAMESPACE = uuid.UUID("6f1c1d2e-5b7a-4c51-9a57-2f0c4e7b9d10")

Problem = Literal["invalid", "not_found", "forbidden", "conflict"]


@dataclass(frozen=True)
class Violation:
    """One rule a save breaks: the field it concerns, the key of its text in :mod:`hotline.knowledge.messages`
    (``kb.error.*``) and the values that text needs. ``message`` is the English text (the API's, and the logs')."""

    field: str
    key: str
    params: Mapping[str, str | int] = dataclasses.field(default_factory=dict)

    @property
    def message(self) -> str:
        return english(self.key, self.params)


PLAIN = "kb.error.plain"
"""The key of a refusal that has no text of its own in the messages: the text is its ``text`` value."""


def english(key: str, params: Mapping[str, str | int]) -> str:
    return MESSAGES["en"][key].format(**params)


def violation(field: str, key: str, **params: str | int) -> Violation:
    return Violation(field, key, params)


class KnowledgeError(Exception):
    """A refused change, naming the field: ``str(error)`` is "field: message" and safe to show the author.

    ``violations`` holds every rule the change breaks (a save is checked whole, so an author sees all of them at
    once); ``field`` and ``message`` are those of the first. A refusal made of plain text only (``KnowledgeError(
    field, message)``: not found, forbidden) has one violation whose text is that message, untranslated."""

    def __init__(
        self, field: str, message: str, problem: Problem = "invalid", *, violations: Sequence[Violation] = ()
    ) -> None:
        self.violations = tuple(violations) or (violation(field, PLAIN, text=message),)
        super().__init__("; ".join(f"{v.field}: {v.message}" for v in self.violations))
        self.field = field
        self.message = message
        self.problem = problem

    @classmethod
    def of(cls, violations: Sequence[Violation], problem: Problem = "invalid") -> KnowledgeError:
        first = violations[0]
        return cls(first.field, first.message, problem, violations=violations)


# -- Markdown -------------------------------------------------------------------------------------------

# Raw HTML in the Markdown is shown as text, never passed through; nh3 then removes whatever the renderer
# might still let through (a javascript: link), so a body can never carry script into an agent's browser.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
_ALLOWED_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "strong", "em", "code", "pre",
    "blockquote", "a", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip


def render_markdown(body: str) -> str:
    html = _markdown.render(body)
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes={"a": {"href", "title"}, "th": {"align"}, "td": {"align"}},
        url_schemes={"https", "http", "mailto", "tel"},
        link_rel="noopener noreferrer",
    )


# -- validation -----------------------------------------------------------------------------------------


def kind_of(scope: str) -> Kind:
    if scope == GENERAL:
        return "general"
    if scope == FEDERATION:
        return "surge"
    return "kommune"


def _aware(value: dt.datetime | None, field: str, violations: list[Violation]) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        violations.append(violation(field, "kb.error.needs_time_zone"))
        return None
    return value.astimezone(dt.UTC)


def _check_links(links: Iterable[Link], violations: list[Violation]) -> None:
    links = list(links)
    if len(links) > MAX_LINKS:
        violations.append(violation("links", "kb.error.too_many_links", max=MAX_LINKS))
        return
    for index, link in enumerate(links):
        if not link.title.strip():
            violations.append(violation(f"links[{index}].title", "kb.error.link_title", number=index + 1))
        if not link.url.startswith(("https://", "http://")) or any(c in link.url for c in " \r\n\"'<>"):
            violations.append(violation(f"links[{index}].url", "kb.error.link_url", number=index + 1))


def _check_text(title: str, draft: ArticleDraft, violations: list[Violation]) -> None:
    if not title:
        violations.append(violation("title", "kb.error.empty"))
    elif len(title) > MAX_TITLE:
        violations.append(violation("title", "kb.error.too_long", max=MAX_TITLE, length=len(title)))
    elif "\n" in title or "\r" in title:
        violations.append(violation("title", "kb.error.one_line"))
    if len(draft.body) > MAX_BODY:
        violations.append(violation("body", "kb.error.too_long", max=MAX_BODY, length=len(draft.body)))
    elif not draft.body.strip() and draft.mode != "not_offered":
        violations.append(violation("body", "kb.error.empty"))
    if draft.language not in LANGUAGES:
        violations.append(violation("language", "kb.error.choice", choices=", ".join(sorted(LANGUAGES))))


async def _check_place(scope: str, draft: ArticleDraft, violations: list[Violation]) -> None:
    """The rules that depend on where the article goes: its topic, its mode and its department."""
    kind = kind_of(scope)
    if kind == "surge":
        if draft.topic != SURGE_TOPIC:
            violations.append(violation("topic", "kb.error.surge_topic", topic=SURGE_TOPIC))
    elif draft.topic not in await tenancy.known_topic_codes():
        violations.append(violation("topic", "kb.error.unknown_topic", topic=draft.topic))
    if kind != "kommune":
        if draft.mode != "add":
            violations.append(violation("mode", "kb.error.mode_of_kommune"))
        if draft.department:
            violations.append(violation("department", "kb.error.department_of_kommune"))
        return
    tenant = await tenancy.get_tenant(scope)
    if tenant is None:
        raise KnowledgeError("scope", f"no kommune with code {scope!r}", "not_found")
    keys = [department.key for department in tenant.departments]
    if draft.department and draft.department not in keys:
        violations.append(
            violation(
                "department",
                "kb.error.unknown_department",
                kommune=tenant.name,
                department=draft.department,
                departments=", ".join(keys),
            )
        )
    elif draft.handling == "handoff" and not draft.department and tenant.department_for_topic(draft.topic) is None:
        violations.append(violation("department", "kb.error.handoff_department"))


async def check(scope: str, draft: ArticleDraft) -> tuple[ArticleDraft, list[Violation]]:
    """Every rule ``draft`` for an article of ``scope`` breaks (none: it may be saved), and the draft with its title
    trimmed and its times in UTC. Raises :class:`KnowledgeError` (not found) only for a kommune that does not
    exist, which no change to the draft could mend."""
    violations: list[Violation] = []
    title = draft.title.strip()
    _check_text(title, draft, violations)
    _check_links(draft.links, violations)
    valid_from = _aware(draft.valid_from, "valid_from", violations)
    valid_to = _aware(draft.valid_to, "valid_to", violations)
    if valid_from and valid_to and valid_to <= valid_from:
        violations.append(violation("valid_to", "kb.error.ends_before_start"))
    if (
        kind_of(scope) == "surge"
        and (valid_from is None or valid_to is None)
        and not violations_of(violations, "valid_from", "valid_to")
    ):
        violations.append(violation("valid_to", "kb.error.surge_window"))
    await _check_place(scope, draft, violations)
    return msgspec.structs.replace(draft, title=title, valid_from=valid_from, valid_to=valid_to), violations


def violations_of(violations: Iterable[Violation], *fields: str) -> list[Violation]:
    return [v for v in violations if v.field in fields]


async def validate(scope: str, draft: ArticleDraft) -> ArticleDraft:
    """Check ``draft`` for an article of ``scope``; returns it with times in UTC. Raises :class:`KnowledgeError`
    with every rule it breaks, the first naming its field in ``str(error)``."""
    checked, violations = await check(scope, draft)
    if violations:
        raise KnowledgeError.of(violations)
    return checked


# -- records and rows -----------------------------------------------------------------------------------


def _utc(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)  # noqa: S101 - a Timestamptz column
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def record_from_row(row: Mapping[str, Any]) -> ArticleRecord:
    updated_at = _utc(row["updated_at"])
    assert updated_at is not None  # noqa: S101 - the column is not nullable
    return ArticleRecord(
        id=row["article_id"],
        scope=row["scope"],
        kind=row["kind"],
        mode=row["mode"],
        topic=row["topic"],
        title=row["title"],
        body=row["body"],
        body_html=render_markdown(row["body"]),
        links=msgspec.json.decode(row["links"], type=tuple[Link, ...]),
        department=row["department"],
        handling=row["handling"],
        valid_from=_utc(row["valid_from"]),
        valid_to=_utc(row["valid_to"]),
        review_by=_date(row["review_by"]),
        language=row["language"],
        version=row["version"],
        author=row["author"],
        updated_at=updated_at,
        demo=bool(row["demo"]),
    )


def _record(
    article_id: str, scope: str, draft: ArticleDraft, *, version: int, author: str, now: dt.datetime, demo: bool
) -> ArticleRecord:
    return ArticleRecord(
        id=article_id,
        scope=scope,
        kind=kind_of(scope),
        mode=draft.mode,
        topic=draft.topic,
        title=draft.title,
        body=draft.body,
        body_html=render_markdown(draft.body),
        links=draft.links,
        department=draft.department,
        handling=draft.handling,
        valid_from=draft.valid_from,
        valid_to=draft.valid_to,
        review_by=draft.review_by,
        language=draft.language,
        version=version,
        author=author,
        updated_at=now,
        demo=demo,
    )


def _columns(record: ArticleRecord) -> dict[str, Any]:
    return {
        "scope": record.scope,
        "kind": record.kind,
        "mode": record.mode,
        "topic": record.topic,
        "title": record.title,
        "body": record.body,
        "links": encoder.encode(record.links).decode(),
        "department": record.department,
        "handling": record.handling,
        "valid_from": record.valid_from,
        "valid_to": record.valid_to,
        "review_by": record.review_by,
        "language": record.language,
        "version": record.version,
        "author": record.author,
        "demo": record.demo,
        "updated_at": record.updated_at,
    }


def preview_record(scope: str, draft: ArticleDraft, *, author: str, now: dt.datetime) -> ArticleRecord:
    """An unsaved article as agents would see it: built and rendered exactly as a committed version is."""
    return _record("preview", scope, draft, version=0, author=author, now=now, demo=False)


def draft_of(record: ArticleRecord) -> ArticleDraft:
    return ArticleDraft(
        topic=record.topic,
        title=record.title,
        body=record.body,
        mode=record.mode,
        links=record.links,
        department=record.department,
        handling=record.handling,
        valid_from=record.valid_from,
        valid_to=record.valid_to,
        review_by=record.review_by,
        language=record.language,
    )


async def _commit_version(record: ArticleRecord, note: str) -> None:
    """The version row and the outbox row that go with every change (in the caller's transaction)."""
    payload = encoder.encode(record).decode()
    await repository.insert_version(record.id, record.version, payload, record.author, note)
    await repository.enqueue(article_key(record.scope, record.topic, record.id), payload)


# -- changes --------------------------------------------------------------------------------------------


async def create_article(
    scope: str,
    draft: ArticleDraft,
    author: str,
    *,
    now: dt.datetime | None = None,
    article_id: str | None = None,
    external_id: str = "",
    demo: bool = False,
    note: str = "created",
) -> ArticleRecord:
    """A new article of ``scope`` ("general", "federation" for a surge banner, or a kommune code)."""
    draft = await validate(scope, draft)
    now = now or dt.datetime.now(dt.UTC)
    record = _record(article_id or str(uuid.uuid4()), scope, draft, version=1, author=author, now=now, demo=demo)
    await repository.insert_article({"article_id": record.id, "external_id": external_id, **_columns(record)})
    await _commit_version(record, note)
    return record


async def _current(article_id: str) -> ArticleRecord:
    row = await repository.article(article_id)
    if row is None:
        raise KnowledgeError("id", f"no article {article_id!r}", "not_found")
    return record_from_row(row)


def _check_scope(record: ArticleRecord, acting_scope: str) -> None:
    if record.scope != acting_scope:
        owner = "the federation" if record.scope in (GENERAL, FEDERATION) else f"kommune {record.scope}"
        raise KnowledgeError(
            "id", f"article {record.id} belongs to {owner}; {acting_scope} may not change it", "forbidden"
        )


async def update_article(
    article_id: str,
    draft: ArticleDraft,
    author: str,
    *,
    acting_scope: str,
    now: dt.datetime | None = None,
    note: str = "edited",
    expected_version: int | None = None,
) -> ArticleRecord:
    """The next version of an article; ``acting_scope`` is whom the author acts for (a kommune code, or
    "general"/"federation" for the coordinator). An article of another scope is refused. ``expected_version`` is
    the version the author started from (the form sends it): if someone saved another version since, the edit is
    refused rather than silently overwriting theirs."""
    current = await _current(article_id)
    _check_scope(current, acting_scope)
    if expected_version is not None and expected_version != current.version:
        conflict = violation("version", "kb.error.version_conflict", current=current.version, started=expected_version)
        raise KnowledgeError.of([conflict], "conflict")
    moved = []
    if draft.topic != current.topic:
        # The topic is part of the KV key; moving it would leave the old key behind in every replica.
        moved.append(violation("topic", "kb.error.topic_fixed"))
    draft, violations = await check(current.scope, draft)
    if moved or violations:
        raise KnowledgeError.of(moved + [v for v in violations if v.field != "topic"])
    now = now or dt.datetime.now(dt.UTC)
    record = _record(
        current.id, current.scope, draft, version=current.version + 1, author=author, now=now, demo=current.demo
    )
    await repository.update_article(current.id, _columns(record))
    await _commit_version(record, note)
    return record


async def revert_article(
    article_id: str, to_version: int, author: str, *, acting_scope: str, now: dt.datetime | None = None
) -> ArticleRecord:
    """A new version with the content of ``to_version``."""
    current = await _current(article_id)
    _check_scope(current, acting_scope)
    row = await repository.version(article_id, to_version)
    if row is None:
        raise KnowledgeError("version", f"article {article_id} has no version {to_version}", "not_found")
    old = record_decoder.decode(row["record"])
    return await update_article(
        article_id, draft_of(old), author, acting_scope=acting_scope, now=now, note=f"reverted to version {to_version}"
    )


async def upsert_pushed(kommune_code: str, pushed: PushedArticle, *, now: dt.datetime | None = None) -> ArticleRecord:
    """An article a kommune system pushed over NATS: created the first time its ``external_id`` is seen, the next
    version after that. The subject it came on names the kommune, so it can only touch that kommune's articles."""
    if not pushed.external_id.strip() or len(pushed.external_id) > 200:
        raise KnowledgeError("external_id", "must be 1–200 characters")
    draft = ArticleDraft(
        topic=pushed.topic,
        title=pushed.title,
        body=pushed.body,
        mode=pushed.mode,
        links=pushed.links,
        department=pushed.department,
        handling=pushed.handling,
        valid_from=pushed.valid_from,
        valid_to=pushed.valid_to,
        review_by=pushed.review_by,
        language=pushed.language,
    )
    author = f"system:{kommune_code}"
    existing = await repository.article_by_external_id(kommune_code, pushed.external_id)
    if existing is None:
        return await create_article(
            kommune_code, draft, author, now=now, external_id=pushed.external_id, note="pushed by the kommune"
        )
    return await update_article(
        existing["article_id"], draft, author, acting_scope=kommune_code, now=now, note="pushed by the kommune"
    )


async def republish_all() -> int:
    """Queue every current article for publication again: rebuilds a lost or emptied KV bucket from the
    record of truth. Replicas ignore what they already hold (same version)."""
    rows = await repository.all_articles()
    records = [record_from_row(row) for row in rows]
    await repository.enqueue_many([(article_key(r.scope, r.topic, r.id), encoder.encode(r).decode()) for r in records])
    return len(records)


# -- reading history ------------------------------------------------------------------------------------


async def get_article(article_id: str) -> ArticleRecord:
    return await _current(article_id)


async def history(article_id: str) -> list[Version]:
    rows = await repository.versions(article_id)
    if not rows:
        raise KnowledgeError("id", f"no article {article_id!r}", "not_found")
    result = []
    for row in rows:
        record = record_decoder.decode(row["record"])
        created_at = _utc(row["created_at"])
        assert created_at is not None  # noqa: S101 - not nullable
        result.append(
            Version(
                version=row["version"], author=row["author"], note=row["note"], created_at=created_at,
                title=record.title,
            )
        )  # fmt: skip
    return result


def _as_text(record: ArticleRecord) -> list[str]:
    links = [f"link: {link.title} <{link.url}>" for link in record.links]
    fields = [
        f"title: {record.title}",
        f"mode: {record.mode}",
        f"department: {record.department}",
        f"handling: {record.handling}",
        f"valid: {record.valid_from or ''} – {record.valid_to or ''}",
        f"review by: {record.review_by or ''}",
        f"language: {record.language}",
        *links,
        "",
    ]
    return [*fields, *record.body.splitlines()]


async def diff(article_id: str, from_version: int, to_version: int) -> Diff:
    rows = {}
    for number in (from_version, to_version):
        row = await repository.version(article_id, number)
        if row is None:
            raise KnowledgeError("version", f"article {article_id} has no version {number}", "not_found")
        rows[number] = record_decoder.decode(row["record"])
    lines = difflib.unified_diff(
        _as_text(rows[from_version]),
        _as_text(rows[to_version]),
        fromfile=f"version {from_version}",
        tofile=f"version {to_version}",
        lineterm="",
    )
    return Diff(article_id=article_id, from_version=from_version, to_version=to_version, diff="\n".join(lines))


# -- merging: the effective rule set --------------------------------------------------------------------


def is_active(record: ArticleRecord, now: dt.datetime) -> bool:
    if record.valid_from is not None and now < record.valid_from:
        return False
    return record.valid_to is None or now < record.valid_to


def next_boundary(records: Iterable[ArticleRecord], now: dt.datetime) -> dt.datetime | None:
    """The next instant at which one of ``records`` enters or leaves its validity window."""
    upcoming = [
        instant
        for record in records
        for instant in (record.valid_from, record.valid_to)
        if instant is not None and instant > now
    ]
    return min(upcoming, default=None)


def _by_title(records: Iterable[ArticleRecord]) -> tuple[ArticleRecord, ...]:
    return tuple(sorted(records, key=lambda record: (record.title.casefold(), record.id)))


def merge_topic(
    topic: str, general: Iterable[ArticleRecord], local: Iterable[ArticleRecord], now: dt.datetime
) -> TopicRules | None:
    """What a kommune's agents see on ``topic``; None when there is nothing to show."""
    mine = [record for record in local if is_active(record, now)]
    not_offered = [record for record in mine if record.mode == "not_offered"]
    if not_offered:
        return TopicRules(topic=topic, offered=False, articles=_by_title(not_offered))
    if any(record.mode == "replace" for record in mine):
        articles = _by_title(mine)
    else:
        articles = _by_title(mine) + _by_title(record for record in general if is_active(record, now))
    return TopicRules(topic=topic, offered=True, articles=articles) if articles else None


# -- the demo seed --------------------------------------------------------------------------------------


class SeedFront(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The TOML front matter of a seed article (between ``+++`` lines, the Markdown body after it)."""

    scope: str
    topic: str
    title: str
    mode: Literal["replace", "add", "not_offered"] = "add"
    department: str = ""
    handling: Literal["solve", "handoff"] = "solve"
    links: tuple[Link, ...] = ()
    review_by: dt.date | None = None
    language: str = "da"


@dataclass(frozen=True)
class SeedReport:
    created: int
    updated: int
    unchanged: int

    def __str__(self) -> str:
        return f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"


def read_seed_file(path: Path) -> tuple[SeedFront, str]:
    text = path.read_text(encoding="utf-8")
    _, separator, rest = text.partition("+++\n")
    front, separator2, body = rest.partition("\n+++\n")
    if not separator or not separator2:
        raise KnowledgeError(str(path), "a seed article starts with TOML front matter between '+++' lines")
    try:
        return msgspec.convert(tomllib.loads(front), SeedFront), body.strip() + "\n"
    except (tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
        raise KnowledgeError(str(path), str(exc)) from exc


def _seed_files(directory: Path) -> list[tuple[Path, tuple[SeedFront, str]]]:
    return [(path, read_seed_file(path)) for path in sorted(directory.rglob("*.md"))]


async def seed(directory: Path = SEED_DIRECTORY, *, now: dt.datetime | None = None) -> SeedReport:
    """Apply the demo articles idempotently. Each file keeps one article id (derived from its path); an article
    that someone other than the seed has edited since is left alone."""
    created = updated = unchanged = 0
    for path, (front, body) in _seed_files(directory):
        article_id = str(uuid.uuid5(_SEED_NAMESPACE, path.relative_to(directory).as_posix()))
        draft = ArticleDraft(
            topic=front.topic,
            title=front.title,
            body=body,
            mode=front.mode,
            links=front.links,
            department=front.department,
            handling=front.handling,
            review_by=front.review_by,
            language=front.language,
        )
        row = await repository.article(article_id)
        if row is None:
            await create_article(front.scope, draft, SEED_AUTHOR, now=now, article_id=article_id, demo=True)
            created += 1
            continue
        current = record_from_row(row)
        if current.author != SEED_AUTHOR or draft_of(current) == draft:
            unchanged += 1
            continue
        await update_article(article_id, draft, SEED_AUTHOR, acting_scope=current.scope, now=now, note="demo seed")
        updated += 1
    return SeedReport(created, updated, unchanged)
