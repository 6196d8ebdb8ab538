"""Test-wide fixtures: a real nats-server, real databases (SQLite and PostgreSQL) and the app."""

pytest_plugins = [
    "tests.fixtures.nats",
    "tests.fixtures.databases",
    "tests.fixtures.app",
    "tests.fixtures.identity",
    "tests.fixtures.knowledge",
    "tests.fixtures.letters",
]
