"""Piccolo app of the federation area: its tables and migrations."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from hotline.federation.tables import FederationSettings, Pledge, Shift, ShiftSignup

APP_CONFIG = AppConfig(
    app_name="federation",
    migrations_folder_path=str(Path(__file__).parent / "migrations"),
    table_classes=[FederationSettings, Shift, ShiftSignup, Pledge],
    migration_dependencies=[],
    commands=[],
)
