"""Full-text search: the query builder, the FTS5 index kept in step with ingest, ranking,
hostile input, the schema 2 -> 3 migration and `helpdesk search`."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mailbuild import message
from sqlalchemy import create_engine, inspect, text

from helpdesk.core.config import parse_config
from helpdesk.core.search_text import (
    _WORD,
    MIN_PREFIX,
    Marked,
    Term,
    fold_for_index,
    fold_word,
    fts_query,
    match_spans,
    parse_query,
    snippet,
)
from helpdesk.storage import cache as cache_module
from helpdesk.storage.cache import Cache
from helpdesk.storage.cache_models import MESSAGE_FTS_DDL
from helpdesk.storage.workspace import Workspace, open_workspace
from helpdesk.sync.ingest import Incoming
from helpdesk.sync.service import make_ingestor

HOSTILE = [
    "",
    " ",
    '"',
    '""',
    '"""',
    "*",
    "**",
    "tisk*",
    "NEAR(",
    "NEAR(a b, 2)",
    "a NEAR b",
    "-",
    "-tiskarna",
    ":",
    "subject:tiskarna",
    "{subject sender}: x",
    "^",
    "^tiskarna",
    "(",
    ")",
    "a OR b",
    "a AND",
    "NOT",
    "AND OR NOT",
    '"unbalanced',
    'unbalanced"',
    'a "b c',
    "+",
    "'",
    "\\",
    "%_",
    "\x00",
    "tiska\u0301rna",
    "🙂",
    "ﬁ",
    "x" * 5000,
    " ".join(["slovo"] * 500),
]


# -- core.search_text: pure -----------------------------------------------------------------


def test_words_are_folded_and_the_last_is_a_prefix_while_typed() -> None:
    assert parse_query("Tiskárna  ŽLUTÝ") == (
        Term(("tiskarna",)),
        Term(("zluty",), prefix=True),
    )
    assert parse_query("tiskárna žlutý ") == (Term(("tiskarna",)), Term(("zluty",)))
    assert parse_query("żółw") == (Term(("zolw",), prefix=True),)
    assert parse_query("Straße") == (Term(("strasse",), prefix=True),)
    # Too short to be worth a prefix search.
    assert parse_query("a" * (MIN_PREFIX - 1)) == (Term(("a" * (MIN_PREFIX - 1),)),)


def test_phrases_and_addresses_become_word_sequences() -> None:
    assert parse_query('"Dobrý den" faktura ') == (
        Term(("dobry", "den")),
        Term(("faktura",)),
    )
    # A phrase left open is still being typed.
    assert parse_query('faktura "dobrý de') == (
        Term(("faktura",)),
        Term(("dobry", "de"), prefix=True),
    )
    assert parse_query("jan@customer.example") == (
        Term(("jan", "customer", "example"), prefix=True),
    )


def test_fts_query_quotes_every_term() -> None:
    assert fts_query(parse_query("tiskárna žlu")) == '"tiskarna" "zlu"*'
    assert fts_query(parse_query('"dobrý den" ')) == '"dobry den"'
    assert fts_query(parse_query("")) is None
    assert fts_query(parse_query('" * - : ^ ( )')) is None


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_input_is_a_valid_fts5_query(hostile: str) -> None:
    fts = sqlite3.connect(":memory:")
    fts.execute(MESSAGE_FTS_DDL)
    fts.execute("INSERT INTO message_fts (rowid, subject, sender, body) VALUES (1, 'a', 'b', 'c')")
    query = fts_query(parse_query(hostile))
    if query is not None:
        fts.execute("SELECT rowid FROM message_fts WHERE message_fts MATCH ?", (query,)).fetchall()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_text_is_a_valid_fts5_query(typed: str) -> None:
    fts = sqlite3.connect(":memory:")
    fts.execute(MESSAGE_FTS_DDL)
    query = fts_query(parse_query(typed))
    if query is not None:
        fts.execute("SELECT rowid FROM message_fts WHERE message_fts MATCH ?", (query,)).fetchall()


