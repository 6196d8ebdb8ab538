"""The ``[identity]`` table of a kommune file: checked on load, stored, and read back unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.tenancy import service
from hotline.tenancy.files import TenantFilesError, load_tenant_set
from tests.fixtures.app import apply_folder
from tests.fixtures.databases import Database
from tests.tenancy.conftest_helpers import AARHUS, copy_federation, edit

KOMMUNE = f"{AARHUS}/kommune.toml"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return copy_federation(tmp_path / "tenants", AARHUS)


def _problems(folder: Path) -> str:
    with pytest.raises(TenantFilesError) as caught:
        load_tenant_set(folder)
    return str(caught.value)


def test_the_demo_kommune_points_at_its_own_dev_issuer(folder: Path) -> None:
    identity = load_tenant_set(folder).tenants[0].kommune.identity
    assert identity is not None
    assert identity.issuer == "{dev_idp}/0751"
    assert identity.grants_coordinator is True


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('issuer = "{dev_idp}/0751"', 'issuer = "http://idp.aarhus.example"', "identity.issuer: 'http://idp"),
        ('issuer = "{dev_idp}/0751"', 'issuer = "{dev_idp}/0615"', "identity.issuer: a demo issuer must be"),
        (
            'client_secret_env = "HOTLINE_DEV_IDP_CLIENT_SECRET"',
            'client_secret_env = "s3cr3t value"',
            "client_secret_env",
        ),
        (
            'role_claim = "roles"',
            'role_claim = "roles"\nrole_map = { "Hotline-Admin" = "superuser" }',
            "identity.role_map",
        ),
        ('    "openid",\n', "", "identity.scopes: must include 'openid'"),
        (
            'role_claim = "roles"',
            'role_claim = "roles"\nclient_secret = "hunter2"',
            "identity.client_secret: unknown key",
        ),
    ],
)
def test_a_bad_identity_table_is_named(folder: Path, old: str, new: str, expected: str) -> None:
    edit(folder / KOMMUNE, old, new)
    assert expected in _problems(folder)


def test_a_development_issuer_is_refused_for_a_real_kommune(folder: Path) -> None:
    edit(folder / KOMMUNE, "demo = true", "demo = false")
    assert "is a development issuer; use https://" in _problems(folder)


async def test_the_identity_table_is_stored_and_read_back(folder: Path, db: Database) -> None:
    edit(folder / KOMMUNE, 'issuer = "{dev_idp}/0751"', 'issuer = "https://login.example/realms/kommune-0751"')
    edit(folder / KOMMUNE, 'role_claim = "roles"', 'role_claim = "roles"\nrole_map = { "Hotline-Agent" = "agent" }')
    await apply_folder(folder)
    tenant = await service.get_tenant("0751")
    assert tenant is not None
    assert tenant.definition.identity is not None
    assert tenant.definition.identity.issuer == "https://login.example/realms/kommune-0751"
    assert tenant.definition.identity.role_map == {"Hotline-Agent": "agent"}
