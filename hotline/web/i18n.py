"""User-interface text in Danish (first) and English, and locale-aware formatting of times.

The language is chosen by ``?lang=`` (remembered in a cookie), else by the cookie, else Danish. Every message
exists in both languages; a test checks that, and that every key a template uses is defined.
"""

from __future__ import annotations

import datetime as dt
import importlib
from typing import Final

LANGUAGES: Final = ("da", "en")
DEFAULT_LANGUAGE: Final = "da"
COOKIE: Final = "hotline_lang"

CORE_MESSAGES: Final[dict[str, dict[str, str]]] = {
    "da": {
        "app.name": "Den Fælleskommunale Aftenhotline",
        "app.tagline": "Fælles aften- og weekendhotline for kommunernes borgerservice",
        "nav.skip": "Spring til indhold",
        "nav.main": "Hovedmenu",
        "nav.directory": "Kommuner",
        "nav.wallboard": "Tavle",
        "nav.api": "API",
        "nav.language": "English",
        "nav.language_code": "en",
        "nav.login": "Log ind",
        "nav.logout": "Log ud",
        "nav.logout_everywhere": "Log ud alle steder",
        "nav.me": "Min side",
        "login.title": "Log ind",
        "login.lead": "Medarbejdere logger ind gennem deres egen kommunes login. Vælg din kommune.",
        "login.choose": "Vælg din kommune",
        "login.demo_title": "Demo: log ind som",
        "login.demo_lead": (
            "Demoen bruger en lokal udviklingsudbyder, hvor du vælger en person i stedet for en adgangskode."
        ),
        "login.demo_as.agent": "Aftenmedarbejder fra {kommune}",
        "login.demo_as.admin": "Kommuneadministrator i {kommune}",
        "login.demo_as.coordinator": "Koordinator (føderationens sekretariat i {kommune})",
        "me.title": "Min side",
        "me.name": "Navn",
        "me.home": "Hjemkommune",
        "me.roles": "Roller",
        "me.federation_wide": "hele føderationen",
        "me.for_kommune": "kommune {code}",
        "me.administration": "Administration",
        "me.audit_link": "Revisionslog for kommune {code}",
        "me.tokens_link": "API-nøgler og webhook-hemmeligheder for kommune {code}",
        "me.session": "Session",
        "role.agent": "Agent",
        "role.kommune_admin": "Kommuneadministrator",
        "role.coordinator": "Koordinator",
        "role.auditor": "Revisor",
        "audit.title": "Revisionslog · kommune {code}",
        "audit.action": "Handling",
        "audit.actor": "Aktør",
        "audit.since": "Fra dato",
        "audit.until": "Til dato",
        "audit.filter": "Filtrér",
        "audit.export": "Hent som CSV",
        "audit.empty": "Ingen poster.",
        "audit.col.at": "Tidspunkt",
        "audit.col.outcome": "Udfald",
        "audit.col.role": "Rolle",
        "audit.col.target": "Hvad",
        "audit.col.ip": "IP-adresse",
        "tokens.title": "Maskinadgang · kommune {code}",
        "tokens.shown_once": "Kopiér værdien nu: den vises kun denne ene gang.",
        "tokens.api_tokens": "API-nøgler",
        "tokens.webhook_secrets": "Webhook-hemmeligheder (telefoni)",
        "tokens.name": "Navn",
        "tokens.permissions": "Rettigheder",
        "tokens.created": "Oprettet",
        "tokens.last_used": "Sidst brugt",
        "tokens.state": "Status",
        "tokens.never": "Aldrig",
        "tokens.revoked": "Tilbagekaldt",
        "tokens.revoke": "Tilbagekald",
        "tokens.create": "Opret API-nøgle",
        "tokens.create_secret": "Opret webhook-hemmelighed",
        "directory.title": "Kommuner i føderationen",
        "directory.lead": (
            "Alle 98 kommuner. Medlemmer stiller deres borgerservice om til hotlinen uden for åbningstid."
        ),
        "directory.filter": "Find kommune",
        "directory.filter_hint": "Skriv navn eller kommunekode",
        "directory.only_members": "Kun medlemmer",
        "directory.summary": "{members} medlemmer · {open} kommuner har åbent nu · {closed} er lukket",
        "directory.col.code": "Kode",
        "directory.col.name": "Kommune",
        "directory.col.region": "Region",
        "directory.col.member": "Medlem",
        "directory.col.status": "Borgerservice",
        "directory.updated": "Opdateret {time}",
        "member.yes": "Medlem",
        "member.no": "Ikke medlem",
        "status.open": "Åbent nu",
        "status.open_until": "Åbent til {time}",
        "status.closed": "Lukket",
        "status.opens": "Åbner {when}",
        "status.never": "Ingen kommende åbningstid",
        "when.today": "i dag kl. {time}",
        "when.tomorrow": "i morgen kl. {time}",
        "when.weekday": "{weekday} {date} kl. {time}",
        "tenant.numbers": "Telefonnumre",
        "tenant.hours": "Åbningstider",
        "tenant.closures": "Lukkedage de næste 60 dage",
        "tenant.no_closures": "Ingen lukkedage de næste 60 dage.",
        "tenant.whole_day": "hele dagen",
        "tenant.from": "fra kl. {time}",
        "tenant.departments": "Afdelinger",
        "tenant.topics": "Emner",
        "tenant.own_hours": "Egne åbningstider",
        "tenant.letterhead": "Brevpapir og afsender",
        "tenant.sender": "Afsender",
        "tenant.reply_to": "Svar til",
        "tenant.retention": "Kontaktoplysninger slettes efter {days} dage",
        "tenant.languages": "Sprog",
        "tenant.demo": "Demodata: kontaktoplysningerne er opdigtede og når ingen rigtig kommune.",
        "tenant.population": "Indbyggere",
        "tenant.back": "Tilbage til alle kommuner",
        "tenant.closed_day": "Lukket",
        "error.not_found": "Siden findes ikke",
        "error.title": "Der skete en fejl",
        "error.title.401": "Log ind for at se siden",
        "error.title.403": "Ingen adgang",
        "error.title.429": "For mange forespørgsler",
        "error.text.400": "Forespørgslen kunne ikke bruges. Tjek det, du har skrevet eller valgt, og prøv igen.",
        "error.text.401": "Siden kræver, at du er logget ind.",
        "error.text.403": "Du har ikke adgang til siden. Den hører til en anden rolle eller en anden kommune.",
        "error.text.404": "Adressen findes ikke her. Tjek den, eller gå videre fra forsiden.",
        "error.text.405": "Siden kan ikke bruges på den måde (forkert metode).",
        "error.text.409": "Der er sket en ændring i mellemtiden. Hent siden igen, og prøv igen.",
        "error.text.413": "Det sendte er for stort.",
        "error.text.422": "Formularen kunne ikke bruges. Tjek felterne, og prøv igen.",
        "error.text.429": "Du har sendt for mange forespørgsler på kort tid. Vent et øjeblik, og prøv igen.",
        "error.text.500": "Noget gik galt hos os, og det er skrevet i loggen. Prøv igen om lidt.",
        "error.text.502": "En tjeneste, siden afhænger af, svarede ikke som ventet. Prøv igen om lidt.",
        "error.text.503": "Tjenesten er midlertidigt utilgængelig. Prøv igen om lidt.",
        "error.text.other": "Forespørgslen kunne ikke gennemføres.",
        "error.technical": "Teknisk besked",
        "error.to_start": "Til din startside",
        "error.sign_in": "Log ind",
        "kb.title": "Vidensbank",
        "kb.lead": "Søg i de fælles regler og i den valgte kommunes egne regler. Kommunens svar står først.",
        "kb.kommune": "Borgerens kommune",
        "kb.all_general": "Kun fælles regler",
        "kb.search": "Søg",
        "kb.search_hint": "F.eks. storskrald, pas eller flytning",
        "kb.hits": "Resultater: {count} ({ms} ms)",
        "kb.no_hits": "Ingen artikler matcher søgningen.",
        "kb.rules_for": "Gældende regler for kommune {kommune}",
        "kb.not_offered": "Tilbydes ikke i kommunen",
        "kb.handoff": "Overdrages til kommunen",
        "kb.solve": "Hotlinen kan løse det",
        "kb.surge": "Vigtig besked til alle agenter",
        "kb.not_ready": "Vidensbanken starter op. Prøv igen om et øjeblik.",
        "kb.stale": "Forbindelsen til vidensbanken er afbrudt; du ser version {revision}, som kan være forældet.",
        "kb.scope.general": "Fælles",
        "kb.scope.surge": "Driftsbesked",
        "kb.back": "Tilbage til søgningen",
        "kb.links": "Selvbetjening",
        "kb.demo": "Demoindhold: ikke autoritativ vejledning",
        "kb.field.scope": "Gælder for",
        "kb.field.topic": "Emne",
        "kb.field.handling": "Håndtering",
        "kb.field.version": "Version",
        "kb.field.note": "Bemærk",
        "kb.landing.surge": "Driftsbeskeder lige nu",
        "kb.landing.no_surge": (
            "Ingen driftsbeskeder lige nu. Når koordinatoren udsender en, står den her og øverst i agentkonsollen."
        ),
        "kb.landing.topics": "Emner",
        "kb.landing.topics_for": "Emner: den fælles regel og {kommune}s regel",
        "kb.landing.topics_lead": (
            "Den fælles regel for hvert emne. Vælg borgerens kommune ovenfor for at se kommunens egen regel "
            "ved siden af."
        ),
        "kb.landing.topics_lead_kommune": "Sådan svarer agenterne en borger fra {kommune} på hvert emne.",
        "kb.landing.topic": "Emne",
        "kb.landing.general": "Fælles regel",
        "kb.landing.no_general": "Ingen fælles artikel",
        "kb.landing.general_applies": "Den fælles regel gælder",
        "kb.landing.mode.add": "supplerer den fælles",
        "kb.landing.mode.replace": "erstatter den fælles",
        "kb.landing.without": "Emner uden artikler endnu: {topics}.",
        "weekday.0": "mandag",
        "weekday.1": "tirsdag",
        "weekday.2": "onsdag",
        "weekday.3": "torsdag",
        "weekday.4": "fredag",
        "weekday.5": "lørdag",
        "weekday.6": "søndag",
        # letters (issue 6)
        "letters.compose_title": "Skriv svar på kommunens brevpapir",
        "letters.compose_lead": (
            "Svaret sendes som e-mail med PDF under brevpapiret for kommune {code}. Skriv almindelig tekst: en tom "
            "linje starter et nyt afsnit, og webadresser bliver til links."
        ),
        "letters.refused": "Brevet blev ikke sendt:",
        "letters.template": "Skabelon",
        "letters.use_template": "Brug skabelon",
        "letters.recipient": "Borgerens e-mailadresse",
        "letters.subject": "Emne",
        "letters.text": "Tekst",
        "letters.text_hint": "Ingen CPR-numre: indhold med CPR-nummer skal sendes med Digital Post.",
        "letters.preview_email": "Vis e-mail",
        "letters.preview_pdf": "Vis PDF",
        "letters.send": "Send",
        "letters.preview_heading": "Sådan ser e-mailen ud for borgeren",
        "letters.recent": "Seneste breve",
        "letters.status": "Status",
        "letters.status.queued": "I kø",
        "letters.status.sending": "Sendes",
        "letters.status.sent": "Sendt",
        "letters.status.failed": "Fejlet",
        "letters.reason": "Årsag",
        "letters.attempts": "Forsøg",
        "letters.created": "Oprettet",
        "letters.sent_at": "Sendt",
        "letters.refresh": "Opdatér status",
        "letters.new": "Skriv et nyt brev",
        "letters.letterhead_title": "Brevpapir · kommune {code}",
        "letters.letterhead_lead": (
            "Et prøvebrev med kommunens logo, farver, adresse, underskrift og fodnote, præcis som borgerne får det."
        ),
        "letters.letterhead_sample": "Hent prøvebrev (PDF)",
        "mailbox.title": "Demo-postkasse",
        "mailbox.lead": "Al post, som demoens lokale SMTP-server har modtaget, vist som borgeren ser den.",
        "mailbox.empty": "Postkassen er tom.",
        "mailbox.received": "Modtaget",
        "mailbox.from": "Fra",
        "mailbox.to": "Til",
        "mailbox.pdf": "Vedhæftet PDF: {name}",
        "mailbox.html": "E-mail (HTML)",
        "mailbox.text": "E-mail (ren tekst)",
        "mailbox.dkim_yes": "Signeret",
        "mailbox.dkim_no": "Ikke signeret",
    },
    "en": {
        "app.name": "The Joint Municipal Evening Hotline",
        "app.tagline": "Shared evening and weekend hotline for the kommuner's citizen services",
        "nav.skip": "Skip to content",
        "nav.main": "Main menu",
        "nav.directory": "Kommuner",
        "nav.wallboard": "Wallboard",
        "nav.api": "API",
        "nav.language": "Dansk",
        "nav.language_code": "da",
        "nav.login": "Sign in",
        "nav.logout": "Sign out",
        "nav.logout_everywhere": "Sign out everywhere",
        "nav.me": "My page",
        "login.title": "Sign in",
        "login.lead": "Staff sign in through their own kommune's login. Choose your kommune.",
        "login.choose": "Choose your kommune",
        "login.demo_title": "Demo: sign in as",
        "login.demo_lead": "The demo uses a local development provider where you pick a person instead of a password.",
        "login.demo_as.agent": "Evening agent from {kommune}",
        "login.demo_as.admin": "Kommune admin of {kommune}",
        "login.demo_as.coordinator": "Coordinator (the federation's secretariat in {kommune})",
        "me.title": "My page",
        "me.name": "Name",
        "me.home": "Home kommune",
        "me.roles": "Roles",
        "me.federation_wide": "the whole federation",
        "me.for_kommune": "kommune {code}",
        "me.administration": "Administration",
        "me.audit_link": "Audit log of kommune {code}",
        "me.tokens_link": "API tokens and webhook secrets of kommune {code}",
        "me.session": "Session",
        "role.agent": "Agent",
        "role.kommune_admin": "Kommune admin",
        "role.coordinator": "Coordinator",
        "role.auditor": "Auditor",
        "audit.title": "Audit log · kommune {code}",
        "audit.action": "Action",
        "audit.actor": "Actor",
        "audit.since": "From date",
        "audit.until": "To date",
        "audit.filter": "Filter",
        "audit.export": "Download as CSV",
        "audit.empty": "No entries.",
        "audit.col.at": "Time",
        "audit.col.outcome": "Outcome",
        "audit.col.role": "Role",
        "audit.col.target": "What",
        "audit.col.ip": "IP address",
        "tokens.title": "Machine access · kommune {code}",
        "tokens.shown_once": "Copy the value now: it is shown this once only.",
        "tokens.api_tokens": "API tokens",
        "tokens.webhook_secrets": "Webhook secrets (telephony)",
        "tokens.name": "Name",
        "tokens.permissions": "Permissions",
        "tokens.created": "Created",
        "tokens.last_used": "Last used",
        "tokens.state": "State",
        "tokens.never": "Never",
        "tokens.revoked": "Revoked",
        "tokens.revoke": "Revoke",
        "tokens.create": "Create API token",
        "tokens.create_secret": "Create webhook secret",
        "directory.title": "Kommuner in the federation",
        "directory.lead": (
            "All 98 kommuner. Members forward their citizen service to the hotline outside opening hours."
        ),
        "directory.filter": "Find a kommune",
        "directory.filter_hint": "Type a name or kommune code",
        "directory.only_members": "Members only",
        "directory.summary": "{members} members · {open} kommuner are open now · {closed} are closed",
        "directory.col.code": "Code",
        "directory.col.name": "Kommune",
        "directory.col.region": "Region",
        "directory.col.member": "Member",
        "directory.col.status": "Citizen service",
        "directory.updated": "Updated {time}",
        "member.yes": "Member",
        "member.no": "Not a member",
        "status.open": "Open now",
        "status.open_until": "Open until {time}",
        "status.closed": "Closed",
        "status.opens": "Opens {when}",
        "status.never": "No coming opening hours",
        "when.today": "today at {time}",
        "when.tomorrow": "tomorrow at {time}",
        "when.weekday": "{weekday} {date} at {time}",
        "tenant.numbers": "Phone numbers",
        "tenant.hours": "Opening hours",
        "tenant.closures": "Closing days in the next 60 days",
        "tenant.no_closures": "No closing days in the next 60 days.",
        "tenant.whole_day": "all day",
        "tenant.from": "from {time}",
        "tenant.departments": "Departments",
        "tenant.topics": "Topics",
        "tenant.own_hours": "Own opening hours",
        "tenant.letterhead": "Letterhead and sender",
        "tenant.sender": "Sender",
        "tenant.reply_to": "Reply to",
        "tenant.retention": "Contact data is deleted after {days} days",
        "tenant.languages": "Languages",
        "tenant.demo": "Demo data: the contact details are made up and reach no real kommune.",
        "tenant.population": "Population",
        "tenant.back": "Back to all kommuner",
        "tenant.closed_day": "Closed",
        "error.not_found": "Page not found",
        "error.title": "Something went wrong",
        "error.title.401": "Sign in to see this page",
        "error.title.403": "No access",
        "error.title.429": "Too many requests",
        "error.text.400": "The request could not be used. Check what you typed or chose, and try again.",
        "error.text.401": "This page needs you to be signed in.",
        "error.text.403": "You do not have access to this page. It belongs to another role or another kommune.",
        "error.text.404": "There is nothing at this address. Check it, or carry on from the front page.",
        "error.text.405": "This page cannot be used that way (wrong method).",
        "error.text.409": "Something changed in the meantime. Load the page again and retry.",
        "error.text.413": "What was sent is too large.",
        "error.text.422": "The form could not be used. Check the fields and try again.",
        "error.text.429": "You sent too many requests in a short time. Wait a moment and try again.",
        "error.text.500": "Something went wrong on our side, and it has been logged. Try again in a moment.",
        "error.text.502": "A service this page depends on did not answer as expected. Try again in a moment.",
        "error.text.503": "The service is temporarily unavailable. Try again in a moment.",
        "error.text.other": "The request could not be completed.",
        "error.technical": "Technical message",
        "error.to_start": "To your start page",
        "error.sign_in": "Sign in",
        "kb.title": "Knowledge bank",
        "kb.lead": "Search the shared rules and the chosen kommune's own rules. The kommune's answers come first.",
        "kb.kommune": "Caller's kommune",
        "kb.all_general": "Shared rules only",
        "kb.search": "Search",
        "kb.search_hint": "E.g. bulky waste, passport or moving",
        "kb.hits": "Results: {count} ({ms} ms)",
        "kb.no_hits": "No articles match the search.",
        "kb.rules_for": "Rules in force for kommune {kommune}",
        "kb.not_offered": "Not offered in this kommune",
        "kb.handoff": "Handed off to the kommune",
        "kb.solve": "The hotline can solve it",
        "kb.surge": "Important notice for all agents",
        "kb.not_ready": "The knowledge bank is starting. Try again in a moment.",
        "kb.stale": "The knowledge bank connection is down; you see version {revision}, which may be out of date.",
        "kb.scope.general": "Shared",
        "kb.scope.surge": "Notice",
        "kb.back": "Back to the search",
        "kb.links": "Self-service",
        "kb.demo": "Demo content: not authoritative guidance",
        "kb.field.scope": "Applies to",
        "kb.field.topic": "Topic",
        "kb.field.handling": "Handling",
        "kb.field.version": "Version",
        "kb.field.note": "Note",
        "kb.landing.surge": "Surge notices now",
        "kb.landing.no_surge": (
            "No surge notices right now. When the coordinator sends one, it is shown here and at the top of the agent "
            "console."
        ),
        "kb.landing.topics": "Topics",
        "kb.landing.topics_for": "Topics: the shared rule and {kommune}'s rule",
        "kb.landing.topics_lead": (
            "The shared rule on each topic. Choose the caller's kommune above to see the kommune's own rule beside it."
        ),
        "kb.landing.topics_lead_kommune": "How the agents answer a citizen of {kommune} on each topic.",
        "kb.landing.topic": "Topic",
        "kb.landing.general": "Shared rule",
        "kb.landing.no_general": "No shared article",
        "kb.landing.general_applies": "The shared rule applies",
        "kb.landing.mode.add": "adds to the shared rule",
        "kb.landing.mode.replace": "replaces the shared rule",
        "kb.landing.without": "Topics without articles yet: {topics}.",
        "weekday.0": "Monday",
        "weekday.1": "Tuesday",
        "weekday.2": "Wednesday",
        "weekday.3": "Thursday",
        "weekday.4": "Friday",
        "weekday.5": "Saturday",
        "weekday.6": "Sunday",
        # letters (issue 6)
        "letters.compose_title": "Write a reply on the kommune's letterhead",
        "letters.compose_lead": (
            "The reply is sent as an e-mail with a PDF under the letterhead of kommune {code}. Write plain text: a "
            "blank line starts a new paragraph, and web addresses become links."
        ),
        "letters.refused": "The letter was not sent:",
        "letters.template": "Template",
        "letters.use_template": "Use template",
        "letters.recipient": "The citizen's e-mail address",
        "letters.subject": "Subject",
        "letters.text": "Text",
        "letters.text_hint": "No CPR numbers: anything with a CPR number must be sent through Digital Post.",
        "letters.preview_email": "Preview e-mail",
        "letters.preview_pdf": "Preview PDF",
        "letters.send": "Send",
        "letters.preview_heading": "The e-mail as the citizen will see it",
        "letters.recent": "Recent letters",
        "letters.status": "Status",
        "letters.status.queued": "Queued",
        "letters.status.sending": "Sending",
        "letters.status.sent": "Sent",
        "letters.status.failed": "Failed",
        "letters.reason": "Reason",
        "letters.attempts": "Attempts",
        "letters.created": "Created",
        "letters.sent_at": "Sent",
        "letters.refresh": "Refresh status",
        "letters.new": "Write another letter",
        "letters.letterhead_title": "Letterhead · kommune {code}",
        "letters.letterhead_lead": (
            "A sample letter with the kommune's logo, colours, address, signature and footer, exactly as citizens "
            "receive it."
        ),
        "letters.letterhead_sample": "Download the sample letter (PDF)",
        "mailbox.title": "Demo mailbox",
        "mailbox.lead": "Every e-mail the demo's local SMTP server received, shown as the citizen sees it.",
        "mailbox.empty": "The mailbox is empty.",
        "mailbox.received": "Received",
        "mailbox.from": "From",
        "mailbox.to": "To",
        "mailbox.pdf": "Attached PDF: {name}",
        "mailbox.html": "E-mail (HTML)",
        "mailbox.text": "E-mail (plain text)",
        "mailbox.dkim_yes": "Signed",
        "mailbox.dkim_no": "Not signed",
    },
}


