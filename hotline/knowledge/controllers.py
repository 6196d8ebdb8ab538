"""HTTP handlers of the knowledge bank: what agents read and search (answered from the in-memory replica), the
version history, the write endpoints for authors, and the ``/kb`` page (without a query, its landing: the surge
notices and every topic with its shared rule and the chosen kommune's rule, all from the replica; only the topics'
names come from the taxonomy, read every few minutes).

``opt["access"]`` names who may call each handler; the identity area enforces it (read endpoints are
"public" to signed-in staff, kommune writes "kommune_admin", general and surge writes "coordinator").
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

from litestar import Controller, Request, get, post, put
from litestar.exceptions import (
    NotFoundException,
    PermissionDeniedException,
    ServiceUnavailableException,
    ValidationException,
)
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.response import Template
from litestar.status_codes import HTTP_201_CREATED

from hotline.db.engine import INTEGER_MAX
from hotline.identity.guards import principal_of
from hotline.knowledge import repository, service
from hotline.knowledge.schemas import ArticleDraft, Diff, RevertRequest, SearchHit, SearchResult, Version
from hotline.knowledge.search import snippet
from hotline.tenancy import repository as tenancy_repository
from hotline.tenancy.files import reference_kommuner
from hotline.web.templating import page
from kb_sync.replica import Freshness, Replica
from kb_sync.subjects import FEDERATION, GENERAL, SURGE_TOPIC, ArticleRecord, RuleSet

CodeParameter = Annotated[str, PathParameter(description="4-digit kommune code, e.g. 0751", max_length=16)]
ArticleIdParameter = Annotated[str, PathParameter(description="The article's id (a UUID)", max_length=64)]
_CODE = re.compile(r"^[0-9]{4}$")


def _replica(request: Request[Any, Any, Any]) -> Replica:
    replica: Replica | None = request.app.state.services.kb_replica
    if replica is None or not replica.ready:
        raise ServiceUnavailableException(detail="The knowledge bank replica is still starting; try again shortly")
    return replica


def _kommune(code: str) -> str:
    if not _CODE.match(code) or code not in reference_kommuner():
        raise NotFoundException(detail=f"No kommune with code {code!r}: use the 4-digit kommune code, e.g. '0751'")
    return code


def _author(request: Request[Any, Any, Any]) -> str:
    # The identity area's guard leaves the signed-in person (or kommune system) in the request state.
    principal = getattr(request.state, "principal", None)
    actor = getattr(principal, "actor", None)
    return str(getattr(actor, "name", "") or getattr(actor, "id", "") or "api")[:200]


def _refused(error: service.KnowledgeError) -> Exception:
    if error.problem == "not_found":
        return NotFoundException(detail=str(error))
    if error.problem == "forbidden":
        return PermissionDeniedException(detail=str(error))
    # ``detail`` starts with the first field as it always did; ``extra`` lists every field the save broke, with the
    # message key and values for clients that word the message themselves.
    extra = [
        {"key": v.field, "message": v.message, "message_key": v.key, "params": dict(v.params)} for v in error.violations
    ]
    return ValidationException(detail=str(error), extra=extra)


def _published(request: Request[Any, Any, Any]) -> None:
    publisher = request.app.state.services.kb_publisher
    if publisher is not None:
        publisher.notify()


async def _create(request: Request[Any, Any, Any], scope: str, draft: ArticleDraft) -> ArticleRecord:
    try:
        async with repository.transaction():
            record = await service.create_article(scope, draft, _author(request))
    except service.KnowledgeError as error:
        raise _refused(error) from error
    _published(request)
    return record


async def _update(request: Request[Any, Any, Any], scope: str, article_id: str, draft: ArticleDraft) -> ArticleRecord:
    try:
        async with repository.transaction():
            record = await service.update_article(article_id, draft, _author(request), acting_scope=scope)
    except service.KnowledgeError as error:
        raise _refused(error) from error
    _published(request)
    return record


async def _revert(request: Request[Any, Any, Any], scope: str, article_id: str, version: int) -> ArticleRecord:
    try:
        async with repository.transaction():
            record = await service.revert_article(article_id, version, _author(request), acting_scope=scope)
    except service.KnowledgeError as error:
        raise _refused(error) from error
    _published(request)
    return record


def search_result(replica: Replica, q: str, kommune: str | None, limit: int = 20) -> SearchResult:
    hits = tuple(
        SearchHit(
            id=record.id,
            scope=record.scope,
            topic=record.topic,
            title=record.title,
            snippet=snippet(record, q),
            score=score,
        )
        for record, score in replica.search(q, kommune, limit=limit)
    )
    return SearchResult(query=q, kommune=kommune, revision=replica.revision, hits=hits)


class KnowledgeApiController(Controller):
    path = "/api/kb"
    tags = ("knowledge",)

    # -- read: from the replica ---------------------------------------------------------------------

    @get("/{code:str}/rules", operation_id="getKommuneRules", opt={"access": "public"},
         summary="A kommune's effective rule set: its own articles merged with the general ones")  # fmt: skip
    async def rules(self, request: Request[Any, Any, Any], code: CodeParameter) -> RuleSet:
        return _replica(request).rules(_kommune(code))

    @get("/search", operation_id="searchKnowledge", opt={"access": "public"},
         summary="Full-text search: the kommune's articles first, then the general ones")  # fmt: skip
    async def search(
        self,
        request: Request[Any, Any, Any],
        q: Annotated[str, QueryParameter(max_length=200, description="What to look for")],
        kommune: Annotated[str | None, QueryParameter(max_length=4, description="The caller's kommune code")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
    ) -> SearchResult:
        return search_result(_replica(request), q, _kommune(kommune) if kommune else None, limit)

    @get("/surge", operation_id="listSurgeArticles", opt={"access": "public"},
         summary="The surge banners every agent sees now")  # fmt: skip
    async def surge(self, request: Request[Any, Any, Any]) -> list[ArticleRecord]:
        return list(_replica(request).surge())

    @get("/freshness", operation_id="getKnowledgeFreshness", opt={"access": "public"}, cache=False,
         summary="How current this process's knowledge replica is")  # fmt: skip
    async def freshness(self, request: Request[Any, Any, Any]) -> Freshness:
        replica: Replica | None = request.app.state.services.kb_replica
        if replica is None:
            raise ServiceUnavailableException(detail="The knowledge bank replica is not running")
        return replica.freshness()

    @get("/articles/{article_id:str}", operation_id="getArticle", opt={"access": "public"},
         summary="The current version of one article")  # fmt: skip
    async def article(self, request: Request[Any, Any, Any], article_id: ArticleIdParameter) -> ArticleRecord:
        record = _replica(request).article(article_id)
        if record is None:
            raise NotFoundException(detail=f"No article {article_id!r}")
        return record

    # -- history: from the database (not on an agent's hot path) ------------------------------------

    @get("/articles/{article_id:str}/history", operation_id="getArticleHistory", opt={"access": "public"},
         summary="Every version of an article, oldest first")  # fmt: skip
    async def history(self, article_id: ArticleIdParameter) -> list[Version]:
        try:
            return await service.history(article_id)
        except service.KnowledgeError as error:
            raise _refused(error) from error

    @get("/articles/{article_id:str}/diff", operation_id="getArticleDiff", opt={"access": "public"},
         summary="A unified diff between two versions of an article")  # fmt: skip
    async def diff(
        self,
        article_id: ArticleIdParameter,
        from_version: Annotated[int, QueryParameter(name="from", ge=1, le=INTEGER_MAX)],
        to_version: Annotated[int, QueryParameter(name="to", ge=1, le=INTEGER_MAX)],
    ) -> Diff:
        try:
            return await service.diff(article_id, from_version, to_version)
        except service.KnowledgeError as error:
            raise _refused(error) from error

    # -- writes -------------------------------------------------------------------------------------

    @post("/{code:str}/articles", operation_id="createKommuneArticle", opt={"access": "kommune_admin"},
          status_code=HTTP_201_CREATED, summary="Create an article of a kommune")  # fmt: skip
    async def create_kommune_article(
        self, request: Request[Any, Any, Any], code: CodeParameter, data: JSONBody[ArticleDraft]
    ) -> ArticleRecord:
        return await _create(request, _kommune(code), data)

    @put("/{code:str}/articles/{article_id:str}", operation_id="updateKommuneArticle",
         opt={"access": "kommune_admin"}, summary="Write the next version of a kommune's article")  # fmt: skip
    async def update_kommune_article(
        self,
        request: Request[Any, Any, Any],
        code: CodeParameter,
        article_id: ArticleIdParameter,
        data: JSONBody[ArticleDraft],
    ) -> ArticleRecord:
        return await _update(request, _kommune(code), article_id, data)

    @post("/{code:str}/articles/{article_id:str}/revert", operation_id="revertKommuneArticle",
          opt={"access": "kommune_admin"}, status_code=200,
          summary="Make an earlier version of a kommune's article current again")  # fmt: skip
    async def revert_kommune_article(
        self,
        request: Request[Any, Any, Any],
        code: CodeParameter,
        article_id: ArticleIdParameter,
        data: JSONBody[RevertRequest],
    ) -> ArticleRecord:
        return await _revert(request, _kommune(code), article_id, data.version)

    @post("/general/articles", operation_id="createGeneralArticle", opt={"access": "coordinator"},
          status_code=HTTP_201_CREATED, summary="Create a federation-wide general article")  # fmt: skip
    async def create_general_article(
        self, request: Request[Any, Any, Any], data: JSONBody[ArticleDraft]
    ) -> ArticleRecord:
        return await _create(request, GENERAL, data)

    @put("/general/articles/{article_id:str}", operation_id="updateGeneralArticle", opt={"access": "coordinator"},
         summary="Write the next version of a general article")  # fmt: skip
    async def update_general_article(
        self, request: Request[Any, Any, Any], article_id: ArticleIdParameter, data: JSONBody[ArticleDraft]
    ) -> ArticleRecord:
        return await _update(request, GENERAL, article_id, data)

    @post("/general/articles/{article_id:str}/revert", operation_id="revertGeneralArticle",
          opt={"access": "coordinator"}, status_code=200,
          summary="Make an earlier version of a general article current again")  # fmt: skip
    async def revert_general_article(
        self, request: Request[Any, Any, Any], article_id: ArticleIdParameter, data: JSONBody[RevertRequest]
    ) -> ArticleRecord:
        return await _revert(request, GENERAL, article_id, data.version)

    @post("/surge/articles", operation_id="createSurgeArticle", opt={"access": "coordinator"},
          status_code=HTTP_201_CREATED, summary="Publish a surge banner for every agent (topic 'surge')")  # fmt: skip
    async def create_surge_article(
        self, request: Request[Any, Any, Any], data: JSONBody[ArticleDraft]
    ) -> ArticleRecord:
        return await _create(request, FEDERATION, data)

    @put("/surge/articles/{article_id:str}", operation_id="updateSurgeArticle", opt={"access": "coordinator"},
         summary="Change or end a surge banner")  # fmt: skip
    async def update_surge_article(
        self, request: Request[Any, Any, Any], article_id: ArticleIdParameter, data: JSONBody[ArticleDraft]
    ) -> ArticleRecord:
        return await _update(request, FEDERATION, article_id, data)


@dataclass(frozen=True)
class TopicRow:
    """One topic of the taxonomy on the /kb landing: its shared article(s) and, for a chosen kommune, its rule."""

    code: str
    name: str
    general: tuple[ArticleRecord, ...]
    local: tuple[ArticleRecord, ...] = ()
    offered: bool = True

    @property
    def has_articles(self) -> bool:
        return bool(self.general or self.local or not self.offered)


@dataclass
class _TopicNames:
    """The taxonomy's topic names per language, read once every few minutes (a topic is rarely renamed)."""

    names: dict[str, tuple[str, str]] = field(default_factory=dict)
    read_at: float = -1e9

    async def get(self, language: str) -> dict[str, str]:
        if time.monotonic() - self.read_at > TOPIC_NAMES_TTL:
            rows = await tenancy_repository.topics()
            self.names = {row["code"]: (row["name_da"], row["name_en"]) for row in rows}
            self.read_at = time.monotonic()
        return {code: pair[1] if language == "en" else pair[0] for code, pair in self.names.items()}


