"""Reading and checking the kommune definitions under ``tenants/`` (tenants as code).

A tenants folder holds ``federation.toml`` (the federation and its topic taxonomy) and one folder per kommune,
``<code>-<slug>/kommune.toml`` plus assets. Every problem is reported as ``file: field: problem`` and all
problems are collected before anything is applied, so an operator fixes a folder in one pass.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
import phonenumbers

from hotline.tenancy.opening_hours import WEEKDAYS, parse_periods
from hotline.tenancy.schemas import FederationFile, IdentityConfig, KommuneFile, WeeklyHours

T = TypeVar("T")

FEDERATION_FILE = "federation.toml"
KOMMUNE_FILE = "kommune.toml"
MAX_LOGO_BYTES = 512 * 1024
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_COUNTRY_CALLING_CODE = {"DK": 45, "SE": 46}
# An SVG logo is shown in browsers and embedded in PDFs: it may not script, link out or embed other documents.
_SVG_FORBIDDEN = re.compile(
    r"<\s*script|<\s*foreignObject|\bon[a-z]+\s*=|javascript:|(?:xlink:)?href\s*=\s*[\"'](?!#)|url\(\s*[\"']?(?!#)"
    r"|<!ENTITY|<\s*iframe|<\s*image",
    re.IGNORECASE,
)


# msgspec names a failed pattern by its regex; an operator needs to read what was expected.
_PATTERN_MEANINGS = {
    r"^#[0-9a-fA-F]{6}$": "expected a colour written as #rrggbb, e.g. '#1f4e79'",
    r"^[0-9]{4}$": "expected a 4-digit kommune code, e.g. '0751'",
    r"^[a-z][a-z0-9-]{0,62}$": "expected a lower-case slug of letters, digits and '-'",
    r"^[a-z0-9][a-z0-9-]{0,62}$": "expected a lower-case slug of letters, digits and '-'",
}


@dataclass(frozen=True)
class TenantProblem:
    file: Path
    field: str
    problem: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else str(self.file)
        return f"{where}: {self.problem}"


class TenantFilesError(Exception):
    """One or more tenant files are broken; ``problems`` lists each with its file and field."""

    def __init__(self, problems: list[TenantProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Logo:
    content: bytes
    media_type: str


@dataclass(frozen=True)
class TenantDefinition:
    """A checked kommune definition with its assets loaded."""

    source: Path
    kommune: KommuneFile
    logo: Logo | None


@dataclass
class TenantSet:
    """Everything found in a tenants folder, checked."""

    federation: FederationFile | None
    tenants: list[TenantDefinition] = field(default_factory=list)

    @property
    def topic_codes(self) -> set[str]:
        return {topic.code for topic in self.federation.topics} if self.federation else set()


@cache
def reference_kommuner() -> dict[str, dict[str, str]]:
    """The 98 Danish kommuner (code, name, region) shipped with the project."""
    path = Path(__file__).parent / "data" / "kommuner_dk.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["code"]: row for row in csv.DictReader(handle)}


def _field_from_message(message: str) -> tuple[str, str]:
    """Split msgspec's ``"<problem> - at `$.a.b[0]`"`` into (``a.b[0]``, problem)."""
    if " - at `$" in message:
        problem, where = message.rsplit(" - at `$", 1)
        return where.rstrip("`").lstrip("."), problem
    return "", message


def _decode(path: Path, kind: type[T], problems: list[TenantProblem]) -> T | None:
    try:
        return msgspec.toml.decode(path.read_bytes(), type=kind)
    except FileNotFoundError:
        problems.append(TenantProblem(path, "", "file is missing"))
    except msgspec.ValidationError as exc:
        message = str(exc)
        where, problem = _field_from_message(message)
        for pattern, meaning in _PATTERN_MEANINGS.items():
            problem = problem.replace(f"Expected `str` matching regex '{pattern}'", meaning)
        unknown = re.match(r"Object contains unknown field `([^`]+)`", problem)
        if unknown:
            where = f"{where}.{unknown.group(1)}" if where else unknown.group(1)
            problem = "unknown key"
        problems.append(TenantProblem(path, where, problem))
    except msgspec.DecodeError as exc:
        problems.append(TenantProblem(path, "", f"not valid TOML: {exc}"))
    return None


