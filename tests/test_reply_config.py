"""[reply] and [[templates]] in helpdesk.toml: what is read, and errors naming file, line and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpdesk.core.config import ConfigError, Settings, parse_config
from helpdesk.core.reply_config import DEFAULT_REPLY, REPLY_KEYS, ReplySettings
from helpdesk.core.templates import Template

SOURCE = "/etc/helpdesk/helpdesk.toml"
AGENT = ("Jana Novak", "jana@example.com")
EXAMPLE = Path(__file__).resolve().parent.parent / "helpdesk.toml"

GOOD = '''\
[reply]
from_format = "{team}"
quote = "Top"
send_delay = 15
status_after = "closed"
sent_by_server = true
templates_dir = "~/templates"
team_signature = """
Podpora {{ team.name }}
https://support.example.com
"""
agent_signature = "{{ agent.name }}"
order_pattern = 'objedn\\w*\\s*#?(\\d{6,})'

[[templates]]
name = "Odpověď"
language = "cs"
subject = "Vaše objednávka {{ order.number }}"
body = """
Dobrý den {{ customer.first_name }},
"""

[[templates]]
name = "Thanks"
body = "Thanks!"
'''


def parse(text: str) -> Settings:
    return parse_config(text, SOURCE, default_agent=AGENT)


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(text)
    return info.value


def test_every_setting_is_read() -> None:
    reply = parse(GOOD).reply
    assert reply == ReplySettings(
        from_format="{team}",
        quote="top",
        send_delay=15.0,
        status_after="closed",
        sent_by_server=True,
        templates_dir="~/templates",
        team_signature="Podpora {{ team.name }}\nhttps://support.example.com",
        agent_signature="{{ agent.name }}",
        order_pattern=r"objedn\w*\s*#?(\d{6,})",
        templates=(
            Template(
                name="Odpověď",
                language="cs",
                subject="Vaše objednávka {{ order.number }}",
                body="Dobrý den {{ customer.first_name }},\n",
                source=f"{SOURCE} templates[1]",
            ),
            Template(name="Thanks", body="Thanks!\n", source=f"{SOURCE} templates[2]"),
        ),
    )


def test_defaults() -> None:
    assert parse("").reply == DEFAULT_REPLY
    assert parse("[reply]\n").reply == DEFAULT_REPLY
    assert parse('[reply]\nsent_by_server = "detect"\n').reply.sent_by_server is None
    assert parse("[reply]\nsent_by_server = false\n").reply.sent_by_server is False


@pytest.mark.parametrize(
    "status",
    ["waiting", "closed", "open", "waiting on customer", "Waiting On Third Party", "spam"],
)
def test_status_after_takes_kinds_and_status_names(status: str) -> None:
    assert parse(f'[reply]\nstatus_after = "{status}"\n').reply.status_after == status


def test_status_after_follows_the_configured_statuses() -> None:
    text = (
        '[[statuses]]\nname = "nový"\ncolour = "$accent"\nkind = "open"\n\n'
        '[[statuses]]\nname = "vyřízeno"\ncolour = "$success"\nkind = "closed"\n\n'
        '[reply]\nstatus_after = "vyřízeno"\n'
    )
    assert parse(text).reply.status_after == "vyřízeno"
    err = error_of(text.replace('status_after = "vyřízeno"', 'status_after = "done"'))
    assert str(err).startswith(
        f'{SOURCE}:12: reply.status_after: expected a status kind or a status name: "open", "waiting", "closed", "nový", "vyřízeno", "spam", got "done"'
    )


@pytest.mark.parametrize(
    ("text", "line", "key", "words"),
    [
        (
            '[reply]\nfrom_format = "{agent} at {company}"\n',
            2,
            "reply.from_format",
            "{agent} and/or {team}",
        ),
        ('[reply]\nfrom_format = "Support"\n', 2, "reply.from_format", "{agent} and/or {team}"),
        ('[reply]\nfrom_format = "{agent} }"\n', 2, "reply.from_format", "{agent} and/or {team}"),
        ('\n[reply]\nquote = "inline"\n', 3, "reply.quote", '"bottom", "top", "none"'),
        ("[reply]\nsend_delay = 601\n", 2, "reply.send_delay", "from 0 to 600"),
        ("[reply]\nsend_delay = -1\n", 2, "reply.send_delay", "got -1"),
        ("[reply]\nsend_delay = true\n", 2, "reply.send_delay", "got true"),
        ('[reply]\nsent_by_server = "yes"\n', 2, "reply.sent_by_server", 'true, false or "detect"'),
        ("[reply]\ntemplates_dir = 5\n", 2, "reply.templates_dir", "a folder path"),
        (
            '[reply]\norder_pattern = "order (\\\\d+"\n',
            2,
            "reply.order_pattern",
            "not a regular expression",
        ),
        ('[reply]\norder_pattern = "order \\\\d+"\n', 2, "reply.order_pattern", "0 groups"),
        ('[reply]\norder_pattern = "(a)(b)"\n', 2, "reply.order_pattern", "2 groups"),
        ("[reply]\nquotes = 'top'\n", 2, "reply.quotes", 'did you mean "quote"'),
        (
            '[reply]\nteam_signature = """\nPodpora\n{{ team.nme }}\n"""\n',
            4,
            "reply.team_signature",
            "unknown variable {{ team.nme }}",
        ),
        (
            '[reply]\nagent_signature = "a\\u001b[31m"\n',
            2,
            "reply.agent_signature",
            "without control characters",
        ),
    ],
)
def test_reply_errors(text: str, line: int, key: str, words: str) -> None:
    err = error_of(text)
    assert len(err.problems) == 1, str(err)
    assert str(err).startswith(f"{SOURCE}:{line}: {key}: "), str(err)
    assert words in str(err)


TEMPLATES = '''\
[team]
name = "Support"

[[templates]]
name = "First"
body = "Hi"

[[templates]]
# a comment
name = "Second"
body = """
Hello {{ customer.first_name }},

