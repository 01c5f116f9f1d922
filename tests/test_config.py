"""Configuration: the example file, defaults, precise errors, file lookup and paths."""

from __future__ import annotations

import dataclasses
import getpass
import os
import re
import socket
import stat
from pathlib import Path

import pytest

from helpdesk.core import config as config_module
from helpdesk.core.config import (
    AccountSettings,
    AgentSettings,
    AttachmentSettings,
    CacheSettings,
    ConfigError,
    ImapSettings,
    Settings,
    SmtpSettings,
    TeamSettings,
    TlsMode,
    parse_agent,
    parse_config,
    with_agent,
)
from helpdesk.core.workflow import (
    BusinessHoursSettings,
    SlaTargets,
    StatusDefinition,
    TicketSettings,
)
from helpdesk.storage import locations

# Top-level sections grow as features are added (some are listed by their own module).
TOP_KEYS = (
    *config_module._TOP_KEYS,
    *getattr(config_module, "_TOP_KEYS_WORKFLOW", ()),
)

EXAMPLE = Path(__file__).resolve().parent.parent / "helpdesk.toml"
AGENT = ("Default Agent", "agent@host.example")


def parse(text: str, source: str = "/etc/helpdesk.toml") -> Settings:
    return parse_config(text, source, default_agent=AGENT)


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(text)
    return info.value


MINIMAL = """\
[accounts.support]
address = "Support@Example.com"

[accounts.support.imap]
host = "imap.example.com"

[accounts.support.smtp]
host = "smtp.example.com"
"""


# ------------------------------------------------------------------------------------------
# The example file


def test_example_parses_with_the_documented_values() -> None:
    settings = parse(EXAMPLE.read_text(encoding="utf-8"), str(EXAMPLE))
    assert settings.source == str(EXAMPLE)
    assert settings.agent == AgentSettings("Jana Novak", "jana@example.com")
    assert list(settings.accounts) == ["support"]
    account = settings.accounts["support"]
    assert account.address == "support@example.com"
    assert account.imap == ImapSettings(
        host="imap.example.com",
        port=993,
        tls=TlsMode.TLS,
        user="support@example.com",
    )
    assert account.smtp == SmtpSettings(
        host="smtp.example.com", port=465, tls=TlsMode.TLS, user="support@example.com"
    )
    assert settings.team.addresses == ("help@example.com", "support@example.com")


@pytest.mark.parametrize(
    ("table", "cls"),
    [
        ("agent", AgentSettings),
        ("team", TeamSettings),
        ("cache", CacheSettings),
        ("attachments", AttachmentSettings),
        ("accounts.support.imap", ImapSettings),
        ("accounts.support.smtp", SmtpSettings),
        ("[statuses]", StatusDefinition),  # the first [[statuses]] table
        ("priorities.normal", SlaTargets),
        ("business_hours", BusinessHoursSettings),
        ("tickets", TicketSettings),
    ],
)
def test_example_shows_every_key(table: str, cls: type) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    section = text.split(f"[{table}]\n", 1)[1].split("\n[", 1)[0]
    for f in dataclasses.fields(cls):
        assert re.search(rf"^(# )?{f.name} = ", section, re.M), f"{table}.{f.name} not shown"


def test_example_commented_keys_parse_when_enabled() -> None:
    # The commented-out lines must be valid too, or copying them would break a config.
    text = EXAMPLE.read_text(encoding="utf-8")
    # The rule examples close the file; their lines (tables, keys, array lines) go on whole.
    head, marker, rules = text.partition("# [[rules]]")
    rules = re.sub(r"^# (?=\[\[rules\]\]|\w+ = |\s+\{|\]$)", "", marker + rules, flags=re.M)
    enabled = re.sub(r"^# (\w+ = )", r"\1", head, flags=re.M) + rules
    # two alternative store lines: keep the first
    enabled = enabled.replace('store = "sqlite:///~', '# store = "sqlite:///~', 1)
    settings = parse(enabled)
    assert settings.team.store == "postgresql+psycopg://helpdesk@db.example.net/helpdesk"
    assert settings.cache.path == "~/.local/share/helpdesk/cache.sqlite"
    imap = settings.accounts["support"].imap
    assert imap is not None
    assert imap.password_command == "cat /run/secrets/helpdesk-support"
    assert [r.name for r in settings.rules] == [
        "Supplier to purchasing",
        "Order replies to support",
        "Orders to the warehouse",
        "Urgent after hours",
        "Newsletters",
    ]


