"""[[rules]] in helpdesk.toml: what is read, and errors naming file, line, rule and key."""

from __future__ import annotations

import pytest

from helpdesk.core.config import ConfigError, Settings, parse_config
from helpdesk.core.rules import Assign, Match, Op, Strategy, Trigger
from helpdesk.core.team import Priority

SOURCE = "/etc/helpdesk/helpdesk.toml"
AGENT = ("Jana Novak", "jana@example.com")

GOOD = """\
[team]
name = "Support"

[[rules]]
name = "Supplier"
conditions = [{ field = "from_domain", equals = ["dodavatel.example", "supplier.example"] }]
assign = "Nakup@Example.com"
stop = true

[[rules]]
name = "Orders"
on = "every message"
match = "any"
conditions = [
  { field = "subject", matches = 'obj\\w{2,}' },  # braces inside a string count for nothing
  { field = "header:X-Shop", exists = true },
]
assign = "department:Warehouse"
strategy = "least-loaded"
priority = "high"
tags = ["orders", "shop"]
status = "open"
category = "orders"
auto_reply = "order-received"
note = "From the shop"
spam = false
"""


def parse(text: str) -> Settings:
    return parse_config(text, SOURCE, default_agent=AGENT)


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(text)
    return info.value


def test_rules_are_read_in_order_with_every_setting() -> None:
    supplier, orders = parse(GOOD).rules
    assert supplier.name == "Supplier" and supplier.stop
    assert supplier.on is Trigger.NEW_TICKET and supplier.match is Match.ALL
    assert supplier.actions.assign == Assign(agent="nakup@example.com")
    assert supplier.conditions[0].values == ("dodavatel.example", "supplier.example")
    assert orders.on is Trigger.EVERY_MESSAGE and orders.match is Match.ANY
    assert [c.op for c in orders.conditions] == [Op.MATCHES, Op.EXISTS]
    assert orders.conditions[1].field == "header:x-shop"
    a = orders.actions
    assert a.assign == Assign(department="Warehouse", strategy=Strategy.LEAST_LOADED)
    assert a.priority is Priority.HIGH
    assert a.tags == ("orders", "shop")
    assert (a.status, a.category, a.auto_reply, a.note, a.spam) == (
        "open",
        "orders",
        "order-received",
        "From the shop",
        False,
    )


def test_no_rules_is_an_empty_tuple() -> None:
    assert parse("").rules == ()


def test_unnamed_rule_is_named_by_its_place() -> None:
    rules = parse('[[rules]]\nconditions = []\ncategory = "x"\n').rules
    assert rules[0].name == "rule 1" and rules[0].conditions == ()


def line_of(text: str, needle: str, nth: int = 1) -> int:
    lines = [i for i, line in enumerate(text.splitlines(), start=1) if needle in line]
    return lines[nth - 1]


BAD_REGEX = GOOD.replace(
    '{ field = "header:X-Shop", exists = true }', '{ field = "subject", matches = "([a-z" }'
)


@pytest.mark.parametrize(
    ("text", "key", "needle", "rule", "in_message"),
    [
        pytest.param(
            BAD_REGEX,
            "rules[2].conditions[2].matches",
            'matches = "([a-z"',
            'rule "Orders"',
            "bad regular expression",
            id="bad regex, second condition of a multi-line array",
        ),
        pytest.param(
            GOOD.replace('field = "from_domain"', 'field = "from_domian"'),
            "rules[1].conditions[1].field",
            "from_domian",
            'rule "Supplier"',
            "unknown field",
            id="unknown field",
        ),
        pytest.param(
            GOOD.replace("exists = true", "present = true"),
            "rules[2].conditions[2].present",
            "present = true",
            'rule "Orders"',
            "unknown operator",
            id="unknown operator",
        ),
        pytest.param(
            GOOD.replace("matches = 'obj", "contans = 'obj"),
            "rules[2].conditions[1].contans",
            "contans",
            'rule "Orders"',
            'did you mean "contains"?',
            id="misspelt operator with a suggestion",
        ),
        pytest.param(
            GOOD.replace('{ field = "header:X-Shop", exists = true }', "{ exists = true }"),
            "rules[2].conditions[2].field",
            "{ exists = true }",
            'rule "Orders"',
            "missing",
            id="condition without a field",
        ),
        pytest.param(
            GOOD.replace("exists = true }", 'exists = true, contains = "x" }'),
            "rules[2].conditions[2]",
            'contains = "x"',
            'rule "Orders"',
            "several operators",
            id="two operators",
        ),
        pytest.param(
            GOOD.replace('{ field = "header:X-Shop", exists = true }', '{ field = "subject" }'),
            "rules[2].conditions[2]",
            '{ field = "subject" }',
            'rule "Orders"',
            "no operator",
            id="no operator",
        ),
        pytest.param(
            GOOD.replace("exists = true", 'exists = "yes"'),
            "rules[2].conditions[2].exists",
            'exists = "yes"',
            'rule "Orders"',
            "true or false",
            id="exists needs a boolean",
        ),
        pytest.param(
            GOOD.replace('assign = "Nakup', 'asign = "Nakup'),
            "rules[1].asign",
            "asign =",
            'rule "Supplier"',
            'did you mean "assign"?',
            id="unknown rule key",
        ),
        pytest.param(
            GOOD.replace('"Nakup@Example.com"', '"purchasing"'),
            "rules[1].assign",
            'assign = "purchasing"',
            'rule "Supplier"',
            "department:NAME",
            id="assign neither an address nor a department",
        ),
        pytest.param(
            GOOD.replace('"least-loaded"', '"random"'),
            "rules[2].strategy",
            "strategy =",
            'rule "Orders"',
            "round_robin",
            id="unknown strategy",
        ),
        pytest.param(
            GOOD.replace('priority = "high"', 'priority = "asap"'),
            "rules[2].priority",
            "priority =",
            'rule "Orders"',
            "low, normal, high, urgent",
            id="bad priority",
        ),
        pytest.param(
            GOOD.replace('tags = ["orders", "shop"]', 'tags = ["orders,shop"]'),
            "rules[2].tags",
            "tags =",
            'rule "Orders"',
            "without commas",
            id="bad tags",
        ),
        pytest.param(
            GOOD.replace('on = "every message"', 'on = "always"'),
            "rules[2].on",
            'on = "always"',
            'rule "Orders"',
            '"new ticket" or "every message"',
            id="bad trigger",
        ),
        pytest.param(
            GOOD.replace('match = "any"', 'match = "some"'),
            "rules[2].match",
            'match = "some"',
            'rule "Orders"',
            '"all" or "any"',
            id="bad match",
        ),
        pytest.param(
            GOOD.replace('name = "Orders"', 'name = "supplier"'),
            "rules[2].name",
            'name = "supplier"',
            'rule "supplier"',
            "rule 1 has the same name",
            id="duplicate name",
        ),
        pytest.param(
            GOOD.replace('assign = "Nakup@Example.com"\nstop = true\n', ""),
            "rules[1]",
            "[[rules]]",
            'rule "Supplier"',
            "the rule does nothing",
            id="rule without actions",
        ),
        pytest.param(
            GOOD.replace('name = "Supplier"\n', "").replace('"from_domain"', '"from_domian"'),
            "rules[1].conditions[1].field",
            "from_domian",
            "rule 1",
            "unknown field",
            id="unnamed rule named by index",
        ),
        pytest.param(
            GOOD.replace("stop = true", 'stop = "yes"'),
            "rules[1].stop",
            'stop = "yes"',
            'rule "Supplier"',
            "true or false",
            id="stop not a boolean",
        ),
    ],
)
def test_errors_name_file_line_rule_and_key(
    text: str, key: str, needle: str, rule: str, in_message: str
) -> None:
    err = error_of(text)
    line = line_of(text, needle)
    assert (err.key, err.line) == (key, line), str(err)
    message = str(err)
    assert message.startswith(f"{SOURCE}:{line}: {key}: in {rule}")
    assert in_message in message


