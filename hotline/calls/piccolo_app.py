"""Piccolo app of the calls area: its tables and migrations."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from hotline.calls.tables import AgentPresence, Call, Callback, CallEvent, PresenceSpan

APP_CONFIG = AppConfig(
    app_name="calls",
    migrations_folder_path=str(Path(__file__).parent / "migrations"),
    table_classes=[Call, CallEvent, AgentPresence, PresenceSpan, Callback],
    migration_dependencies=[],
    commands=[],
)