def test_example_rules_show_every_rule_key_and_are_off() -> None:
    from helpdesk.core.rules_config import RULE_KEYS

    text = EXAMPLE.read_text(encoding="utf-8")
    assert parse(text).rules == ()  # examples only: a copied file routes nothing by surprise
    section = text.split("# [[rules]]", 1)[1]
    for key in RULE_KEYS:
        assert re.search(rf"^# {key} = ", section, re.M), f"rules.{key} not shown"


# ------------------------------------------------------------------------------------------
# Defaults


def test_empty_config_gives_defaults() -> None:
    settings = parse("")
    assert settings.agent == AgentSettings(*AGENT)
    assert settings.team == TeamSettings(name="Support", store=None, addresses=(), subject_tag="#")
    assert settings.cache == CacheSettings(path=None)
    assert settings.accounts == {}


def test_minimal_account_defaults() -> None:
    account = parse(MINIMAL).accounts["support"]
    assert account == AccountSettings(
        name="support",
        address="Support@Example.com",
        imap=ImapSettings(
            host="imap.example.com",
            port=993,
            tls=TlsMode.TLS,
            user="Support@Example.com",
            folders=("INBOX",),
            sent_folder="Sent",
            password_command=None,
            ca_file=None,
            timeout=30.0,
            batch_size=200,
        ),
        smtp=SmtpSettings(
            host="smtp.example.com",
            port=465,
            tls=TlsMode.TLS,
            user="Support@Example.com",
            password_command=None,
            ca_file=None,
            timeout=30.0,
        ),
    )


@pytest.mark.parametrize(
    ("tls", "imap_port", "smtp_port"),
    [("tls", 993, 465), ("starttls", 143, 587), ("none", 143, 25), ("STARTTLS", 143, 587)],
)
def test_ports_default_by_tls(tls: str, imap_port: int, smtp_port: int) -> None:
    text = MINIMAL.replace('host = "imap.example.com"', f'host = "imap.example.com"\ntls = "{tls}"')
    text = text.replace('host = "smtp.example.com"', f'host = "smtp.example.com"\ntls = "{tls}"')
    account = parse(text).accounts["support"]
    assert account.imap is not None and account.smtp is not None
    assert (account.imap.port, account.smtp.port) == (imap_port, smtp_port)
    assert account.imap.tls == TlsMode(tls.lower())


def test_explicit_port_wins_over_tls_default() -> None:
    text = MINIMAL.replace('host = "smtp.example.com"', 'host = "smtp.example.com"\nport = 2525')
    smtp = parse(text).accounts["support"].smtp
    assert smtp is not None and smtp.port == 2525


def test_logins_and_switches() -> None:
    text = MINIMAL.replace(
        'host = "imap.example.com"', 'host = "imap.example.com"\nuser = "box7"\nsent_folder = ""'
    )
    imap = parse(text).accounts["support"].imap
    smtp = parse(text).accounts["support"].smtp
    assert imap is not None and smtp is not None
    assert imap.user == "box7"
    assert imap.sent_folder is None  # "" = the server files sent copies itself
    assert smtp.user == "box7"  # the IMAP login is the usual SMTP login
    relay = text.replace('host = "smtp.example.com"', 'host = "smtp.example.com"\nuser = ""')
    relay_smtp = parse(relay).accounts["support"].smtp
    assert relay_smtp is not None and relay_smtp.user is None


def test_team_addresses_lower_cased_with_accounts_added_once() -> None:
    text = (
        '[team]\naddresses = ["Help@Example.com", "support@example.com"]\n'
        + MINIMAL
        + '\n[accounts.billing]\naddress = "billing@example.org"\n'
        + '[accounts.billing.imap]\nhost = "imap.example.org"\n'
    )
    settings = parse(text)
    assert settings.team.addresses == (
        "help@example.com",
        "support@example.com",
        "billing@example.org",
    )


