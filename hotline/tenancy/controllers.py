"""HTTP handlers of the tenancy area: the tenant directory and tenant pages, and the tenants API."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import PathParameter, QueryParameter
from litestar.response import Redirect, Template

from hotline.identity.guards import public
from hotline.tenancy import service
from hotline.tenancy.schemas import TenantDetail, TenantSummary
from hotline.web.templating import page

CodeParameter = Annotated[str, PathParameter(description="4-digit kommune code, e.g. 0751", max_length=16)]


def _not_found(code: str) -> NotFoundException:
    return NotFoundException(detail=f"No kommune with code {code!r}: use the 4-digit kommune code, e.g. '0751'")


async def _tenant(code: str) -> service.Tenant:
    tenant = await service.get_tenant(code) if code.isdigit() and len(code) == 4 else None
    if tenant is None:
        raise _not_found(code)
    return tenant


@get("/", include_in_schema=False, opt=public())
async def root_redirect() -> Redirect:
    return Redirect(path="/tenants")


class TenantApiController(Controller):
    path = "/api/tenants"
    tags = ("tenants",)

    @get(
        "/",
        operation_id="listTenants",
        summary="All kommuner with membership and whether they are open now",
        opt=public(),
    )
    async def list_tenants(self, request: Request[Any, Any, Any]) -> list[TenantSummary]:
        now = request.app.state.services.clock()
        return [service.summary(tenant, now) for tenant in await service.load_tenants()]

    @get(
        "/{code:str}",
        operation_id="getTenant",
        summary="One kommune: numbers, hours, closures, departments",
        opt=public(),
    )
    async def get_tenant(self, request: Request[Any, Any, Any], code: CodeParameter) -> TenantDetail:
        services = request.app.state.services
        return service.detail(await _tenant(code), services.clock(), base_url=services.settings.base_url)


class TenantPagesController(Controller):
    path = "/tenants"
    include_in_schema = False

    @get("/", name="tenant-directory", opt=public())
    async def directory(
        self,
        request: Request[Any, Any, Any],
        q: Annotated[str, QueryParameter(max_length=100)] = "",
        members_only: Annotated[bool, QueryParameter(name="member")] = False,
    ) -> Template:
        now = request.app.state.services.clock()
        everyone = [service.summary(tenant, now) for tenant in await service.load_tenants()]
        rows = service.filter_directory(everyone, q, members_only=members_only)
        context = {
            "now": now,
            "rows": rows,
            "q": q,
            "members_only": members_only,
            "members": sum(row.member for row in everyone),
            "open": sum(row.open_now for row in everyone),
            "total": len(everyone),
        }
        template = "tenancy/_directory_rows.html" if request.headers.get("hx-request") else "tenancy/directory.html"
        return page(request, template, context)

    @get("/{code:str}", name="tenant-page", opt=public())
    async def tenant_page(self, request: Request[Any, Any, Any], code: CodeParameter) -> Template:
        services = request.app.state.services
        now = services.clock()
        tenant = await _tenant(code)
        return page(
            request,
            "tenancy/tenant.html",
            {"now": now, "tenant": service.detail(tenant, now), "definition": tenant.definition},
        )

    @get("/{code:str}/logo", name="tenant-logo", opt=public())
    async def logo(self, code: CodeParameter) -> Response[bytes]:
        found = await service.logo(code)
        if found is None:
            raise _not_found(code)
        content, media_type = found
        # The SVG was checked on apply; the CSP keeps it inert even if opened directly.
        headers = {
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
            "Cache-Control": "public, max-age=300",
        }
        return Response(content, media_type=media_type, headers=headers)
