"""Migrations bring an empty database to the current schema, run idempotently, and match the table definitions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hotline.db.engine import migrate
from hotline.db.registry import all_tables, app_configs
from tests.fixtures.databases import Database

REPO = Path(__file__).resolve().parents[2]


async def test_migrating_again_applies_nothing_and_every_table_exists(db: Database) -> None:
    assert await migrate() == []
    for table in all_tables():
        assert await table.table_exists().run(), table._meta.tablename


@pytest.mark.parametrize("app_name", [config.app_name for config in app_configs()])
def test_the_migrations_match_the_table_definitions(tmp_path: Path, app_name: str) -> None:
    """A table changed without a new migration would break production upgrades: Piccolo must find no changes."""
    result = subprocess.run(
        [sys.executable, "-m", "piccolo.main", "migrations", "new", app_name, "--auto"],
        cwd=REPO,
        env={"PICCOLO_CONF": "hotline.db.piccolo_conf", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert "No changes detected" in output, output
