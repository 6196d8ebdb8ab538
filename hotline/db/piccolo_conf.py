"""Piccolo's configuration module. ``DB`` is replaced by :func:`hotline.db.engine.bind` at start-up, so the same
tables and migrations run against SQLite or PostgreSQL depending on ``HOTLINE_DATABASE_URL``."""

from piccolo.conf.apps import AppRegistry
from piccolo.engine.base import Engine
from piccolo.engine.sqlite import SQLiteEngine

from hotline.db.registry import AREA_APPS

DB: Engine = SQLiteEngine(path=":memory:")  # type: ignore[type-arg]  # placeholder until bind() runs; never used for real data

APP_REGISTRY = AppRegistry(apps=AREA_APPS)
