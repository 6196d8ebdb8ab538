"""UI texts of the letters area added after the core catalogue (merged by :mod:`hotline.web.i18n`)."""

from typing import Final

MESSAGES: Final[dict[str, dict[str, str]]] = {
    "da": {
        "letters.answers_call": "Svar på opkald",
        "letters.answers_call_hint": "Brevet gemmes sammen med opkaldet, så det kan ses på sagen.",
        "letters.topic": "Emne for opkaldet",
        "letters.call": "Opkald",
    },
    "en": {
        "letters.answers_call": "Reply to call",
        "letters.answers_call_hint": "The letter is stored with the call, so it shows on the case.",
        "letters.topic": "Topic of the call",
        "letters.call": "Call",
    },
}
