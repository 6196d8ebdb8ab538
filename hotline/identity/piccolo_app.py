"""Piccolo app of the identity area: its tables and migrations."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from hotline.identity.tables import ApiToken, AuditEntry, LoginAttempt, User, UserSession, WebhookSecret

APP_CONFIG = AppConfig(
    app_name="identity",
    migrations_folder_path=str(Path(__file__).parent / "migrations"),
    table_classes=[User, LoginAttempt, UserSession, ApiToken, WebhookSecret, AuditEntry],
    migration_dependencies=[],
    commands=[],
)
