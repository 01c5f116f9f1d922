"""The bundled demo mailbox: deterministic, well-formed, realistic and full of special cases."""

from __future__ import annotations

import email
import re
import zlib
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

import pytest

from helpdesk.core.demo_mailbox import AGENTS, TEAM_ADDRESS, TEAM_NAME, WINDOW, generate

# A week with the spring clock change in it, and microseconds to trip careless rounding.
NOW = datetime(2025, 3, 31, 10, 0, 30, 500_000, tzinfo=UTC)
INFO_ADDRESS = "info@obchod.example"
MSGID = re.compile(r"^<[^<>@\s]+@([^<>@\s]+)>$")


@pytest.fixture(scope="module")
def raw() -> list[bytes]:
    return generate(NOW)


@pytest.fixture(scope="module")
def mails(raw: list[bytes]) -> list[Message]:
    return [email.message_from_bytes(r) for r in raw]


def text_of(msg: Message) -> str:
    """All text/* parts, decoded with their declared charset."""
    out = []
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            data = part.get_payload(decode=True)
            assert isinstance(data, bytes)
            out.append(data.decode(part.get_content_charset() or "us-ascii"))
    return "\n".join(out)


def subject_of(msg: Message) -> str:
    return str(make_header(decode_header(msg["Subject"])))


def sender(msg: Message) -> str:
    return parseaddr(msg["From"])[1].lower()


def is_team(msg: Message) -> bool:
    return sender(msg) == TEAM_ADDRESS


def ids(value: str | None) -> list[str]:
    return re.findall(r"<[^<>]+>", value or "")


def reserved(domain: str) -> bool:
    domain = domain.lower().rstrip(".")
    return domain.endswith(".example") or any(
        domain == d or domain.endswith("." + d)
        for d in ("example.com", "example.org", "example.net")
    )


def conversations(mails: list[Message]) -> list[list[int]]:
    """Messages linked by In-Reply-To/References, as lists of indexes."""
    parent = list(range(len(mails)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_id = {m["Message-ID"]: i for i, m in enumerate(mails) if m["Message-ID"]}
    for i, m in enumerate(mails):
        for ref in ids(m["In-Reply-To"]) + ids(m["References"]):
            if ref in by_id:
                parent[find(i)] = find(by_id[ref])
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(mails)):
        groups[find(i)].append(i)
    return list(groups.values())


# --- determinism, size, speed ---------------------------------------------------------------


def test_same_inputs_give_the_same_bytes(raw: list[bytes]) -> None:
    assert generate(NOW) == raw
    assert generate(NOW, seed=8) != raw


def test_a_later_now_moves_the_window() -> None:
    later = generate(NOW + timedelta(days=3))
    newest = parsedate_to_datetime(email.message_from_bytes(later[-1])["Date"])
    assert newest > NOW


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError):
        generate(datetime(2025, 3, 31, 10, 0))


@pytest.mark.parametrize("seed", [7, 1, 2, 3])
def test_about_three_hundred_messages(seed: int) -> None:
    assert 250 <= len(generate(NOW, seed=seed)) <= 360


# --- well-formed -------------------------------------------------------------------------------


def test_line_endings_are_crlf_throughout(raw: list[bytes]) -> None:
    for r in raw:
        assert r.count(b"\n") == r.count(b"\r\n")
        assert r.count(b"\r") == r.count(b"\r\n")


def test_every_message_has_the_expected_headers(mails: list[Message]) -> None:
    without_id = 0
    for m in mails:
        for name in ("From", "To", "Date", "Subject", "MIME-Version"):
            assert len(m.get_all(name) or []) == 1, (name, m["Subject"])
        assert m["MIME-Version"] == "1.0"
        to = [a.lower() for _, a in getaddresses(m.get_all("To", []))]
        if is_team(m):  # the team's replies, as they sit in the shared mailbox
            assert len(to) == 1 and to[0] != TEAM_ADDRESS
        else:
            assert TEAM_ADDRESS in to
        cc = [a.lower() for _, a in getaddresses(m.get_all("Cc", []))]
        assert cc in ([], [INFO_ADDRESS])
        if m["Message-ID"] is None:
            without_id += 1
        else:
            assert MSGID.match(m["Message-ID"]), m["Message-ID"]
    assert without_id == 1


