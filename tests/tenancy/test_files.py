"""Broken tenant files are refused with the file, the field and the problem named."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.tenancy.files import TenantFilesError, load_tenant_set
from tests.tenancy.conftest_helpers import AARHUS, HORSENS, copy_federation, edit


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return copy_federation(tmp_path / "tenants", AARHUS, HORSENS)


def problems_of(directory: Path) -> list[str]:
    with pytest.raises(TenantFilesError) as caught:
        load_tenant_set(directory)
    return [str(problem) for problem in caught.value.problems]


def test_the_copied_folder_is_valid(folder: Path) -> None:
    tenant_set = load_tenant_set(folder)
    assert [t.kommune.code for t in tenant_set.tenants] == ["0615", "0751"]
    assert tenant_set.tenants[0].logo is not None
    assert tenant_set.tenants[0].logo.media_type == "image/svg+xml"


def test_one_kommune_folder_can_be_checked_on_its_own(folder: Path) -> None:
    tenant_set = load_tenant_set(folder / HORSENS)
    assert [t.kommune.code for t in tenant_set.tenants] == ["0615"]
    assert "storskrald" in tenant_set.topic_codes


@pytest.mark.parametrize(
    ("old", "new", "field", "problem"),
    [
        ("retention_days = 90", "retention_days = 90\nopening_hour = 3", "opening_hour", "unknown key"),
        ('number = "+4570615000"', 'number = "+45 70 61 50 00"', "numbers[0].number", "E.164 form"),
        ('number = "+4570615000"', 'number = "+4512"', "numbers[0].number", "not a valid phone number"),
        ('number = "+4570615000"', 'number = "+46701234567"', "numbers[0].number", "not a number in DK"),
        (
            'thursday = [\n    "10:00-17:30",\n]',
            'thursday = ["10:00-13:00", "12:00-17:30"]',
            "opening_hours.thursday",
            "overlap",
        ),
        (
            'thursday = [\n    "10:00-17:30",\n]',
            'thursday = ["17:30-10:00"]',
            "opening_hours.thursday",
            "ends before it starts",
        ),
        ('primary_colour = "#', 'primary_colour = "red" #', "letterhead.primary_colour", "colour written as #rrggbb"),
        ('"rotter",', '"rotter",\n    "astrologi",', "departments[1].topics[2]", "unknown topic 'astrologi'"),
        ('code = "0615"', 'code = "0999"', "code", "not a Danish kommune code"),
        ('region_code = "1082"', 'region_code = "1084"', "region_code", "lies in region 1082"),
        (
            'email = "borgerservice@horsens.kommune.example"',
            'email = "borgerservice at horsens"',
            "departments[0].email",
            "not an e-mail address",
        ),
        (
            'from_name = "Horsens Kommune"',
            'from_name = "Horsens\\r\\nBcc: victim@example.org"',
            "sender.from_name",
            "single line",
        ),
        ('web = "https://horsens.kommune.example"', 'web = "javascript:alert(1)"', "letterhead.web", "https://"),
        ("retention_days = 90", "retention_days = 0", "retention_days", ">= 1"),
        ('timezone = "Europe/Copenhagen"', 'timezone = "Europe/Atlantis"', "timezone", "not a known time zone"),
        ('key = "teknik-og-miljoe"', 'key = "borgerservice"', "departments[1].key", "duplicate department"),
    ],
)
def test_a_broken_field_is_named_with_file_and_problem(
    folder: Path, old: str, new: str, field: str, problem: str
) -> None:
    kommune_file = folder / HORSENS / "kommune.toml"
    edit(kommune_file, old, new)
    found = problems_of(folder)
    assert any(p.startswith(f"{kommune_file}: {field}:") and problem in p for p in found), found


def test_a_number_owned_by_another_kommune_is_refused(folder: Path) -> None:
    edit(folder / HORSENS / "kommune.toml", 'number = "+4570615000"', 'number = "+4570751000"')
    found = problems_of(folder)
    assert any("numbers[0].number" in p and "already owned by" in p for p in found), found


def test_a_topic_owned_by_two_departments_is_refused(folder: Path) -> None:
    edit(folder / HORSENS / "kommune.toml", '    "rotter",\n]', '    "rotter",\n    "pas",\n]')
    found = problems_of(folder)
    assert any(
        "departments[1].topics" in p and "'pas' is already owned by department 'borgerservice'" in p for p in found
    ), found


def test_every_problem_is_reported_at_once(folder: Path) -> None:
    kommune_file = folder / HORSENS / "kommune.toml"
    edit(kommune_file, 'number = "+4570615000"', 'number = "+4512"')
    edit(kommune_file, 'primary_colour = "#', 'primary_colour = "nope" #')
    edit(folder / AARHUS / "kommune.toml", 'code = "0751"', 'code = "0752"')
    found = problems_of(folder)
    assert len(found) >= 2
    assert any(str(folder / AARHUS) in p for p in found)


def test_a_toml_syntax_error_names_the_file(folder: Path) -> None:
    (folder / HORSENS / "kommune.toml").write_text('code = "0615\n', encoding="utf-8")
    found = problems_of(folder)
    assert any(p.startswith(f"{folder / HORSENS / 'kommune.toml'}: not valid TOML") for p in found), found


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"GIF89a\x01\x00", "neither an SVG nor a PNG"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "no scripts or external references",
        ),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><image href="https://tracker.example/x.png"/></svg>', "no scripts"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><rect style="fill:url(file:///etc/passwd)"/></svg>', "no scripts"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>', "no scripts"),
        (b"<svg>" + b" " * (600 * 1024) + b"</svg>", "at most"),
    ],
)
def test_a_dangerous_or_oversized_logo_is_refused(folder: Path, content: bytes, problem: str) -> None:
    (folder / HORSENS / "logo.svg").write_bytes(content)
    found = problems_of(folder)
    assert any("letterhead.logo" in p and problem in p for p in found), found


def test_a_logo_outside_the_kommune_folder_is_refused(folder: Path) -> None:
    edit(folder / HORSENS / "kommune.toml", 'logo = "logo.svg"', 'logo = "../0751-aarhus/logo.svg"')
    found = problems_of(folder)
    assert any("letterhead.logo" in p and "inside the kommune's folder" in p for p in found), found


def test_a_folder_without_kommuner_is_refused(tmp_path: Path) -> None:
    found = problems_of(tmp_path)
    assert any("holds no kommune.toml" in p for p in found), found


def test_a_folder_name_that_disagrees_with_the_code_is_refused(folder: Path) -> None:
    (folder / HORSENS).rename(folder / "0615-hrsens")
    found = problems_of(folder)
    assert any("folder is '0615-hrsens'" in p for p in found), found


def test_a_coordinator_email_that_is_no_address_is_refused(folder: Path) -> None:
    edit(
        folder / "federation.toml",
        'coordinator_email = "koordinator@aftenhotline.example"',
        'coordinator_email = "vagt"',
    )
    problems = problems_of(folder)
    assert any("federation.toml" in p and "coordinator_email" in p and "not an e-mail address" in p for p in problems)
