"""Database plumbing: one engine per process, chosen by URL (SQLite by default, PostgreSQL in production),
bound to every Piccolo table, and the migrations that shape the schema."""

import os

# Piccolo finds its configuration through this module; it must be set before any table is defined.
os.environ.setdefault("PICCOLO_CONF", "hotline.db.piccolo_conf")
