"""CPR numbers are found by date + digits (with or without the hyphen), and only then."""

from __future__ import annotations

import pytest

from hotline.lib.cpr import find_cpr, mask_cpr


@pytest.mark.parametrize(
    "text",
    [
        "Mit CPR er 010190-1234.",
        "cpr 0101901234 tak",
        "311299 1234",  # a space instead of the hyphen
        "290200-4000",  # 29 Feb 2000: the seventh digit 4 puts year 00 in 2000, a leap year
        "Født 150607-5677, numre efter 2007 består ikke altid modulus 11",
    ],
)
def test_a_date_followed_by_four_digits_is_a_cpr_number(text: str) -> None:
    assert len(find_cpr(text)) == 1


@pytest.mark.parametrize(
    "text",
    [
        "320190-1234",  # no 32nd
        "011390-1234",  # no 13th month
        "290201-1234",  # 2001 is not a leap year
        "290200-1234",  # seventh digit 1: year 1900, which was not a leap year
        "Ring 70 75 10 00 eller +4570751000",
        "Kontonummer 12345601019012",  # ten digits inside a longer number
        "Sagsnummer 2026-010190-1234",  # preceded by a hyphenated number
    ],
)
def test_other_numbers_are_not_taken_for_cpr_numbers(text: str) -> None:
    assert find_cpr(text) == []


def test_masking_replaces_every_cpr_number_and_keeps_the_rest() -> None:
    assert mask_cpr("A 010190-1234 og B 0202921234.") == "A XXXXXX-XXXX og B XXXXXX-XXXX."
    assert mask_cpr("intet her") == "intet her"


def test_a_match_never_shows_the_number_itself() -> None:
    [match] = find_cpr("x 010190-1234")
    assert "1234" not in str(match)
    assert "010190" not in str(match)