@pytest.mark.parametrize(
    ("store", "url"),
    [
        ("postgresql://hd@db.example.net/hd", "postgresql+psycopg://hd@db.example.net/hd"),
        ("postgresql+psycopg://db.example.net/hd", "postgresql+psycopg://db.example.net/hd"),
        ("sqlite:////srv/helpdesk/team.sqlite", "sqlite:////srv/helpdesk/team.sqlite"),
    ],
)
def test_store_urls(store: str, url: str) -> None:
    assert parse(f'[team]\nstore = "{store}"\n').team.store == url


def test_folders_and_numbers() -> None:
    text = MINIMAL.replace(
        'host = "imap.example.com"',
        'host = "imap.example.com"\nfolders = ["INBOX", "Sales", "INBOX"]\n'
        "timeout = 5\nbatch_size = 50",
    )
    imap = parse(text).accounts["support"].imap
    assert imap is not None
    assert imap.folders == ("INBOX", "Sales")
    assert imap.timeout == 5.0 and isinstance(imap.timeout, float)
    assert imap.batch_size == 50


def test_settings_are_frozen_and_with_agent_replaces_only_the_agent() -> None:
    settings = parse(MINIMAL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.agent = AgentSettings("x", "y@example.com")
    other = with_agent(settings, "Ana Lima", "ana@example.org")
    assert other.agent == AgentSettings("Ana Lima", "ana@example.org")
    assert other.accounts == settings.accounts and other.team == settings.team


# ------------------------------------------------------------------------------------------
# Errors: key, line, expected


@pytest.mark.parametrize(
    ("text", "key", "line", "expected", "in_message"),
    [
        pytest.param(
            "[agent]\nname = 'x'\nemial = 'a@example.com'\n",
            "agent.emial",
            3,
            "one of: name, email",
            'did you mean "email"?',
            id="unknown key with suggestion",
        ),
        pytest.param(
            "colour = 'red'\n",
            "colour",
            1,
            "one of: " + ", ".join(TOP_KEYS),
            "unknown key",
            id="unknown top-level key",
        ),
        pytest.param(
            MINIMAL + "port = 'abc'\n",
            "accounts.support.smtp.port",
            9,
            "an integer from 1 to 65535",
            'got "abc"',
            id="wrong type",
        ),
        pytest.param(
            MINIMAL + "port = true\n",
            "accounts.support.smtp.port",
            9,
            "an integer from 1 to 65535",
            "got true",
            id="bool is not an integer",
        ),
        pytest.param(
            MINIMAL + "port = 70000\n",
            "accounts.support.smtp.port",
            9,
            "an integer from 1 to 65535",
            "got 70000",
            id="out of range",
        ),
        pytest.param(
            '[accounts.support]\naddress = "s@example.com"\n\n[accounts.support.imap]\n'
            "port = 993\n",
            "accounts.support.imap.host",
            4,
            "a host name like imap.example.com",
            "missing",
            id="missing required value points at its table",
        ),
        pytest.param(
            '[accounts.support]\n[accounts.support.imap]\nhost = "imap.example.com"\n',
            "accounts.support.address",
            1,
            "an email address like support@example.com",
            "missing",
            id="missing address",
        ),
        pytest.param(
            MINIMAL.replace('host = "imap.example.com"', 'host = "imap.example.com"\ntls = "ssl"'),
            "accounts.support.imap.tls",
            6,
            'one of "tls", "starttls", "none"',
            'got "ssl"',
            id="bad enum",
        ),
        pytest.param(
            MINIMAL.replace('host = "imap.example.com"', 'host = "imap.example.com"\nfolders = []'),
            "accounts.support.imap.folders",
            6,
            'a non-empty array of folder names, like ["INBOX"]',
            "got []",
            id="empty folder list",
        ),
        pytest.param(
            "[team]\nname = 'Support'\nstore = 'mysql://db.example.net/hd'\n",
            "team.store",
            3,
            "a database URL starting with sqlite:///, postgresql:// or postgresql+psycopg://",
            'got "mysql://db.example.net/hd"',
            id="bad URL scheme",
        ),
        pytest.param(
            MINIMAL + "password = 'hunter2'\n",
            "accounts.support.smtp.password",
            9,
            "no password in the config file: store it in the keyring with "
            "`helpdesk auth set support`, or set password_command",
            "passwords must not be written here",
            id="password refused",
        ),
        pytest.param(
            "[accounts.support]\naddress = 'not an address'\nimap = { host = 'imap.example' }\n",
            "accounts.support.address",
            2,
            "an email address like support@example.com",
            'got "not an address"',
            id="bad email",
        ),
        pytest.param(
            "[accounts.support]\naddress = 's@example.com'\nimap = { host = 'h', tls = 'x' }\n",
            "accounts.support.imap.tls",
            3,
            'one of "tls", "starttls", "none"',
            'got "x"',
            id="inline table points at its line",
        ),
        pytest.param(
            "[accounts.support]\naddress = 's@example.com'\n",
            "accounts.support",
            1,
            "an [accounts.support.imap] or [accounts.support.smtp] table",
            "the account has no server",
            id="account without servers",
        ),
        pytest.param(
            '[accounts."sup port"]\naddress = "s@example.com"\n',
            "accounts.sup port",
            1,
            "an account name of letters, digits, '.', '_' or '-'",
            "bad account name",
            id="quoted header with a bad account name",
        ),
        pytest.param(
            MINIMAL.replace(
                'host = "imap.example.com"',
                'host = "imap.example.com"\npassword_command = "cat \'/run/x"',
            ),
            "accounts.support.imap.password_command",
            6,
            "a command line",
            "got",
            id="unbalanced quotes in a command",
        ),
        pytest.param(
            MINIMAL.replace('"imap.example.com"', '"imap.example.com:993"'),
            "accounts.support.imap.host",
            5,
            "a host name like imap.example.com",
            'got "imap.example.com:993"',
            id="host with a port",
        ),
        pytest.param(
            MINIMAL.replace('"smtp.example.com"', '"smtps://smtp.example.com"'),
            "accounts.support.smtp.host",
            8,
            "a host name like smtp.example.com",
            'got "smtps://smtp.example.com"',
            id="host with a scheme",
        ),
        pytest.param(
            "[cache]\npath = 7\n",
            "cache.path",
            2,
            "a file path",
            "got 7",
            id="cache path type",
        ),
        pytest.param(
            "[team]\nsubject_tag = 'a b'\n",
            "team.subject_tag",
            2,
            'a short text without spaces or brackets, like "#"',
            'got "a b"',
            id="subject tag",
        ),
        pytest.param(
            "team = 3\n",
            "team",
            1,
            "a table",
            "got 3",
            id="scalar where a table belongs",
        ),
    ],
)
def test_errors_name_key_line_and_expected(
    text: str, key: str, line: int, expected: str, in_message: str
) -> None:
    err = error_of(text)
    assert (err.key, err.line, err.expected) == (key, line, expected)
    assert err.source == "/etc/helpdesk.toml"
    assert str(err).startswith(f"/etc/helpdesk.toml:{line}: {key}: ")
    assert in_message in str(err)
    assert f"expected {expected}" in str(err)


def test_error_reads_like_the_documentation() -> None:
    text = MINIMAL.replace('host = "imap.example.com"', 'host = "imap.example.com"\nport = "abc"')
    with pytest.raises(ConfigError) as info:
        parse_config(text, "/home/j/.config/helpdesk/helpdesk.toml", default_agent=AGENT)
    assert str(info.value) == (
        "/home/j/.config/helpdesk/helpdesk.toml:6: accounts.support.imap.port: "
        'expected an integer from 1 to 65535, got "abc"'
    )


def test_all_problems_reported_one_line_each_in_file_order() -> None:
    text = (
        "[team]\nstore = 'x://y'\n"  # line 2
        "[agent]\nemail = 'nobody'\nnmae = 'x'\n"  # lines 4, 5
        "[accounts.a]\naddress = 'a@example.com'\n[accounts.a.imap]\nhost = 'h'\nport = -1\n"
    )
    err = error_of(text)
    lines = str(err).splitlines()
    assert [p.key for p in err.problems] == [
        "team.store",
        "agent.email",
        "agent.nmae",
        "accounts.a.imap.port",
    ]
    assert [p.line for p in err.problems] == [2, 4, 5, 10]
    assert len(lines) == 4
    assert all(line.startswith("/etc/helpdesk.toml:") for line in lines)


def test_syntax_error_has_its_line() -> None:
    err = error_of("[team]\nname = 'Support'\nstore = \n")
    assert err.line == 3
    assert err.expected == "valid TOML"
    assert str(err).startswith("/etc/helpdesk.toml:3: TOML syntax error")


def test_untrusted_characters_never_reach_the_message_raw() -> None:
    err = error_of('[team]\nname = "\\u001b[31mred\\u009b2J"\nsubject_tag = "\\u001b]0;x"\n')
    message = str(err)
    assert "\x1b" not in message and "\x9b" not in message
    assert "\\u001b" in message


def test_multiline_string_does_not_confuse_the_line_finder() -> None:
    text = (
        '[team]\nname = """Support\nstore = 1\n"""\n'  # "store = 1" is inside a string
        "store = 'bad'\n"
    )
    lines = {p.key: p.line for p in error_of(text).problems}
    assert lines["team.store"] == 5
    assert lines["team.name"] == 2  # a name is one line: newlines are refused


# ------------------------------------------------------------------------------------------
# The acting agent


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Ana Lima <ana@example.org>", ("Ana Lima", "ana@example.org")),
        ('"Lima, Ana" <ana@example.org>', ("Lima, Ana", "ana@example.org")),
        ("  ana@example.org ", ("ana", "ana@example.org")),
        ("<ana@example.org>", ("ana", "ana@example.org")),
    ],
)
def test_parse_agent(value: str, expected: tuple[str, str]) -> None:
    assert parse_agent(value) == expected


