"""Piccolo app of the hand-offs area: its tables and migrations."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from hotline.handoffs.tables import HandOff, HandOffOutbox, HandOffUpdate

APP_CONFIG = AppConfig(
    app_name="handoffs",
    migrations_folder_path=str(Path(__file__).parent / "migrations"),
    table_classes=[HandOff, HandOffUpdate, HandOffOutbox],
    migration_dependencies=[],
    commands=[],
)