def load_federation(path: Path, problems: list[TenantProblem]) -> FederationFile | None:
    federation = _decode(path, FederationFile, problems)
    if federation is not None:
        seen: set[str] = set()
        for index, topic in enumerate(federation.topics):
            if topic.code in seen:
                problems.append(TenantProblem(path, f"topics[{index}].code", f"duplicate topic {topic.code!r}"))
            seen.add(topic.code)
        if federation.coordinator_email:  # optional; when set, escalation digests are sent to it and from it
            _check_email(path, "coordinator_email", federation.coordinator_email, problems)
    return federation


def find_federation_file(directory: Path) -> Path | None:
    """``federation.toml`` in the folder itself, or beside it when the folder is one kommune's."""
    for candidate in (directory / FEDERATION_FILE, directory.parent / FEDERATION_FILE):
        if candidate.is_file():
            return candidate
    return None


def kommune_files(directory: Path) -> list[Path]:
    if (directory / KOMMUNE_FILE).is_file():
        return [directory / KOMMUNE_FILE]
    return sorted(directory.glob(f"*/{KOMMUNE_FILE}"))


def load_tenant_set(directory: Path, *, known_topics: set[str] | None = None) -> TenantSet:
    """Read and check every kommune definition in ``directory`` (a tenants folder or one kommune's folder).

    ``known_topics`` is the taxonomy already in the database, used when the folder has no ``federation.toml``.
    Raises :class:`TenantFilesError` listing every problem found.
    """
    problems: list[TenantProblem] = []
    if not directory.is_dir():
        raise TenantFilesError([TenantProblem(directory, "", "is not a folder")])
    federation_path = find_federation_file(directory)
    federation = load_federation(federation_path, problems) if federation_path else None
    topics = {t.code for t in federation.topics} if federation else set(known_topics or ())
    files = kommune_files(directory)
    if not files:
        problems.append(
            TenantProblem(directory, "", f"holds no {KOMMUNE_FILE} (expected <code>-<name>/{KOMMUNE_FILE})")
        )

    tenants: list[TenantDefinition] = []
    owners: dict[str, Path] = {}
    codes: dict[str, Path] = {}
    for path in files:
        kommune = _decode(path, KommuneFile, problems)
        if kommune is None:
            continue
        before = len(problems)
        _check_kommune(path, kommune, topics, problems)
        if kommune.code in codes:
            problems.append(TenantProblem(path, "code", f"{kommune.code} is also defined in {codes[kommune.code]}"))
        codes[kommune.code] = path
        for index, number in enumerate(kommune.numbers):
            owner = owners.get(number.number)
            if owner is not None and owner != path:
                problems.append(
                    TenantProblem(path, f"numbers[{index}].number", f"{number.number} is already owned by {owner}")
                )
            owners[number.number] = path
        logo = _load_logo(path, kommune, problems)
        if len(problems) == before:
            tenants.append(TenantDefinition(path, kommune, logo))
    if problems:
        raise TenantFilesError(problems)
    return TenantSet(federation=federation, tenants=tenants)


def _check_phone(path: Path, where: str, text: str, country: str, problems: list[TenantProblem]) -> None:
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        problems.append(TenantProblem(path, where, f"{text!r} is not a phone number in E.164 form ({exc})"))
        return
    if not phonenumbers.is_valid_number(parsed):
        problems.append(TenantProblem(path, where, f"{text!r} is not a valid phone number"))
    elif phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) != text:
        canonical = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        problems.append(TenantProblem(path, where, f"{text!r} must be written in E.164 form: {canonical!r}"))
    elif parsed.country_code != _COUNTRY_CALLING_CODE[country]:
        problems.append(TenantProblem(path, where, f"{text!r} is not a number in {country}"))


