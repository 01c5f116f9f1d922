"""The ticket filter language: the parser (pure), and each query against a cache we fill."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, text

from helpdesk.core.config import ConfigError, parse_config
from helpdesk.core.ticket_query import (
    QueryError,
    Sort,
    SortKey,
    Term,
    TicketQuery,
    matching_statuses,
    parse_sort,
    parse_ticket_query,
)
from helpdesk.core.tickets import Queue
from helpdesk.core.workflow import DEFAULT_STATUSES
from helpdesk.storage.cache import Cache, ticket_t
from helpdesk.storage.ticket_filter import FilterContext

STATUSES = [s.name for s in DEFAULT_STATUSES]


def parse(text: str) -> TicketQuery:
    return parse_ticket_query(text, statuses=STATUSES)


def error(text: str) -> QueryError:
    with pytest.raises(QueryError) as caught:
        parse(text)
    return caught.value


# -- the parser --------------------------------------------------------------------------------


def test_every_field_parses() -> None:
    q = parse(
        "status:open assignee:me tag:reklamace from:@firma.example priority:high "
        "dept:sales is:unread"
    )
    assert q.terms == (
        Term("status", "open"),
        Term("assignee", "me"),
        Term("tag", "reklamace"),
        Term("from", "@firma.example"),
        Term("priority", "2"),
        Term("dept", "sales"),
        Term("is", "unread"),
    )
    assert q.sort is None


def test_free_text_quoting_and_negation() -> None:
    q = parse('faktura "dodací list" -storno -"bez dph" -tag:spam')
    assert q.terms == (
        Term("", "faktura"),
        Term("", "dodací list"),
        Term("", "storno", negated=True),
        Term("", "bez dph", negated=True),
        Term("tag", "spam", negated=True),
    )


def test_a_quoted_value_keeps_its_spaces_and_a_quoted_colon_is_text() -> None:
    assert parse('status:"waiting on customer"').terms == (Term("status", "waiting on customer"),)
    assert parse('"status:open"').terms == (Term("", "status:open"),)
    # Digits before a colon are no field: a time is searched for as it is.
    assert parse("10:30").terms == (Term("", "10:30"),)


def test_aliases_and_case() -> None:
    q = parse("Department:Sales PRIORITY:Urgent Is:Breached assignee:NONE prio:0")
    assert q.terms == (
        Term("dept", "Sales"),
        Term("priority", "3"),
        Term("is", "breached"),
        Term("assignee", "none"),
        Term("priority", "0"),
    )


def test_sort_term_and_natural_orders() -> None:
    assert parse("sort:-activity tag:x").sort == Sort(SortKey.ACTIVITY, reverse=True)
    assert parse("sort:SLA").sort == Sort(SortKey.SLA)
    for key in SortKey:
        assert parse_sort(key.value) == Sort(key)
        assert parse_sort("-" + key.value) == Sort(key, reverse=True)
    assert str(parse("tag:x sort:-priority")) == "tag:x sort:-priority"


def test_text_form_round_trips() -> None:
    for typed in ('status:"waiting on customer" -faktura tag:a sort:sla', "-is:unread x"):
        assert parse(str(parse(typed))) == parse(typed)


def test_empty_and_blank_queries() -> None:
    assert parse("").empty and parse("   ").empty
    assert not parse("sort:number").empty


def test_unknown_field_suggests_the_right_one() -> None:
    err = error("tag:x stat:open")
    assert err.message == "unknown field 'stat' (did you mean status?)"
    assert (err.start, err.end) == (6, 10)  # the field name in the text typed
    assert error("asignee:me").message == "unknown field 'asignee' (did you mean assignee?)"
    assert error("zzz:1").message == "unknown field 'zzz'"


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("priority:hihg", "unknown priority 'hihg' (did you mean high?)"),
        ("priority:7", "unknown priority '7': one of low, normal, high, urgent"),
        ("is:unred", "unknown is:unred (did you mean unread?)"),
        ("sort:age", "unknown sort 'age'"),
        ("sort:priority sort:sla", "only one sort: term"),
        ("-sort:sla", "sort: cannot be negated"),
        ("status:", "status: needs a value"),
        ('tag:""', "tag: needs a value"),
        ("status:opne", "unknown status 'opne' (did you mean open?)"),
        ('"unclosed phrase', "a quote is not closed"),
        ('from:"x', "a quote is not closed"),
        ("a - b", "'-' must stand right before"),
    ],
)
def test_errors_say_what_is_wrong(typed: str, message: str) -> None:
    assert error(typed).message.startswith(message)


def test_status_prefixes_and_legacy_names() -> None:
    assert matching_statuses("waiting", STATUSES) == (
        "waiting",
        "waiting on customer",
        "waiting on third party",
    )
    assert matching_statuses("Open", STATUSES) == ("Open", "open")
    # Without a vocabulary any status is taken as typed.
    assert parse_ticket_query("status:whatever").terms == (Term("status", "whatever"),)


def test_too_many_terms_is_an_error_not_a_huge_statement() -> None:
    with pytest.raises(QueryError, match="too many terms"):
        parse(" ".join(f"w{i}" for i in range(40)))


def test_combining_a_view_and_a_filter() -> None:
    view = parse("tag:vip sort:sla")
    both = view & parse("is:unread")
    assert both.terms == (Term("tag", "vip"), Term("is", "unread"))
    assert both.sort == Sort(SortKey.SLA)
    assert (view & parse("sort:number")).sort == Sort(SortKey.NUMBER)


# -- [[views]] in helpdesk.toml ----------------------------------------------------------------

AGENT = '[agent]\nname = "Jana"\nemail = "jana@helpdesk.example"\n'


def test_views_are_read_from_the_config() -> None:
    settings = parse_config(
        AGENT
        + '\n[[views]]\nname = "VIP"\nquery = "tag:vip -is:closed"\nsort = "-sla"\n'
        + '\n[[views]]\nname = "Everything"\n',
        "h.toml",
        default_agent=("x", "x@example.com"),
    )
    vip, everything = settings.views
    assert vip.name == "VIP"
    assert vip.query.terms == (Term("tag", "vip"), Term("is", "closed", negated=True))
    assert vip.sort == Sort(SortKey.SLA, reverse=True)
    assert everything.query.empty and everything.sort is None


def test_view_problems_name_the_line_the_view_and_the_fix() -> None:
    text = (
        AGENT
        + '\n[[views]]\nname = "A"\nquery = "stat:open"\n'  # lines 5-7
        + '\n[[views]]\nname = "A"\nsort = "oldest"\ncolour = "red"\n'  # lines 9-12
        + "\n[[views]]\nquery = 3\n"  # lines 14-15
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "h.toml", default_agent=("x", "x@example.com"))
    lines = str(caught.value).splitlines()
    assert lines[0].startswith(
        "h.toml:7: views[1].query: in view \"A\": unknown field 'stat' (did you mean status?)"
    )
    assert any(line.startswith('h.toml:11: views[2].sort: in view "A"') for line in lines)
    assert any(
        line.startswith("h.toml:12: views[2].colour") and "unknown key" in line for line in lines
    )
    assert any(line.startswith("h.toml:14: views[3].name: in view 3: missing") for line in lines)
    assert any(line.startswith("h.toml:15: views[3].query") for line in lines)


# -- queries against a cache -------------------------------------------------------------------

NOW = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
JANA = "jana@helpdesk.example"
PETR = "petr@helpdesk.example"


def _ticket(number: int, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "number": number,
        "subject": f"Ticket {number}",
        "customer_name": "",
        "customer_email": f"c{number}@customer.example",
        "status": "new",
        "assignee": None,
        "created_at": NOW - timedelta(days=2),
        "last_activity": NOW - timedelta(hours=number),
        "message_count": 1,
        "waiting_on_us": True,
        "priority": 1,
        "tags": "",
        "department": None,
        "sla_due": None,
    }
    row.update(values)
    return row


def _message(pk: int, ticket: int, subject: str, sender: str, **values: Any) -> dict[str, Any]:
    name, _, email = sender.partition(" <")
    row: dict[str, Any] = {
        "id": pk,
        "message_id": f"m{pk}@customer.example",
        "dedupe_key": "k",
        "ticket": ticket,
        "subject": subject,
        "from_name": name if email else "",
        "from_email": email.rstrip(">") if email else sender,
        "text_body": "body text about nothing",
        "received_at": NOW - timedelta(hours=ticket),
        "outgoing": False,
    }
    row.update(values)
    return row


TICKETS = [
    _ticket(1, subject="Faktura 77", customer_name="Anna Malá",
            customer_email="anna@firma.example", status="open", assignee=JANA,
            tags="invoice,vip", priority=2, department="Sales",
            sla_due=NOW - timedelta(minutes=30)),
    _ticket(2, subject="Reklamace bot", customer_email="jan@firma.example",
            status="waiting on customer", assignee=PETR, tags="reklamace",
            department="sales", sla_due=NOW + timedelta(minutes=20)),
    _ticket(3, subject="Objednávka nedorazila", customer_name="Žofie Černá",
            customer_email="zofie@other.example", tags="vip2", priority=3,
            sla_due=NOW + timedelta(hours=5)),
    _ticket(4, subject="Spam offer", customer_email="x@spam.example", status="spam"),
    _ticket(5, subject="Thanks", customer_email="eva@sub.firma.example", status="closed",
            assignee=JANA, waiting_on_us=False, department="Support", priority=0),
    _ticket(6, subject="Legacy waiting", customer_email="old@other.example",
            status="waiting", assignee=JANA),
    _ticket(7, subject="100% refund_now", customer_email="pct@other.example"),
]  # fmt: skip

MESSAGES = [
    _message(1, 1, "Faktura 77", "Anna Malá <anna@firma.example>"),
    _message(2, 1, "Re: Faktura 77", "Jana via Support <support@helpdesk.example>",
             outgoing=True, text_body="Reklamace vyřízena"),
    _message(3, 2, "Reklamace bot", "jan@firma.example"),
    _message(4, 3, "Objednávka nedorazila", "Žofie Černá <zofie@other.example>"),
    _message(5, 4, "Spam offer", "x@spam.example"),
    _message(6, 5, "Thanks", "eva@sub.firma.example"),
    _message(7, 6, "Legacy waiting", "old@other.example"),
    _message(8, 7, "100% refund_now", "pct@other.example"),
]  # fmt: skip


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Cache]:
    c = Cache(tmp_path / "cache.sqlite")
    with c.begin_write() as conn:
        conn.execute(insert(ticket_t), TICKETS)
        Cache.insert_messages(conn, MESSAGES)
    yield c
    c.close()


def ctx(agent: str = JANA) -> FilterContext:
    return FilterContext(agent, NOW)


def numbers(cache: Cache, typed: str, queue: Queue = Queue.ALL, agent: str = JANA) -> list[int]:
    query = parse(typed)
    found = [
        t.number
        for t in cache.list_tickets(queue, agent, query=query, context=ctx(agent), limit=None)
    ]
    assert cache.count_tickets(queue, agent, query=query, context=ctx(agent)) == len(found)
    return sorted(found) if query.sort is None else found


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("", [1, 2, 3, 4, 5, 6, 7]),
        ("status:open", [1]),
        ("status:waiting", [2, 6]),  # a prefix of configured names, and the legacy name
        ('status:"waiting on customer"', [2]),
        ("-status:open", [2, 3, 4, 5, 6, 7]),
        ("assignee:me", [1, 5, 6]),
        ("assignee:none", [3, 4, 7]),
        ("assignee:petr", [2]),
        (f"assignee:{PETR}", [2]),
        ("-assignee:petr", [1, 3, 4, 5, 6, 7]),  # unassigned tickets are "not petr's"
        ("tag:vip", [1]),  # a whole tag, not "vip2"
        ("tag:VIP", [1]),
        ("tag:reklamace", [2]),
        ("-tag:vip", [2, 3, 4, 5, 6, 7]),
        ("from:@firma.example", [1, 2]),  # not sub.firma.example
        ("from:anna@firma.example", [1]),
        ("from:firma", [1, 2, 5]),
        ("from:Malá", [1]),
        ("priority:high", [1]),
        ("priority:urgent", [3]),
        ("priority:low", [5]),
        ("-priority:normal", [1, 3, 5]),
        ("dept:sales", [1, 2]),  # case does not split a department
        ("dept:none", [3, 4, 6, 7]),
        ("-dept:none", [1, 2, 5]),
        ("is:breached", [1]),
        ("is:due", [2]),
        ("-is:breached", [2, 3, 4, 5, 6, 7]),
        ("is:open", [1, 3, 7]),
        ("is:waiting", [2, 6]),
        ("is:closed", [4, 5]),
        ("faktura", [1]),
        ("FAKTURA", [1]),
        ("objednavka", [3]),  # accents do not matter
        ("cerna", [3]),  # the customer's name
        ('"faktura 77"', [1]),
        ('"77 faktura"', []),
        ("-faktura", [2, 3, 4, 5, 6, 7]),
        ("reklamace", [2]),  # our reply's body says it too: only subjects and customers count
        ("vyrizena", []),
        ("support", []),  # our own address as sender is not a customer
        ("100%", [7]),
        ("%", [1, 2, 3, 4, 5, 6, 7]),  # punctuation alone excludes nothing
        ("from:100%", []),
        ("from:_", []),  # LIKE wildcards are plain characters
        ("tag:vip from:@firma.example assignee:me", [1]),
        ("tag:vip assignee:petr", []),
        ("is:unread", [1, 2, 3, 4, 6, 7]),
    ],
)
def test_each_query_finds_exactly_its_tickets(
    cache: Cache, typed: str, expected: list[int]
) -> None:
    assert numbers(cache, typed) == expected


@pytest.mark.parametrize(
    ("queue", "agent", "expected"),
    [
        (Queue.OPEN, JANA, [1, 2, 3, 6, 7]),
        (Queue.UNASSIGNED, JANA, [3, 7]),
        (Queue.MINE, JANA, [1, 6]),
        (Queue.MINE, PETR, [2]),
        (Queue.WAITING, JANA, [2, 6]),
        (Queue.CLOSED, JANA, [4, 5]),
        (Queue.SPAM, JANA, [4]),
        (Queue.ALL, JANA, [1, 2, 3, 4, 5, 6, 7]),
    ],
)
def test_queues(cache: Cache, queue: Queue, agent: str, expected: list[int]) -> None:
    assert numbers(cache, "", queue, agent) == expected


def test_a_filter_narrows_a_queue(cache: Cache) -> None:
    assert numbers(cache, "tag:vip", Queue.MINE) == [1]
    assert numbers(cache, "dept:sales", Queue.MINE) == [1]
    assert numbers(cache, "-dept:sales", Queue.OPEN) == [3, 6, 7]


def test_configured_statuses_decide_the_queues(cache: Cache) -> None:
    from helpdesk.core.workflow import StatusDefinition, StatusKind

    # A team that calls "open" a waiting status (odd, but theirs to decide).
    statuses = (
        StatusDefinition("new", "$accent", StatusKind.OPEN),
        StatusDefinition("open", "$primary", StatusKind.WAITING),
        StatusDefinition("closed", "$success", StatusKind.CLOSED),
    )
    context = FilterContext(JANA, NOW, statuses=statuses)
    waiting = cache.list_tickets(Queue.WAITING, JANA, context=context)
    # 1 by the team's word; 6 by its legacy name; "waiting on customer" is not theirs, and an
    # unknown status counts as open (never hidden from the open queues).
    assert sorted(t.number for t in waiting) == [1, 6]
    opened = cache.list_tickets(Queue.OPEN, JANA, context=context)
    assert 2 in {t.number for t in opened}


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("sort:activity", [1, 2, 3, 4, 5, 6, 7]),
        ("sort:-activity", [7, 6, 5, 4, 3, 2, 1]),
        ("sort:number", [1, 2, 3, 4, 5, 6, 7]),
        ("sort:-number", [7, 6, 5, 4, 3, 2, 1]),
        ("sort:priority", [3, 1, 2, 4, 6, 7, 5]),
        ("sort:-priority", [5, 7, 6, 4, 2, 1, 3]),
        ("sort:sla", [1, 2, 3, 4, 5, 6, 7]),
        ("sort:-sla", [3, 2, 1, 7, 6, 5, 4]),
        # Anna, eva@, jan@, old@, pct@, x@, Žofie: the name if there is one, case aside
        ("sort:customer", [1, 5, 2, 6, 7, 4, 3]),
        ("sort:-customer", [3, 4, 7, 6, 2, 5, 1]),
    ],
)
def test_sorts(cache: Cache, typed: str, expected: list[int]) -> None:
    assert numbers(cache, typed) == expected


def test_summaries_carry_the_team_fields_and_unread(cache: Cache) -> None:
    by_number = {t.number: t for t in cache.list_tickets(Queue.ALL, JANA, context=ctx())}
    one = by_number[1]
    assert one.priority == 2 and one.tags == ("invoice", "vip") and one.department == "Sales"
    assert one.sla_due == NOW - timedelta(minutes=30)
    assert one.unread and not by_number[5].unread  # 5: we answered last


def test_seen_is_per_agent_and_only_newer_mail_is_unread(cache: Cache) -> None:
    cache.mark_seen(1, JANA, NOW)
    assert 1 not in numbers(cache, "is:unread")
    assert 1 in numbers(cache, "is:unread", agent=PETR)
    # An earlier mark never moves it back.
    cache.mark_seen(1, JANA, NOW - timedelta(days=10))
    assert 1 not in numbers(cache, "is:unread")
    # New customer mail after the agent looked makes it unread again.
    with cache.begin_write() as conn:
        conn.execute(
            ticket_t.update().where(ticket_t.c.number == 1).values(last_activity=NOW + timedelta(1))
        )
    assert 1 in numbers(cache, "is:unread")


def test_paging_a_filtered_sorted_list_never_repeats_or_skips(cache: Cache) -> None:
    query = parse("-tag:nothing sort:priority")
    pages = [
        t.number
        for offset in range(0, 7, 2)
        for t in cache.list_tickets(
            Queue.ALL, JANA, query=query, context=ctx(), limit=2, offset=offset
        )
    ]
    assert pages == [3, 1, 2, 4, 6, 7, 5]


def test_departments_present(cache: Cache) -> None:
    assert cache.departments() == ["Sales", "Support", "sales"]


def test_seen_table_is_made_in_an_older_cache(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    Cache(path).close()
    c = Cache(path)
    with c.begin_write() as conn:
        conn.execute(text("DROP TABLE seen"))
    c.close()
    c = Cache(path)  # opened again: the table is back
    c.mark_seen(1, JANA, NOW)
    c.close()


# -- every default queue reads through an index -----------------------------------------------


@pytest.fixture
def big_cache(tmp_path: Path) -> Iterator[Cache]:
    """Enough tickets, mostly closed, for the planner's statistics to matter (they are taken
    when the cache is opened)."""
    path = tmp_path / "big.sqlite"
    c = Cache(path)
    rows = []
    for n in range(1, 3001):
        status = "closed" if n % 10 < 8 else ("spam", "new", "open", "waiting on customer")[n % 4]
        rows.append(
            _ticket(
                n,
                status=status,
                assignee=(JANA, PETR, None)[n % 3],
                department=("Sales", "Support", None)[n % 3],
                last_activity=NOW - timedelta(minutes=n),
            )
        )
    with c.begin_write() as conn:
        conn.execute(insert(ticket_t), rows)
    c.close()
    c = Cache(path)
    yield c
    c.close()


def _plan(cache: Cache, stmt: Any) -> str:
    compiled = stmt.compile(cache.engine, compile_kwargs={"literal_binds": True})
    with cache.engine.connect() as conn:
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").fetchall()
    return "\n".join(str(r[-1]) for r in rows)


@pytest.mark.parametrize("queue", list(Queue))
def test_default_queues_use_an_index(big_cache: Cache, queue: Queue) -> None:
    from sqlalchemy import func, select

    from helpdesk.storage.ticket_filter import order_by, queue_condition, unread_condition

    c = big_cache.filter_context(JANA, NOW)
    assert c.present == ("closed", "new", "open", "spam", "waiting on customer")
    listing = (
        select(ticket_t, unread_condition(JANA).label("unread"))
        .where(queue_condition(queue, c))
        .order_by(*order_by(None))
        .limit(500)
    )
    counting = select(func.count()).select_from(ticket_t).where(queue_condition(queue, c))
    for plan in (_plan(big_cache, listing), _plan(big_cache, counting)):
        ticket_lines = [line for line in plan.splitlines() if " ticket" in line]
        assert ticket_lines, plan
        assert all("INDEX" in line for line in ticket_lines), plan
    # A page never sorts a whole queue: big queues walk the activity index and stop early.
    if queue in (Queue.OPEN, Queue.CLOSED, Queue.ALL):
        assert "TEMP B-TREE" not in _plan(big_cache, listing)
    seen_lines = [line for line in _plan(big_cache, listing).splitlines() if " seen" in line]
    assert seen_lines and all("INDEX" in line for line in seen_lines)


def test_department_counts_seek_the_index(big_cache: Cache) -> None:
    from sqlalchemy import func, select

    from helpdesk.storage.ticket_filter import query_condition, queue_condition

    c = big_cache.filter_context(JANA, NOW)
    stmt = (
        select(func.count())
        .select_from(ticket_t)
        .where(queue_condition(Queue.OPEN, c), query_condition(parse("dept:Sales"), c))
    )
    assert "SEARCH ticket USING" in _plan(big_cache, stmt)
    assert big_cache.departments() == ["Sales", "Support"]
    expected = sum(1 for n in range(1, 3001) if n % 3 == 0 and n % 10 >= 8 and n % 4 != 0)
    assert big_cache.count_tickets(Queue.OPEN, JANA, query=parse("dept:sales"), context=c) == (
        expected
    )


def test_the_example_views_in_helpdesk_toml_parse() -> None:
    example = Path(__file__).parent.parent / "helpdesk.toml"
    text_ = example.read_text(encoding="utf-8")
    block = text_[text_.index("# [[views]]") :].split("\n\n", 1)[0]
    enabled = "\n".join(line.removeprefix("# ") for line in block.splitlines())
    settings = parse_config(AGENT + enabled, "h.toml", default_agent=("x", "x@example.com"))
    assert [v.name for v in settings.views] == ["Complaints", "VIP waiting"]
    assert settings.views[0].sort == Sort(SortKey.SLA)
