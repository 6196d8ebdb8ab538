"""The single Piccolo app that owns every table of the service and its migrations."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from hotline.db.registry import all_tables

APP_CONFIG = AppConfig(
    app_name="hotline",
    migrations_folder_path=str(Path(__file__).parent / "migrations"),
    table_classes=all_tables(),
    migration_dependencies=[],
    commands=[],
)