def test_headers_parse_cleanly_with_the_strict_policy(raw: list[bytes]) -> None:
    for r in raw:
        m = email.message_from_bytes(r, policy=policy.default)
        for name in ("From", "To", "Cc", "Subject", "Date"):
            header = m[name]
            if header is not None:
                assert not header.defects, (name, str(header), header.defects)
        assert m["Date"].datetime.tzinfo is not None
        for part in m.walk():
            assert not part.defects, (m["Subject"], part.defects)


def test_message_ids_are_unique_and_on_the_senders_domain(mails: list[Message]) -> None:
    seen: set[str] = set()
    for m in mails:
        mid = m["Message-ID"]
        if mid is None:
            continue
        assert mid not in seen
        seen.add(mid)
        host = MSGID.match(mid).group(1)  # type: ignore[union-attr]
        if is_team(m):
            assert host == "obchod.example"
        elif sender(m).startswith("mailer-daemon@"):
            assert host.endswith("obchod.example")
        else:
            assert host == "mail." + sender(m).rpartition("@")[2]


def test_dates_are_inside_the_window_and_sorted(mails: list[Message]) -> None:
    dates = [parsedate_to_datetime(m["Date"]) for m in mails]
    assert all(d.tzinfo is not None for d in dates)
    assert all(NOW - WINDOW <= d <= NOW for d in dates)
    assert dates == sorted(dates)
    assert dates[-1] - dates[0] > timedelta(days=25)
    # local offsets follow the clock change of 30 March
    offsets = {d.utcoffset() for d in dates}
    assert timedelta(hours=1) in offsets and timedelta(hours=2) in offsets


def test_all_addresses_and_links_use_reserved_domains(mails: list[Message]) -> None:
    for m in mails:
        for name in ("From", "To", "Cc", "Reply-To"):
            for _, addr in getaddresses(m.get_all(name, [])):
                assert reserved(addr.rpartition("@")[2]), addr
        for mid in ids(m["Message-ID"]) + ids(m["References"]) + ids(m["In-Reply-To"]):
            assert reserved(mid.rstrip(">").rpartition("@")[2]), mid
        body = text_of(m)
        for host in re.findall(r"https?://([^/\s\"'<>]+)", body):
            assert reserved(host), host
        for addr in re.findall(r"[\w.+-]+@([\w-]+(?:\.[\w-]+)+)", body):
            assert reserved(addr), addr


# --- threads ---------------------------------------------------------------------------------


def test_replies_point_at_earlier_messages(mails: list[Message]) -> None:
    earlier: set[str] = set()
    replies = 0
    for m in mails:
        for ref in ids(m["In-Reply-To"]) + ids(m["References"]):
            assert ref in earlier, (subject_of(m), ref)
        replies += bool(m["In-Reply-To"])
        if m["Message-ID"]:
            earlier.add(m["Message-ID"])
    assert replies > 100


def test_conversations_have_a_realistic_shape(mails: list[Message]) -> None:
    groups = conversations(mails)
    assert 110 <= len(groups) <= 170
    sizes = [len(g) for g in groups]
    assert max(sizes) <= 8
    assert sum(1 for s in sizes if s >= 2) >= 60
    assert sum(1 for s in sizes if s >= 4) >= 10


def test_team_replies_come_from_the_shared_address(mails: list[Message]) -> None:
    names = {f"{name} via {TEAM_NAME}" for name, _ in AGENTS}
    team = [m for m in mails if is_team(m)]
    assert len(team) > 80
    for m in team:
        display = str(make_header(decode_header(parseaddr(m["From"])[0])))
        assert display in names
        assert subject_of(m).startswith("Re: ")
        assert m["In-Reply-To"] and ids(m["References"])[-1] == m["In-Reply-To"]
    assert len({str(make_header(decode_header(parseaddr(m["From"])[0]))) for m in team}) == 4


def test_some_replies_carry_only_in_reply_to(mails: list[Message]) -> None:
    assert any(m["In-Reply-To"] and not m["References"] for m in mails)


