"""Keymap overrides, the help screen, themes (built-in and users'), and the command palette."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mailbuild import message
from test_search_screen import NOW, make_ws, wait_until
from textual.binding import Binding
from textual.widgets import Footer, Static

from helpdesk.core.config import ConfigError, parse_config
from helpdesk.core.tickets import Queue
from helpdesk.storage.workspace import Workspace
from helpdesk.themes.builtin import BUILTIN_THEMES, DEFAULT_THEME
from helpdesk.themes.user_themes import load_user_themes, parse_theme
from helpdesk.tui.app import HelpdeskApp, make_app
from helpdesk.tui.keymap import binding_classes, collect_bindings
from helpdesk.tui.screens.help import HelpScreen
from helpdesk.tui.screens.queue import QueueScreen
from helpdesk.tui.screens.search import SearchScreen

RAWS = [
    message("a1@c.example", subject="Objednávka 1", date="Mon, 02 Nov 2026 09:00:00 +0000"),
    message("b1@c.example", subject="Faktura 77", date="Tue, 03 Nov 2026 08:00:00 +0000"),
]

GOOD_THEME = """
name = "ocean"
primary = "#268bd2"
background = "#002b36"
dark = true
[variables]
footer-key-foreground = "#b58900"
"""

BAD_THEME = """
name = "broken"
primary = "#268bd2"
background = "not-a-colour"
"""


def workspace(tmp_path: Path, config: str = "") -> Workspace:
    return make_ws(tmp_path, RAWS, config)


def app_for(ws: Workspace, themes: Path | None = None) -> HelpdeskApp:
    assert ws.settings.source is not None
    folder = themes if themes is not None else Path(ws.settings.source).parent / "no-themes"
    return make_app(ws, clock=lambda: NOW, user_themes=folder)


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    w = workspace(tmp_path)
    yield w
    w.close()


# -- configuration ------------------------------------------------------------------------


def parse(text: str) -> object:
    return parse_config(text, "/etc/helpdesk.toml", default_agent=("a", "a@example.com"))


def test_keymap_and_theme_settings_parse() -> None:
    settings = parse(
        '[keymap]\n"queue.claim" = "c, ctrl+k"\nqueue.release = ["R"]\n[ui]\ntheme = "ocean"\n'
    )
    entries = {e.binding: e for e in settings.keymap}  # type: ignore[attr-defined]
    assert entries["queue.claim"].keys == ("c", "ctrl+k")
    assert entries["queue.claim"].line == 2
    assert entries["queue.release"].keys == ("R",)
    assert settings.ui.theme == "ocean"  # type: ignore[attr-defined]


@pytest.mark.parametrize("keys", ['""', '"c,,d"', '"ctrl+"', '"hyperx+c"', "3", "[]", '"c d"'])
def test_bad_keys_name_file_line_and_key(keys: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(f'[agent]\nname = "A"\n[keymap]\n"queue.claim" = {keys}\n')
    assert err.value.line == 4
    assert err.value.key == "keymap.queue.claim"
    assert str(err.value).startswith("/etc/helpdesk.toml:4: keymap.queue.claim: expected keys")


def test_unknown_ui_key_is_an_error() -> None:
    with pytest.raises(ConfigError) as err:
        parse('[ui]\nthem = "x"\n')
    assert err.value.key == "ui.them" and 'did you mean "theme"' in str(err.value)


def test_unknown_binding_id_is_a_precise_error(tmp_path: Path) -> None:
    w = workspace(tmp_path, '[keymap]\n"queue.claim" = "x"\n"queue.clam" = "y"\n')
    try:
        with pytest.raises(ConfigError) as err:
            app_for(w)
        (problem,) = err.value.problems
        assert err.value.source == str(tmp_path / "helpdesk.toml")
        assert problem.key == "keymap.queue.clam"
        lines = (tmp_path / "helpdesk.toml").read_text().splitlines()
        assert problem.line == lines.index('"queue.clam" = "y"') + 1
        assert "unknown binding id" in str(err.value)
        assert '"queue.claim"' in str(err.value)  # the close match is offered
        assert "binding ids" in problem.expected
    finally:
        w.close()


def test_every_binding_has_an_id_and_a_tooltip() -> None:
    for cls in binding_classes(HelpdeskApp):
        for item in cls.__dict__.get("BINDINGS", ()):
            assert isinstance(item, Binding), f"{cls.__name__}: {item!r} is not a Binding"
            assert item.id, f"{cls.__name__}: {item.key} has no id"
            assert item.tooltip, f"{cls.__name__}: {item.id} has no tooltip"
    known = collect_bindings(binding_classes(HelpdeskApp))
    assert {"app.help", "app.search", "queue.claim", "search.back", "help.close"} <= set(known)


# -- keymap in the running app ----------------------------------------------------------------


def footer_keys(app: HelpdeskApp) -> list[str]:
    footer = app.screen.query_one(Footer)
    return [str(k.key_display) for k in footer.query("FooterKey")]  # type: ignore[attr-defined]


async def test_keymap_override_rebinds_and_shows(tmp_path: Path) -> None:
    w = workspace(tmp_path, '[keymap]\n"queue.claim" = "x"\n"app.search" = "ctrl+f,f"\n')
    try:
        app = app_for(w)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_until(pilot, lambda: app.team_state.startswith("team: online"))
            await pilot.press("c")  # the default key no longer claims
            await pilot.pause(0.2)
            assert w.cache.count_tickets(Queue.MINE, w.agent) == 0
            await pilot.press("x")
            await wait_until(pilot, lambda: w.cache.count_tickets(Queue.MINE, w.agent) == 1)
            assert "x" in footer_keys(app)
            await pilot.press("f")
            await wait_until(pilot, lambda: isinstance(app.screen, SearchScreen))
    finally:
        w.close()


async def test_help_lists_the_screens_keys_with_overrides(tmp_path: Path) -> None:
    w = workspace(tmp_path, '[keymap]\n"queue.claim" = "x,ctrl+k"\n')
    try:
        app = app_for(w)
        async with app.run_test(size=(100, 40)) as pilot:
            await pilot.press("question_mark")
            await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
            screen = app.screen
            assert isinstance(screen, HelpScreen)
            rows = {r.binding_id: r for g in screen.groups for r in g.rows if r.binding_id}
            assert rows["queue.claim"].keys == ("x", "^k")
            assert rows["queue.claim"].tooltip == "Take the selected ticket"
            assert rows["app.search"].keys == ("/",)
            titles = [g.title for g in screen.groups]
            assert titles[0] == "Queue" and titles[-1] == "Everywhere"
            assert "Ticket table" in titles
            everywhere = {r.binding_id for r in screen.groups[-1].rows}
            assert {"app.help", "app.handle_next", "app.sync", "app.search"} <= everywhere
            drawn = "\n".join(
                "".join(seg.text for seg in static.render_line(y))
                for static in screen.query(Static)
                for y in range(static.size.height)
            )
            assert "Take the selected ticket  queue.claim" in drawn and "x, ^k" in drawn
            await pilot.press("question_mark")
            await wait_until(pilot, lambda: isinstance(app.screen, QueueScreen))
    finally:
        w.close()


async def test_help_over_the_search_screen_lists_its_keys(ws: Workspace) -> None:
    app = app_for(ws)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("slash")
        await wait_until(pilot, lambda: isinstance(app.screen, SearchScreen))
        # "?" is text in the search box: help comes from the palette or the screen's action.
        app.action_toggle_help()
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert isinstance(app.screen, HelpScreen)
        ids = {r.binding_id for g in app.screen.groups for r in g.rows}
        assert {"search.back", "search.down"} <= ids
        assert "queue.claim" not in ids


# -- themes ------------------------------------------------------------------------------------


def test_builtin_themes() -> None:
    names = [t.name for t in BUILTIN_THEMES]
    assert names == ["helpdesk-dark", "helpdesk-light", "helpdesk-high-contrast"]
    assert DEFAULT_THEME == "helpdesk-dark"
    for theme in BUILTIN_THEMES:
        theme.to_color_system().generate()


def test_user_theme_parsing(tmp_path: Path) -> None:
    theme = parse_theme(GOOD_THEME, "ocean.toml")
    assert theme.name == "ocean" and theme.primary == "#268bd2"
    assert theme.variables == {"footer-key-foreground": "#b58900"}
    with pytest.raises(ConfigError) as err:
        parse_theme(GOOD_THEME, "x.toml", taken=["ocean"])
    assert err.value.key == "name"
    with pytest.raises(ConfigError) as err:
        parse_theme('name = "n"\nprimary = "#fff"\ncolour = "red"\n', "x.toml")
    assert err.value.key == "colour" and err.value.line == 3
    with pytest.raises(ConfigError) as err:
        parse_theme('name = "n"\n', "x.toml")
    assert err.value.key == "primary"


def test_bad_theme_files_are_reported_and_skipped(tmp_path: Path) -> None:
    (tmp_path / "a-ocean.toml").write_text(GOOD_THEME)
    (tmp_path / "b-broken.toml").write_text(BAD_THEME)
    (tmp_path / "c-syntax.toml").write_text('name = "unterminated\n')
    (tmp_path / "d-latin1.toml").write_bytes(b'name = "\xe9"\n')
    (tmp_path / "e-dup.toml").write_text(GOOD_THEME)
    loaded = load_user_themes(tmp_path, taken=["helpdesk-dark"])
    assert [t.name for t in loaded.themes] == ["ocean"]
    problems = "\n".join(loaded.problems)
    assert f"{tmp_path / 'b-broken.toml'}:4: background: expected a colour" in problems
    assert f"{tmp_path / 'c-syntax.toml'}:1:" in problems and "TOML syntax error" in problems
    assert f"{tmp_path / 'd-latin1.toml'}: cannot read" in problems
    assert f"{tmp_path / 'e-dup.toml'}:2: name:" in problems
    assert load_user_themes(tmp_path / "absent") == load_user_themes(tmp_path / "absent")
    assert load_user_themes(tmp_path / "absent").themes == ()


async def test_app_loads_user_themes_and_reports_bad_ones(tmp_path: Path) -> None:
    themes = tmp_path / "themes"
    themes.mkdir()
    (themes / "ocean.toml").write_text(GOOD_THEME)
    (themes / "broken.toml").write_text(BAD_THEME)
    w = workspace(tmp_path, '[ui]\ntheme = "ocean"\n')
    try:
        app = app_for(w, themes)
        async with app.run_test(size=(100, 30), notifications=True) as pilot:
            await pilot.pause()
            assert app.theme == "ocean"
            assert "broken" not in app.available_themes
            (problem,) = app.theme_problems
            assert problem.startswith(f"{themes / 'broken.toml'}:4: background:")
            await wait_until(pilot, lambda: bool(app.screen.query("Toast")))
            toast = app.screen.query_one("Toast")
            shown = "".join(
                seg.text for y in range(toast.size.height) for seg in toast.render_line(y)
            )
            assert "broken.toml:4:" in shown and "not-a-colour" in shown  # wrapped lines
    finally:
        w.close()


async def test_unknown_theme_falls_back_with_a_notice(tmp_path: Path) -> None:
    w = workspace(tmp_path, '[ui]\ntheme = "helpdesk-neon"\n')
    try:
        app = app_for(w)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            assert app.theme == DEFAULT_THEME
            (problem,) = app.theme_problems
            assert "ui.theme" in problem and "helpdesk-neon" in problem
    finally:
        w.close()


# -- command palette ---------------------------------------------------------------------------


async def test_palette_lists_main_actions_with_tooltips(ws: Workspace) -> None:
    app = app_for(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        commands = {c.title: c.help for c in app.get_system_commands(app.screen)}
        assert commands["Claim ticket"] == "Take the selected ticket (key: c)"
        assert commands["Handle next ticket"].endswith("(key: n)")
        for title in ("Sync now", "Search tickets", "Keys of this screen", "Switch theme"):
            assert title in commands
        assert "Keys" not in commands and "Theme" not in commands  # replaced by ours
        assert "Add internal note" not in commands  # a ticket screen's action


async def test_palette_claims_and_switches_theme(ws: Workspace) -> None:
    app = app_for(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.team_state.startswith("team: online"))
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"claim ticket")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_until(pilot, lambda: ws.cache.count_tickets(Queue.MINE, ws.agent) == 1)
        await wait_until(pilot, lambda: isinstance(app.screen, QueueScreen))
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"switch theme")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause(0.3)
        await pilot.press(*"helpdesk-high")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.theme == "helpdesk-high-contrast")


def test_example_config_keymap_names_real_bindings() -> None:
    from helpdesk.tui.keymap import keymap_from_settings

    example = Path(__file__).parent.parent / "helpdesk.toml"
    text = example.read_text(encoding="utf-8")
    keymap_part = text.split("\n[keymap]\n", 1)[1]
    lines = [line[2:] for line in keymap_part.splitlines() if line.startswith('# "')]
    assert lines, "the example shows keymap lines"
    settings = parse_config(
        "[keymap]\n" + "\n".join(lines) + "\n",
        str(example),
        default_agent=("a", "a@example.com"),
    )
    overrides = keymap_from_settings(settings, HelpdeskApp)
    assert set(overrides) == {e.binding for e in settings.keymap}
