"""HTTP handlers of the letters area: the API the agent console calls (templates, preview, send, status), the
compose page with its previews, the admins' letterhead sample, and the demo mailbox.

Every handler is parse → service → return; rules live in :mod:`hotline.letters.service`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import (
    NotFoundException,
    ServiceUnavailableException,
    ValidationException,
)
from litestar.params import Body, JSONBody, PathParameter, QueryParameter
from litestar.response import Template
from litestar.status_codes import HTTP_201_CREATED

from hotline.identity.guards import principal_of, signed_in
from hotline.letters import repository, service
from hotline.letters.mailbox import Mailbox
from hotline.letters.rendering import Renderer
from hotline.letters.schemas import LetterDraft, LetterOut, PreviewOut, ReplyTemplateOut
from hotline.letters.worker import LettersRuntime
from hotline.web.templating import page

CodeParameter = Annotated[str, PathParameter(description="4-digit kommune code, e.g. 0751", max_length=16)]
LetterIdParameter = Annotated[str, PathParameter(description="The letter's id", max_length=64)]
MailNameParameter = Annotated[str, PathParameter(description="A stored e-mail's file name", max_length=80)]
FormData = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
_CODE = re.compile(r"^[0-9]{4}$")
AGENT: dict[str, Any] = {"access": "agent"}
# The citizen's e-mail shown on its own, inert: no scripts, no fetching, no forms; inline styles only.
MAIL_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data: cid:; sandbox; frame-ancestors 'self'"
PDF_HEADERS = {"Content-Security-Policy": "default-src 'none'; sandbox", "X-Content-Type-Options": "nosniff"}


def _runtime(request: Request[Any, Any, Any]) -> LettersRuntime:
    runtime: LettersRuntime | None = request.app.state.services.letters
    if runtime is None:
        raise ServiceUnavailableException(detail="Letters are not available in this process")
    return runtime


def _renderer(request: Request[Any, Any, Any]) -> Renderer:
    return _runtime(request).renderer


def _kommune(code: str) -> str:
    if not _CODE.match(code):
        raise NotFoundException(detail=f"No kommune with code {code!r}: use the 4-digit kommune code, e.g. '0751'")
    return code


def _now(request: Request[Any, Any, Any]) -> Any:
    return request.app.state.services.clock()


async def _author(request: Request[Any, Any, Any]) -> str:
    principal = await principal_of(request)
    actor = getattr(principal, "actor", None)
    return str(getattr(actor, "id", "") or getattr(actor, "name", "") or "api")


def _refused(error: service.LetterError) -> Exception:
    if error.problem == "not_found":
        return NotFoundException(detail=error.message)
    return ValidationException(detail=error.message, extra=[{"key": error.field, "message": error.message}])


def _draft_from_form(data: dict[str, Any]) -> LetterDraft:
    def value(name: str) -> str:
        raw = data.get(name, "")
        return str(raw[0] if isinstance(raw, list) else raw)

    try:
        return LetterDraft(
            recipient=value("recipient").strip()[:254],
            template=value("template")[:64],
            subject=value("subject")[:200],
            text=value("text")[:20_000],
            topic=value("topic")[:64],
            language="en" if value("language") == "en" else "da",
            call_id=value("call")[:64],
        )
    except (TypeError, ValueError) as exc:
        raise ValidationException(detail=str(exc)) from None


async def _send(request: Request[Any, Any, Any], code: str, draft: LetterDraft) -> LetterOut:
    runtime = _runtime(request)
    prepared = await service.prepare(
        code,
        draft,
        runtime.renderer,
        now=_now(request),
        created_by=await _author(request),
        survey_base_url=request.app.state.services.settings.base_url,
    )
    async with repository.transaction():
        letter = await service.enqueue(prepared)
    runtime.notify()
    return letter


class LettersApiController(Controller):
    path = "/api/letters"
    tags = ("letters",)

    @get(
        "/{code:str}/templates",
        operation_id="listReplyTemplates",
        opt=AGENT,
        summary="Reply templates filled in with the kommune's facts",
    )
    async def templates(
        self, code: CodeParameter, language: Annotated[str, QueryParameter(max_length=2)] = "da"
    ) -> list[ReplyTemplateOut]:
        try:
            return await service.templates_for(_kommune(code), "en" if language == "en" else "da")
        except service.LetterError as error:
            raise _refused(error) from error

    @post(
        "/{code:str}/preview",
        operation_id="previewLetter",
        opt=AGENT,
        status_code=200,
        summary="The e-mail exactly as the citizen will receive it (HTML and text)",
    )
    async def preview(
        self, request: Request[Any, Any, Any], code: CodeParameter, data: JSONBody[LetterDraft]
    ) -> PreviewOut:
        try:
            rendered = await service.preview(_kommune(code), data, _renderer(request), now=_now(request))
        except service.LetterError as error:
            raise _refused(error) from error
        return PreviewOut(subject=data.subject, html=rendered.html, text=rendered.text)

    @post(
        "/{code:str}/preview.pdf",
        operation_id="previewLetterPdf",
        opt=AGENT,
        status_code=200,
        summary="The PDF letter exactly as the citizen will receive it",
    )
    async def preview_pdf(
        self, request: Request[Any, Any, Any], code: CodeParameter, data: JSONBody[LetterDraft]
    ) -> Response[bytes]:
        try:
            rendered = await service.preview(_kommune(code), data, _renderer(request), now=_now(request))
        except service.LetterError as error:
            raise _refused(error) from error
        return Response(rendered.pdf, media_type="application/pdf", headers=PDF_HEADERS)

    @post(
        "/{code:str}",
        operation_id="sendLetter",
        opt=AGENT,
        status_code=HTTP_201_CREATED,
        summary="Send a letter: checked, rendered and queued; delivered once by the outbox worker",
    )
    async def send(
        self, request: Request[Any, Any, Any], code: CodeParameter, data: JSONBody[LetterDraft]
    ) -> LetterOut:
        try:
            return await _send(request, _kommune(code), data)
        except service.LetterError as error:
            raise _refused(error) from error

    @get(
        "/{code:str}/{letter_id:str}",
        operation_id="getLetter",
        opt=AGENT,
        summary="A letter's delivery status: queued, sending, sent or failed (with the reason)",
    )
    async def status(self, code: CodeParameter, letter_id: LetterIdParameter) -> LetterOut:
        try:
            return await service.letter_status(_kommune(code), letter_id)
        except service.LetterError as error:
            raise _refused(error) from error


class LettersPagesController(Controller):
    path = "/letters"
    tags = ("letters",)
    include_in_schema = False

    @get("/{code:str}/compose", operation_id="composeLetterPage", opt=AGENT, summary="Write a letterhead reply")
    async def compose(
        self,
        request: Request[Any, Any, Any],
        code: CodeParameter,
        template: Annotated[
            str, QueryParameter(max_length=64, description="Reply template; default: the topic's")
        ] = "",
        topic: Annotated[str, QueryParameter(max_length=64, description="The call's topic, e.g. 'flytning'")] = "",
        call: Annotated[str, QueryParameter(max_length=64, description="The id of the call this letter answers")] = "",
    ) -> Template:
        """Opened from a call in the agent console (``?topic=…&call=…``): the topic's reply template, filled in
        with the kommune's rules, is preselected, and the letter is stored with the call it answers."""
        language = request.state.lang
        if call and not service.CALL_ID.fullmatch(call):
            raise ValidationException(
                detail="call: a call id is letters, digits, '-' and '_'",
                extra=[{"key": "call", "message": "letters, digits, '-' and '_' only"}],
            )
        try:
            start = await service.compose(
                _kommune(code), template or service.template_for_topic(topic), topic=topic, language=language
            )
            templates = await service.templates_for(code, language)
        except service.LetterError as error:
            raise _refused(error) from error
        draft = {
            "recipient": "",
            "template": start.key,
            "topic": start.topic,
            "subject": start.subject,
            "text": start.text,
            "call_id": call,
        }
        letters = await service.recent_letters(code)
        context = {"code": code, "templates": templates, "draft": draft, "error": None, "letters": letters}
        return page(request, "letters/compose.html", context)

    @post(
        "/{code:str}/preview/email",
        operation_id="previewLetterEmailPage",
        opt=AGENT,
        status_code=200,
        summary="The e-mail preview shown in the compose page's frame",
    )
    async def preview_email(
        self, request: Request[Any, Any, Any], code: CodeParameter, data: FormData
    ) -> Response[str]:
        try:
            rendered = await service.preview(
                _kommune(code), _draft_from_form(data), _renderer(request), now=_now(request)
            )
        except service.LetterError as error:
            return Response(
                f"<!doctype html><p>{_escape(error.message)}</p>",
                media_type="text/html",
                status_code=422,
                headers={"Content-Security-Policy": MAIL_CSP},
            )
        return Response(rendered.html, media_type="text/html", headers={"Content-Security-Policy": MAIL_CSP})

    @post(
        "/{code:str}/preview/pdf",
        operation_id="previewLetterPdfPage",
        opt=AGENT,
        status_code=200,
        summary="The PDF preview from the compose page",
    )
    async def preview_pdf(
        self, request: Request[Any, Any, Any], code: CodeParameter, data: FormData
    ) -> Response[bytes]:
        try:
            rendered = await service.preview(
                _kommune(code), _draft_from_form(data), _renderer(request), now=_now(request)
            )
        except service.LetterError as error:
            raise _refused(error) from error
        return Response(rendered.pdf, media_type="application/pdf", headers=PDF_HEADERS)

    @post(
        "/{code:str}/send",
        operation_id="sendLetterPage",
        opt=AGENT,
        status_code=200,
        summary="Send from the compose page",
    )
    async def send(self, request: Request[Any, Any, Any], code: CodeParameter, data: FormData) -> Template:
        draft = _draft_from_form(data)
        try:
            letter = await _send(request, _kommune(code), draft)
        except service.LetterError as error:
            templates = await service.templates_for(code, request.state.lang) if error.problem != "not_found" else []
            context = {"code": code, "templates": templates, "draft": draft, "error": error, "letters": []}
            return page(request, "letters/compose.html", context, status_code=422)
        return page(request, "letters/letter.html", {"code": code, "letter": letter})

    @get("/{code:str}/{letter_id:str}", operation_id="letterPage", opt=AGENT, summary="A letter's delivery status")
    async def letter(
        self, request: Request[Any, Any, Any], code: CodeParameter, letter_id: LetterIdParameter
    ) -> Template:
        try:
            letter = await service.letter_status(_kommune(code), letter_id)
        except service.LetterError as error:
            raise _refused(error) from error
        return page(request, "letters/letter.html", {"code": code, "letter": letter})