def _check_email(path: Path, where: str, text: str, problems: list[TenantProblem]) -> None:
    if not _EMAIL.match(text):
        problems.append(TenantProblem(path, where, f"{text!r} is not an e-mail address"))


def _check_week(path: Path, where: str, hours: WeeklyHours, problems: list[TenantProblem]) -> None:
    for day in WEEKDAYS:
        try:
            parse_periods(getattr(hours, day))
        except ValueError as exc:
            problems.append(TenantProblem(path, f"{where}.{day}", str(exc)))


def _check_single_line(path: Path, where: str, text: str, problems: list[TenantProblem]) -> None:
    if any(ch in text for ch in "\r\n\x00"):
        problems.append(TenantProblem(path, where, "must be a single line (no CR, LF or NUL)"))


def _check_kommune(path: Path, kommune: KommuneFile, topics: set[str], problems: list[TenantProblem]) -> None:
    folder = path.parent.name
    if folder != f"{kommune.code}-{kommune.slug}":
        problems.append(
            TenantProblem(path, "code", f"folder is {folder!r} but code and slug say '{kommune.code}-{kommune.slug}'")
        )
    if kommune.country == "DK":
        reference = reference_kommuner().get(kommune.code)
        if reference is None:
            problems.append(TenantProblem(path, "code", f"{kommune.code} is not a Danish kommune code"))
        elif reference["name"] != kommune.name:
            problems.append(
                TenantProblem(path, "name", f"{kommune.code} is {reference['name']!r}, not {kommune.name!r}")
            )
        elif reference["region_code"] != kommune.region_code:
            problems.append(
                TenantProblem(
                    path,
                    "region_code",
                    f"{kommune.code} lies in region {reference['region_code']}, not {kommune.region_code}",
                )
            )
    try:
        ZoneInfo(kommune.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(TenantProblem(path, "timezone", f"{kommune.timezone!r} is not a known time zone"))
    if not kommune.languages:
        problems.append(TenantProblem(path, "languages", "name at least one language"))
    _check_single_line(path, "name", kommune.name, problems)

    seen_numbers: set[str] = set()
    for index, number in enumerate(kommune.numbers):
        _check_phone(path, f"numbers[{index}].number", number.number, kommune.country, problems)
        if number.number in seen_numbers:
            problems.append(TenantProblem(path, f"numbers[{index}].number", f"{number.number} is listed twice"))
        seen_numbers.add(number.number)

    _check_week(path, "opening_hours", kommune.opening_hours, problems)
    for index, closure in enumerate(kommune.closures.dates):
        where = f"closures.dates[{index}]"
        try:
            parse_periods([f"{closure.from_ or '00:00'}-{closure.to or '24:00'}"])
        except ValueError as exc:
            problems.append(TenantProblem(path, where, f"bad from/to: {exc}"))
        if closure.date < dt.date(2000, 1, 1):
            problems.append(TenantProblem(path, f"{where}.date", f"{closure.date} is too far in the past"))

    keys: set[str] = set()
    # A hand-off on a topic goes to the one department that owns it: two owners would make routing a guess.
    topic_owner: dict[str, str] = {}
    for index, department in enumerate(kommune.departments):
        where = f"departments[{index}]"
        if department.key in keys:
            problems.append(TenantProblem(path, f"{where}.key", f"duplicate department {department.key!r}"))
        keys.add(department.key)
        for topic_index, topic in enumerate(department.topics):
            if topic not in topics:
                problems.append(
                    TenantProblem(
                        path, f"{where}.topics[{topic_index}]", f"unknown topic {topic!r} (see {FEDERATION_FILE})"
                    )
                )
            elif topic in topic_owner:
                problems.append(
                    TenantProblem(
                        path,
                        f"{where}.topics[{topic_index}]",
                        f"{topic!r} is already owned by department {topic_owner[topic]!r}",
                    )
                )
            else:
                topic_owner[topic] = department.key
        _check_phone(path, f"{where}.phone", department.phone, kommune.country, problems)
        _check_email(path, f"{where}.email", department.email, problems)
        if department.opening_hours is not None:
            _check_week(path, f"{where}.opening_hours", department.opening_hours, problems)

    if kommune.sender is not None:
        _check_single_line(path, "sender.from_name", kommune.sender.from_name, problems)
        _check_email(path, "sender.from_address", kommune.sender.from_address, problems)
        _check_email(path, "sender.reply_to", kommune.sender.reply_to, problems)
    if kommune.identity is not None:
        _check_identity(path, kommune, kommune.identity, problems)
    if kommune.letterhead is not None:
        letterhead = kommune.letterhead
        for index, line in enumerate(letterhead.address):
            _check_single_line(path, f"letterhead.address[{index}]", line, problems)
        _check_single_line(path, "letterhead.phone", letterhead.phone, problems)
        if not letterhead.web.startswith("https://"):
            problems.append(TenantProblem(path, "letterhead.web", f"{letterhead.web!r} must start with https://"))


DEV_IDP_PLACEHOLDER = "{dev_idp}"
_LOCAL_HOSTS = ("http://127.0.0.1:", "http://localhost:")
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,127}$")


