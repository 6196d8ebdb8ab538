"""The production proxy's Content-Security-Policy and the e-mail previews: every page may be framed by no one,
except the sandboxed e-mail previews, which carry the app's own policy and may be framed by the hotline's pages."""

from __future__ import annotations

import re
from pathlib import Path

from hotline.letters.controllers import MAIL_CSP

CADDYFILE = Path(__file__).resolve().parents[2] / "deploy" / "caddy" / "Caddyfile"


def _matcher(name: str) -> tuple[bool, re.Pattern[str]]:
    text = CADDYFILE.read_text(encoding="utf-8")
    found = re.search(rf"^\s*@{name}\s+(not\s+)?path_regexp\s+\w+\s+(\S+)\s*$", text, flags=re.MULTILINE)
    assert found, f"no @{name} matcher in the Caddyfile"
    return bool(found.group(1)), re.compile(found.group(2))


def _headers_for(matcher: str) -> dict[str, str]:
    text = CADDYFILE.read_text(encoding="utf-8")
    return dict(re.findall(rf'^\s*header\s+@{matcher}\s+([\w-]+)\s+"([^"]+)"', text, flags=re.MULTILINE))


PREVIEWS = ("/letters/0615/preview/email", "/demo/mailbox/20261125-abc.eml/html")
OTHERS = (
    "/letters/0615/compose",
    "/letters/0615/preview/pdf",
    "/letters/0615/preview/email/x",
    "/x/letters/0615/preview/email",
    "/demo/mailbox/",
    "/demo/mailbox/a/b/html",
    "/agent",
    "/",
)


def test_only_the_mail_previews_escape_the_strict_policy() -> None:
    negated, previews = _matcher("mail_preview")
    assert not negated
    negated_other, others = _matcher("not_mail_preview")
    assert negated_other
    assert previews.pattern == others.pattern  # the two matchers are exact complements
    for path in PREVIEWS:
        assert previews.search(path), path
    for path in OTHERS:
        assert not previews.search(path), path


def test_every_other_response_gets_frame_ancestors_none_and_previews_only_same_origin_framing() -> None:
    strict = _headers_for("not_mail_preview")
    assert "frame-ancestors 'none'" in strict["Content-Security-Policy"]
    assert strict["X-Frame-Options"] == "DENY"
    previews = _headers_for("mail_preview")
    assert "Content-Security-Policy" not in previews  # the app's own MAIL_CSP passes through unchanged
    assert previews["X-Frame-Options"] == "SAMEORIGIN"


def test_the_apps_preview_policy_is_sandboxed_scriptless_and_frameable_by_the_hotline_only() -> None:
    directives = {part.split()[0]: part.split()[1:] for part in MAIL_CSP.split(";") if part.strip()}
    assert directives["default-src"] == ["'none'"]
    assert "sandbox" in directives
    assert "script-src" not in directives
    assert directives["frame-ancestors"] == ["'self'"]
