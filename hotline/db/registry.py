"""The Piccolo apps of the business areas, in dependency order. Each area owns its tables and its migrations
(``hotline/<area>/piccolo_app.py`` and ``hotline/<area>/migrations/``); a new area adds its app here."""

from __future__ import annotations

import importlib

from piccolo.conf.apps import AppConfig
from piccolo.table import Table

AREA_APPS: list[str] = [
    "hotline.tenancy.piccolo_app",
    "hotline.knowledge.piccolo_app",
    "hotline.identity.piccolo_app",
    "hotline.letters.piccolo_app",
    "hotline.calls.piccolo_app",
    "hotline.handoffs.piccolo_app",
    "hotline.federation.piccolo_app",
    "hotline.figures.piccolo_app",
]


def app_configs() -> list[AppConfig]:
    # Imported lazily so the areas' tables are defined after PICCOLO_CONF is set (hotline.db.__init__).
    return [importlib.import_module(module).APP_CONFIG for module in AREA_APPS]


def all_tables() -> list[type[Table]]:
    return [table for config in app_configs() for table in config.table_classes]