# Areas added later keep their texts beside their code (``hotline/<area>/messages.py``, a ``MESSAGES`` dict of the
# same shape) so that each area's screens and their words change together.
AREA_MESSAGE_MODULES: Final = (
    "hotline.calls.messages",
    "hotline.handoffs.messages",
    "hotline.figures.messages",
    "hotline.federation.messages",
    "hotline.knowledge.messages",
    "hotline.letters.messages",
    "hotline.identity.messages",
)


def _merged() -> dict[str, dict[str, str]]:
    merged = {language: dict(texts) for language, texts in CORE_MESSAGES.items()}
    for module_name in AREA_MESSAGE_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module_name.startswith(exc.name):
                raise  # the area exists but something it imports is missing
            continue
        for language, texts in module.MESSAGES.items():
            clashes = set(texts) & set(merged[language])
            if clashes:
                raise RuntimeError(f"{module_name} redefines message keys {sorted(clashes)}")
            merged[language].update(texts)
    return merged


MESSAGES: Final[dict[str, dict[str, str]]] = _merged()


def pick_language(query: str | None, cookie: str | None) -> str:
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return candidate
    return DEFAULT_LANGUAGE


def translate(language: str, key: str, **values: object) -> str:
    """The text of ``key`` in ``language`` (Danish when missing there), filled with ``values``. With ``count=1`` a
    ``<key>.one`` text is used when there is one: "1 overdragelse", not "1 overdragelser"."""
    if values.get("count") == 1 and (
        f"{key}.one" in MESSAGES.get(language, {}) or f"{key}.one" in MESSAGES[DEFAULT_LANGUAGE]
    ):
        key = f"{key}.one"
    text = MESSAGES.get(language, MESSAGES[DEFAULT_LANGUAGE]).get(key) or MESSAGES[DEFAULT_LANGUAGE].get(key, key)
    return text.format(**values) if values else text


def format_when(language: str, moment: dt.datetime, now: dt.datetime) -> str:
    """ "i dag kl. 10:00", "i morgen kl. 10:00", "mandag 30.11. kl. 10:00", in ``moment``'s own time zone."""
    local_now = now.astimezone(moment.tzinfo)
    time = moment.strftime("%H:%M")
    days = (moment.date() - local_now.date()).days
    if days == 0:
        return translate(language, "when.today", time=time)
    if days == 1:
        return translate(language, "when.tomorrow", time=time)
    weekday = translate(language, f"weekday.{moment.weekday()}")
    date = f"{moment.day}.{moment.month}." if language == "da" else moment.strftime("%-d %b")
    return translate(language, "when.weekday", weekday=weekday, date=date, time=time)
