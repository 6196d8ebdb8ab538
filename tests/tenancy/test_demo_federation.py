"""The committed demo federation (``tenants/``) is reproducible from its generator and passes the checker."""

from __future__ import annotations

from collections import Counter
from functools import cache
from pathlib import Path

from hotline.tenancy.demo_federation import generate
from hotline.tenancy.files import TenantSet, load_tenant_set

TENANTS = Path(__file__).resolve().parents[2] / "tenants"


@cache
def committed() -> TenantSet:
    return load_tenant_set(TENANTS)


def _files(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in root.rglob("*") if path.is_file()}


def _contrast_with_white(colour: str) -> float:
    # Written out here rather than imported, so a wrong formula in the generator cannot approve itself.
    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    luminance = 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)
    return 1.05 / (luminance + 0.05)


def test_committed_folder_is_what_the_generator_writes(tmp_path: Path) -> None:
    generate(tmp_path)
    fresh, stored = _files(tmp_path), _files(TENANTS)
    assert sorted(fresh) == sorted(stored)
    differing = [name for name in fresh if fresh[name] != stored[name]]
    assert differing == [], "regenerate tenants/ with hotline.tenancy.demo_federation.generate"


def test_generating_twice_gives_identical_files(tmp_path: Path) -> None:
    generate(tmp_path / "first")
    generate(tmp_path / "second")
    assert _files(tmp_path / "first") == _files(tmp_path / "second")


def test_all_98_kommuner_with_enough_members() -> None:
    tenants = committed().tenants
    assert len(tenants) == 98
    assert len({t.kommune.code for t in tenants}) == 98
    assert sum(t.kommune.member for t in tenants) >= 50
    assert all(t.kommune.demo for t in tenants)


def test_every_kommune_has_three_to_six_departments() -> None:
    counts = {t.kommune.code: len(t.kommune.departments) for t in committed().tenants}
    assert {code: n for code, n in counts.items() if not 3 <= n <= 6} == {}


def test_each_topic_has_exactly_one_department_in_every_kommune() -> None:
    tenant_set = committed()
    assert tenant_set.federation is not None
    taxonomy = tenant_set.topic_codes
    assert 18 <= len(taxonomy) <= 24
    for tenant in tenant_set.tenants:
        owners = Counter(topic for department in tenant.kommune.departments for topic in department.topics)
        assert set(owners) == taxonomy, tenant.kommune.code
        assert {topic for topic, n in owners.items() if n != 1} == set(), tenant.kommune.code


def test_dialled_numbers_are_unique_across_the_federation() -> None:
    numbers = [number.number for t in committed().tenants for number in t.kommune.numbers]
    assert len(numbers) == 98
    assert len(set(numbers)) == len(numbers)


def test_department_phones_differ_from_each_other_and_the_dialled_number() -> None:
    for tenant in committed().tenants:
        phones = [d.phone for d in tenant.kommune.departments] + [n.number for n in tenant.kommune.numbers]
        assert len(set(phones)) == len(phones), tenant.kommune.code


def test_white_text_is_readable_on_every_primary_colour() -> None:
    assert round(_contrast_with_white("#000000"), 2) == 21.0
    for tenant in committed().tenants:
        assert tenant.kommune.letterhead is not None
        colour = tenant.kommune.letterhead.primary_colour
        assert _contrast_with_white(colour) >= 4.5, (tenant.kommune.code, colour)


def test_logos_are_small_svgs_named_after_their_kommune() -> None:
    for tenant in committed().tenants:
        assert tenant.logo is not None
        assert tenant.logo.media_type == "image/svg+xml"
        assert len(tenant.logo.content) < 2048
        assert f'<title id="logo-title">{tenant.kommune.name}</title>' in tenant.logo.content.decode()
