"""The authoring and governance pages of the knowledge bank (server-rendered, htmx for the live preview).

* ``/admin/kommuner/{code}/kb/...``: a kommune's admins write their kommune's articles, see their stale and
  missing topics, and work through the reports agents filed about their rules.
* ``/kb/manage/...``: the coordinator writes general articles and surge banners the same way, and sees the
  divergence of a topic across the member kommuner, coverage, stale articles and every report.
* ``/kb/report``: any signed-in person (an agent) reports a rule that is wrong or missing.

Every write goes through :mod:`hotline.knowledge.service` in one transaction, so a refused form changes nothing;
the form comes back (422) with every problem next to its field, in the reader's language. Reads of articles come
from the replica (the same records agents see), history and diff from the database.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, NotFoundException, PermissionDeniedException
from litestar.params import Body, PathParameter, QueryParameter
from litestar.response import Redirect, Template

from hotline.db.engine import INTEGER_MAX
from hotline.identity import audit
from hotline.identity.guards import client_ip, federation_access, kommune_access, principal_of, signed_in
from hotline.knowledge import authoring, governance, reports, repository, service
from hotline.knowledge.controllers import _author, _kommune, _published, _replica
from hotline.tenancy import repository as tenancy_repository
from hotline.tenancy import service as tenancy
from hotline.tenancy.files import reference_kommuner
from hotline.web.templating import page
from kb_sync.subjects import FEDERATION, GENERAL, ArticleRecord

FormData = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
CodeParameter = Annotated[str, PathParameter(description="4-digit kommune code", max_length=16)]
ArticleIdParameter = Annotated[str, PathParameter(description="The article's id", max_length=64)]
ReportIdParameter = Annotated[int, PathParameter(description="The report's number", ge=1, le=INTEGER_MAX)]
ScopeParameter = Annotated[str, PathParameter(description="general or surge", max_length=16)]
_FEDERATION_SCOPES = {"general": GENERAL, "surge": FEDERATION}
_KOMMUNE_ROLES = ("kommune_admin",)


def _now(request: Request[Any, Any, Any]) -> dt.datetime:
    now: dt.datetime = request.app.state.services.clock()
    return now


def _federation_scope(scope: str) -> str:
    found = _FEDERATION_SCOPES.get(scope)
    if found is None:
        raise NotFoundException(detail=f"No article collection {scope!r}: use 'general' or 'surge'")
    return found


async def _topics(request: Request[Any, Any, Any]) -> list[tuple[str, str]]:
    english = getattr(request.state, "lang", "da") == "en"
    rows = await tenancy_repository.topics()
    return [(row["code"], row["name_en"] if english else row["name_da"]) for row in rows]


async def _members() -> list[tuple[str, str]]:
    tenants = await tenancy.load_tenants()
    return sorted(((t.code, t.name) for t in tenants if t.definition.member), key=lambda pair: pair[1])


class _Place:
    """Where an article collection is edited: its scope and the URL the pages of that collection live under."""

    def __init__(self, scope: str, base: str, label: str) -> None:
        self.scope = scope
        self.base = base
        self.label = label

    @property
    def kommune(self) -> bool:
        return self.scope not in (GENERAL, FEDERATION)

    @property
    def surge(self) -> bool:
        return self.scope == FEDERATION


async def _kommune_place(code: str) -> _Place:
    tenant = await tenancy.get_tenant(_kommune(code))
    if tenant is None:
        raise NotFoundException(detail=f"No kommune with code {code!r}")
    return _Place(code, f"/admin/kommuner/{code}/kb", tenant.name)


def _federation_place(scope: str) -> _Place:
    real = _federation_scope(scope)
    return _Place(real, f"/kb/manage/{scope}", scope)


async def _own_article(place: _Place, article_id: str) -> ArticleRecord:
    """The current version from the database (the record of truth): right after a save the replica may still be
    a few milliseconds behind, and an author must always edit the newest version."""
    try:
        record = await service.get_article(article_id)
    except service.KnowledgeError:
        raise NotFoundException(detail=f"No article {article_id!r}") from None
    if record.scope != place.scope:
        raise PermissionDeniedException(detail=f"Article {article_id} belongs to {record.scope}, not {place.scope}")
    return record


async def _form_page(
    request: Request[Any, Any, Any],
    place: _Place,
    form: authoring.ArticleForm,
    *,
    article: ArticleRecord | None = None,
    status: int = 200,
) -> Template:
    departments: list[tuple[str, str]] = []
    if place.kommune:
        tenant = await tenancy.get_tenant(place.scope)
        departments = [(d.key, d.name) for d in tenant.departments] if tenant else []
    history = await service.history(article.id) if article is not None else []
    record = authoring.preview(place.scope, form.values, _author(request), _now(request))
    context = {
        "place": place,
        "form": form,
        "article": article,
        "history": history,
        "topics": await _topics(request),
        "departments": departments,
        "modes": authoring.MODES,
        "handlings": authoring.HANDLINGS,
        "languages": sorted(service.LANGUAGES),
        "preview": record,
        "saved": request.query_params.get("saved", "")[:6],
    }
    return page(request, "knowledge/edit.html", context, status_code=status)


async def _save(
    request: Request[Any, Any, Any], place: _Place, data: dict[str, Any], article: ArticleRecord | None
) -> Template | Redirect:
    form = authoring.parse(place.scope, data)
    if form.ok and form.draft is not None:
        try:
            async with repository.transaction():
                if article is None:
                    saved = await service.create_article(place.scope, form.draft, _author(request), now=_now(request))
                else:
                    saved = await service.update_article(
                        article.id,
                        form.draft,
                        _author(request),
                        acting_scope=place.scope,
                        now=_now(request),
                        expected_version=form.base_version,
                    )
        except service.KnowledgeError as error:
            if error.problem == "forbidden":
                raise PermissionDeniedException(detail=str(error)) from error
            form.refuse(error)
            status = 409 if error.problem == "conflict" else 422
            return await _form_page(request, place, form, article=article, status=status)
        _published(request)
        return Redirect(path=f"{place.base}/{saved.id}/edit?saved={saved.version}", status_code=303)
    await form.check(place.scope)
    return await _form_page(request, place, form, article=article, status=422)


async def _diff_page(request: Request[Any, Any, Any], place: _Place, article_id: str, low: int, high: int) -> Template:
    article = await _own_article(place, article_id)
    try:
        result = await service.diff(article_id, low, high)
    except service.KnowledgeError as error:
        raise NotFoundException(detail=str(error)) from error
    lines = [(line[:1] if line[:1] in "+-@" else " ", line) for line in result.diff.splitlines()]
    return page(request, "knowledge/diff.html", {"place": place, "article": article, "diff": result, "lines": lines})


async def _revert(request: Request[Any, Any, Any], place: _Place, article_id: str, data: dict[str, Any]) -> Redirect:
    article = await _own_article(place, article_id)
    try:
        version = int(str(data.get("version", "")))
    except ValueError:
        raise ClientException(detail="version: must be a version number of this article", status_code=400) from None
    try:
        async with repository.transaction():
            saved = await service.revert_article(
                article.id, version, _author(request), acting_scope=place.scope, now=_now(request)
            )
    except service.KnowledgeError as error:
        if error.problem == "forbidden":
            raise PermissionDeniedException(detail=str(error)) from error
        raise NotFoundException(detail=str(error)) from error
    _published(request)
    return Redirect(path=f"{place.base}/{saved.id}/edit?saved={saved.version}", status_code=303)


def _preview(request: Request[Any, Any, Any], place: _Place, data: dict[str, Any]) -> Template:
    record = authoring.preview(place.scope, data, _author(request), _now(request))
    return page(request, "knowledge/_preview.html", {"preview": record})


async def _reports_page(request: Request[Any, Any, Any], kommune: str | None, base: str, status: str) -> Template:
    wanted = status if status in ("open", "resolved", "dismissed") else "open"
    found = await reports.reports(kommune, status=wanted)
    principal = await principal_of(request)
    if principal is not None:
        await audit.record(
            audit.PERSONAL_DATA_VIEWED,
            actor=principal.actor,
            kommune_code=kommune or principal.home_kommune,
            now=_now(request),
            ip=client_ip(request),
            target="kb_reports",
            detail={"status": wanted, "count": len(found)},
        )
    context = {"reports": found, "kommune": kommune, "base": base, "status": wanted}
    return page(request, "knowledge/reports.html", context)


async def _close_report(
    request: Request[Any, Any, Any], kommune: str | None, report_id: int, data: dict[str, Any], base: str
) -> Redirect:
    try:
        async with repository.transaction():
            await reports.close_report(report_id, kommune, str(data.get("status", "")), _author(request), _now(request))
    except service.KnowledgeError as error:
        if error.problem == "not_found":
            raise NotFoundException(detail=str(error)) from error
        raise ClientException(detail=str(error), status_code=409 if error.problem == "conflict" else 400) from error
    return Redirect(path=f"{base}/reports", status_code=303)


class KnowledgeKommuneAdminController(Controller):
    """A kommune's own articles, for its admins."""

    path = "/admin/kommuner/{code:str}/kb"
    include_in_schema = False

    @get("/", name="kb-admin", opt=kommune_access(*_KOMMUNE_ROLES), cache=False)
    async def overview(self, request: Request[Any, Any, Any], code: CodeParameter) -> Template:
        place = await _kommune_place(code)
        replica = _replica(request)
        now = _now(request)
        mine = sorted(
            (r for r in replica.records() if r.scope == code), key=lambda r: (r.topic, r.title.casefold(), r.id)
        )
        topics = await _topics(request)
        coverage = governance.coverage(replica, [(code, place.label)], [c for c, _ in topics], now)[0]
        context = {
            "place": place,
            "articles": mine,
            "stale": governance.stale(replica, now, code).get(code, []),
            "coverage": coverage,
            "topic_names": dict(topics),
            "open_reports": await reports.open_count(code),
            "today": governance.today(now),
        }
        return page(request, "knowledge/admin.html", context)

    @get("/new", name="kb-admin-new", opt=kommune_access(*_KOMMUNE_ROLES), cache=False)
    async def new(
        self,
        request: Request[Any, Any, Any],
        code: CodeParameter,
        topic: Annotated[str, QueryParameter(max_length=64)] = "",
    ) -> Template:
        place = await _kommune_place(code)
        values = authoring.blank_values(place.scope)
        values["topic"] = topic
        return await _form_page(request, place, authoring.ArticleForm(values=values))

    @post("/new", name="kb-admin-create", opt=kommune_access(*_KOMMUNE_ROLES), status_code=303)
    async def create(self, request: Request[Any, Any, Any], code: CodeParameter, data: FormData) -> Template | Redirect:
        return await _save(request, await _kommune_place(code), data, None)

    @post("/preview", name="kb-admin-preview", opt=kommune_access(*_KOMMUNE_ROLES), status_code=200)
    async def preview(self, request: Request[Any, Any, Any], code: CodeParameter, data: FormData) -> Template:
        return _preview(request, await _kommune_place(code), data)

    @get("/reports", name="kb-admin-reports", opt=kommune_access(*_KOMMUNE_ROLES), cache=False)
    async def reports_page(
        self,
        request: Request[Any, Any, Any],
        code: CodeParameter,
        status: Annotated[str, QueryParameter(max_length=16)] = "open",
    ) -> Template:
        place = await _kommune_place(code)
        return await _reports_page(request, place.scope, place.base, status)

    @post("/reports/{report_id:int}/close", name="kb-admin-report-close", opt=kommune_access(*_KOMMUNE_ROLES),
          status_code=303)  # fmt: skip
    async def close_report(
        self, request: Request[Any, Any, Any], code: CodeParameter, report_id: ReportIdParameter, data: FormData
    ) -> Redirect:
        place = await _kommune_place(code)
        return await _close_report(request, place.scope, report_id, data, place.base)

    @get("/{article_id:str}/edit", name="kb-admin-edit", opt=kommune_access(*_KOMMUNE_ROLES), cache=False)
    async def edit(
        self, request: Request[Any, Any, Any], code: CodeParameter, article_id: ArticleIdParameter
    ) -> Template:
        place = await _kommune_place(code)
        article = await _own_article(place, article_id)
        return await _form_page(
            request, place, authoring.ArticleForm(values=authoring.values_of(article)), article=article
        )

    @post("/{article_id:str}/edit", name="kb-admin-update", opt=kommune_access(*_KOMMUNE_ROLES), status_code=303)
    async def update(
        self, request: Request[Any, Any, Any], code: CodeParameter, article_id: ArticleIdParameter, data: FormData
    ) -> Template | Redirect:
        place = await _kommune_place(code)
        return await _save(request, place, data, await _own_article(place, article_id))

    @get("/{article_id:str}/diff", name="kb-admin-diff", opt=kommune_access(*_KOMMUNE_ROLES))
    async def diff(
        self,
        request: Request[Any, Any, Any],
        code: CodeParameter,
        article_id: ArticleIdParameter,
        from_version: Annotated[int, QueryParameter(name="from", ge=1, le=INTEGER_MAX)],
        to_version: Annotated[int, QueryParameter(name="to", ge=1, le=INTEGER_MAX)],
    ) -> Template:
        return await _diff_page(request, await _kommune_place(code), article_id, from_version, to_version)

    @post("/{article_id:str}/revert", name="kb-admin-revert", opt=kommune_access(*_KOMMUNE_ROLES), status_code=303)
    async def revert(
        self, request: Request[Any, Any, Any], code: CodeParameter, article_id: ArticleIdParameter, data: FormData
    ) -> Redirect:
        return await _revert(request, await _kommune_place(code), article_id, data)


