"""Tables of the tenancy area: kommuner, their dialled numbers and departments, and the shared topic taxonomy.

Structured configuration that is always read whole (opening hours, closures, letterhead, sender) is stored as
JSON in the kommune row; what is looked up on its own (a dialled number, a department) has its own table.
"""

from piccolo.columns import JSON, Boolean, Bytea, ForeignKey, Integer, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class Federation(Table, tablename="federation"):
    """The federation itself (one row): its name and the coordinator's address."""

    name = Varchar(length=200)
    name_en = Varchar(length=200)
    coordinator_email = Varchar(length=254, default="")


class Topic(Table, tablename="topic"):
    """A topic of the shared taxonomy ("storskrald"), so kommuner's rules and departments line up."""

    code = Varchar(length=64, unique=True, index=True)
    name_da = Varchar(length=200)
    name_en = Varchar(length=200)


class Kommune(Table, tablename="kommune"):
    """A kommune of the federation (member or not): identity, hours, letterhead and sender identity."""

    code = Varchar(length=4, unique=True, index=True)
    name = Varchar(length=200)
    slug = Varchar(length=64)
    region_code = Varchar(length=8)
    region_name = Varchar(length=200)
    country = Varchar(length=2, default="DK")
    timezone = Varchar(length=64, default="Europe/Copenhagen")
    member = Boolean(default=False)
    population = Integer(default=0)
    retention_days = Integer(default=90)
    demo = Boolean(default=False)
    languages = JSON(default=["da"])
    opening_hours = JSON(default={})
    closures = JSON(default={})
    letterhead = JSON(null=True, default=None)
    sender = JSON(null=True, default=None)
    identity = JSON(null=True, default=None)
    logo = Bytea(null=True, default=None)
    logo_media_type = Varchar(length=32, default="")
    config_digest = Varchar(length=64, default="")
    updated_at = Timestamptz(default=TimestamptzNow())


class DialledNumber(Table, tablename="dialled_number"):
    """A phone number that, when dialled, identifies the caller's kommune. Owned by exactly one kommune."""

    number = Varchar(length=20, unique=True, index=True)
    label = Varchar(length=200, default="Borgerservice")
    kommune = ForeignKey(references=Kommune, index=True)


class Department(Table, tablename="department"):
    """A department of a kommune that owns topics and receives hand-offs."""

    kommune = ForeignKey(references=Kommune, index=True)
    key = Varchar(length=64)
    name = Varchar(length=200)
    topics = JSON(default=[])
    phone = Varchar(length=20)
    email = Varchar(length=254)
    opening_hours = JSON(null=True, default=None)
    position = Integer(default=0)
