"""What every template can use: ``t()`` for UI text in the request's language, time formatting, and the
language chosen for the request."""

from __future__ import annotations

import datetime as dt
from typing import Any

import phonenumbers
from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from litestar import Request
from litestar.datastructures import Cookie
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template

from hotline.web.i18n import COOKIE, format_when, pick_language, translate


def _language(context: Context) -> str:
    request = context.get("request")
    return getattr(request.state, "lang", "da") if request is not None else "da"


@pass_context
def _t(context: Context, key: str, **values: object) -> str:
    return translate(_language(context), key, **values)


@pass_context
def _when(context: Context, moment: dt.datetime | None) -> str:
    if moment is None:
        return translate(_language(context), "status.never")
    now = context.get("now") or dt.datetime.now(dt.UTC)
    return format_when(_language(context), moment, now)


def _hhmm(moment: dt.datetime | None) -> str:
    return moment.strftime("%H:%M") if moment else ""


def _phone(number: str) -> str:
    """E.164 as people read it: +4570751000 -> +45 70 75 10 00."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def configure(engine: JinjaTemplateEngine) -> None:
    environment: Environment = engine.engine
    environment.globals["t"] = _t
    environment.filters["when"] = _when
    environment.filters["hhmm"] = _hhmm
    environment.filters["phone"] = _phone
    environment.autoescape = True
    environment.trim_blocks = True
    environment.lstrip_blocks = True


async def choose_language(request: Request[Any, Any, Any]) -> None:
    request.state.lang = pick_language(request.query_params.get("lang"), request.cookies.get(COOKIE))


def page(request: Request[Any, Any, Any], template: str, context: dict[str, Any], status_code: int = 200) -> Template:
    """A page in the request's language; a ``?lang=`` choice is remembered in a cookie for the next pages."""
    cookies = []
    chosen = request.query_params.get("lang")
    if chosen and chosen == request.state.lang:
        cookies.append(Cookie(key=COOKIE, value=chosen, max_age=365 * 24 * 3600, httponly=True, samesite="lax"))
    return Template(template_name=template, context=context, status_code=status_code, cookies=cookies)
