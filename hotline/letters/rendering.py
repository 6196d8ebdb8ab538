"""Turning a letter into what the citizen receives: the HTML e-mail, its plain-text alternative and the A4 PDF.

Owns the one Jinja environment for ``letterhead_templates/`` (sandboxed, autoescaped, StrictUndefined: tenant data
and the agent's text are only ever *values*, never template source), the renderer's own checks of letterhead data
and logos (the tenant files are checked when applied, but data may arrive by other paths), and WeasyPrint with a
URL fetcher that serves only the project's fonts and the letter's own kommune logo.

PDFs are rendered off the event loop with a time limit: in a thread (tests, the demo) or in warmed worker processes
(production, :mod:`hotline.letters.render_pool`). Fonts and the stylesheet are parsed once per thread or process
(WeasyPrint's ``FontConfiguration`` is not shared between threads) and reused for every letter;
an identical letter (same HTML, same logo) is rendered once and taken from a small cache after that.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import datetime as dt
import hashlib
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

if TYPE_CHECKING:
    from hotline.letters.render_pool import RenderPool

TEMPLATES: Final = Path(__file__).resolve().parents[2] / "letterhead_templates"
FONTS: Final = TEMPLATES / "fonts"
ASSET_SCHEME: Final = "hotline-asset:"
LOGO_URL: Final = f"{ASSET_SCHEME}logo"
MAX_LOGO_BYTES: Final = 512 * 1024
MAX_TEXT_CHARS: Final = 20_000
DEFAULT_TIMEOUT: Final = 30.0

_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_WEB = re.compile(r"^https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[^\s\"'<>\\]*)?$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# Web addresses in the agent's text become links; only http(s), and trailing punctuation stays text.
_URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")
# What an SVG logo may not contain: scripts, event handlers, entities, embedded documents, or references to
# anything outside itself (only ``#fragment`` references are allowed).
_SVG_FORBIDDEN = re.compile(
    r"<\s*script|<!\s*(?:doctype|entity)|<\s*foreignobject|\son[a-z]+\s*=|@import|javascript:"
    r"|(?:xlink:)?href\s*=\s*[\"']\s*[^#\s\"']|url\(\s*[\"']?\s*[^#\s\"')]",
    re.IGNORECASE,
)


class LetterheadError(ValueError):
    """Letterhead data or a logo that the renderer refuses to put on a letter."""


class AssetRefused(Exception):
    """WeasyPrint asked for something that is neither a shipped font nor the kommune's own logo."""


@dataclass(frozen=True)
class Logo:
    content: bytes
    media_type: str


@dataclass(frozen=True)
class Segment:
    """A run of the agent's text: plain text, or a web address shown as a link."""

    text: str
    url: str = ""


Paragraph = tuple[tuple[Segment, ...], ...]


@dataclass(frozen=True)
class LetterheadData:
    """The letterhead values of one kommune, as plain data (checked by :func:`check_letterhead`)."""

    address: tuple[str, ...]
    phone: str
    web: str
    primary_colour: str
    accent_colour: str
    signature: str
    legal_footer: str


@dataclass(frozen=True)
class LetterContent:
    """Everything one letter is made of. All of it is data."""

    language: str
    kommune: str
    letterhead: LetterheadData
    subject: str
    body: str
    date: dt.date
    logo: Logo | None = None
    survey_url: str = ""
    """A one-use satisfaction survey link (e-mail only; never in the PDF, which may be passed on)."""


@dataclass(frozen=True)
class RenderedLetter:
    html: str
    text: str
    pdf: bytes


# -- checks ---------------------------------------------------------------------------------------------


def _single_line(name: str, value: str, limit: int = 300) -> None:
    if "\r" in value or "\n" in value or _CONTROL.search(value):
        raise LetterheadError(f"{name}: line breaks and control characters are not allowed")
    if len(value) > limit:
        raise LetterheadError(f"{name}: longer than {limit} characters")