class LetterheadAdminController(Controller):
    path = "/admin/kommuner/{code:str}/letterhead"
    tags = ("letters",)

    @get(
        "/",
        operation_id="letterheadPage",
        opt={"access": "kommune_admin"},
        include_in_schema=False,
        summary="The kommune's letterhead: a sample letter to check",
    )
    async def letterhead_page(self, request: Request[Any, Any, Any], code: CodeParameter) -> Template:
        return page(request, "letters/letterhead.html", {"code": _kommune(code)})

    @get(
        "/sample.pdf",
        operation_id="letterheadSamplePdf",
        opt={"access": "kommune_admin"},
        summary="A sample letter under the kommune's letterhead (PDF)",
    )
    async def sample(self, request: Request[Any, Any, Any], code: CodeParameter) -> Response[bytes]:
        try:
            pdf = await service.sample_pdf(_kommune(code), _renderer(request), now=_now(request))
        except service.LetterError as error:
            raise _refused(error) from error
        return Response(pdf, media_type="application/pdf", headers=PDF_HEADERS)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class MailboxController(Controller):
    """Demo mode only: what the local SMTP sink received."""

    path = "/demo/mailbox"
    tags = ("demo",)
    include_in_schema = False

    def _mailbox(self, request: Request[Any, Any, Any]) -> Mailbox:
        return Mailbox(request.app.state.services.settings.data_path / "mailbox")

    @get("/", operation_id="demoMailbox", opt=signed_in(), summary="Every e-mail the demo's SMTP sink received")
    async def index(
        self, request: Request[Any, Any, Any], name: Annotated[str, QueryParameter(max_length=80)] = ""
    ) -> Template:
        mailbox = self._mailbox(request)
        mails = mailbox.all()
        selected = mailbox.get(name) if name else (mails[0] if mails else None)
        return page(request, "letters/mailbox.html", {"mails": mails, "selected": selected})

    @get("/{name:str}/html", operation_id="demoMailboxHtml", opt=signed_in(), summary="The HTML part, inert")
    async def html(self, request: Request[Any, Any, Any], name: MailNameParameter) -> Response[str]:
        mail = self._mailbox(request).get(name)
        if mail is None:
            raise NotFoundException(detail="No such e-mail in the demo mailbox")
        return Response(mail.html, media_type="text/html", headers={"Content-Security-Policy": MAIL_CSP})

    @get("/{name:str}/pdf", operation_id="demoMailboxPdf", opt=signed_in(), summary="The attached PDF")
    async def pdf(self, request: Request[Any, Any, Any], name: MailNameParameter) -> Response[bytes]:
        mail = self._mailbox(request).get(name)
        if mail is None or not mail.pdf:
            raise NotFoundException(detail="No such e-mail (or it has no PDF) in the demo mailbox")
        return Response(mail.pdf, media_type="application/pdf", headers=PDF_HEADERS)
