"""The few SQL fragments that differ between SQLite and PostgreSQL, for the areas whose aggregates are written once
for both databases (figures, federation): the seconds between two timestamps, the UTC hour of a timestamp, and the
seconds of a span clipped to a period. Column names are the caller's literals; values are always bound parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from piccolo.engine.postgres import PostgresEngine

from hotline.calls.tables import Call


@dataclass(frozen=True)
class Dialect:
    postgres: bool

    def seconds(self, start: str, end: str) -> str:
        """Seconds from ``start`` to ``end`` (column names), to the millisecond."""
        if self.postgres:
            return f"EXTRACT(EPOCH FROM ({end} - {start}))"
        # julianday() is a double: round to the millisecond so that whole hours stay whole.
        return f"ROUND((julianday({end}) - julianday({start})) * 86400.0, 3)"

    def utc_hour(self, column: str) -> str:
        """``YYYY-MM-DD HH`` of the UTC hour ``column`` falls in."""
        if self.postgres:
            return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24')"
        return f"substr({column}, 1, 13)"

    def clipped_seconds(self, start: str, end: str) -> str:
        """Seconds of [start, end) inside the period given by the two next bound parameters (start, end)."""
        if self.postgres:
            return f"EXTRACT(EPOCH FROM (LEAST({end}, {{}}) - GREATEST({start}, {{}})))"
        return f"ROUND((julianday(MIN({end}, {{}})) - julianday(MAX({start}, {{}}))) * 86400.0, 3)"


def dialect() -> Dialect:
    """The dialect of the engine the tables are bound to (``db.engine.bind`` decides it at start-up)."""
    # Every area's tables are bound to the same engine, so the calls table stands for all of them.
    return Dialect(postgres=isinstance(Call._meta.db, PostgresEngine))