def check_letterhead(data: LetterheadData) -> None:
    """Refuse letterhead data that could change the layout or reach outside the letter. Texts are escaped
    anyway; colours and the web address end up in style and href attributes, so they must match strictly."""
    for name in ("primary_colour", "accent_colour"):
        if not _COLOUR.match(getattr(data, name)):
            raise LetterheadError(f"{name}: must be a colour written #rrggbb")
    if not _WEB.match(data.web):
        raise LetterheadError("web: must be an http(s):// address")
    if not 1 <= len(data.address) <= 8:
        raise LetterheadError("address: 1 to 8 lines")
    for index, line in enumerate(data.address):
        _single_line(f"address[{index}]", line)
    _single_line("phone", data.phone, 60)
    if len(data.signature) > 1000 or _CONTROL.search(data.signature.replace("\n", "").replace("\r", "")):
        raise LetterheadError("signature: at most 1000 characters, no control characters")
    if len(data.legal_footer) > 1000 or _CONTROL.search(data.legal_footer):
        raise LetterheadError("legal_footer: at most 1000 characters, no control characters")


def check_logo(logo: Logo) -> None:
    """An SVG or PNG of at most 512 KiB that references nothing outside itself."""
    if len(logo.content) > MAX_LOGO_BYTES:
        raise LetterheadError(f"logo: {len(logo.content)} bytes; at most {MAX_LOGO_BYTES}")
    if logo.media_type == "image/png":
        if not logo.content.startswith(b"\x89PNG\r\n\x1a\n"):
            raise LetterheadError("logo: not a PNG image")
        return
    if logo.media_type != "image/svg+xml":
        raise LetterheadError(f"logo: {logo.media_type!r} is not SVG or PNG")
    try:
        text = logo.content.decode("utf-8")
    except UnicodeDecodeError:
        raise LetterheadError("logo: an SVG must be UTF-8 text") from None
    if not re.search(r"<svg[\s>]", text) or _SVG_FORBIDDEN.search(text):
        raise LetterheadError("logo: not a self-contained SVG (scripts and outside references are refused)")


# -- the agent's text -----------------------------------------------------------------------------------


def _segments(line: str) -> tuple[Segment, ...]:
    parts: list[Segment] = []
    position = 0
    for match in _URL.finditer(line):
        if match.start() > position:
            parts.append(Segment(line[position : match.start()]))
        parts.append(Segment(match.group(0), url=match.group(0)))
        position = match.end()
    if position < len(line):
        parts.append(Segment(line[position:]))
    return tuple(parts)


def paragraphs(text: str) -> tuple[Paragraph, ...]:
    """Plain text as paragraphs (split at blank lines) of lines of segments; web addresses become links."""
    cleaned = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    blocks = [block.strip("\n") for block in re.split(r"\n(?:[ \t]*\n)+", cleaned.strip())]
    return tuple(tuple(_segments(line.rstrip()) for line in block.split("\n")) for block in blocks if block.strip())


# -- words that belong to the layout, not to a kommune ----------------------------------------------------

_LAYOUT_TEXT: Final[dict[str, dict[str, str]]] = {
    "da": {
        "phone": "Telefon",
        "page": "Side",
        "of": "af",
        "logo_alt": "Logo",
        "attachment_note": "Brevet er vedhæftet som PDF.",
        "survey": "Hvordan var din kontakt med os? Svar på ét spørgsmål (anonymt):",
    },
    "en": {
        "phone": "Phone",
        "page": "Page",
        "of": "of",
        "logo_alt": "Logo",
        "attachment_note": "The letter is attached as a PDF.",
        "survey": "How was your contact with us? Answer one question (anonymous):",
    },
}
_MONTHS: Final[dict[str, tuple[str, ...]]] = {
    "da": (
        "januar",
        "februar",
        "marts",
        "april",
        "maj",
        "juni",
        "juli",
        "august",
        "september",
        "oktober",
        "november",
        "december",
    ),
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
}


def date_text(language: str, day: dt.date) -> str:
    month = _MONTHS.get(language, _MONTHS["da"])[day.month - 1]
    return f"{day.day}. {month} {day.year}" if language != "en" else f"{day.day} {month} {day.year}"


