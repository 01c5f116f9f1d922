"""Routing rules: operators, folding, all/any, stop, merge order, agent choice, and the
examples of helpdesk.toml exactly as written there."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from mailbuild import message

from helpdesk.core.config import parse_config
from helpdesk.core.mailparse import parse_message
from helpdesk.core.message import Address, AttachmentInfo, AutoKind, ParsedMessage
from helpdesk.core.rules import (
    Actions,
    AgentLoad,
    Assign,
    Decision,
    Match,
    MessageContext,
    Outcome,
    Rule,
    RuleError,
    Strategy,
    TicketFields,
    Trigger,
    evaluate,
    fold,
    is_reply_subject,
    make_condition,
    pick_agent,
    raw_headers,
    resolve_assignee,
)
from helpdesk.core.team import Agent, Priority

EXAMPLE = Path(__file__).resolve().parent.parent / "helpdesk.toml"
AGENT = ("Jana Novak", "jana@example.com")


def example_rules_text() -> str:
    """helpdesk.toml with its commented rule examples switched on, nothing else changed."""
    text = EXAMPLE.read_text(encoding="utf-8")
    head, marker, rules = text.partition("# [[rules]]")
    assert marker, "helpdesk.toml shows no [[rules]] example"
    enabled = re.sub(r"^# (?=\[\[rules\]\]|\w+ = |\s+\{|\]$)", "", marker + rules, flags=re.M)
    return head + enabled


def example_rules() -> tuple[Rule, ...]:
    return parse_config(example_rules_text(), str(EXAMPLE), default_agent=AGENT).rules


def ctx(raw: bytes, **kw: Any) -> MessageContext:
    return MessageContext(parse_message(raw), raw=raw, **kw)


def rule(name: str, *conds: tuple[str, str, object], **kw: Any) -> Rule:
    conditions = tuple(make_condition(f, op, v) for f, op, v in conds)
    actions = kw.pop("actions", Actions())
    return Rule(name, conditions, actions, **kw)


def matches(cond: tuple[str, str, object], raw: bytes, **kw: Any) -> bool:
    decision = evaluate([rule("r", cond, actions=Actions(category="x"))], ctx(raw, **kw))
    return decision.results[0].outcome is Outcome.MATCHED


# ------------------------------------------------------------------------------------------
# The examples of helpdesk.toml, as written there


def outcome(decision: Decision) -> dict[str, Outcome]:
    return {r.name: r.outcome for r in decision.results}


def test_example_new_order_goes_to_the_warehouse() -> None:
    d = evaluate(example_rules(), ctx(message("o1@c.example", subject="Objednávka 1234")))
    assert d.assign == Assign(department="warehouse", strategy=Strategy.LEAST_LOADED)
    assert d.department == "warehouse"
    assert d.category == "orders"
    assert d.auto_reply == "order-received"
    assert outcome(d)["Order replies to support"] is Outcome.NOT_MATCHED
    assert outcome(d)["Orders to the warehouse"] is Outcome.MATCHED


@pytest.mark.parametrize(
    "subject",
    ["Re: Objednávka 1234", "RE: objednavka 1234", "Odp: Objednávka 1234", "AW: Objednávka"],
)
def test_example_customer_reply_about_an_order_goes_to_support(subject: str) -> None:
    d = evaluate(example_rules(), ctx(message("r1@c.example", subject=subject)))
    assert d.assign == Assign(department="support")
    assert d.department == "support"
    assert d.category is None and d.auto_reply is None  # the warehouse rule never ran
    assert d.stopped_by == "Order replies to support"
    assert outcome(d)["Orders to the warehouse"] is Outcome.NOT_REACHED


def test_example_reply_without_prefix_but_in_reply_to_goes_to_support() -> None:
    raw = message("r2@c.example", subject="Objednávka 1234", in_reply_to="ours@shop.example")
    assert evaluate(example_rules(), ctx(raw)).assign == Assign(department="support")


def test_example_supplier_mail_goes_to_the_purchaser_even_about_orders() -> None:
    raw = message(
        "s1@d.example", sender="Dodavatel <obchod@dodavatel.example>", subject="Objednávka 77"
    )
    d = evaluate(example_rules(), ctx(raw))
    assert d.assign == Assign(agent="nakup@example.com")
    assert d.tags == ("supplier",)
    assert d.department is None and d.category is None
    assert d.stopped_by == "Supplier to purchasing"


def test_example_urgent_after_hours_needs_known_hours() -> None:
    raw = message("u1@c.example", subject="NALÉHAVÉ: nefunguje e-shop")
    out = evaluate(example_rules(), ctx(raw, in_business_hours=False))
    assert out.priority is Priority.URGENT and out.tags == ("after-hours",)
    assert out.notes == ("Arrived outside business hours with an urgent subject.",)
    inside = evaluate(example_rules(), ctx(raw, in_business_hours=True))
    assert inside.priority is None
    unknown = evaluate(example_rules(), ctx(raw))
    assert unknown.priority is None
    result = next(r for r in unknown.results if r.name == "Urgent after hours")
    assert result.outcome is Outcome.NOT_MATCHED
    assert "in_business_hours is not known" in result.reason
    # a customer's follow-up runs only the rule meant for every message
    follow = evaluate(example_rules(), ctx(raw, in_business_hours=False, is_new_ticket=False))
    assert follow.priority is Priority.URGENT
    assert outcome(follow)["Orders to the warehouse"] is Outcome.SKIPPED


def test_example_newsletter_by_header_is_spam_and_never_auto_replied() -> None:
    raw = message(
        "n1@c.example",
        sender="Shop <news@shop.example>",
        subject="Objednávka zdarma!",
        extra="List-Unsubscribe: <mailto:leave@shop.example>",
    )
    d = evaluate(example_rules(), ctx(raw))
    assert d.spam is True and d.department == "inbox-cleanup"
    assert d.auto_reply is None  # the warehouse rule asked for one; spam cancels it
    assert d.remarks == ("no auto-reply: the message is marked as spam",)
    assert d.category == "orders"  # the earlier rule's other actions stay


# ------------------------------------------------------------------------------------------
# Operators and folding


ORDER = message("m1@c.example", subject="Objednávka č. 1234 – Žluťoučký kůň")


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        (("subject", "contains", "objednavka"), True),
        (("subject", "contains", "OBJEDNÁVKA"), True),
        (("subject", "contains", "zlutoucky kun"), True),
        (("subject", "contains", "faktura"), False),
        (("subject", "not_contains", "faktura"), True),
        (("subject", "not_contains", "Objednavka"), False),
        (("subject", "starts_with", "objednávka č"), True),
        (("subject", "starts_with", "1234"), False),
        (("subject", "ends_with", "KŮŇ"), True),
        (("subject", "equals", "objednavka c. 1234 – zlutoucky kun"), True),
        (("subject", "equals", "objednavka"), False),
        (("subject", "not_equals", "objednavka"), True),
        (("subject", "contains", ["faktura", "objednávka"]), True),
        (("subject", "matches", r"objedn[aá]vka\s+č\.\s*\d{4}"), True),
        (("subject", "matches", r"objednavka c\. \d+"), True),  # accents off on both sides
        (("subject", "matches", r"^\d+"), False),
        (("subject", "not_matches", r"faktura"), True),
        (("from", "equals", "JAN@customer.example"), True),
        (("from_name", "contains", "novak"), True),
        (("from_domain", "equals", "customer.example"), True),
        (("from_domain", "equals", "example"), False),
        (("from_domain", "ends_with", ".example"), True),
        (("to", "equals", "support@helpdesk.example"), True),
        (("recipient_domain", "equals", "helpdesk.example"), True),
        (("cc", "exists", True), False),
        (("cc", "exists", False), True),
        (("cc", "not_contains", "x"), True),  # no value holds it
        (("body", "contains", "kde je moje"), True),
        (("header:Content-Transfer-Encoding", "equals", "8bit"), True),
        (("header:X-Mailer", "exists", False), True),
        (("has_attachment", "equals", False), True),
        (("is_reply", "equals", False), True),
        (("is_automatic", "equals", False), True),
        (("status", "equals", "new"), True),
        (("priority", "equals", "normal"), True),
        (("priority", "equals", 2), False),
    ],
)
def test_operators(cond: tuple[str, str, object], expected: bool) -> None:
    assert matches(cond, ORDER) is expected


def test_fold_is_case_accent_and_space_insensitive() -> None:
    assert fold("  Žluťoučký\tKŮŇ  ") == "zlutoucky kun"
    assert fold("Straße") == "strasse"


def test_regex_pattern_compiled_once_and_case_insensitive() -> None:
    cond = make_condition("subject", "matches", r"faktura \d+")
    plain = cond.patterns[0].plain
    assert plain.flags & re.IGNORECASE
    d = evaluate(
        [Rule("r", (cond,), Actions(category="x"))],
        ctx(message("f@c.example", subject="FAKTURA 9")),
    )
    assert d.category == "x"
    assert cond.patterns[0].plain is plain


def test_header_fields_read_from_raw_lazily_and_decoded() -> None:
    raw = message(
        "h@c.example",
        extra="X-Shop-Order: =?utf-8?q?Objedn=C3=A1vka?= 55\nX-Tag: one\nX-Tag: two\n  folded",
    )
    headers = raw_headers(raw)
    assert headers["x-shop-order"] == ("Objednávka 55",)
    assert headers["x-tag"] == ("one", "two folded")
    assert matches(("header:x-tag", "contains", "folded"), raw)
    assert matches(("header:X-SHOP-ORDER", "contains", "objednavka"), raw)
    # without the raw message, a header condition sees nothing
    parsed = parse_message(raw)
    d = evaluate(
        [rule("r", ("header:X-Tag", "exists", True), actions=Actions(category="x"))],
        MessageContext(parsed),
    )
    assert d.category is None


def test_attachments_and_automatic_kinds() -> None:
    msg = ParsedMessage(
        message_id="a@x",
        subject="Faktura",
        from_addr=Address("", "billing@vendor.example"),
        attachments=[
            AttachmentInfo("logo.png", "image/png", 10, "2", inline=True),
            AttachmentInfo("Faktura_2026.PDF", "application/pdf", 10, "3"),
        ],
        auto=AutoKind.BULK,
    )

    def check(cond: tuple[str, str, object]) -> bool:
        d = evaluate([rule("r", cond, actions=Actions(category="x"))], MessageContext(msg))
        return d.category == "x"

    assert check(("has_attachment", "equals", True))
    assert check(("attachment_name", "ends_with", ".pdf"))
    assert check(("attachment_name", "matches", r"faktura_\d{4}"))
    assert check(("is_automatic", "equals", True))
    assert check(("auto", "equals", "bulk"))
    assert not check(("auto", "equals", "bounce"))
    inline_only = ParsedMessage("b@x", "s", None, attachments=[msg.attachments[0]])
    d = evaluate(
        [rule("r", ("has_attachment", "equals", True), actions=Actions(category="x"))],
        MessageContext(inline_only),
    )
    assert d.category is None  # an inline logo is not an attachment


@pytest.mark.parametrize(
    ("subject", "reply"),
    [
        ("Re: x", True),
        ("RE[2]: x", True),
        ("Odp: x", True),
        ("AW: x", True),
        ("Sv: x", True),
        ("Vá: x", True),
        ("Fwd: Re: x", False),
        ("Recenze: x", False),
        ("Objednávka", False),
    ],
)
def test_reply_prefixes(subject: str, reply: bool) -> None:
    assert is_reply_subject(subject) is reply


# ------------------------------------------------------------------------------------------
# all / any / stop / merge order


def test_all_reports_the_first_failing_condition() -> None:
    r = rule(
        "both",
        ("subject", "contains", "objednávka"),
        ("from_domain", "equals", "dodavatel.example"),
        actions=Actions(category="x"),
    )
    result = evaluate([r], ctx(ORDER)).results[0]
    assert result.outcome is Outcome.NOT_MATCHED
    assert [c.passed for c in result.checks] == [True, False]
    assert result.reason == (
        'from_domain equals "dodavatel.example": no, from_domain is "customer.example"'
    )


def test_any_matches_on_one_and_reports_none_otherwise() -> None:
    any_rule = rule(
        "either",
        ("subject", "contains", "faktura"),
        ("from_domain", "equals", "customer.example"),
        match=Match.ANY,
        actions=Actions(category="x"),
    )
    assert evaluate([any_rule], ctx(ORDER)).category == "x"
    none_rule = rule(
        "neither",
        ("subject", "contains", "faktura"),
        ("from_domain", "equals", "other.example"),
        match=Match.ANY,
        actions=Actions(category="x"),
    )
    result = evaluate([none_rule], ctx(ORDER)).results[0]
    assert result.outcome is Outcome.NOT_MATCHED and len(result.checks) == 2
    assert result.reason == "none of the conditions holds"


def test_no_conditions_always_matches() -> None:
    assert evaluate([rule("all mail", actions=Actions(tags=("inbox",)))], ctx(ORDER)).tags == (
        "inbox",
    )


def test_later_rules_override_per_field_tags_and_notes_accumulate() -> None:
    rules = [
        rule("a", actions=Actions(priority=Priority.LOW, category="one", tags=("x",), note="n1")),
        rule("b", actions=Actions(priority=Priority.HIGH, tags=("y", "X"), note="n2")),
        rule("c", ("category", "equals", "one"), actions=Actions(status="open")),
        rule("d", ("tags", "contains", "y"), actions=Actions(assign=Assign(agent="a@example.com"))),
        rule("e", ("assignee", "equals", "a@example.com"), actions=Actions(department="sales")),
    ]
    d = evaluate(rules, ctx(ORDER))
    assert d.priority is Priority.HIGH
    assert d.category == "one"
    assert d.tags == ("x", "y")  # "X" folds to "x"
    assert d.notes == ("n1", "n2")
    assert d.status == "open"  # rule c saw the category rule a set
    assert d.assign == Assign(agent="a@example.com")
    assert d.department == "sales"  # rule e saw the assignee rule d set
    assert d.matched == ("a", "b", "c", "d", "e")


def test_stop_ends_processing_and_later_rules_are_listed_as_not_reached() -> None:
    rules = [
        rule("first", actions=Actions(category="a"), stop=True),
        rule("second", actions=Actions(category="b")),
    ]
    d = evaluate(rules, ctx(ORDER))
    assert d.category == "a"
    assert [r.outcome for r in d.results] == [Outcome.MATCHED, Outcome.NOT_REACHED]
    assert d.results[0].actions == ("category = a", "stop")
    # a stop in a rule that did not match stops nothing
    rules[0] = rule(
        "first", ("subject", "contains", "zzz"), actions=Actions(category="a"), stop=True
    )
    assert evaluate(rules, ctx(ORDER)).category == "b"


def test_existing_ticket_fields_are_seen() -> None:
    ticket = TicketFields(status="waiting", priority=Priority.URGENT, tags=("vip",))
    r = rule(
        "vip",
        ("tags", "equals", "VIP"),
        ("priority", "equals", "urgent"),
        actions=Actions(note="VIP waiting"),
        on=Trigger.EVERY_MESSAGE,
    )
    assert evaluate([r], ctx(ORDER, ticket=ticket, is_new_ticket=False)).notes == ("VIP waiting",)


# ------------------------------------------------------------------------------------------
# Building conditions


@pytest.mark.parametrize(
    ("field", "op", "value", "key", "in_text"),
    [
        ("subjekt", "contains", "x", "field", "unknown field"),
        ("subject", "includes", "x", "includes", "unknown operator"),
        ("subject", "matches", "([a-z", "matches", "bad regular expression"),
        ("subject", "contains", 3.5, "contains", "a text or a non-empty array"),
        ("subject", "contains", [], "contains", "a text or a non-empty array"),
        ("subject", "contains", "", "contains", "a non-empty text"),
        ("is_reply", "contains", "x", "contains", "equals or not_equals"),
        ("is_reply", "equals", "yes", "equals", "true or false"),
        ("cc", "exists", "yes", "exists", "true or false"),
        ("priority", "equals", "soon", "equals", "a priority"),
        ("header:Bad Name", "exists", True, "field", "unknown field"),
    ],
)
def test_bad_conditions_say_what_is_wrong(
    field: str, op: str, value: object, key: str, in_text: str
) -> None:
    with pytest.raises(RuleError) as info:
        make_condition(field, op, value)
    assert info.value.key == key
    assert in_text in str(info.value)


# ------------------------------------------------------------------------------------------
# Choosing the agent


def test_round_robin_goes_round_skipping_away() -> None:
    team = [AgentLoad("b@x.example"), AgentLoad("a@x.example"), AgentLoad("c@x.example", away=True)]
    order = []
    last = None
    for _ in range(4):
        last = pick_agent(team, Strategy.ROUND_ROBIN, last)
        order.append(last)
    assert order == ["a@x.example", "b@x.example", "a@x.example", "b@x.example"]
    # the last one left the department: the next in address order follows
    assert pick_agent(team, Strategy.ROUND_ROBIN, "aa@x.example") == "b@x.example"
    assert pick_agent([AgentLoad("c@x.example", away=True)], Strategy.ROUND_ROBIN) is None
    assert pick_agent([], Strategy.LEAST_LOADED) is None


def test_least_loaded_takes_the_idlest_present_agent_ties_rotate() -> None:
    team = [
        AgentLoad("a@x.example", 5),
        AgentLoad("b@x.example", 2),
        AgentLoad("c@x.example", 0, away=True),
        AgentLoad("d@x.example", 2),
    ]
    assert pick_agent(team, Strategy.LEAST_LOADED) == "b@x.example"
    assert pick_agent(team, Strategy.LEAST_LOADED, "b@x.example") == "d@x.example"
    assert pick_agent(team, Strategy.LEAST_LOADED, "d@x.example") == "b@x.example"


def test_resolve_assignee_by_department_and_agent() -> None:
    agents = [
        Agent("petr@x.example", "Petr", departments=("Sklad",)),
        Agent("eva@x.example", "Eva", departments=("sklad", "support")),
        Agent("ota@x.example", "Ota", departments=("support",), away=True),
    ]
    loads = {"petr@x.example": 3, "eva@x.example": 1}
    wh = Assign(department="SKLAD", strategy=Strategy.LEAST_LOADED)
    assert resolve_assignee(wh, agents, loads) == "eva@x.example"
    assert resolve_assignee(Assign(department="support"), agents, loads) == "eva@x.example"
    assert resolve_assignee(Assign(department="billing"), agents, loads) is None
    assert resolve_assignee(Assign(agent="PETR@x.example"), agents, loads) == "petr@x.example"
    assert resolve_assignee(Assign(agent="ota@x.example"), agents, loads) is None  # away
    assert resolve_assignee(Assign(agent="nobody@x.example"), agents, loads) is None


def test_regex_with_accents_matches_text_written_without_them() -> None:
    plain = message("p@c.example", subject="Objednavka c. 77 - zlutoucky kun")
    assert matches(("subject", "matches", r"objednávka č\. \d+"), plain)
    assert matches(("subject", "matches", r"ŽLUŤOUČKÝ"), plain)
    assert not matches(("subject", "not_matches", r"kůň$"), plain)
    assert not matches(("subject", "matches", r"^kůň"), plain)


def test_a_backtracking_pattern_cannot_hold_up_registration() -> None:
    """Mail is untrusted: a rule whose pattern backtracks on a long line stops after its
    time limit and counts as no match, saying why, instead of running for minutes."""
    import time as clock

    from helpdesk.core.rules import REGEX_SECONDS

    cond = make_condition("body", "matches", r"(\w+\s?)+$")
    body = "slovo " * 3000 + "!"
    rule = Rule(name="slow", conditions=(cond,), actions=Actions())
    ctx = MessageContext(message=ParsedMessage("b@c.example", "Hi", None, text_body=body))
    started = clock.perf_counter()
    decision = evaluate([rule], ctx)
    took = clock.perf_counter() - started
    (result,) = decision.results
    assert result.outcome is Outcome.NOT_MATCHED
    assert "took over" in result.checks[0].detail
    assert took < 100 * REGEX_SECONDS  # it stopped, well before the minutes it would take


def test_odd_digits_and_huge_repeats_are_config_errors_not_crashes() -> None:
    for op, value in [("matches", "a{4294967296}"), ("matches", "(" * 1200 + ")" * 1200)]:
        with pytest.raises(RuleError):
            make_condition("subject", op, value)
    with pytest.raises(RuleError):
        make_condition("priority", "equals", "²")
