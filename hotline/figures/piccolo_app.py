"""Piccolo app of the figures area: its tables and migrations."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from hotline.figures.tables import BestTimesPublication, FigureTarget, SurveyAnswer, SurveyLink

APP_CONFIG = AppConfig(
    app_name="figures",
    migrations_folder_path=str(Path(__file__).parent / "migrations"),
    table_classes=[FigureTarget, SurveyLink, SurveyAnswer, BestTimesPublication],
    migration_dependencies=[],
    commands=[],
)
