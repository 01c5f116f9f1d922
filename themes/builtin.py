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

# For low vision and washed-out projectors: pure black and white, saturated signal colours,
# and text at full strength (a text_alpha below 1 would blend it into the background).
HELPDESK_HIGH_CONTRAST = Theme(
    name="helpdesk-high-contrast",
    primary="#00ffff",
    secondary="#ffffff",
    accent="#ffff00",
    warning="#ffff00",
    error="#ff3030",
    success="#00ff00",
    foreground="#ffffff",
    background="#000000",
    surface="#000000",
    panel="#1a1a1a",
    dark=True,
    text_alpha=1.0,
    # The cursor row: black on the bright primary, not the default light text on it.
    variables={
        "block-cursor-foreground": "#000000",
        "block-cursor-text-style": "bold",
        "input-selection-background": "#00ffff 60%",
    },
)

BUILTIN_THEMES = (HELPDESK_DARK, HELPDESK_LIGHT, HELPDESK_HIGH_CONTRAST)
DEFAULT_THEME = HELPDESK_DARK.name