def _on(colour: str) -> str:
    """Black or white, whichever reads better on ``colour`` (WCAG relative luminance)."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else float(((c + 0.055) / 1.055) ** 2.4)

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    luminance = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    return "#000000" if (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) else "#ffffff"


# -- templates ------------------------------------------------------------------------------------------


def _environment() -> SandboxedEnvironment:
    # Autoescape everything but the plain-text alternative; undefined names are errors, never empty strings.
    return SandboxedEnvironment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=lambda name: name is None or not name.endswith(".txt.j2"),
        undefined=StrictUndefined,
        auto_reload=False,
        keep_trailing_newline=True,
    )


_ENV: Final = _environment()


def _context(content: LetterContent, *, logo_url: str = "", logo_cid: str = "") -> dict[str, Any]:
    letterhead = content.letterhead
    language = content.language if content.language in _LAYOUT_TEXT else "da"
    return {
        "language": language,
        "title": f"{content.subject} – {content.kommune}",
        "kommune": content.kommune,
        "subject": content.subject,
        "date_text": date_text(language, content.date),
        "letterhead": {
            "address": list(letterhead.address),
            "phone": letterhead.phone,
            "web": letterhead.web,
            "legal_footer": letterhead.legal_footer,
        },
        "colours": {
            "primary": letterhead.primary_colour,
            "accent": letterhead.accent_colour,
            "on_primary": _on(letterhead.primary_colour),
        },
        "signature": [line for line in letterhead.signature.strip().splitlines() if line.strip()],
        "paragraphs": paragraphs(content.body),
        "text": _LAYOUT_TEXT[language],
        "logo_url": logo_url,
        "logo_cid": logo_cid,
        "survey_url": content.survey_url,
    }


def _checked(content: LetterContent) -> None:
    check_letterhead(content.letterhead)
    _single_line("subject", content.subject, 200)
    if len(content.body) > MAX_TEXT_CHARS:
        raise LetterheadError(f"text: longer than {MAX_TEXT_CHARS} characters")
    if content.logo is not None:
        check_logo(content.logo)


def letter_html(content: LetterContent) -> str:
    _checked(content)
    return _ENV.get_template("letter.html.j2").render(_context(content, logo_url=LOGO_URL if content.logo else ""))


def email_html(content: LetterContent, *, logo_cid: str = "") -> str:
    _checked(content)
    return _ENV.get_template("email.html.j2").render(_context(content, logo_cid=logo_cid))


def email_text(content: LetterContent) -> str:
    _checked(content)
    return _ENV.get_template("email.txt.j2").render(_context(content))


# -- PDF ------------------------------------------------------------------------------------------------


def _asset_fetcher(logo: Logo | None) -> Any:
    """A WeasyPrint URL fetcher that serves the shipped fonts and this letter's logo, and refuses everything
    else (``file:``, ``http(s):``, ``data:`` …) with an error that stops the rendering."""
    from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

    fonts = {path.name: path for path in FONTS.glob("*.ttf")}

    class AssetFetcher(URLFetcher):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(allowed_protocols=(), allow_redirects=False, fail_on_errors=True)

        def fetch(self, url: str, headers: Any = None) -> Any:
            if url == LOGO_URL and logo is not None:
                return URLFetcherResponse(url, logo.content, {"Content-Type": logo.media_type})
            if url.startswith(f"{ASSET_SCHEME}fonts/"):
                name = url.removeprefix(f"{ASSET_SCHEME}fonts/")
                if name in fonts:
                    return URLFetcherResponse(url, fonts[name].read_bytes(), {"Content-Type": "font/ttf"})
            raise FatalURLFetchingError(f"refused to fetch {url[:80]!r}: letters use only their own assets")

    return AssetFetcher()


@dataclass
class _FontsAndStyles:
    font_config: Any
    stylesheet: Any


_LOCAL = threading.local()
# fontconfig, under WeasyPrint's FontConfiguration, is not safe to set up from two threads at once.
_SETUP_LOCK = threading.Lock()


def _fonts_and_styles() -> _FontsAndStyles:
    """This thread's (or process's) parsed fonts and stylesheet, made on first use and then reused.
    WeasyPrint's ``FontConfiguration`` is not shared between threads."""
    cached: _FontsAndStyles | None = getattr(_LOCAL, "cached", None)
    if cached is not None:
        return cached
    with _SETUP_LOCK:
        from weasyprint import CSS
        from weasyprint.text.fonts import FontConfiguration

        font_config = FontConfiguration()
        stylesheet = CSS(
            filename=str(TEMPLATES / "letter.css"), font_config=font_config, url_fetcher=_asset_fetcher(None)
        )
        cached = _FontsAndStyles(font_config=font_config, stylesheet=stylesheet)
        _LOCAL.cached = cached
        if threading.current_thread() is threading.main_thread():
            # Let go of the fonts while WeasyPrint can still remove their temporary folder: left to interpreter
            # teardown, its clean-up runs after the modules it needs are gone and prints a traceback.
            atexit.register(_forget_fonts)
    return cached


def _forget_fonts() -> None:
    _LOCAL.__dict__.pop("cached", None)