def test_fold_matches_what_people_type() -> None:
    assert fold_word("Tiskárna") == "tiskarna"
    assert fold_word("żółw") == "zolw"
    assert fold_word("tiska\u0301rna") == "tiskarna"  # decomposed, as some clients send it
    assert fold_for_index("Łódź, Straße") == "Lódź, Strasse"  # the tokenizer does the rest
    assert fold_for_index("plain") == "plain"


def test_match_spans_find_folded_words_prefixes_and_phrases() -> None:
    body = "Naše Tiskárna tiskne žlutě; tiskárna je nová."
    spans = match_spans(body, parse_query("tiskarna "))
    assert [body[a:b] for a, b in spans] == ["Tiskárna", "tiskárna"]
    spans = match_spans(body, parse_query("tisk"))
    assert [body[a:b] for a, b in spans] == ["Tiskárna", "tiskne", "tiskárna"]
    spans = match_spans(body, parse_query('"tiskárna tiskne"'))
    assert [body[a:b] for a, b in spans] == ["Tiskárna tiskne"]
    assert match_spans(body, parse_query('"tiskne tiskárna"')) == ()
    nfd = unicodedata.normalize("NFD", "Żółw")
    assert match_spans(nfd, parse_query("zolw ")) == ((0, len(nfd)),)


def test_only_latin_accents_are_folded_like_the_index() -> None:
    # unicode61's remove_diacritics leaves other scripts as they are: so must the query.
    assert fold_word("Ёлка") == "ёлка" and fold_word("Ελλάδα") == "ελλάδα"
    text_ = "Ёлка, Straße, Æble, ŁÓDŹ"
    assert [text_[a:b] for a, b in match_spans(text_, parse_query("ёлка strasse aeble lodz "))] == [
        "Ёлка",
        "Straße",
        "Æble",
        "ŁÓDŹ",
    ]
    assert match_spans(text_, parse_query("елка ")) == ()


def _oracle_spans(text_: str, terms: tuple[Term, ...]) -> set[tuple[int, int]]:
    """The slow way: cut into words, fold each, compare word by word."""
    words = [(m.start(), m.end(), fold_word(m.group())) for m in _WORD.finditer(text_)]
    found = set()
    for term in terms:
        *lead, last = term.words
        for i in range(len(words) - len(lead)):
            tail = words[i + len(lead)][2]
            if all(words[i + j][2] == w for j, w in enumerate(lead)) and (
                tail.startswith(last) if term.prefix else tail == last
            ):
                found.add((words[i][0], words[i + len(lead)][1]))
    return found


_TRICKY = st.sampled_from(
    [
        "tisk",
        "tiskárna",
        "TISKÁRNA",
        "tiska\u0301rna",
        "żółw",
        "ŻÓŁW",
        "Straße",
        "strasse",
        "ß",
        "æble",
        "Ёлка",
        "den",
        "dobrý",
        "x²",
        "_",
        " ",
        "  ",
        "\n",
        "-",
        ".",
        "@",
        "é",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_TRICKY, max_size=12), st.lists(_TRICKY, min_size=1, max_size=3), st.booleans())
def test_highlights_agree_with_word_by_word_matching(
    body: list[str], typed: list[str], still_typing: bool
) -> None:
    text_ = "".join(body)
    terms = parse_query(" ".join(typed) + ("" if still_typing else " "))
    spans = match_spans(text_, terms)
    oracle = _oracle_spans(text_, terms)
    # Every oracle hit is covered; every highlighted range is made of oracle hits.
    for a, b in oracle:
        assert any(x <= a and b <= y for x, y in spans), (text_, terms, spans, oracle)
    for x, y in spans:
        assert x == min(a for a, b in oracle if x <= a < y) and y == max(
            b for a, b in oracle if x < b <= y
        ), (text_, terms, spans, oracle)


