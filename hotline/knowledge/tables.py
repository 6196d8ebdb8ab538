"""Tables of the knowledge area: the current version of each article, every version ever committed, and the
outbox that carries committed changes to NATS.

The database is the record of truth. An article change and its outbox row are written in one transaction, so
a change is published even if NATS was down when it was made.
"""

from piccolo.columns import Boolean, Date, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class KbArticle(Table, tablename="kb_article"):
    """The current version of one article. ``scope`` is "general", "federation" (surge) or a kommune code."""

    article_id = Varchar(length=36, unique=True, index=True)
    scope = Varchar(length=16, index=True)
    kind = Varchar(length=16)
    mode = Varchar(length=16, default="add")
    topic = Varchar(length=64, index=True)
    title = Varchar(length=200)
    body = Text()
    links = Text(default="[]")
    department = Varchar(length=64, default="")
    handling = Varchar(length=16, default="solve")
    valid_from = Timestamptz(null=True, default=None)
    valid_to = Timestamptz(null=True, default=None)
    review_by = Date(null=True, default=None)
    language = Varchar(length=8, default="da")
    version = Integer(default=1)
    author = Varchar(length=200, default="")
    external_id = Varchar(length=200, default="", index=True)
    demo = Boolean(default=False)
    updated_at = Timestamptz(default=TimestamptzNow())


class KbArticleVersion(Table, tablename="kb_article_version"):
    """One committed version of an article, kept whole (the wire record as JSON) for history, diff and revert."""

    article_id = Varchar(length=36, index=True)
    version = Integer()
    record = Text()
    author = Varchar(length=200, default="")
    note = Varchar(length=200, default="")
    created_at = Timestamptz(default=TimestamptzNow())


class KbOutbox(Table, tablename="kb_outbox"):
    """A committed change still to be published to the KV bucket; deleted once NATS has acknowledged it."""

    key = Varchar(length=200)
    payload = Text()
    created_at = Timestamptz(default=TimestamptzNow())
    attempts = Integer(default=0)


class KbReport(Table, tablename="kb_report"):
    """An agent's "this rule is wrong or missing" report, addressed to the kommune that owns the rule ("general"
    for the federation's own articles). ``message`` has any CPR number masked before it is stored."""

    kommune = Varchar(length=16, index=True)
    article_id = Varchar(length=36, default="")
    topic = Varchar(length=64, default="")
    kind = Varchar(length=16, default="wrong")
    message = Text()
    reporter = Varchar(length=200, default="")
    status = Varchar(length=16, default="open", index=True)
    created_at = Timestamptz(default=TimestamptzNow())
    closed_at = Timestamptz(null=True, default=None)
    closed_by = Varchar(length=200, default="")
