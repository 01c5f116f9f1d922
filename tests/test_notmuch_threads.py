"""Our tickets against notmuch's threads, on one mailbox.

The mailbox: the demo mailbox, every single-message file of the shared corpus, and hand-made
cases for each rule of DESIGN.md "Tickets and threading" where we deliberately part from plain
reference threading. It is written to Maildirs under one root; notmuch indexes the root, our
pipeline imports the Maildirs (the `late` one after the `inbox` one, as mail that arrives
later). For every pair of mail files, "same notmuch thread" is compared with "same ticket".
Every pair where the two disagree must be explained by one entry of DIFFERENCES (a rule and
the files it concerns), and every entry must still happen.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest
from mailbuild import message
from notmuch_reference import NOTMUCH, cross, notmuch_threads, pair, together_pairs
from sqlalchemy import text
from test_mail_corpus import CORPUS, _corpus_files

from helpdesk.core import demo_mailbox
from helpdesk.core.config import parse_config
from helpdesk.core.identity import make_message_id
from helpdesk.core.mailparse import parse_message
from helpdesk.storage.workspace import Workspace, open_workspace
from helpdesk.sync.mailfiles import import_path
from helpdesk.sync.service import make_ingestor

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TEAM = "support@helpdesk.example"
DOMAIN = "helpdesk.example"

# A field name (RFC 5322: printable ASCII but the colon) at the start of a line.
_FIELD = re.compile(rb"^[\x21-\x39\x3b-\x7e]+:")


def _date(day: int, hour: int) -> str:
    return format_datetime(datetime(2026, 11, day, hour, tzinfo=UTC))


def _received(host: str) -> str:
    return f"Received: from mx.relay.example by {host} with ESMTP; Mon, 02 Nov 2026 08:00:00 +0000"


# --- the mailbox ------------------------------------------------------------------------------


def single_messages() -> list[Path]:
    """Corpus files that hold one RFC 5322 message: a header field first (after at most one
    mbox envelope line) and a From field in the header. An envelope line makes the file an
    mbox, so a second one would make it several messages: such files are left out."""
    out = []
    for path in _corpus_files():
        lines = path.read_bytes().replace(b"\r\n", b"\n").split(b"\n")
        envelope = lines[0].startswith(b"From ")
        head = list(itertools.takewhile(bool, lines[1 if envelope else 0 :]))
        if not head or not _FIELD.match(head[0]):
            continue
        if not any(h.lower().startswith(b"from:") for h in head):
            continue
        if envelope and any(line.startswith(b"From ") for line in lines[1:]):
            continue
        out.append(path)
    return out


def _label(prefix: str, rel: str) -> str:
    return prefix + re.sub(r"[^A-Za-z0-9._-]+", "_", rel)


def _write(maildir: Path, label: str, raw: bytes) -> None:
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    (maildir / "cur" / f"{label}:2,").write_bytes(raw)


@dataclass(frozen=True, slots=True)
class Mailbox:
    files: dict[str, Path]  # label -> mail file
    ours: dict[str, int]  # label -> our ticket
    theirs: dict[str, int]  # label -> notmuch thread
    ours_together: set[tuple[str, str]]  # pairs of labels in one ticket
    theirs_together: set[tuple[str, str]]  # pairs of labels in one notmuch thread
    seconds_ours: float
    seconds_notmuch: float


def _workspace(tmp: Path) -> Workspace:
    settings = parse_config(
        f'[team]\nstore = "sqlite:///{tmp / "team.sqlite"}"\naddresses = ["{TEAM}"]\n'
        f'[cache]\npath = "{tmp / "cache.sqlite"}"\n',
        str(tmp / "helpdesk.toml"),
        default_agent=("Agent", f"agent@{DOMAIN}"),
    )
    return open_workspace(settings)


def _tickets_by_key(ws: Workspace) -> dict[tuple[str, str], int]:
    with ws.cache.engine.connect() as conn:
        rows = conn.execute(text("SELECT message_id, dedupe_key, ticket FROM message")).all()
    return {(mid, key): ticket for mid, key, ticket in rows}


def _ticket_of(ws: Workspace, message_id: str) -> int:
    tickets = {t for (mid, _), t in _tickets_by_key(ws).items() if mid == message_id}
    assert len(tickets) == 1, (message_id, tickets)
    return tickets.pop()


# --- hand-made cases: labels are the mail files' names ------------------------------------------

EVA = "Eva Malá <eva@customer.example>"
PETRA = "Petra Velká <petra@customer.example>"
MARTA = "Marta Nová <marta@customer.example>"
OLGA = "Olga Stará <olga@firma.example>"
PETR = "Petr Starý <petr@firma.example>"  # Olga's colleague: never wrote to us before
STRANGER = "Mallory <mallory@elsewhere.example>"
AGENT = f"Jana via Support <{TEAM}>"


def inbox_cases() -> dict[str, bytes]:
    """Cases whose messages are all there at the first import."""
    dup = message("dup@customer.example", sender=EVA, subject="Faktura", date=_date(7, 9))
    noid = message(
        None, sender=EVA, subject="Formulář", body="Bez Message-ID.\n", date=_date(7, 12)
    )
    return {
        # A reply to a message that is not in the mailbox.
        "case-orphan": message(
            "orphan@customer.example",
            sender=EVA,
            subject="Re: Objednávka 1234",
            in_reply_to="gone@helpdesk.example",
            date=_date(3, 8),
        ),
        # Two replies to one parent that only arrives later (in `late`).
        "case-sibling-a": message(
            "sibling-a@customer.example",
            sender=EVA,
            subject="Re: Doprava",
            in_reply_to="sibling-parent@helpdesk.example",
            references="<sibling-parent@helpdesk.example>",
            date=_date(3, 10),
        ),
        "case-sibling-b": message(
            "sibling-b@customer.example",
            sender=EVA,
            subject="Re: Doprava",
            in_reply_to="sibling-parent@helpdesk.example",
            date=_date(3, 11),
        ),
        # One reply whose parent arrives later (in `late`).
        "case-child": message(
            "child@customer.example",
            sender=EVA,
            subject="Re: Záruka",
            in_reply_to="late-parent@helpdesk.example",
            references="<late-parent@helpdesk.example>",
            date=_date(4, 10),
        ),
        # Same import, but the parent's Date is later than its reply's (a wrong clock).
        "case-skew-child": message(
            "skew-child@customer.example",
            sender=EVA,
            subject="Re: Vrácení",
            in_reply_to="skew-parent@helpdesk.example",
            date=_date(5, 10),
        ),
        "case-skew-parent": message(
            "skew-parent@helpdesk.example",
            sender=AGENT,
            to=EVA,
            subject="Vrácení",
            date=_date(5, 12),
        ),
        # References right, In-Reply-To broken (not an id, or an id nobody has).
        "case-refs-root": message(
            "refs-root@customer.example", sender=PETRA, subject="Reklamace", date=_date(6, 9)
        ),
        "case-refs-reply": message(
            "refs-reply@helpdesk.example",
            sender=AGENT,
            to=PETRA,
            subject="Re: Reklamace",
            in_reply_to="refs-root@customer.example",
            references="<refs-root@customer.example>",
            date=_date(6, 10),
        ),
        "case-refs-text-irt": message(
            "refs-text-irt@customer.example",
            sender=PETRA,
            subject="Re: Reklamace",
            references="<refs-root@customer.example> <refs-reply@helpdesk.example>",
            extra="In-Reply-To: your message of Fri, 06 Nov 2026 10:00:00",
            date=_date(6, 11),
        ),
        "case-refs-bogus-irt": message(
            "refs-bogus-irt@customer.example",
            sender=PETRA,
            subject="Re: Reklamace",
            in_reply_to="bogus@client.example",
            references="<refs-root@customer.example> <refs-reply@helpdesk.example>",
            date=_date(6, 12),
        ),
        # Another conversation whose client wrote the same junk In-Reply-To.
        "case-bogus-other": message(
            "bogus-other@firma.example",
            sender=OLGA,
            subject="Nabídka",
            in_reply_to="bogus@client.example",
            date=_date(6, 13),
        ),
        # A reference written without angle brackets.
        "case-bare-ref": message(
            "bare-ref@customer.example",
            sender=PETRA,
            subject="Re: Reklamace",
            references="refs-reply@helpdesk.example",
            date=_date(6, 14),
        ),
        # A fresh message with the subject of another conversation of the same customer.
        "case-same-subject": message(
            "same-subject@customer.example", sender=PETRA, subject="Reklamace", date=_date(6, 16)
        ),
        # A reply that names two conversations: In-Reply-To one, References the other.
        "case-two-a": message(
            "two-a@customer.example", sender=PETRA, subject="Výměna", date=_date(8, 9)
        ),
        "case-two-b": message(
            "two-b@customer.example", sender=PETRA, subject="Dobropis", date=_date(8, 10)
        ),
        "case-two-both": message(
            "two-both@customer.example",
            sender=PETRA,
            subject="Re: Výměna a dobropis",
            in_reply_to="two-b@customer.example",
            references="<two-a@customer.example> <two-b@customer.example>",
            date=_date(9, 9),
        ),
        # One message delivered twice (To + Cc to two of our addresses), and once edited.
        "case-dup-1": _received("mx1.helpdesk.example").encode() + b"\r\n" + dup,
        "case-dup-2": _received("mx2.helpdesk.example").encode() + b"\r\n" + dup,
        "case-dup-edited": message(
            "dup@customer.example",
            sender=EVA,
            subject="Faktura",
            body="Opravená verze.\n",
            date=_date(7, 9),
        ),
        # The same message without a Message-ID, delivered twice; and a reply without one.
        "case-noid-1": _received("mx1.helpdesk.example").encode() + b"\r\n" + noid,
        "case-noid-2": _received("mx2.helpdesk.example").encode() + b"\r\n" + noid,
        "case-noid-reply": message(
            None,
            sender=PETRA,
            subject="Re: Reklamace",
            in_reply_to="refs-reply@helpdesk.example",
            date=_date(6, 15),
        ),
        # Conversations that later mail names by subject tag and by our signed Message-ID.
        "case-tag-base": message(
            "tag-base@customer.example", sender=MARTA, subject="Poškozené zboží", date=_date(10, 9)
        ),
        "case-signed-base": message(
            "signed-base@firma.example", sender=OLGA, subject="Velkoodběr", date=_date(10, 10)
        ),
    }


def late_cases(ws: Workspace) -> dict[str, bytes]:
    """Cases that arrive after the first import (they name its tickets)."""
    tagged = _ticket_of(ws, "tag-base@customer.example")
    signed = _ticket_of(ws, "signed-base@firma.example")
    good = make_message_id(ws.team.secret, signed, DOMAIN, nonce="0123456789abcdef")
    forged = f"hd.{signed}.0123456789abcdef.0000000000000000@{DOMAIN}"
    dup = message("dup@customer.example", sender=EVA, subject="Faktura", date=_date(7, 9))
    return {
        "case-sibling-parent": message(
            "sibling-parent@helpdesk.example",
            sender=AGENT,
            to=EVA,
            subject="Doprava",
            date=_date(3, 9),
        ),
        "case-late-parent": message(
            "late-parent@helpdesk.example", sender=AGENT, to=EVA, subject="Záruka", date=_date(4, 9)
        ),
        "case-dup-late": _received("mx3.helpdesk.example").encode() + b"\r\n" + dup,
        "case-tag-participant": message(
            "tag-participant@customer.example",
            sender=MARTA,
            subject=f"Ještě jedna věc [#{tagged}]",
            date=_date(11, 9),
        ),
        "case-tag-stranger": message(
            "tag-stranger@elsewhere.example",
            sender=STRANGER,
            subject=f"Re: Poškozené zboží [#{tagged}]",
            date=_date(11, 10),
        ),
        "case-tag-from-us": message(
            "tag-from-us@elsewhere.example",
            sender=AGENT,
            to=MARTA,
            subject=f"Re: Poškozené zboží [#{tagged}]",
            date=_date(11, 11),
        ),
        # A reply to our reply, which this mailbox does not hold (it was sent from elsewhere).
        "case-signed-reply": message(
            "signed-reply@firma.example",
            sender=PETR,
            subject="Re: Velkoodběr",
            in_reply_to=good,
            references=f"<{good}>",
            date=_date(11, 12),
        ),
        "case-forged-signed": message(
            "forged-signed@elsewhere.example",
            sender=STRANGER,
            subject="Re: Velkoodběr",
            in_reply_to=forged,
            date=_date(11, 13),
        ),
    }


# --- building it and asking both sides ----------------------------------------------------------


def build(tmp: Path) -> Mailbox:
    root = tmp / "mail"
    inbox, late = root / "inbox", root / "late"
    files: dict[str, Path] = {}

    def put(maildir: Path, label: str, raw: bytes) -> None:
        assert label not in files, label
        _write(maildir, label, raw)
        files[label] = maildir / "cur" / f"{label}:2,"

    for i, raw in enumerate(demo_mailbox.generate(NOW)):
        put(inbox, f"demo-{i:03d}", raw)
    for path in single_messages():
        put(inbox, _label("corpus-", path.relative_to(CORPUS).as_posix()), path.read_bytes())
    for label, raw in inbox_cases().items():
        put(inbox, label, raw)

    started = time.perf_counter()
    ws = _workspace(tmp)
    try:
        import_path(inbox, make_ingestor(ws))
        for label, raw in late_cases(ws).items():
            put(late, label, raw)
        import_path(late, make_ingestor(ws))
        by_key = _tickets_by_key(ws)
    finally:
        ws.close()
    ours: dict[str, int] = {}
    for label, path in files.items():
        msg = parse_message(path.read_bytes())
        # A file is a stored message or another delivery of one: the same (id, dedupe key).
        ticket = by_key.get((msg.message_id, msg.dedupe_key))
        if ticket is not None:
            ours[label] = ticket
    seconds_ours = time.perf_counter() - started

    started = time.perf_counter()
    threads = notmuch_threads(root, tmp / "notmuch")
    theirs = {label: threads[path] for label, path in files.items() if path in threads}
    seconds_notmuch = time.perf_counter() - started
    return Mailbox(
        files,
        ours,
        theirs,
        together_pairs(ours),
        together_pairs(theirs),
        seconds_ours,
        seconds_notmuch,
    )


# --- what we expect -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Difference:
    """Pairs of mail files where we deliberately thread otherwise than notmuch: every pair of
    files from two different `parts` is together on one side and apart on the other."""

    name: str
    rule: str  # the rule of ours (DESIGN.md "Tickets and threading") that explains it
    ours_together: bool  # True: one ticket for us, several notmuch threads; False: the reverse
    parts: tuple[tuple[str, ...], ...]

    def pairs(self) -> set[tuple[str, str]]:
        out: set[tuple[str, str]] = set()
        for i, left in enumerate(self.parts):
            for right in self.parts[i + 1 :]:
                out |= cross(left, right)
        return out


REFS_CONVERSATION = (
    "case-refs-root",
    "case-refs-reply",
    "case-refs-text-irt",
    "case-refs-bogus-irt",
    "case-noid-reply",
)
_DKIM = "corpus-spamassassin_nice_dkim_"

DIFFERENCES = (
    Difference(
        "signed-id",
        "a reply to one of our HMAC-signed Message-IDs joins the ticket the id names, even when "
        "the message it answers is not in the mailbox (notmuch only has a ghost for that id)",
        True,
        (("case-signed-base",), ("case-signed-reply",)),
    ),
    Difference(
        "tag-from-participant",
        "a subject tag [#n] from a participant of ticket n joins it; notmuch never threads by "
        "subject",
        True,
        (("case-tag-base",), ("case-tag-participant",)),
    ),
    Difference(
        "bare-reference",
        "ids written without angle brackets still count as references (notmuch reads only "
        "bracketed ids)",
        True,
        (("case-bare-ref",), REFS_CONVERSATION),
    ),
    Difference(
        "no-id-duplicates",
        "two deliveries of one message without a Message-ID are one message: the made-up id "
        "comes from the content without trace headers (notmuch hashes the whole file)",
        True,
        (("case-noid-1",), ("case-noid-2",)),
    ),
    Difference(
        "no-id-duplicates-corpus",
        "the same rule on real mail: copies without a Message-ID that differ only in their "
        "DKIM-Signature (a trace header) are one message; notmuch collapses only the "
        "byte-identical pair",
        True,
        (
            (f"{_DKIM}BasicTest_01", f"{_DKIM}Nowsp_03"),
            (f"{_DKIM}MultipleAuthRes_10",),
            (f"{_DKIM}MultipleSig_06",),
            (f"{_DKIM}Simple_02",),
        ),
    ),
    Difference(
        "no-id-duplicates-corpus-mime",
        "as above, for the MIME pair of the same DKIM test set",
        True,
        ((f"{_DKIM}MIMEnowsp_05",), (f"{_DKIM}MIMEsimple_04",)),
    ),
    Difference(
        "bounce-joins-bounced-message",
        "a bounce joins the ticket of the message that bounced, whose id it finds in the "
        "enclosed copy (ParsedMessage.bounced_ids); the bounce itself carries no In-Reply-To "
        "or References for notmuch to follow",
        True,
        (("demo-194",), ("demo-190", "demo-193")),
    ),
    Difference(
        "missing-parent-siblings",
        "a reference joins a ticket only through a message of that ticket: two replies to a "
        "parent that is not there open two tickets, and the parent, arriving later, joins the "
        "first (notmuch links all three through the ghost of the parent)",
        False,
        (("case-sibling-b",), ("case-sibling-a", "case-sibling-parent")),
    ),
    Difference(
        "shared-junk-in-reply-to",
        "the same rule: an In-Reply-To id nobody has links nothing, so two conversations whose "
        "clients wrote the same junk id stay apart (notmuch merges them through the ghost)",
        False,
        (("case-bogus-other",), REFS_CONVERSATION),
    ),
    Difference(
        "two-tickets-in-one-reply",
        "a message joins one ticket, its nearest known parent's (In-Reply-To first); tickets "
        "are never merged (notmuch merges every thread a message refers to)",
        False,
        (("case-two-a",), ("case-two-b", "case-two-both")),
    ),
)


# Hand-made cases where both sides must agree; checked on each side on its own, so that a case
# keeps testing what it claims even if the other side changed with it.
SAME = (
    ("case-orphan", "case-sibling-a", False, "a reply to a missing parent opens its own ticket"),
    ("case-child", "case-late-parent", True, "a parent arriving later joins its reply"),
    ("case-skew-child", "case-skew-parent", True, "a parent dated after its reply joins it"),
    ("case-refs-text-irt", "case-refs-root", True, "References thread when In-Reply-To is text"),
    ("case-refs-bogus-irt", "case-refs-reply", True, "a junk In-Reply-To id is skipped"),
    ("case-noid-reply", "case-refs-reply", True, "a reply without a Message-ID still threads"),
    ("case-dup-1", "case-dup-2", True, "two deliveries of one message"),
    ("case-dup-1", "case-dup-edited", True, "an edited resend keeps its Message-ID's ticket"),
    ("case-dup-1", "case-dup-late", True, "a late delivery of a known message"),
    ("case-tag-stranger", "case-tag-base", False, "a stranger's subject tag opens a new ticket"),
    ("case-tag-from-us", "case-tag-base", False, "a tag in mail from our own address is ignored"),
    ("case-forged-signed", "case-signed-base", False, "a forged signed id names no ticket"),
    ("case-same-subject", "case-refs-root", False, "a subject alone never threads"),
)


# --- the tests ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mailbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mailbox]:
    if NOTMUCH is None:
        reason = "notmuch is not installed (Debian package notmuch)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set, so this is an error, not a skip)", pytrace=False)
        pytest.skip(reason)
    yield build(tmp_path_factory.mktemp("notmuch-threads"))


def _sides(mb: Mailbox) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    return mb.ours_together, mb.theirs_together


def test_every_file_is_a_message_on_both_sides(mailbox: Mailbox) -> None:
    assert len(mailbox.files) > 600
    assert set(mailbox.theirs) == set(mailbox.files), "notmuch left out some files"
    assert set(mailbox.ours) == set(mailbox.files), "our import dropped some files"


def test_disagreements_are_exactly_the_listed_differences(mailbox: Mailbox) -> None:
    ours, theirs = _sides(mailbox)
    expected = {p for d in DIFFERENCES for p in d.pairs()}
    actual = ours ^ theirs
    unexplained = sorted(actual - expected)
    gone = sorted(expected - actual)
    assert not unexplained, f"pairs no listed rule explains: {unexplained}"
    assert not gone, f"listed differences that no longer happen: {gone}"
    n = len(mailbox.files)
    print(
        f"\n{n} messages, {len(set(mailbox.theirs.values()))} notmuch threads, "
        f"{len(set(mailbox.ours.values()))} tickets, {n * (n - 1) // 2 - len(actual)} pairs "
        f"agree, {len(actual)} pairs differ in {len(DIFFERENCES)} listed differences; "
        f"import {mailbox.seconds_ours:.1f} s, notmuch {mailbox.seconds_notmuch:.1f} s"
    )


@pytest.mark.parametrize("difference", DIFFERENCES, ids=[d.name for d in DIFFERENCES])
def test_listed_difference_happens_as_described(mailbox: Mailbox, difference: Difference) -> None:
    ours, theirs = _sides(mailbox)
    together, apart = (ours, theirs) if difference.ours_together else (theirs, ours)
    pairs = difference.pairs()
    assert pairs, "a difference names at least two parts"
    assert pairs <= together, sorted(pairs - together)
    assert not pairs & apart, sorted(pairs & apart)


@pytest.mark.parametrize(("a", "b", "together", "why"), SAME, ids=[s[3] for s in SAME])
def test_cases_thread_alike_on_both_sides(
    mailbox: Mailbox, a: str, b: str, together: bool, why: str
) -> None:
    ours, theirs = _sides(mailbox)
    assert (pair(a, b) in ours) is together, f"ours: {why}"
    assert (pair(a, b) in theirs) is together, f"notmuch: {why}"


def test_the_demo_mailbox_is_compared_in_earnest(mailbox: Mailbox) -> None:
    """The demo mail has no tags, signed ids or junk ids: only its bounce differs."""
    ours, theirs = _sides(mailbox)
    demo = {label for label in mailbox.files if label.startswith("demo-")}
    assert len(demo) > 250
    differ = {p for p in ours ^ theirs if p[0] in demo or p[1] in demo}
    assert differ == cross(["demo-194"], ["demo-190", "demo-193"])
    for side in (ours, theirs):
        assert sum(1 for a, b in side if a in demo and b in demo) > 100


def test_build_is_fast_enough(mailbox: Mailbox) -> None:
    assert mailbox.seconds_ours + mailbox.seconds_notmuch < 20