def test_snippet_is_one_line_around_the_matches() -> None:
    body = (
        ("Úvod bez hledaného slova. " * 20) + "Tady je\n\nrozbitá   tiskárna. " + ("Konec. " * 30)
    )
    s = snippet(body, parse_query("tiskarna "), width=60)
    assert "\n" not in s.text and "  " not in s.text
    assert s.text.startswith("…") and s.text.endswith("…")
    assert [s.text[a:b] for a, b in s.spans] == ["tiskárna"]
    assert len(s.text) <= 60 + 4
    # No match in the body: its beginning.
    start = snippet("První řádek\ndruhý řádek", parse_query("jiné"))
    assert start.text == "První řádek druhý řádek" and start.spans == ()


def test_marked_segments_are_data_not_markup() -> None:
    m = Marked("[bold]tiskárna[/bold] x", ((6, 14),))
    assert m.segments() == [("[bold]", False), ("tiskárna", True), ("[/bold] x", False)]
    assert "".join(t for t, _ in m.segments()) == m.text


# -- the cache ---------------------------------------------------------------------------------


def workspace(tmp_path: Path) -> Workspace:
    settings = parse_config(
        f'[team]\nstore = "sqlite:///{tmp_path / "team.sqlite"}"\naddresses = ["support@helpdesk.example"]\n'
        f'[cache]\npath = "{tmp_path / "cache.sqlite"}"\n',
        str(tmp_path / "helpdesk.toml"),
        default_agent=("A", "a@helpdesk.example"),
    )
    return open_workspace(settings)


def day(n: int) -> str:
    return f"Mon, {n:02d} Nov 2026 09:00:00 +0000"


PRINTER = message(
    "printer@c.example",
    sender="Jan Novák <jan@customer.example>",
    subject="Tiskárna nefunguje",
    body="Dobrý den,\nnaše tiskárna tiskne žlutý pruh. Na stole sedí żółw.\n",
    date=day(2),
)
INVOICE = message(
    "invoice@c.example",
    sender="Eva Malá <eva@shop.example>",
    subject="Faktura 2026-11",
    body="Prosím o opravu faktury, číslo objednávky 4411.\n",
    date=day(3),
)


def fts_rows(cache: Cache) -> int:
    with cache.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM message_fts")).scalar_one())


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    w = workspace(tmp_path)
    make_ingestor(w).ingest([Incoming(PRINTER), Incoming(INVOICE)])
    yield w
    w.close()


def tickets_found(ws: Workspace, typed: str) -> list[int]:
    return [h.ticket for h in ws.cache.search(typed)]


def subject_of(ws: Workspace, typed: str) -> list[str]:
    return [h.subject.text for h in ws.cache.search(typed)]


@pytest.mark.parametrize(
    "typed",
    ["tiskarna", "TISKARNA ", "tiskárna", "zluty", "žlutý", "zolw", "żółw", "ZOLW "],
)
def test_accents_are_optional(ws: Workspace, typed: str) -> None:
    assert subject_of(ws, typed) == ["Tiskárna nefunguje"]


def test_accents_typed_find_plain_text(tmp_path: Path) -> None:
    w = workspace(tmp_path)
    make_ingestor(w).ingest([Incoming(message("plain@c.example", body="tiskarna nejede"))])
    assert len(w.cache.search("tiskárna nejede")) == 1
    w.close()


def test_as_you_type_prefix(ws: Workspace) -> None:
    assert subject_of(ws, "tisk") == ["Tiskárna nefunguje"]
    assert subject_of(ws, "fakt") == ["Faktura 2026-11"]
    assert subject_of(ws, "fakt ") == []  # a finished word is a whole word
    hit = ws.cache.search("tisk")[0]
    assert [hit.snippet.text[a:b] for a, b in hit.snippet.spans] == ["tiskárna", "tiskne"]
    assert [hit.subject.text[a:b] for a, b in hit.subject.spans] == ["Tiskárna"]