def render_pdf(html: str, logo: Logo | None) -> bytes:
    """One PDF/UA-1 letter, in the calling thread or process (module-level so a process pool can run it)."""
    from weasyprint import HTML

    cached = _fonts_and_styles()
    document = HTML(string=html, base_url=ASSET_SCHEME, url_fetcher=_asset_fetcher(logo))
    pdf: bytes = document.write_pdf(
        stylesheets=[cached.stylesheet], font_config=cached.font_config, pdf_variant="pdf/ua-1"
    )
    return pdf


class PdfRenderer:
    """Renders letter HTML to PDF/UA-1 off the event loop with a time limit, reusing fonts and the stylesheet.

    ``processes=0`` (the default) renders in a thread pool of ``workers`` threads (one by default: WeasyPrint holds
    the GIL, so more threads gain little, and fontconfig is not made for concurrent use). ``processes=N`` renders
    in N worker processes (started with ``spawn``, never ``fork``, because the app has threads and an event loop):
    a couple of seconds to start, then N cores; see :mod:`hotline.letters.render_pool` for the time limit and the
    replacement of hung or crashed workers)."""

    def __init__(
        self, *, workers: int = 1, processes: int = 0, timeout: float = DEFAULT_TIMEOUT, cache_size: int = 64
    ) -> None:
        from hotline.letters.render_pool import RenderPool

        self.timeout = timeout
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._pool: RenderPool | None = None
        if processes:
            self._pool = RenderPool(processes, timeout=timeout)
        else:
            self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="letter-pdf")
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self.renders = 0  # PDFs actually rendered (not taken from the cache); read by tests and the benchmark

    @staticmethod
    def _key(html: str, logo: Logo | None) -> str:
        return hashlib.sha256(html.encode("utf-8") + b"\0" + (logo.content if logo else b"")).hexdigest()

    def _cached(self, key: str) -> bytes | None:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        return None

    def _remember(self, key: str, pdf: bytes) -> None:
        with self._lock:
            self.renders += 1
            self._cache[key] = pdf
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def render_sync(self, html: str, logo: Logo | None) -> bytes:
        """Render in the calling thread (the benchmark, tests)."""
        key = self._key(html, logo)
        cached = self._cached(key)
        if cached is not None:
            return cached
        pdf = render_pdf(html, logo)
        self._remember(key, pdf)
        return pdf

    async def render(self, html: str, logo: Logo | None) -> bytes:
        key = self._key(html, logo)
        cached = self._cached(key)
        if cached is not None:
            return cached
        if self._pool is not None:
            pdf = await self._pool.render(html, logo)  # the pool enforces the time limit (and kills overruns)
        elif self._executor is not None:
            future = self._executor.submit(render_pdf, html, logo)
            # A render that overruns is abandoned (a thread cannot be killed; inputs are bounded so it ends anyway).
            pdf = await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
        else:
            raise RuntimeError("the PDF renderer has neither threads nor processes")
        self._remember(key, pdf)
        return pdf

    @property
    def pool(self) -> RenderPool | None:
        """The worker processes (``None`` when rendering in threads)."""
        return self._pool

    def close(self, *, wait: bool = False) -> None:
        if self._pool is not None:
            self._pool.close(wait=wait)
        if self._executor is not None:
            self._executor.shutdown(wait=wait, cancel_futures=True)


def bare_render(html: str, logo: Logo | None = None) -> bytes:
    """WeasyPrint as it comes (new fonts, stylesheet parsed per call): the benchmark's baseline."""
    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    font_config = FontConfiguration()
    stylesheet = CSS(filename=str(TEMPLATES / "letter.css"), font_config=font_config, url_fetcher=_asset_fetcher(None))
    document = HTML(string=html, base_url=ASSET_SCHEME, url_fetcher=_asset_fetcher(logo))
    pdf: bytes = document.write_pdf(stylesheets=[stylesheet], font_config=font_config, pdf_variant="pdf/ua-1")
    return pdf


@dataclass
class Renderer:
    """The three renderings of a letter together."""

    pdf: PdfRenderer = field(default_factory=PdfRenderer)

    async def render(self, content: LetterContent) -> RenderedLetter:
        html = letter_html(content)
        pdf = await self.pdf.render(html, content.logo)
        return RenderedLetter(html=email_html(content), text=email_text(content), pdf=pdf)

    def close(self) -> None:
        self.pdf.close()