TOPIC_NAMES_TTL = 300.0


def _topic_names(request: Request[Any, Any, Any]) -> _TopicNames:
    """This app's cache of the topic names (kept in the app's state, so two apps in one process never share it)."""
    state = request.app.state
    if "kb_topic_names" not in state:
        state.kb_topic_names = _TopicNames()
    names: _TopicNames = state.kb_topic_names
    return names


def topic_rows(replica: Replica, kommune: str, names: dict[str, str]) -> list[TopicRow]:
    """Every taxonomy topic (and any other topic an article is on), from the in-memory replica: the shared rule and,
    when ``kommune`` is given, what that kommune's agents are told on it (its own articles, or not offered)."""
    general = {t.topic: t.articles for t in replica.rules(GENERAL).topics}
    merged = {t.topic: t for t in replica.rules(kommune).topics} if kommune else {}
    rows = []
    for code in set(names) | set(general) | set(merged):
        if code == SURGE_TOPIC:
            continue
        mine = merged.get(code)
        local = tuple(a for a in mine.articles if a.scope == kommune) if mine is not None else ()
        rows.append(
            TopicRow(
                code=code,
                name=names.get(code, code),
                general=general.get(code, ()),
                local=local,
                offered=mine.offered if mine is not None else True,
            )
        )
    return sorted(rows, key=lambda row: row.name.casefold())