def test_phrase(ws: Workspace) -> None:
    assert subject_of(ws, '"tiskne žlutý"') == ["Tiskárna nefunguje"]
    assert subject_of(ws, '"žlutý tiskne"') == []
    assert subject_of(ws, "žlutý tiskne") == ["Tiskárna nefunguje"]  # words in any order


def test_sender_name_and_address(ws: Workspace) -> None:
    assert subject_of(ws, "novak") == ["Tiskárna nefunguje"]
    assert subject_of(ws, "eva@shop.example") == ["Faktura 2026-11"]
    hit = ws.cache.search("mala")[0]
    assert hit.sender.text == "Eva Malá <eva@shop.example>"
    assert [hit.sender.text[a:b] for a, b in hit.sender.spans] == ["Malá"]


def test_every_word_must_match(ws: Workspace) -> None:
    assert subject_of(ws, "faktura tiskarna") == []


def test_hostile_input_never_raises(ws: Workspace) -> None:
    for hostile in HOSTILE:
        assert isinstance(ws.cache.search(hostile), list), hostile
    # Syntax characters around a real word are only separators.
    for typed in ['"tiskárna', "tiskárna*", "-tiskárna", "tiskárna:", "(tiskárna)", "^tiskárna"]:
        assert subject_of(ws, typed) == ["Tiskárna nefunguje"], typed


def test_paging(tmp_path: Path) -> None:
    w = workspace(tmp_path)
    batch = [
        Incoming(message(f"m{i}@c.example", subject=f"Dotaz {i}", body="reklamace", date=day(i)))
        for i in range(1, 8)
    ]
    make_ingestor(w).ingest(batch)
    everything = [h.ticket for h in w.cache.search("reklamace")]
    assert len(everything) == 7
    pages = [h.ticket for o in (0, 3, 6) for h in w.cache.search("reklamace", limit=3, offset=o)]
    assert pages == everything
    assert w.cache.search("reklamace", limit=0) == []
    w.close()


def test_ranking_bm25_then_recency_one_hit_per_ticket(tmp_path: Path) -> None:
    w = workspace(tmp_path)
    filler = [
        Incoming(message(f"f{i}@c.example", subject=f"Jiný dotaz {i}", body="nic", date=day(1)))
        for i in range(10)
    ]
    long_body = "Dobrý den, " + "posílám podrobnosti k objednávce. " * 30 + "Router nejde."
    in_body = message("body@c.example", subject="Dotaz", body=long_body, date=day(9))
    in_subject = message("subj@c.example", subject="Router nejde", body="viz předmět", date=day(2))
    # The same text twice in two tickets: equal scores, so the newer comes first.
    older = message("old@c.example", subject="Modem", body="modem router", date=day(3))
    newer = message("new@c.example", subject="Modem", body="modem router", date=day(4))
    # A third ticket with three matching messages appears once, with its best message.
    thread = [
        message("t1@c.example", subject="Router", body="router router router", date=day(5)),
        message(
            "t2@c.example", subject="Re: Router", body="ok", in_reply_to="t1@c.example", date=day(6)
        ),
        message(
            "t3@c.example",
            subject="Re: Router",
            body="a ještě jednou",
            in_reply_to="t2@c.example",
            date=day(7),
        ),
    ]
    make_ingestor(w).ingest(
        [*filler, *(Incoming(m) for m in [in_body, in_subject, older, newer, *thread])]
    )
    hits = w.cache.search("router")
    tickets = [h.ticket for h in hits]
    assert len(tickets) == len(set(tickets)) == 5
    scores = [h.score for h in hits]
    assert scores == sorted(scores)
    by_subject = {h.subject.text: h for h in hits}
    # The thread's best message is the one with the word in subject and body three times.
    best = w.cache.ticket(by_subject["Router"].ticket)
    assert best is not None and len(best.messages) == 3
    assert by_subject["Router"].message == best.messages[0].id
    assert hits[0].subject.text == "Router"
    # A word in a short subject outranks the same word once at the end of a long body.
    assert tickets.index(by_subject["Router nejde"].ticket) < tickets.index(
        by_subject["Dotaz"].ticket
    )
    modems = [h for h in hits if h.subject.text == "Modem"]
    assert [h.date.day for h in modems if h.date] == [4, 3]
    assert tickets.index(modems[0].ticket) < tickets.index(modems[1].ticket)
    w.close()


