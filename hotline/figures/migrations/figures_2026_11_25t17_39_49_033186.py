from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean
from piccolo.columns.column_types import Text
from piccolo.columns.column_types import Timestamptz
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod
from piccolo.engine import engine_finder

ID = "2026-11-25T17:39:49:033186"
VERSION = "1.38.0"
DESCRIPTION = "survey: one question first, optional follow-up (treated_well nullable, comment, follow-up token)"

# SQLite cannot ALTER COLUMN, so there the table is rebuilt with ``treated_well`` nullable (before the new
# columns are added: Piccolo runs raw steps first), and the ALTER below is skipped. Piccolo's own ALTER stays
# recorded so that its schema snapshot, from which ``--auto`` computes changes, knows the column is nullable.
SQLITE_REBUILD = (
    'CREATE TABLE "survey_answer_rebuilt" ("id" INTEGER PRIMARY KEY NOT NULL, '
    '"kommune_code" VARCHAR(4) NOT NULL DEFAULT \'\', "topic" VARCHAR(64) NOT NULL DEFAULT \'\', '
    '"channel" VARCHAR(16) NOT NULL DEFAULT \'phone\', "contact_date" DATE NOT NULL DEFAULT CURRENT_DATE, '
    '"satisfaction" INTEGER NOT NULL DEFAULT 0, "treated_well" BOOLEAN DEFAULT null, "nps" INTEGER DEFAULT null)',
    'INSERT INTO "survey_answer_rebuilt" ("id", "kommune_code", "topic", "channel", "contact_date", '
    '"satisfaction", "treated_well", "nps") SELECT "id", "kommune_code", "topic", "channel", "contact_date", '
    '"satisfaction", "treated_well", "nps" FROM "survey_answer"',
    'DROP TABLE "survey_answer"',
    'ALTER TABLE "survey_answer_rebuilt" RENAME TO "survey_answer"',
    'CREATE INDEX survey_answer_kommune_code ON "survey_answer" ("kommune_code")',
    'CREATE INDEX survey_answer_contact_date ON "survey_answer" ("contact_date")',
)


def _sqlite() -> bool:
    engine = engine_finder()
    return engine is not None and engine.engine_type == "sqlite"


async def rebuild_on_sqlite():
    if _sqlite():
        engine = engine_finder()
        for statement in SQLITE_REBUILD:
            await engine.run_ddl(statement)


class _Manager(MigrationManager):
    async def _run_alter_columns(self, backwards: bool = False):
        if _sqlite():
            return  # done by rebuild_on_sqlite
        await super()._run_alter_columns(backwards=backwards)


async def forwards():
    manager = _Manager(
        migration_id=ID, app_name="figures", description=DESCRIPTION
    )
    manager.add_raw(rebuild_on_sqlite)

    manager.add_column(
        table_class_name="SurveyAnswer",
        tablename="survey_answer",
        column_name="comment",
        db_column_name="comment",
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

    manager.add_column(
        table_class_name="SurveyAnswer",
        tablename="survey_answer",
        column_name="followup_hash",
        db_column_name="followup_hash",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 64,
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": True,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="SurveyAnswer",
        tablename="survey_answer",
        column_name="followup_until",
        db_column_name="followup_until",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params={
            "default": None,
            "null": True,
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

    manager.alter_column(
        table_class_name="SurveyAnswer",
        tablename="survey_answer",
        column_name="treated_well",
        db_column_name="treated_well",
        params={"default": None, "null": True},
        old_params={"default": False, "null": False},
        column_class=Boolean,
        old_column_class=Boolean,
        schema=None,
    )

    return manager