class KnowledgePagesController(Controller):
    path = "/kb"
    include_in_schema = False

    @get("/", name="knowledge-search", opt={"access": "public"}, cache=False)
    async def search_page(
        self,
        request: Request[Any, Any, Any],
        q: Annotated[str, QueryParameter(max_length=200)] = "",
        kommune: Annotated[str, QueryParameter(max_length=4)] = "",
    ) -> Template:
        replica: Replica | None = request.app.state.services.kb_replica
        reference = reference_kommuner()
        code = kommune if kommune in reference else ""
        started = time.perf_counter()
        ready = replica is not None and replica.ready
        result = search_result(replica, q, code or None) if ready and replica is not None and q.strip() else None
        # Without a query, the landing: the surge notices and the topics (the shared rule, the kommune's rule).
        topics = None
        if ready and replica is not None and not q.strip():
            topics = topic_rows(replica, code, await _topic_names(request).get(request.state.lang))
        context = {
            "q": q,
            "kommune": code,
            "kommune_name": reference[code]["name"] if code else "",
            "kommuner": sorted(reference.values(), key=lambda row: row["name"]),
            "result": result,
            "topics": topics,
            "surge": replica.surge() if ready and replica is not None else (),
            "freshness": replica.freshness() if replica is not None else None,
            "elapsed_ms": round((time.perf_counter() - started) * 1000, 2),
        }
        partial = bool(request.headers.get("hx-request"))
        if not partial:
            await principal_of(request)  # the page offers authors a link to their authoring pages
        template = "knowledge/_results.html" if partial else "knowledge/search.html"
        return page(request, template, context)

    @get("/articles/{article_id:str}", name="knowledge-article", opt={"access": "public"})
    async def article_page(self, request: Request[Any, Any, Any], article_id: ArticleIdParameter) -> Template:
        record = _replica(request).article(article_id)
        if record is None:
            raise NotFoundException(detail=f"No article {article_id!r}")
        return page(request, "knowledge/article.html", {"article": record})