def test_a_re_subject_without_references_exists(mails: list[Message]) -> None:
    starters: set[tuple[str, str]] = set()
    found = False
    for m in mails:
        subject = subject_of(m)
        base = re.sub(r"^(re|odp):\s*", "", subject, flags=re.I)
        if base != subject and not m["In-Reply-To"] and not m["References"]:
            found = found or (sender(m), base) in starters
        starters.add((sender(m), subject))
    assert found


def test_a_customer_writes_twice_without_threading(mails: list[Message]) -> None:
    fresh: dict[tuple[str, str], int] = {}
    found = False
    for m in mails:
        if m["In-Reply-To"] or m["References"] or is_team(m):
            continue
        for order in set(re.findall(r"\b20\d\d-\d{4}\b", subject_of(m) + text_of(m))):
            key = (sender(m), order)
            found = found or key in fresh
            fresh[key] = 1
    assert found


def test_quoted_text_and_signatures_appear(mails: list[Message]) -> None:
    quoted = [m for m in mails if re.search(r"^> ", text_of(m), re.M)]
    assert len(quoted) > 50
    assert any("napsal(a):" in text_of(m) for m in quoted)
    assert any("pisze:" in text_of(m) for m in quoted)
    assert any(" wrote:" in text_of(m) for m in quoted)


# --- people and languages ------------------------------------------------------------------------


def test_customers_repeat_and_a_company_writes_from_several_people(mails: list[Message]) -> None:
    machine = ("mailer-daemon@", "novinky@")
    customers = {sender(m) for m in mails if not is_team(m) and not sender(m).startswith(machine)}
    assert 70 <= len(customers) <= 90
    per_domain: dict[str, set[str]] = defaultdict(set)
    for c in customers:
        per_domain[c.rpartition("@")[2]].add(c)
    assert len(per_domain["firma.example"]) >= 3
    opened: dict[str, int] = defaultdict(int)
    for group in conversations(mails):
        opened[sender(mails[min(group)])] += 1
    assert sum(1 for n in opened.values() if n >= 2) >= 5


def test_three_languages_with_their_letters(mails: list[Message]) -> None:
    texts = [subject_of(m) + "\n" + text_of(m) for m in mails]
    czech = sum(1 for t in texts if re.search("[řůě]", t))
    polish = sum(1 for t in texts if re.search("[łąężś]", t) and "Dzień dobry" in t)
    english = sum(
        1
        for t in texts
        if re.search(r"\b(the|your|order)\b", t)
        and re.search(
            r"^(Hello|Hi|Dear|Good morning|Thanks|Sent|Got|Still|Great|"
            r"Tried|Brilliant|Perfect|Received)",
            t,
            re.M,
        )
    )
    assert czech > len(mails) / 2
    assert polish >= 20
    assert english >= 15
    assert czech > polish > english / 2


def test_topics_are_varied(mails: list[Message]) -> None:
    subjects = " | ".join(subject_of(m) for m in mails).lower()
    for words in (
        "objednávka č.|objednávky",
        "zamówienie nr",
        "reklamace",
        "faktura",
        "adres",
        "platba|płatność|payment",
        "heslo|přihlásit|účtu|log in",
        "poptávka|nabídka",
        "order",
        "zwrot|vrácení|return",
    ):
        assert re.search(words, subjects), words


# --- special cases -------------------------------------------------------------------------------


def test_out_of_office_reply(mails: list[Message]) -> None:
    auto = [
        m
        for m in mails
        if m["Auto-Submitted"] == "auto-replied"
        and subject_of(m).startswith("Automatická odpověď: ")
    ]
    assert auto
    by_id = {m["Message-ID"]: m for m in mails}
    for m in auto:
        assert is_team(by_id[m["In-Reply-To"]])


