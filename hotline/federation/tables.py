"""Tables of the federation area: the coordinator's settings, the rota (shifts, sign-ups) and the kommuner's
pledges of agent hours.

Times are UTC; pledge periods are calendar dates (inclusive) in the federation's time zone (Europe/Copenhagen).
"""

from piccolo.columns import Date, ForeignKey, Integer, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class FederationSettings(Table, tablename="federation_settings"):
    """One row: how the settlement prices and shares the hotline, and the forecast's service-level target.
    Shares of one (target, shrinkage, occupancy cap) are stored in per mille, exact on both databases.

    ``allocation_key``: per_call, per_minute, population or mix (then the three weights, summing to exactly 1).
    Weights are stored as decimal text so that 0.1 + 0.2 + 0.7 is exactly 1, as the coordinator typed it."""

    allocation_key = Varchar(length=16, default="per_call")
    weight_calls = Varchar(length=12, default="1")
    weight_minutes = Varchar(length=12, default="0")
    weight_population = Varchar(length=12, default="0")
    hourly_cost_ore = Integer(default=45_000)
    service_level_permille = Integer(default=800)
    threshold_seconds = Integer(default=30)
    shrinkage_permille = Integer(default=300)
    max_occupancy_permille = Integer(default=850)
    updated_at = Timestamptz(default=TimestamptzNow())
    updated_by = Varchar(length=200, default="")


class Shift(Table, tablename="federation_shift"):
    """A stretch of the evening the coordinator wants staffed by ``agents_wanted`` agents."""

    starts_at = Timestamptz(index=True)
    ends_at = Timestamptz()
    agents_wanted = Integer(default=1)
    created_by = Varchar(length=200, default="")
    created_at = Timestamptz(default=TimestamptzNow())


class ShiftSignup(Table, tablename="federation_shift_signup"):
    """An agent signed up to a shift. Withdrawing deletes the row; ``home_kommune`` is the agent's at sign-up,
    so pledges can be held against the hours each kommune's agents signed up for."""

    shift = ForeignKey(references=Shift, on_delete=OnDelete.cascade, index=True)
    user_id = Integer(index=True)
    home_kommune = Varchar(length=4, index=True)
    display_name = Varchar(length=200, default="")
    signed_up_at = Timestamptz(default=TimestamptzNow())


class Pledge(Table, tablename="federation_pledge"):
    """A member kommune's promise of agent hours for a period (dates inclusive)."""

    kommune_code = Varchar(length=4, index=True)
    period_start = Date()
    period_end = Date()
    hours = Integer()
    created_by = Varchar(length=200, default="")
    created_at = Timestamptz(default=TimestamptzNow())