@pytest.mark.parametrize("value", ["ana", "Ana Lima", "a@b@c", "Ana <>"])
def test_parse_agent_rejects(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_agent(value)
    assert info.value.key == "HELPDESK_AGENT"


# ------------------------------------------------------------------------------------------
# Finding and loading the file


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("HELPDESK_CONFIG", "HELPDESK_AGENT"):
        monkeypatch.delenv(name, raising=False)
    return env


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_lookup_order_cli_then_env_then_xdg(xdg: dict[str, str], tmp_path: Path) -> None:
    assert locations.find_config(None, xdg) is None
    default = write(Path(xdg["XDG_CONFIG_HOME"]) / "helpdesk" / "helpdesk.toml", "")
    assert locations.find_config(None, xdg) == default
    from_env = write(tmp_path / "env.toml", "")
    env = {**xdg, "HELPDESK_CONFIG": str(from_env)}
    assert locations.find_config(None, env) == from_env
    from_cli = write(tmp_path / "cli.toml", "")
    assert locations.find_config(str(from_cli), env) == from_cli


def test_xdg_config_home_from_the_given_env(tmp_path: Path) -> None:
    other = write(tmp_path / "elsewhere" / "helpdesk" / "helpdesk.toml", "")
    env = {"XDG_CONFIG_HOME": str(tmp_path / "elsewhere"), "HOME": str(tmp_path)}
    assert locations.find_config(None, env) == other
    # no XDG_CONFIG_HOME: ~/.config, as the XDG spec says
    home_cfg = write(tmp_path / ".config" / "helpdesk" / "helpdesk.toml", "")
    assert locations.find_config(None, {"HOME": str(tmp_path)}) == home_cfg


@pytest.mark.parametrize("via", ["cli", "env"])
def test_explicit_missing_path_is_an_error(xdg: dict[str, str], tmp_path: Path, via: str) -> None:
    missing = tmp_path / "nope.toml"
    env = {**xdg, "HELPDESK_CONFIG": str(missing)} if via == "env" else xdg
    with pytest.raises(ConfigError) as info:
        locations.find_config(str(missing) if via == "cli" else None, env)
    assert str(missing) in str(info.value)
    assert "no such file" in str(info.value)


def test_load_settings_without_a_file_uses_defaults(xdg: dict[str, str]) -> None:
    settings = locations.load_settings(None, xdg)
    assert settings.source is None
    assert settings.accounts == {}
    name, email = locations.default_agent()
    assert settings.agent == AgentSettings(name, email)
    assert email == f"{getpass.getuser()}@{socket.gethostname()}"


def test_load_settings_reads_the_xdg_file_with_env_none(xdg: dict[str, str]) -> None:
    path = write(Path(xdg["XDG_CONFIG_HOME"]) / "helpdesk" / "helpdesk.toml", MINIMAL)
    settings = locations.load_settings()
    assert settings.source == str(path)
    assert list(settings.accounts) == ["support"]


def test_load_settings_reports_errors_with_the_file_name(xdg: dict[str, str]) -> None:
    path = write(Path(xdg["XDG_CONFIG_HOME"]) / "helpdesk" / "helpdesk.toml", "[team]\nx = 1\n")
    with pytest.raises(ConfigError) as info:
        locations.load_settings(None, xdg)
    assert str(info.value).startswith(f"{path}:2: team.x: unknown key")


def test_helpdesk_agent_overrides_config_and_default(xdg: dict[str, str], tmp_path: Path) -> None:
    path = write(tmp_path / "h.toml", "[agent]\nname = 'Jana Novak'\nemail = 'jana@example.com'\n")
    assert locations.load_settings(str(path), xdg).agent.email == "jana@example.com"
    env = {**xdg, "HELPDESK_AGENT": "Ana Lima <ana@example.org>"}
    assert locations.load_settings(str(path), env).agent == AgentSettings(
        "Ana Lima", "ana@example.org"
    )
    bare = {**xdg, "HELPDESK_AGENT": "ana@example.org"}
    assert locations.load_settings(None, bare).agent == AgentSettings("ana", "ana@example.org")
    with pytest.raises(ConfigError) as info:
        locations.load_settings(None, {**xdg, "HELPDESK_AGENT": "nobody"})
    assert info.value.source == "$HELPDESK_AGENT"


# ------------------------------------------------------------------------------------------
# Data paths


def test_default_paths_live_in_the_data_dir_made_0700(xdg: dict[str, str]) -> None:
    base = Path(xdg["XDG_DATA_HOME"]) / "helpdesk"
    assert not base.exists()  # nothing is made before it is asked for
    assert locations.default_cache_path() == base / "cache.sqlite"
    assert stat.S_IMODE(base.stat().st_mode) == 0o700
    assert locations.default_team_store_url() == f"sqlite:///{base}/team.sqlite"
    settings = parse("")
    assert locations.cache_path(settings) == base / "cache.sqlite"
    assert locations.team_store_url(settings) == f"sqlite:///{base}/team.sqlite"


def test_configured_paths_expand_home_and_resolve_relative(
    xdg: dict[str, str], tmp_path: Path
) -> None:
    home = Path(xdg["HOME"])
    text = "[cache]\npath = '~/hd/cache.sqlite'\n[team]\nstore = 'sqlite:///~/hd/team.sqlite'\n"
    settings = parse(text, str(tmp_path / "conf" / "helpdesk.toml"))
    assert locations.cache_path(settings) == home / "hd" / "cache.sqlite"
    assert (home / "hd").is_dir()
    assert locations.team_store_url(settings) == f"sqlite:///{home}/hd/team.sqlite"

    relative = parse("[cache]\npath = 'c.sqlite'\n", str(tmp_path / "conf" / "helpdesk.toml"))
    assert locations.cache_path(relative) == tmp_path / "conf" / "c.sqlite"

    pg = parse("[team]\nstore = 'postgresql://db.example.net/hd'\n")
    assert locations.team_store_url(pg) == "postgresql+psycopg://db.example.net/hd"


def test_themes_dir_under_the_config_dir(xdg: dict[str, str]) -> None:
    path = locations.themes_dir()
    assert path == Path(xdg["XDG_CONFIG_HOME"]) / "helpdesk" / "themes"
    assert not path.exists()
    assert locations.themes_dir(create=True).is_dir()
    assert os.access(path, os.W_OK)


def test_ipv6_host_accepted() -> None:
    imap = parse(MINIMAL.replace('"imap.example.com"', '"::1"')).accounts["support"].imap
    assert imap is not None and imap.host == "::1"


def test_handle_next_policy_keys() -> None:
    settings = parse_config(
        '[team]\nnext_order = ["priority", "oldest"]\nnext_departments_only = true\n',
        "t.toml",
        default_agent=("A", "a@example.com"),
    )
    assert settings.team.next_order == ("priority", "oldest")
    assert settings.team.next_departments_only is True
    assert parse_config("", "t.toml", default_agent=("A", "a@example.com")).team.next_order == (
        "sla",
        "priority",
        "oldest",
    )
    with pytest.raises(ConfigError) as err:
        parse_config(
            '[team]\nnext_order = ["fastest"]\n', "t.toml", default_agent=("A", "a@example.com")
        )
    assert err.value.key == "team.next_order" and err.value.line == 2
    assert '"sla", "priority", "oldest"' in str(err.value)
