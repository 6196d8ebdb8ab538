"""Finding and masking Danish CPR numbers (personal identification numbers) in free text.

A CPR number is ``DDMMYY-XXXX`` (or without the hyphen, or with a space) whose first six digits are a real date.
The modulus-11 check is deliberately not required: numbers issued since 2007 need not pass it, so a detector that
relied on it would miss real CPR numbers. The century follows from the seventh digit (CPR Office rules) so that
29 February is accepted only in leap years. Used to refuse letters that carry a CPR number (those go by Digital
Post) and to mask CPR numbers in notes.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

# Not preceded or followed by another digit (or a digit group separator), so a 12-digit account number or a
# phone number written "70 75 10 00" is not taken for a CPR number.
_PATTERN = re.compile(r"(?<![\d-])(\d{2})(\d{2})(\d{2})[-\s\u2010\u2011\u2013]?(\d)(\d{3})(?![\d])")
MASK = "XXXXXX-XXXX"


@dataclass(frozen=True)
class CprMatch:
    start: int
    end: int

    def __str__(self) -> str:  # never the number itself: callers may log matches
        return f"CPR number at {self.start}-{self.end}"


def _century(year: int, seventh: int) -> int:
    if seventh <= 3:
        return 1900
    if seventh in (4, 9):
        return 2000 if year <= 36 else 1900
    return 2000 if year <= 57 else 1800


def _is_date(day: int, month: int, year: int, seventh: int) -> bool:
    try:
        dt.date(_century(year, seventh) + year, month, day)
    except ValueError:
        return False
    return True


def find_cpr(text: str) -> list[CprMatch]:
    """Every place in ``text`` that looks like a CPR number: ten digits whose first six are a valid date."""
    found = []
    for match in _PATTERN.finditer(text):
        day, month, year, seventh = (int(match.group(i)) for i in range(1, 5))
        if _is_date(day, month, year, seventh):
            found.append(CprMatch(match.start(), match.end()))
    return found


def contains_cpr(text: str) -> bool:
    return bool(find_cpr(text))


def mask_cpr(text: str) -> str:
    """``text`` with every CPR number replaced by ``XXXXXX-XXXX``."""
    pieces: list[str] = []
    position = 0
    for match in find_cpr(text):
        pieces.append(text[position : match.start])
        pieces.append(MASK)
        position = match.end
    pieces.append(text[position:])
    return "".join(pieces)