def test_rules_not_tables_is_an_error_on_its_line() -> None:
    err = error_of("# routing\nrules = 3\n[team]\nname = 'x'\n")
    assert (err.key, err.line) == ("rules", 2)
    assert "[[rules]] tables" in str(err)


def test_every_problem_of_every_rule_is_listed_in_file_order() -> None:
    text = (
        GOOD.replace('field = "from_domain"', 'field = "from_domian"')
        .replace('priority = "high"', 'priority = "asap"')
        .replace("exists = true", 'exists = "yes"')
    )
    err = error_of(text)
    assert [p.key for p in err.problems] == [
        "rules[1].conditions[1].field",
        "rules[2].conditions[2].exists",
        "rules[2].priority",
    ]
    assert [p.line for p in err.problems] == sorted(p.line or 0 for p in err.problems)
    assert len(str(err).splitlines()) == 3


def test_strategy_without_a_department_is_an_error() -> None:
    err = error_of(
        GOOD.replace(
            'assign = "Nakup@Example.com"', 'assign = "Nakup@Example.com"\nstrategy = "round_robin"'
        )
    )
    assert err.key == "rules[1].strategy"
    assert "a strategy chooses among a department's agents" in str(err)


def test_a_rule_status_must_be_a_configured_status() -> None:
    from helpdesk.core.config import ConfigError, parse_config

    text = (
        '[[statuses]]\nname = "new"\nkind = "open"\n\n'
        '[[statuses]]\nname = "done"\nkind = "closed"\n\n'
        '[[rules]]\nname = "Close spam-like"\n'
        'conditions = [{ field = "subject", contains = "lottery" }]\n'
        'status = "closd"\n'
    )
    with pytest.raises(ConfigError) as err:
        parse_config(text, "/etc/helpdesk.toml", default_agent=("Jana", "jana@example.com"))
    (problem,) = [p for p in err.value.problems if p.key.endswith(".status")]
    assert problem.key == "rules[1].status" and problem.line == 12
    assert "done" in problem.expected and '"closd"' in (problem.got or "")
    # The configured name is fine, in any case.
    ok = parse_config(
        text.replace('"closd"', '"Done"'),
        "/etc/helpdesk.toml",
        default_agent=("Jana", "jana@example.com"),
    )
    assert ok.rules[0].actions.status == "Done"


def test_line_numbers_survive_a_string_that_ends_in_a_backslash() -> None:
    from helpdesk.core.config import ConfigError, parse_config

    text = (
        "[[rules]]\n"
        'name = "Windows paths"\n'
        "stop = true\n"
        r'conditions = [{ field = "body", matches = "C:\\\\" },' + "\n"
        '  { field = "subject", contains = "cesta" }]\n'
        "\n"
        "[[rules]]\n"
        'name = "Broken"\n'
        "stop = true\n"
        'conditions = [{ field = "nonsense", contains = "x" }]\n'
    )
    with pytest.raises(ConfigError) as err:
        parse_config(text, "/etc/helpdesk.toml", default_agent=("Jana", "jana@example.com"))
    (problem,) = err.value.problems
    assert problem.key == "rules[2].conditions[1].field" and problem.line == 10