def _check_identity(path: Path, kommune: KommuneFile, identity: IdentityConfig, problems: list[TenantProblem]) -> None:
    issuer = identity.issuer
    if issuer.startswith(DEV_IDP_PLACEHOLDER) or issuer.startswith(_LOCAL_HOSTS):
        # The development provider (or a provider started by a test) is for fictional demo kommuner only.
        if not kommune.demo:
            problems.append(TenantProblem(path, "identity.issuer", f"{issuer!r} is a development issuer; use https://"))
        if issuer.startswith(DEV_IDP_PLACEHOLDER) and issuer != f"{DEV_IDP_PLACEHOLDER}/{kommune.code}":
            problems.append(
                TenantProblem(path, "identity.issuer", f"a demo issuer must be '{DEV_IDP_PLACEHOLDER}/{kommune.code}'")
            )
    elif not issuer.startswith("https://"):
        problems.append(TenantProblem(path, "identity.issuer", f"{issuer!r} must start with https://"))
    _check_single_line(path, "identity.issuer", issuer, problems)
    if not identity.client_id.strip():
        problems.append(TenantProblem(path, "identity.client_id", "must not be empty"))
    if not _ENV_NAME.match(identity.client_secret_env):
        problems.append(
            TenantProblem(
                path,
                "identity.client_secret_env",
                "must name an environment variable (A-Z, 0-9, _), never hold the secret itself",
            )
        )
    if "openid" not in identity.scopes:
        problems.append(TenantProblem(path, "identity.scopes", "must include 'openid'"))
    if not identity.role_claim.strip():
        problems.append(TenantProblem(path, "identity.role_claim", "must not be empty"))


def _load_logo(path: Path, kommune: KommuneFile, problems: list[TenantProblem]) -> Logo | None:
    if kommune.letterhead is None:
        return None
    name = kommune.letterhead.logo
    logo_path = (path.parent / name).resolve()
    if logo_path.parent != path.parent.resolve():
        problems.append(TenantProblem(path, "letterhead.logo", f"{name!r} must be a file inside the kommune's folder"))
        return None
    if not logo_path.is_file():
        problems.append(TenantProblem(path, "letterhead.logo", f"{name!r} does not exist"))
        return None
    content = logo_path.read_bytes()
    if len(content) > MAX_LOGO_BYTES:
        problems.append(
            TenantProblem(path, "letterhead.logo", f"{name!r} is {len(content)} bytes; at most {MAX_LOGO_BYTES}")
        )
        return None
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return Logo(content, "image/png")
    text = content.decode("utf-8", errors="replace")
    if "<svg" in text[:2048] and "</svg>" in text:
        bad = _SVG_FORBIDDEN.search(text)
        if bad:
            problems.append(
                TenantProblem(
                    path, "letterhead.logo", f"{name!r} contains {bad.group(0)!r}: no scripts or external references"
                )
            )
            return None
        return Logo(content, "image/svg+xml")
    problems.append(TenantProblem(path, "letterhead.logo", f"{name!r} is neither an SVG nor a PNG image"))
    return None