class KnowledgeCoordinatorController(Controller):
    """General articles, surge banners and governance, for the coordinator."""

    path = "/kb/manage"
    include_in_schema = False

    @get("/", name="kb-manage", opt=federation_access("coordinator"), cache=False)
    async def overview(self, request: Request[Any, Any, Any]) -> Template:
        replica = _replica(request)
        now = _now(request)
        topics = await _topics(request)
        members = await _members()
        records = replica.records()
        context = {
            "general": sorted((r for r in records if r.scope == GENERAL), key=lambda r: (r.topic, r.title.casefold())),
            "surge": sorted((r for r in records if r.scope == FEDERATION), key=lambda r: (r.valid_from or now, r.id)),
            "coverage": governance.coverage(replica, members, [c for c, _ in topics], now),
            "stale_general": governance.stale(replica, now, GENERAL).get(GENERAL, []),
            "topics": topics,
            "open_reports": await reports.open_count(None),
            "now": now,
        }
        return page(request, "knowledge/manage.html", context)

    @get("/divergence", name="kb-divergence", opt=federation_access("coordinator"), cache=False)
    async def divergence(
        self, request: Request[Any, Any, Any], topic: Annotated[str, QueryParameter(max_length=64)] = "storskrald"
    ) -> Template:
        topics = await _topics(request)
        if topic not in dict(topics):
            raise NotFoundException(detail=f"topic: unknown topic {topic!r}")
        result = governance.divergence(_replica(request), topic, await _members(), _now(request))
        return page(request, "knowledge/divergence.html", {"result": result, "topics": topics, "topic": topic})

    @get("/reports", name="kb-manage-reports", opt=federation_access("coordinator"), cache=False)
    async def reports_page(
        self, request: Request[Any, Any, Any], status: Annotated[str, QueryParameter(max_length=16)] = "open"
    ) -> Template:
        return await _reports_page(request, None, "/kb/manage", status)

    @post("/reports/{report_id:int}/close", name="kb-manage-report-close", opt=federation_access("coordinator"),
          status_code=303)  # fmt: skip
    async def close_report(
        self, request: Request[Any, Any, Any], report_id: ReportIdParameter, data: FormData
    ) -> Redirect:
        return await _close_report(request, None, report_id, data, "/kb/manage")

    @get("/{collection:str}/new", name="kb-manage-new", opt=federation_access("coordinator"), cache=False)
    async def new(
        self,
        request: Request[Any, Any, Any],
        collection: ScopeParameter,
        topic: Annotated[str, QueryParameter(max_length=64)] = "",
    ) -> Template:
        place = _federation_place(collection)
        values = authoring.blank_values(place.scope)
        if topic and not place.surge:
            values["topic"] = topic
        return await _form_page(request, place, authoring.ArticleForm(values=values))

    @post("/{collection:str}/new", name="kb-manage-create", opt=federation_access("coordinator"), status_code=303)
    async def create(
        self, request: Request[Any, Any, Any], collection: ScopeParameter, data: FormData
    ) -> Template | Redirect:
        return await _save(request, _federation_place(collection), data, None)

    @post("/{collection:str}/preview", name="kb-manage-preview", opt=federation_access("coordinator"), status_code=200)
    async def preview(self, request: Request[Any, Any, Any], collection: ScopeParameter, data: FormData) -> Template:
        return _preview(request, _federation_place(collection), data)

    @get("/{collection:str}/{article_id:str}/edit", name="kb-manage-edit", opt=federation_access("coordinator"),
         cache=False)  # fmt: skip
    async def edit(
        self, request: Request[Any, Any, Any], collection: ScopeParameter, article_id: ArticleIdParameter
    ) -> Template:
        place = _federation_place(collection)
        article = await _own_article(place, article_id)
        return await _form_page(
            request, place, authoring.ArticleForm(values=authoring.values_of(article)), article=article
        )

    @post("/{collection:str}/{article_id:str}/edit", name="kb-manage-update", opt=federation_access("coordinator"),
          status_code=303)  # fmt: skip
    async def update(
        self,
        request: Request[Any, Any, Any],
        collection: ScopeParameter,
        article_id: ArticleIdParameter,
        data: FormData,
    ) -> Template | Redirect:
        place = _federation_place(collection)
        return await _save(request, place, data, await _own_article(place, article_id))

    @get("/{collection:str}/{article_id:str}/diff", name="kb-manage-diff", opt=federation_access("coordinator"))
    async def diff(
        self,
        request: Request[Any, Any, Any],
        collection: ScopeParameter,
        article_id: ArticleIdParameter,
        from_version: Annotated[int, QueryParameter(name="from", ge=1, le=INTEGER_MAX)],
        to_version: Annotated[int, QueryParameter(name="to", ge=1, le=INTEGER_MAX)],
    ) -> Template:
        return await _diff_page(request, _federation_place(collection), article_id, from_version, to_version)

    @post("/{collection:str}/{article_id:str}/revert", name="kb-manage-revert", opt=federation_access("coordinator"),
          status_code=303)  # fmt: skip
    async def revert(
        self,
        request: Request[Any, Any, Any],
        collection: ScopeParameter,
        article_id: ArticleIdParameter,
        data: FormData,
    ) -> Redirect:
        return await _revert(request, _federation_place(collection), article_id, data)


