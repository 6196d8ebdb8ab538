"""Piccolo app of the tenancy area: its tables and migrations."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from hotline.tenancy.tables import Department, DialledNumber, Federation, Kommune, Topic

APP_CONFIG = AppConfig(
    app_name="tenancy",
    migrations_folder_path=str(Path(__file__).parent / "migrations"),
    table_classes=[Federation, Topic, Kommune, DialledNumber, Department],
    migration_dependencies=[],
    commands=[],
)
