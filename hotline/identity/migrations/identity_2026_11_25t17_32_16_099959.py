from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Text
from piccolo.columns.indexes import IndexMethod
from piccolo.engine import engine_finder

ID = "2026-11-25T17:32:16:099959"
VERSION = "1.38.0"
DESCRIPTION = "session id token; append-only audit log enforced by triggers"

# The audit log is append-only in the database itself, not only in the code: an app with a bug or an SQL
# injection, or an operator at a psql prompt, cannot change or remove what was recorded. There is no retention
# purge of the audit log, so no DELETE is let through. The table's owner (or a superuser) can still drop the
# triggers: see docs/SECURITY.md for what that leaves.
MESSAGE = "identity_audit is append-only"

POSTGRES_FORWARDS = (
    f"""
    CREATE OR REPLACE FUNCTION identity_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{MESSAGE}: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
    END;
    $$
    """,
    """
    CREATE TRIGGER identity_audit_no_update_delete BEFORE UPDATE OR DELETE ON identity_audit
    FOR EACH ROW EXECUTE FUNCTION identity_audit_append_only()
    """,
    """
    CREATE TRIGGER identity_audit_no_truncate BEFORE TRUNCATE ON identity_audit
    FOR EACH STATEMENT EXECUTE FUNCTION identity_audit_append_only()
    """,
)
POSTGRES_BACKWARDS = (
    "DROP TRIGGER IF EXISTS identity_audit_no_truncate ON identity_audit",
    "DROP TRIGGER IF EXISTS identity_audit_no_update_delete ON identity_audit",
    "DROP FUNCTION IF EXISTS identity_audit_append_only()",
)
# SQLite has no TRUNCATE; with a DELETE trigger present it never takes its truncate shortcut either.
SQLITE_FORWARDS = (
    f"""
    CREATE TRIGGER identity_audit_no_update BEFORE UPDATE ON identity_audit
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}: UPDATE refused'); END
    """,
    f"""
    CREATE TRIGGER identity_audit_no_delete BEFORE DELETE ON identity_audit
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}: DELETE refused'); END
    """,
)
SQLITE_BACKWARDS = (
    "DROP TRIGGER IF EXISTS identity_audit_no_update",
    "DROP TRIGGER IF EXISTS identity_audit_no_delete",
)


async def _run(postgres: tuple[str, ...], sqlite: tuple[str, ...]) -> None:
    engine = engine_finder()
    if engine is None:
        raise RuntimeError("no database engine is bound")
    if engine.engine_type == "postgres":
        statements = postgres
    elif engine.engine_type == "sqlite":
        statements = sqlite
    else:
        raise RuntimeError(f"append-only audit triggers are not written for {engine.engine_type}")
    for statement in statements:
        await engine.run_ddl(statement)


async def install_triggers():
    await _run(POSTGRES_FORWARDS, SQLITE_FORWARDS)


async def remove_triggers():
    await _run(POSTGRES_BACKWARDS, SQLITE_BACKWARDS)


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="identity", description=DESCRIPTION
    )

    manager.add_column(
        table_class_name="UserSession",
        tablename="identity_session",
        column_name="id_token",
        db_column_name="id_token",
        column_class_name="Text",
        column_class=Text,
        params={
            "default": "",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_raw(install_triggers)
    manager.add_raw_backwards(remove_triggers)

    return manager
