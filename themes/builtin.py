"""The themes that ship with helpdesk, as Textual themes."""

from __future__ import annotations

from textual.theme import Theme

HELPDESK_DARK = Theme(
    name="helpdesk-dark",
    primary="#5fafd7",
    secondary="#87afaf",
    accent="#d7af5f",
    warning="#d7af00",
    error="#ff5f5f",
    success="#87d787",
    foreground="#d0d0d0",
    background="#1c1c1c",
    surface="#262626",
    panel="#303030",
    dark=True,
)

HELPDESK_LIGHT = Theme(
    name="helpdesk-light",
    primary="#005f87",
    secondary="#5f8787",
    accent="#875f00",
    warning="#875f00",
    error="#af0000",
    success="#005f00",
    foreground="#1c1c1c",
    background="#f5f5f5",
    surface="#e8e8e8",
    panel="#dadada",
    dark=False,
)

BUILTIN_THEMES = (HELPDESK_DARK, HELPDESK_LIGHT)
DEFAULT_THEME = HELPDESK_DARK.name
