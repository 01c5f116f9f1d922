"""The ``[automation]`` table of ``helpdesk.toml``: which template acknowledges a new ticket,
which one answers outside business hours, and how many automatic replies may go out.

Example::

    [automation]
    acknowledge = "acknowledgement"          # every new ticket ("" or left out: none)
    out_of_hours = "out of hours"            # instead, when the mail came outside hours
    per_sender_per_day = 3
    per_ticket = 1

    [automation.acknowledge_by_address]      # by the address the customer wrote to
    "sales@example.com" = "sales acknowledgement"

    [automation.acknowledge_by_language]     # by the language the customer wrote in
    cs = "potvrzení"
    [automation.out_of_hours_by_language]
    cs = "mimo pracovní dobu"

An address's own acknowledgement comes first, then the language's, then the general one.

Template names are those of ``[[templates]]`` or the templates folder; a name that no template
has is reported when the mail is about to be built (the folder is read then, not here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .language_guess import LANGUAGES, primary_subtag
from .loop_guard import AutoReplyLimits

if TYPE_CHECKING:
    from .config import _Reader

__all__ = ["AUTOMATION_KEYS", "DEFAULT_AUTOMATION", "AutomationSettings", "read_automation"]

AUTOMATION_KEYS = (
    "acknowledge",
    "acknowledge_by_address",
    "acknowledge_by_language",
    "out_of_hours",
    "out_of_hours_by_language",
    "per_sender_per_day",
    "per_ticket",
)
_MAX_LIMIT = 100


@dataclass(frozen=True, slots=True)
class AutomationSettings:
    acknowledge: str | None = None  # template name
    out_of_hours: str | None = None  # template name
    # lower-cased address the customer wrote to -> template name
    acknowledge_by_address: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # language code ("cs") -> template name
    acknowledge_by_language: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    out_of_hours_by_language: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({})
    )
    limits: AutoReplyLimits = field(default_factory=AutoReplyLimits)

    @property
    def sends_anything(self) -> bool:
        return bool(
            self.acknowledge
            or self.out_of_hours
            or self.acknowledge_by_address
            or self.acknowledge_by_language
            or self.out_of_hours_by_language
        )

    @property
    def answers_out_of_hours(self) -> bool:
        return bool(self.out_of_hours or self.out_of_hours_by_language)

    def acknowledgement_for(self, recipients: list[str], language: str | None = None) -> str | None:
        """The acknowledgement template for mail to these addresses (the first address with
        its own template wins), else the one of the customer's language, else the general one."""
        for address in recipients:
            found = self.acknowledge_by_address.get(address.lower())
            if found:
                return found
        return self.acknowledge_by_language.get(language or "") or self.acknowledge

    def out_of_hours_for(self, language: str | None = None) -> str | None:
        return self.out_of_hours_by_language.get(language or "") or self.out_of_hours


DEFAULT_AUTOMATION = AutomationSettings()


def _by_language(r: _Reader, t: Mapping[str, Any], sub: tuple[str, ...]) -> Mapping[str, str]:
    found: dict[str, str] = {}
    raw: Any = t.get(sub[-1], {})
    if not isinstance(raw, dict):
        r.problem(sub, 'a table of language = "template name", like cs = "potvrzení"', raw)
        return MappingProxyType(found)
    for language, name in raw.items():
        code = primary_subtag(language)
        if code not in LANGUAGES or code != language.strip().lower():
            r.problem((*sub, language), f"a language code, one of {', '.join(LANGUAGES)}", language)
            continue
        checked = _template_name(name)
        if not checked:
            r.problem((*sub, language), "a template name", name)
            continue
        found[code] = checked
    return MappingProxyType(found)


def _template_name(value: object) -> str | None:
    if isinstance(value, str) and value.isprintable() and len(value) <= 200:
        return value.strip()
    return None


def _limit(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_LIMIT:
        return value
    return None


def read_automation(r: _Reader, value: object) -> AutomationSettings:
    """The automation settings of a parsed file; problems go to ``r``."""
    # Imported here: config imports this module's reader function lazily, and this one
    # needs config's checkers.
    from .config import _email

    path = ("automation",)
    t = r.table(value, path, AUTOMATION_KEYS) or {}
    name_expected = 'a template name (or "" for none)'
    ack = r.get(t, path, "acknowledge", _template_name, name_expected, "")
    ooh = r.get(t, path, "out_of_hours", _template_name, name_expected, "")
    defaults = AutoReplyLimits()
    per_sender = r.get(
        t,
        path,
        "per_sender_per_day",
        _limit,
        f"a whole number from 0 to {_MAX_LIMIT}",
        defaults.per_sender_per_day,
    )
    per_ticket = r.get(
        t, path, "per_ticket", _limit, f"a whole number from 0 to {_MAX_LIMIT}", defaults.per_ticket
    )
    by_address: dict[str, str] = {}
    raw: Any = t.get("acknowledge_by_address", {})
    sub = (*path, "acknowledge_by_address")
    if not isinstance(raw, dict):
        r.problem(sub, 'a table of "address" = "template name"', raw)
    else:
        for address, name in raw.items():
            email = _email(address)
            if email is None:
                r.problem((*sub, address), "an email address as the key", address)
                continue
            checked = _template_name(name)
            if not checked:
                r.problem((*sub, address), "a template name", name)
                continue
            by_address[email.lower()] = checked
    return AutomationSettings(
        acknowledge=ack or None,
        out_of_hours=ooh or None,
        acknowledge_by_address=MappingProxyType(by_address),
        acknowledge_by_language=_by_language(r, t, (*path, "acknowledge_by_language")),
        out_of_hours_by_language=_by_language(r, t, (*path, "out_of_hours_by_language")),
        limits=AutoReplyLimits(
            per_sender_per_day=defaults.per_sender_per_day if per_sender is None else per_sender,
            per_ticket=defaults.per_ticket if per_ticket is None else per_ticket,
            window=timedelta(days=1),
        ),
    )