def test_unselective_phrases_and_prefixes_come_newest_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import helpdesk.storage.cache as cache_module

    monkeypatch.setattr(cache_module, "_CANDIDATES", 2)
    w = workspace(tmp_path)
    filler = [
        Incoming(message(f"f{i}@c.example", subject=f"Jiné {i}", body="nic", date=day(1)))
        for i in range(10)
    ]
    matching = [
        Incoming(
            message(
                f"r{i}@c.example",
                subject="Reklamace" if i == 5 else f"Dotaz {i}",
                body="tady je reklamace zboží a podrobný popis toho, co se stalo",
                date=day(i),
            )
        )
        for i in range(1, 8)
    ]
    make_ingestor(w).ingest([*filler, *matching])
    # limit 1: only max(2, 4 * 1) = 4 candidates, the newest 4 of the 7 matches.
    (by_word,) = w.cache.search("reklamace ", limit=1)
    assert by_word.subject.text == "Reklamace" and by_word.score < 0
    (by_prefix,) = w.cache.search("rekl", limit=1)
    assert by_prefix.subject.text == "Dotaz 7" and by_prefix.score == 0.0
    (by_phrase,) = w.cache.search('"je reklamace"', limit=1)
    assert by_phrase.subject.text == "Dotaz 7"
    # limit 2: 8 candidates hold every match, so bm25 ranks them whatever the query.
    assert w.cache.search("rekl", limit=2)[0].subject.text == "Reklamace"
    w.close()


def test_ingest_keeps_the_index_in_step(tmp_path: Path) -> None:
    w = workspace(tmp_path)
    ingest = make_ingestor(w).ingest
    assert fts_rows(w.cache) == 0
    ingest([Incoming(PRINTER)])
    assert fts_rows(w.cache) == 1
    assert subject_of(w, "faktura") == []
    ingest([Incoming(INVOICE), Incoming(PRINTER)])  # one new, one duplicate delivery
    assert fts_rows(w.cache) == 2 == w.cache.counts()["messages"]
    assert subject_of(w, "faktura") == ["Faktura 2026-11"]
    assert len(w.cache.search("tiskarna")) == 1
    w.close()


def test_index_rows_share_the_messages_transaction(ws: Workspace) -> None:
    row = {
        "message_id": "lost@c.example",
        "dedupe_key": "k",
        "ticket": ws.cache.search("faktura")[0].ticket,
        "subject": "Ztracená zpráva",
        "from_name": "",
        "from_email": "x@c.example",
        "text_body": "kanárek",
        "received_at": ws.cache.search("faktura")[0].date,
    }
    with pytest.raises(RuntimeError), ws.cache.begin_write() as conn:
        ws.cache.insert_messages(conn, [row])
        assert len(ws.cache.search("kanarek")) == 0  # not visible to other connections yet
        raise RuntimeError("the batch failed")
    assert fts_rows(ws.cache) == 2
    assert ws.cache.search("kanarek") == []
    with ws.cache.begin_write() as conn:
        ws.cache.insert_messages(conn, [row])
    assert subject_of(ws, "kanarek") == ["Ztracená zpráva"]
    assert tickets_found(ws, "kanarek") == tickets_found(ws, "faktura")