[not a table] and key = "not a key" inside the text
see {{ custmer.name }}
"""
language = "Czech"

[[templates]]
name = "first"
body = ""
colour = "red"
'''


def test_template_errors_name_template_key_and_line() -> None:
    err = error_of(TEMPLATES)
    assert str(err).splitlines() == [
        f'{SOURCE}:15: templates[2].body: in template "Second": unknown variable '
        "{{ custmer.name }}; expected only the variables "
        + ", ".join(
            [
                "customer.name",
                "customer.first_name",
                "customer.email",
                "ticket.number",
                "ticket.subject",
                "agent.name",
                "agent.first_name",
                "agent.email",
                "team.name",
                "order.number",
                "today",
                "hours.next_opening",
                "hours.next_opening_date",
                "hours.next_opening_time",
            ]
        ),
        f'{SOURCE}:17: templates[2].language: in template "Second"; expected a language code like "cs" or "en-GB", got "Czech"',
        f'{SOURCE}:20: templates[3].name: in template "first": templates[1] has the same name; expected a name no other template has, got "first"',
        f'{SOURCE}:21: templates[3].body: in template "first"; expected a non-empty text without control characters, got ""',
        f'{SOURCE}:22: templates[3].colour: in template "first": unknown key; expected one of: name, language, subject, body',
    ]


def test_template_missing_name_and_body() -> None:
    err = error_of('[[templates]]\nlanguage = "en"\n')
    assert [(p.key, p.line, p.detail) for p in err.problems] == [
        ("templates[1].name", 1, "missing"),
        ("templates[1].body", 1, "missing"),
    ]
    err = error_of('templates = "x"\n')
    assert err.problems[0].key == "templates" and err.problems[0].line == 1


def test_unknown_variable_in_template_subject() -> None:
    err = error_of('[[templates]]\nname = "A"\nsubject = "{{ x }}"\nbody = "b"\n')
    assert str(err).startswith(
        f'{SOURCE}:3: templates[1].subject: in template "A": unknown variable {{{{ x }}}}'
    )


def test_example_file_shows_every_reply_key_and_loads_enabled() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    section = text.split("\n[reply]\n", 1)[1].split("\n[[templates]]\n", 1)[0]
    for key in REPLY_KEYS:
        assert re.search(rf"^# {key} = ", section, re.M), f"reply.{key} not shown"
    shipped = parse(text).reply
    assert shipped.from_format == DEFAULT_REPLY.from_format
    assert [t.name for t in shipped.templates] == ["Thanks, we are on it"]
    # the commented keys, enabled, are valid and mean what their comments say
    enabled = text.replace(section, re.sub(r"^# (\w+ = )", r"\1", section, flags=re.M))
    reply = parse(enabled).reply
    assert reply.sent_by_server is None and reply.quote == "bottom"
    assert reply.templates_dir == "~/.config/helpdesk/templates"
    assert reply.order_pattern is not None
    assert reply.team_signature == "{{ team.name }}, Example Ltd.\nhttps://support.example.com"
    assert re.search(reply.order_pattern, "Objednávka #1234567", re.I)