class KnowledgeReportController(Controller):
    """An agent's "this rule is wrong or missing" report."""

    path = "/kb/report"
    include_in_schema = False

    async def _form(
        self,
        request: Request[Any, Any, Any],
        values: dict[str, str],
        errors: dict[str, str] | None = None,
        status: int = 200,
    ) -> Template:
        replica = _replica(request)
        article = replica.article(values.get("article", "")) if values.get("article") else None
        context = {
            "values": values,
            "errors": errors or {},
            "article": article,
            "topics": await _topics(request),
            "kinds": reports.KINDS,
        }
        return page(request, "knowledge/report.html", context, status_code=status)

    @get("/", name="kb-report-form", opt=signed_in(), cache=False)
    async def form(
        self,
        request: Request[Any, Any, Any],
        article: Annotated[str, QueryParameter(max_length=64)] = "",
        kommune: Annotated[str, QueryParameter(max_length=4)] = "",
        topic: Annotated[str, QueryParameter(max_length=64)] = "",
    ) -> Template:
        values = {
            "article": article,
            "kommune": kommune,
            "topic": topic,
            "kind": "wrong" if article else "missing",
            "message": "",
        }
        return await self._form(request, values)

    @post("/", name="kb-report-file", opt=signed_in(), status_code=201)
    async def file(self, request: Request[Any, Any, Any], data: FormData) -> Template:
        values = {name: str(data.get(name, "")) for name in ("article", "kommune", "topic", "kind", "message")}
        replica = _replica(request)
        errors: dict[str, str] = {}
        article = replica.article(values["article"]) if values["article"] else None
        if values["article"] and article is None:
            errors["article"] = f"no article {values['article']!r}"
        kommune = values["kommune"]
        if kommune and kommune not in {code for code, _ in await _members()} | set(reference_kommuner()):
            errors["kommune"] = f"no kommune with code {kommune!r}"
        topics = {code for code, _ in await _topics(request)}
        if article is None and values["topic"] not in topics:
            errors["topic"] = "choose the topic the missing rule is about"
        if not errors:
            try:
                async with repository.transaction():
                    report = await reports.file_report(
                        kommune=kommune,
                        article=article,
                        topic=values["topic"],
                        kind=values["kind"],
                        message=values["message"],
                        reporter=_author(request),
                        now=_now(request),
                    )
            except service.KnowledgeError as error:
                errors[error.field] = error.message
            else:
                return page(request, "knowledge/report_filed.html", {"report": report}, status_code=201)
        return await self._form(request, values, errors, status=422)