def test_unindex_messages(ws: Workspace) -> None:
    pk = ws.cache.search("faktura")[0].message
    with ws.cache.begin_write() as conn:
        ws.cache.unindex_messages(conn, [pk])
    assert subject_of(ws, "faktura") == []
    assert subject_of(ws, "tiskarna") == ["Tiskárna nefunguje"]
    assert fts_rows(ws.cache) == 1


def test_mail_text_comes_back_as_plain_data(tmp_path: Path) -> None:
    w = workspace(tmp_path)
    hostile = message(
        "markup@c.example",
        subject="[bold red]Tiskárna[/] \x1b[31mhoří",
        body="[link=https://evil.example]tiskárna[/link] \x1b]52;c;ZXZpbA==\x07 konec",
    )
    make_ingestor(w).ingest([Incoming(hostile)])
    (hit,) = w.cache.search("tiskarna")
    assert "\x1b" not in hit.subject.text + hit.snippet.text
    assert hit.snippet.text.startswith("[link=https://evil.example]tiskárna[/link]")
    assert [hit.snippet.text[a:b] for a, b in hit.snippet.spans] == ["tiskárna"]
    assert [hit.subject.text[a:b] for a, b in hit.subject.spans] == ["Tiskárna"]
    w.close()


def test_fresh_cache_is_at_the_latest_schema_with_the_index(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache.sqlite")
    with cache.engine.connect() as conn:
        version = conn.execute(text("SELECT version FROM cache_schema_version")).scalar_one()
        assert version == len(cache_module.MIGRATIONS) + 1
        sql = conn.execute(
            text("SELECT sql FROM sqlite_master WHERE name = 'message_fts'")
        ).scalar_one()
    assert "remove_diacritics 2" in sql and "content=''" in sql
    cache.close()


# The cache as schema 2 left it (copied from the DDL that version created).
SCHEMA_2 = """
CREATE TABLE cache_schema_version (version INTEGER NOT NULL);
INSERT INTO cache_schema_version VALUES (2);
CREATE TABLE mailbox (id INTEGER NOT NULL, account VARCHAR NOT NULL, name VARCHAR NOT NULL,
    uidvalidity INTEGER, uidnext INTEGER, highestmodseq INTEGER, last_sync DATETIME,
    last_error VARCHAR, PRIMARY KEY (id), UNIQUE (account, name));
CREATE TABLE ticket (number INTEGER NOT NULL, subject VARCHAR NOT NULL,
    customer_name VARCHAR NOT NULL, customer_email VARCHAR NOT NULL, status VARCHAR NOT NULL,
    assignee VARCHAR, created_at DATETIME NOT NULL, last_activity DATETIME NOT NULL,
    message_count INTEGER NOT NULL, waiting_on_us BOOLEAN NOT NULL, priority INTEGER NOT NULL,
    category VARCHAR, tags VARCHAR NOT NULL, department VARCHAR, waiting_since DATETIME,
    sla_due DATETIME, lock_holder VARCHAR, PRIMARY KEY (number));
CREATE INDEX ix_ticket_customer_email ON ticket (customer_email);
CREATE INDEX ix_ticket_activity ON ticket (last_activity);
CREATE INDEX ix_ticket_status_assignee ON ticket (status, assignee);
CREATE INDEX ix_ticket_assignee ON ticket (assignee);
CREATE INDEX ix_ticket_assignee_status ON ticket (assignee, status);
CREATE TABLE cache_meta ("key" VARCHAR NOT NULL, value VARCHAR NOT NULL, PRIMARY KEY ("key"));
CREATE TABLE note (id VARCHAR NOT NULL, ticket INTEGER NOT NULL, author VARCHAR NOT NULL,
    body VARCHAR NOT NULL, created_at DATETIME NOT NULL, pending BOOLEAN NOT NULL,
    PRIMARY KEY (id));
CREATE INDEX ix_note_ticket ON note (ticket);
CREATE TABLE event (seq INTEGER NOT NULL, ticket INTEGER, actor VARCHAR NOT NULL,
    kind VARCHAR NOT NULL, field VARCHAR, old VARCHAR, new VARCHAR, at DATETIME NOT NULL,
    PRIMARY KEY (seq));
CREATE INDEX ix_event_ticket ON event (ticket);
CREATE TABLE presence (ticket INTEGER NOT NULL, agent VARCHAR NOT NULL, kind VARCHAR NOT NULL,
    expires_at DATETIME NOT NULL, PRIMARY KEY (ticket, agent));
CREATE TABLE outbox (pos INTEGER NOT NULL, id VARCHAR NOT NULL, kind VARCHAR NOT NULL,
    ticket INTEGER, payload VARCHAR NOT NULL, created_at DATETIME NOT NULL,
    state VARCHAR NOT NULL, attempts INTEGER NOT NULL, result VARCHAR NOT NULL,
    PRIMARY KEY (pos), UNIQUE (id));
CREATE INDEX ix_outbox_state ON outbox (state);
CREATE TABLE message (id INTEGER NOT NULL, message_id VARCHAR NOT NULL,
    dedupe_key VARCHAR NOT NULL, ticket INTEGER NOT NULL, outgoing BOOLEAN NOT NULL,
    subject VARCHAR NOT NULL, from_name VARCHAR NOT NULL, from_email VARCHAR NOT NULL,
    to_addrs VARCHAR NOT NULL, cc_addrs VARCHAR NOT NULL, date DATETIME,
    in_reply_to VARCHAR NOT NULL, "references" VARCHAR NOT NULL, text_body VARCHAR NOT NULL,
    html_only BOOLEAN NOT NULL, auto VARCHAR NOT NULL, size INTEGER NOT NULL,
    defects VARCHAR NOT NULL, parse_error VARCHAR, received_at DATETIME NOT NULL,
    sort_date DATETIME, PRIMARY KEY (id), UNIQUE (message_id, dedupe_key),
    FOREIGN KEY(ticket) REFERENCES ticket (number));
CREATE INDEX ix_message_message_id ON message (message_id);
CREATE INDEX ix_message_ticket_date ON message (ticket, date);
CREATE TABLE raw_message (message INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (message),
    FOREIGN KEY(message) REFERENCES message (id));
CREATE TABLE message_location (id INTEGER NOT NULL, message INTEGER NOT NULL,
    mailbox INTEGER NOT NULL, uid INTEGER NOT NULL, flags VARCHAR NOT NULL, PRIMARY KEY (id),
    UNIQUE (mailbox, uid), FOREIGN KEY(message) REFERENCES message (id),
    FOREIGN KEY(mailbox) REFERENCES mailbox (id));
CREATE INDEX ix_message_location_message ON message_location (message);
CREATE TABLE attachment (id INTEGER NOT NULL, message INTEGER NOT NULL, part VARCHAR NOT NULL,
    filename VARCHAR NOT NULL, content_type VARCHAR NOT NULL, size INTEGER NOT NULL,
    inline BOOLEAN NOT NULL, content_id VARCHAR NOT NULL, PRIMARY KEY (id),
    FOREIGN KEY(message) REFERENCES message (id));
CREATE INDEX ix_attachment_message ON attachment (message);
"""


def test_migration_from_schema_2_indexes_existing_mail(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    old = sqlite3.connect(path)
    old.executescript(SCHEMA_2)
    old.execute(
        "INSERT INTO ticket VALUES (7, 'Tiskárna', 'Jan', 'jan@customer.example', 'open', NULL, "
        "'2026-11-02 09:00:00', '2026-11-02 09:00:00', 600, 1, 1, NULL, '', NULL, NULL, NULL, NULL)"
    )
    # More messages than one backfill chunk, so that the chunking is exercised.
    old.executemany(
        "INSERT INTO message (id, message_id, dedupe_key, ticket, outgoing, subject, from_name, "
        'from_email, to_addrs, cc_addrs, date, in_reply_to, "references", text_body, html_only, '
        "auto, size, defects, received_at, sort_date) VALUES (?, ?, 'k', 7, 0, ?, 'Jan Novák', "
        "'jan@customer.example', '', '', '2026-11-02 09:00:00', '', '', ?, 0, '', 10, '', "
        "'2026-11-02 09:00:00', '2026-11-02 09:00:00')",
        [
            (
                i,
                f"m{i}@c.example",
                "Tiskárna" if i == 1 else f"Zpráva {i}",
                "želva żółw" if i == 600 else "nic",
            )
            for i in range(1, 601)
        ],
    )
    old.commit()
    old.close()

    cache = Cache(path)
    with cache.engine.connect() as conn:
        version = conn.execute(text("SELECT version FROM cache_schema_version")).scalar_one()
        assert version == len(cache_module.MIGRATIONS) + 1
    assert fts_rows(cache) == 600
    assert [(h.ticket, h.message) for h in cache.search("tiskarna")] == [(7, 1)]
    assert [(h.ticket, h.message) for h in cache.search("zolw")] == [(7, 600)]
    assert [h.message for h in cache.search("zelva novak")] == [600]
    assert inspect(cache.engine).has_table("raw_blob")  # big raw mail can go to blobs now
    cache.close()
    # Opening it again migrates nothing twice.
    cache = Cache(path)
    assert fts_rows(cache) == 600
    cache.close()


def test_migrated_cache_takes_new_mail(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'cache.sqlite'}")
    with engine.begin() as conn:
        for statement in SCHEMA_2.split(";"):
            if statement.strip():
                conn.execute(text(statement))
    engine.dispose()
    w = workspace(tmp_path)
    make_ingestor(w).ingest([Incoming(PRINTER)])
    assert subject_of(w, "zolw") == ["Tiskárna nefunguje"]
    w.close()


# -- helpdesk search ---------------------------------------------------------------------------


def helpdesk(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "helpdesk", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_search(tmp_path: Path) -> None:
    config = tmp_path / "helpdesk.toml"
    config.write_text(
        f'[agent]\nname = "Jana"\nemail = "jana@helpdesk.example"\n'
        f'[team]\nstore = "sqlite:///{tmp_path / "team.sqlite"}"\n'
        f'addresses = ["support@helpdesk.example"]\n'
        f'[cache]\npath = "{tmp_path / "cache.sqlite"}"\n',
        encoding="utf-8",
    )
    maildir = tmp_path / "mail"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    multi_line = message(
        "lines@c.example",
        subject="Tiskárna\tznovu",
        body="řádek jedna\ntiskárna\x1b[2J řádek dvě\n",
        date=day(4),
    )
    for i, raw in enumerate([PRINTER, INVOICE, multi_line]):
        (maildir / "new" / f"{i}.eml").write_bytes(raw)
    assert helpdesk(config, "import", str(maildir)).returncode == 0

    result = helpdesk(config, "search", "tiskarna")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith("#") for line in lines)
    assert "\x1b" not in result.stdout and "\t" not in result.stdout
    assert any("Tiskárna nefunguje" in line for line in lines)

    result = helpdesk(config, "search", "faktura", "--json")
    (hit,) = json.loads(result.stdout)
    assert hit["subject"]["text"] == "Faktura 2026-11"
    start, end = hit["subject"]["matches"][0]
    assert hit["subject"]["text"][start:end] == "Faktura"
    assert hit["sender"]["text"] == "Eva Malá <eva@shop.example>"

    assert len(helpdesk(config, "search", "tisk", "--limit", "1").stdout.splitlines()) == 1
    nothing = helpdesk(config, "search", 'NEAR(" *')
    assert nothing.returncode == 0 and nothing.stdout == ""
