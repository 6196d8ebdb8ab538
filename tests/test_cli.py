"""The ``hotline`` command as an operator uses it: exit codes, and messages that name the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.cli import main
from hotline.db.registry import app_configs
from tests.fixtures.app import TENANTS
from tests.tenancy.conftest_helpers import AARHUS, HORSENS, copy_federation, edit


@pytest.fixture
def demo_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("HOTLINE_DEMO", "true")
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("HOTLINE_DATABASE_URL", raising=False)
    return tmp_path


def test_check_accepts_the_demo_federation(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tenants", "check", str(TENANTS)]) == 0
    out = capsys.readouterr().out
    assert "98 kommuner" in out
    assert "members) are valid" in out


def test_check_names_file_field_and_problem_and_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = copy_federation(tmp_path / "tenants", HORSENS)
    edit(folder / HORSENS / "kommune.toml", 'number = "+4570615000"', 'number = "+4512"')
    assert main(["tenants", "check", str(folder)]) == 1
    err = capsys.readouterr().err
    assert f"{folder / HORSENS / 'kommune.toml'}: numbers[0].number: '+4512' is not a valid phone number" in err
    assert "nothing was applied" in err


def test_apply_is_idempotent_and_all_or_nothing(demo_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = copy_federation(demo_env / "tenants", AARHUS, HORSENS)
    assert main(["tenants", "apply", str(folder)]) == 0
    assert "2 created, 0 updated, 0 unchanged" in capsys.readouterr().out
    assert main(["tenants", "apply", str(folder)]) == 0
    assert "0 created, 0 updated, 2 unchanged" in capsys.readouterr().out

    # One good change and one broken file: nothing at all is applied.
    edit(folder / AARHUS / "kommune.toml", "retention_days = 30", "retention_days = 60")
    edit(folder / HORSENS / "kommune.toml", 'primary_colour = "#', 'primary_colour = "blue" #')
    assert main(["tenants", "apply", str(folder)]) == 1
    assert "letterhead.primary_colour" in capsys.readouterr().err
    exported = demo_env / "exported"
    assert main(["tenants", "export", str(exported)]) == 0
    assert "retention_days = 30" in (exported / AARHUS / "kommune.toml").read_text(encoding="utf-8")


def test_migrate_reports_what_it_applied(demo_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate"]) == 0
    # One migration module per change of any area's tables (identity, knowledge, … add theirs).
    expected = sum(
        len([p for p in Path(config.migrations_folder_path).glob("*.py") if p.name != "__init__.py"])
        for config in app_configs()
    )
    assert f"applied {expected} migration(s)" in capsys.readouterr().out
    assert main(["migrate"]) == 0
    assert "database is up to date" in capsys.readouterr().out


def test_serve_refuses_to_start_without_production_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("HOTLINE_DEMO", "HOTLINE_NATS_SERVERS", "HOTLINE_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    assert main(["serve"]) == 2
    assert "Missing setting HOTLINE_NATS_SERVERS" in capsys.readouterr().err


def test_a_bad_setting_is_named_on_the_command_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOTLINE_DEMO", "true")
    monkeypatch.setenv("HOTLINE_DATABASE_URL", "oracle://db")
    assert main(["migrate"]) == 2
    assert "HOTLINE_DATABASE_URL (TOML key 'database.url') = 'oracle://db'" in capsys.readouterr().err
