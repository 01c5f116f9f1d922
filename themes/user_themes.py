"""Themes that users add as TOML files, one theme per file, in ``<config dir>/helpdesk/themes``.

A file names its theme and gives Textual's theme colours::

    name = "solarized-support"
    dark = true
    primary = "#268bd2"
    background = "#002b36"
    [variables]
    footer-key-foreground = "#b58900"

A file with a mistake is reported (path, line, key, what was expected) and skipped: a typo in
a theme must never keep an agent from working.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.color import Color, ColorParseError
from textual.theme import Theme

from helpdesk.core.config import ConfigError, _Reader, _syntax_error

__all__ = ["THEME_COLOURS", "ThemeLoad", "load_user_themes", "parse_theme"]

THEME_COLOURS = (
    "primary",
    "secondary",
    "accent",
    "warning",
    "error",
    "success",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)
_KEYS = ("name", *THEME_COLOURS, "dark", "luminosity_spread", "text_alpha", "variables")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_VARIABLE = re.compile(r"^[a-z][a-z0-9-]*$")
_COLOUR = 'a colour like "#268bd2", "rgb(38,139,210)" or "red"'


@dataclass(frozen=True, slots=True)
class ThemeLoad:
    themes: tuple[Theme, ...]
    problems: tuple[str, ...]  # one line each, "PATH:LINE: key: expected ..."


def _name(value: object) -> str | None:
    return value if isinstance(value, str) and _NAME.match(value) else None


def _colour(value: object) -> str | None:
    if not isinstance(value, str) or not value.isprintable():
        return None
    try:
        Color.parse(value)
    except ColorParseError:
        return None
    return value


def _bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _fraction(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
        return float(value)
    return None


def _variables(r: _Reader, value: object) -> dict[str, str]:
    path = ("variables",)
    if not isinstance(value, dict):
        r.problem(path, "a table of variable names and values", value)
        return {}
    out: dict[str, str] = {}
    for key, item in value.items():
        if not _VARIABLE.match(key):
            r.problem((*path, key), "a variable name of lower-case letters, digits and '-'")
        elif not isinstance(item, str) or not item.strip() or not item.isprintable():
            r.problem((*path, key), "a non-empty one-line string", item)
        else:
            out[key] = item.strip()
    return out


def parse_theme(text: str, source: str, taken: Collection[str] = ()) -> Theme:
    """A theme from one file's text; :class:`ConfigError` lists every problem in it.

    ``taken``: names already in use (built-in themes, earlier files), which may not be reused:
    the same name meaning two looks on two machines would confuse a team.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise _syntax_error(source, text, err) from None
    r = _Reader(text)
    t: Mapping[str, Any] = r.table(data, (), _KEYS) or {}
    name = r.get(t, (), "name", _name, "a theme name of letters, digits, '.', '_' or '-'")
    if name is not None and name in taken:
        r.problem(("name",), "a name no other theme has", name, detail="name already taken")
    colours = {key: r.get(t, (), key, _colour, _COLOUR, None) for key in THEME_COLOURS}
    if "primary" not in t:
        r.problem(("primary",), _COLOUR, detail="missing")
    dark = r.get(t, (), "dark", _bool, "true or false", True)
    spread = r.get(t, (), "luminosity_spread", _fraction, "a number from 0 to 1", 0.15)
    alpha = r.get(t, (), "text_alpha", _fraction, "a number from 0 to 1", 0.95)
    variables = _variables(r, t["variables"]) if "variables" in t else {}
    if r.problems or name is None or colours["primary"] is None:
        raise ConfigError(source, r.problems)
    theme = Theme(
        name=name,
        primary=colours["primary"],
        secondary=colours["secondary"],
        accent=colours["accent"],
        warning=colours["warning"],
        error=colours["error"],
        success=colours["success"],
        foreground=colours["foreground"],
        background=colours["background"],
        surface=colours["surface"],
        panel=colours["panel"],
        boost=colours["boost"],
        dark=True if dark is None else dark,
        luminosity_spread=0.15 if spread is None else spread,
        text_alpha=0.95 if alpha is None else alpha,
        variables=variables,
    )
    try:
        # Textual derives the shades only when the theme is used: fail here, not mid-draw.
        theme.to_color_system().generate()
    except (ColorParseError, ValueError, TypeError) as err:
        raise ConfigError.single(source, "", "a theme Textual can use", detail=str(err)) from None
    return theme


def load_user_themes(directory: Path, taken: Collection[str] = ()) -> ThemeLoad:
    """Every ``*.toml`` theme in ``directory`` (absent: none), in file-name order; a bad file
    is left out and described in ``problems``, as is a second file with a name in use."""
    themes: list[Theme] = []
    problems: list[str] = []
    try:
        files = sorted(p for p in directory.glob("*.toml") if p.is_file())
    except OSError as err:
        return ThemeLoad((), (f"{directory}: cannot list the themes: {err.strerror}",))
    used = set(taken)
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            reason = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
            problems.append(f"{path}: cannot read: {reason}")
            continue
        try:
            theme = parse_theme(text, str(path), used)
        except ConfigError as err:
            problems.extend(str(err).splitlines())
            continue
        used.add(theme.name)
        themes.append(theme)
    return ThemeLoad(tuple(themes), tuple(problems))
