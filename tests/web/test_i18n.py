"""Every UI text exists in Danish and English, and every key a template uses is defined."""

from __future__ import annotations

import re
from pathlib import Path

from hotline.web.i18n import MESSAGES, format_when, pick_language, translate

TEMPLATES = Path(__file__).resolve().parents[2] / "hotline" / "web" / "templates"


def test_both_languages_have_the_same_keys() -> None:
    assert set(MESSAGES["da"]) == set(MESSAGES["en"])


def test_every_key_used_by_a_template_is_defined() -> None:
    used: set[str] = set()
    for template in TEMPLATES.rglob("*.html"):
        used |= set(re.findall(r"""t\(\s*['"]([a-z0-9_.]+)['"]""", template.read_text(encoding="utf-8")))
    assert used, "the scan found no keys at all"
    dynamic = {key for key in used if key.endswith(".")}
    assert not (used - dynamic) - set(MESSAGES["da"])


def test_language_is_chosen_by_query_then_cookie_then_danish() -> None:
    assert pick_language("en", "da") == "en"
    assert pick_language(None, "en") == "en"
    assert pick_language("xx", None) == "da"


def test_times_read_naturally_in_both_languages() -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    cph = ZoneInfo("Europe/Copenhagen")
    now = dt.datetime(2026, 11, 25, 19, 0, tzinfo=cph)
    assert format_when("da", dt.datetime(2026, 11, 26, 10, 0, tzinfo=cph), now) == "i morgen kl. 10:00"
    assert format_when("en", dt.datetime(2026, 11, 25, 21, 0, tzinfo=cph), now) == "today at 21:00"
    assert format_when("da", dt.datetime(2026, 11, 30, 9, 30, tzinfo=cph), now) == "mandag 30.11. kl. 09:30"
    assert translate("en", "status.opens", when="x") == "Opens x"


def test_a_count_of_one_takes_the_singular_text_where_there_is_one() -> None:
    assert translate("da", "handoffs.overdue_notice", count=1) == "1 overdragelse har overskredet fristen."
    assert translate("da", "handoffs.overdue_notice", count=3) == "3 overdragelser har overskredet fristen."
    assert translate("en", "handoffs.overdue_notice", count=1) == "1 hand-off is past its due time."
    assert translate("en", "handoffs.overdue_notice", count=0) == "0 hand-offs are past their due time."
    # Keys without a singular are used as they are.
    assert translate("da", "handoffs.inbox_title", count=1) == "Overdragelser fra hotlinen"
