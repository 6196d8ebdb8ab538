"""Tables of the figures area: each kommune's targets, the survey links handed to citizens and their answers.

A survey answer holds no personal data: only the kommune, the topic, the channel and the dates. The link that led
to it is stored as a SHA-256 hash of its random token (the token itself exists only in the citizen's link), and
the answer row does not point back to the link, so an answer cannot be traced to a call or a caller.
"""

from piccolo.columns import Boolean, Date, Integer, Real, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class FigureTarget(Table, tablename="figure_target"):
    """A kommune's target for one figure, e.g. ``asa <= 50`` (seconds) or ``fcr >= 70`` (per cent); one row per
    (kommune, figure). Figures without a row use the federation default in ``hotline.figures.targets``."""

    kommune_code = Varchar(length=4, index=True)
    figure = Varchar(length=32)
    comparison = Varchar(length=2)
    value = Real()
    updated_by = Varchar(length=200, default="")
    updated_at = Timestamptz(default=TimestamptzNow())


class SurveyLink(Table, tablename="survey_link"):
    """One survey invitation: works once (``used_at``) until ``expires_at``."""

    token_hash = Varchar(length=64, unique=True, index=True)
    kommune_code = Varchar(length=4, index=True)
    topic = Varchar(length=64, default="")
    channel = Varchar(length=16, default="phone")
    contact_date = Date()
    created_at = Timestamptz()
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)


class SurveyAnswer(Table, tablename="survey_answer"):
    """A citizen's answer: satisfaction 1–5 (the one question first), then optionally treated well yes/no, NPS
    0–10 and a comment with any CPR number masked; no personal data.

    The optional follow-up is allowed by ``followup_hash``, the SHA-256 of a fresh random token handed to the
    citizen with the follow-up page (not the survey link's), until ``followup_until``; it is cleared when the
    follow-up is answered, so it works once and an answer still cannot be traced to the link or the call."""

    kommune_code = Varchar(length=4, index=True)
    topic = Varchar(length=64, default="")
    channel = Varchar(length=16, default="phone")
    contact_date = Date(index=True)
    satisfaction = Integer()
    treated_well = Boolean(null=True, default=None)
    nps = Integer(null=True, default=None)
    comment = Text(default="")
    followup_hash = Varchar(length=64, null=True, default=None, index=True)
    followup_until = Timestamptz(null=True, default=None)


class BestTimesPublication(Table, tablename="best_times_publication"):
    """Whether a kommune publishes its "best times to call" page for citizens (``/k/<code>/best-times``)."""

    kommune_code = Varchar(length=4, unique=True, index=True)
    published = Boolean(default=False)
    updated_by = Varchar(length=200, default="")
    updated_at = Timestamptz(default=TimestamptzNow())
