"""Piccolo app of the knowledge area: its tables and migrations."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from hotline.knowledge.tables import KbArticle, KbArticleVersion, KbOutbox, KbReport

APP_CONFIG = AppConfig(
    app_name="knowledge",
    migrations_folder_path=str(Path(__file__).parent / "migrations"),
    table_classes=[KbArticle, KbArticleVersion, KbOutbox, KbReport],
    migration_dependencies=[],
    commands=[],
)
