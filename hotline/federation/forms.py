"""A refused federation form shown again: which form on the page was refused, the field the refusal names, the
text shown next to that field in the reader's language, and what the author typed (so nothing has to be typed
twice). One page can hold several forms with fields of the same name (the rota's single and bulk planning), hence
the form name beside the field."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from hotline.federation.schemas import FederationError
from hotline.web.i18n import translate

# Refusals that name no input of the form are shown beside the nearest one (the weights' sum after the three
# weights) or, failing that, only in the summary at the top of the form.
FIELD_OF: dict[str, str] = {"weights": "weight_population"}


def form_text(form: dict[str, Any], name: str, limit: int = 100) -> str:
    value = form.get(name, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value)[:limit]


def form_list(form: dict[str, Any], name: str) -> list[str]:
    value = form.get(name, [])
    return [str(v)[:20] for v in (value if isinstance(value, list) else [value])]


def error_text(error: FederationError, language: str) -> str:
    return translate(language, f"federation.error.{error.key}", **error.values)


@dataclass(frozen=True)
class Refusal:
    form: str = ""
    field: str = ""
    text: str = ""
    values: dict[str, Any] = dataclasses.field(default_factory=dict)
    shift_id: int | None = None

    @classmethod
    def of(
        cls, form: str, error: FederationError, values: dict[str, Any], language: str, shift_id: int | None = None
    ) -> Refusal:
        return cls(form, FIELD_OF.get(error.field, error.field), error_text(error, language), values, shift_id)

    def error(self, form: str, name: str) -> str:
        """The text to show next to ``name`` of ``form`` (empty when that field was not refused)."""
        return self.text if self.form == form and self.field == name else ""

    def value(self, form: str, name: str, default: Any = "") -> str:
        """What the author typed into ``name`` when ``form`` was refused, else ``default``."""
        if self.form != form or name not in self.values:
            return str(default)
        return form_text(self.values, name, 200)

    def chosen(self, form: str, name: str, option: str, default: bool) -> bool:
        """Whether a checkbox ``option`` of ``name`` stays ticked."""
        if self.form != form:
            return default
        return option in form_list(self.values, name)


NONE = Refusal()
