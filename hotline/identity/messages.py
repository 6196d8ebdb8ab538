"""UI texts of the identity area added after the core catalogue (merged by :mod:`hotline.web.i18n`)."""

from typing import Final

MESSAGES: Final[dict[str, dict[str, str]]] = {
    "da": {
        "identity.signed_out.title": "Du er logget ud",
        "identity.signed_out.everywhere": "Du er logget ud af hotlinen og af din kommunes login.",
        "identity.signed_out.hotline_only": (
            "Du er logget ud af hotlinen. Din kommunes login kan stadig være aktivt i denne browser."
        ),
        "identity.signed_out.shared_pc": "Deler du computeren med andre, så luk alle browservinduer nu.",
        "identity.signed_out.sign_in_again": "Log ind igen",
    },
    "en": {
        "identity.signed_out.title": "You are signed out",
        "identity.signed_out.everywhere": "You are signed out of the hotline and of your kommune's login.",
        "identity.signed_out.hotline_only": (
            "You are signed out of the hotline. Your kommune's login may still be active in this browser."
        ),
        "identity.signed_out.shared_pc": "If you share this computer with others, close every browser window now.",
        "identity.signed_out.sign_in_again": "Sign in again",
    },
}
