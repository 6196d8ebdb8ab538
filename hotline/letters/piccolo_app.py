"""Piccolo app of the letters area: its tables and migrations."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from hotline.letters.tables import Letter

APP_CONFIG = AppConfig(
    app_name="letters",
    migrations_folder_path=str(Path(__file__).parent / "migrations"),
    table_classes=[Letter],
    migration_dependencies=[],
    commands=[],
)