def test_bounce_of_a_team_reply(mails: list[Message]) -> None:
    bounces = [m for m in mails if m.get_content_type() == "multipart/report"]
    assert len(bounces) >= 1
    by_id = {m["Message-ID"]: m for m in mails}
    for m in bounces:
        assert sender(m).startswith("mailer-daemon@")
        assert m.get_param("report-type") == "delivery-status"
        kinds = [p.get_content_type() for p in m.walk()]
        assert "message/delivery-status" in kinds and "text/rfc822-headers" in kinds
        headers = next(p for p in m.walk() if p.get_content_type() == "text/rfc822-headers")
        original = email.message_from_string(str(headers.get_payload()))
        assert is_team(by_id[original["Message-ID"]])
        assert by_id[original["Message-ID"]]["Date"] == original["Date"]


def test_attachments(mails: list[Message]) -> None:
    parts = [p for m in mails for p in m.walk() if p.get_filename()]
    names = {p.get_filename() for p in parts}
    assert "poškozený balík.jpg" in names
    kinds = {p.get_content_type() for p in parts}
    assert {"image/jpeg", "image/png", "application/pdf"} <= kinds
    for p in parts:
        data = p.get_payload(decode=True)
        assert isinstance(data, bytes) and len(data) > 100
        if p.get_content_type() == "image/jpeg":
            assert data[:3] == b"\xff\xd8\xff" and data[-2:] == b"\xff\xd9"
        elif p.get_content_type() == "image/png":
            assert data[:8] == b"\x89PNG\r\n\x1a\n"
            length = int.from_bytes(data[8:12], "big")
            chunk = data[12 : 16 + length]
            assert chunk[:4] == b"IHDR"
            assert int.from_bytes(data[16 + length : 20 + length], "big") == zlib.crc32(chunk)
        else:
            assert data.startswith(b"%PDF-1.4") and data.rstrip().endswith(b"%%EOF")
            start = int(data.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
            assert data[start : start + 4] == b"xref"


def test_html_only_message(mails: list[Message]) -> None:
    html = [m for m in mails if m.get_content_type() == "text/html"]
    assert html
    assert all(not m.is_multipart() for m in html)
    assert "<div>" in text_of(html[0])


def test_legacy_charsets(raw: list[bytes], mails: list[Message]) -> None:
    latin2s = [m for m in mails if m.get_content_charset() == "iso-8859-2"]
    cp1250s = [m for m in mails if m.get_content_charset() == "windows-1250"]
    assert any(re.search("[řěčžůú]", text_of(m)) for m in latin2s)  # Czech
    assert any(re.search("[łąężś]", text_of(m)) for m in latin2s)  # and Polish
    assert all(re.search("[řěščžýáíůú]", text_of(m)) for m in cp1250s)
    latin2, cp1250 = latin2s[0], cp1250s[0]
    assert latin2["Content-Transfer-Encoding"] == "quoted-printable"
    assert cp1250["Content-Transfer-Encoding"] == "8bit"
    assert "=?windows-1250?" in cp1250["Subject"] + cp1250["From"]
    # the 8-bit body really holds windows-1250 bytes, not UTF-8
    body = raw[mails.index(cp1250)].split(b"\r\n\r\n", 1)[1]
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")


def test_transfer_encodings_vary(mails: list[Message]) -> None:
    encodings = {
        p["Content-Transfer-Encoding"]
        for m in mails
        for p in m.walk()
        if p.get_content_maintype() == "text"
    }
    assert {"quoted-printable", "base64", "8bit", "7bit"} <= encodings


def test_newsletter(mails: list[Message]) -> None:
    bulk = [m for m in mails if m["Precedence"] == "bulk"]
    assert bulk
    for m in bulk:
        unsubscribe = m["List-Unsubscribe"]
        assert "<mailto:" in unsubscribe and "<https://" in unsubscribe
        assert m.get_content_type() == "multipart/alternative"


def test_message_without_message_id(mails: list[Message]) -> None:
    (m,) = [m for m in mails if m["Message-ID"] is None]
    assert not is_team(m) and not m["In-Reply-To"]


def test_long_message(mails: list[Message]) -> None:
    assert max(len(text_of(m)) for m in mails) > 6000


def test_subject_with_emoji(mails: list[Message]) -> None:
    emoji = [m for m in mails if any(ord(c) > 0xFFFF for c in subject_of(m))]
    assert emoji
    assert all(m["Subject"].startswith("=?") for m in emoji)
