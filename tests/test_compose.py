"""Outgoing mail (core.compose): every header and part read back with the stdlib parser and
with our own, subjects, quoting, references, addresses and header injection attempts."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage

import pytest

from helpdesk.core.compose import (
    ComposeError,
    Draft,
    OutgoingAttachment,
    Sender,
    build_message,
    forward_subject,
    parse_address_list,
    quote,
    recipients,
    references_for,
    reply_subject,
)
from helpdesk.core.mailparse import parse_message

SENDER = Sender("Jana Novák", "Podpora", "podpora@example.com")
WHEN = datetime(2026, 11, 20, 10, 4, tzinfo=timezone(timedelta(hours=1)))
MID = "hd.12.0123456789abcdef.0123456789abcdef@example.com"


def draft(**changes: object) -> Draft:
    base: dict[str, object] = {
        "ticket": 12,
        "to": ("Ada Lovelace <ada@example.com>",),
        "subject": "Re: [#12] Order",
        "body": "Hello Ada,\n\nit is on its way.\n",
    }
    base.update(changes)
    return Draft(**base)  # type: ignore[arg-type]


def build(d: Draft, sender: Sender = SENDER, **kw: object) -> bytes:
    return build_message(d, sender, message_id=MID, date=WHEN, **kw)  # type: ignore[arg-type]


def read(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def content(part: EmailMessage) -> str:
    # the stdlib parser leaves the message's CRLF line ends in the text it decodes
    text = part.get_content()
    assert isinstance(text, str)
    return text.replace("\r\n", "\n")


def header_block(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[0]


def header_names(raw: bytes) -> list[str]:
    return [
        line.split(b":", 1)[0].decode().lower()
        for line in header_block(raw).split(b"\r\n")
        if line[:1] not in (b" ", b"\t")
    ]


def assert_well_formed(raw: bytes) -> None:
    assert raw.endswith(b"\r\n")
    lines = raw.split(b"\r\n")
    assert all(b"\r" not in line and b"\n" not in line for line in lines), "bare CR or LF"
    assert max(len(line) for line in lines) <= 998
    assert raw.isascii()
    for line in header_block(raw).split(b"\r\n"):
        # a header line is a field ("Name: ...") or a continuation (starts with a space)
        assert line[:1] in (b" ", b"\t") or re.match(rb"^[A-Za-z0-9-]+: ", line), line
        # 78 as RFC 5322 asks; a long display name may take the 75 of one encoded word
        assert len(line) <= (81 if line.startswith((b"From: ", b"To: ", b"Cc: ")) else 78), line


# --------------------------------------------------------------------------------------------
# The whole message


def test_reply_headers_and_body_read_back() -> None:
    d = draft(
        to=("Ada Lovelace <ada@example.com>", '"Doe, John" <john@example.org>'),
        cc=("carol@example.net",),
        bcc=("Boss <boss@example.net>",),
        in_reply_to="parent.1@mail.example.com",
        references=("root.0@mail.example.com", "parent.1@mail.example.com"),
    )
    raw = build(d)
    assert_well_formed(raw)
    msg = read(raw)
    (sender,) = msg["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (
        "Jana Novák via Podpora",
        "podpora@example.com",
    )
    assert [a.addr_spec for a in msg["Reply-To"].addresses] == ["podpora@example.com"]
    assert [(a.display_name, a.addr_spec) for a in msg["To"].addresses] == [
        ("Ada Lovelace", "ada@example.com"),
        ("Doe, John", "john@example.org"),
    ]
    assert [a.addr_spec for a in msg["Cc"].addresses] == ["carol@example.net"]
    assert msg["Bcc"] is None and b"boss@example.net" not in raw
    assert str(msg["Subject"]) == "Re: [#12] Order"
    assert msg["Date"].datetime == WHEN
    assert str(msg["Message-ID"]) == f"<{MID}>"
    assert str(msg["In-Reply-To"]) == "<parent.1@mail.example.com>"
    assert str(msg["References"]).split() == [
        "<root.0@mail.example.com>",
        "<parent.1@mail.example.com>",
    ]
    assert str(msg["MIME-Version"]) == "1.0"
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert content(msg) == "Hello Ada,\n\nit is on its way.\n"
    assert msg["Auto-Submitted"] is None
    assert "x-helpdesk-ticket" not in header_names(raw)
    assert header_names(raw).count("from") == 1


def test_our_own_parser_threads_it() -> None:
    raw = build(draft(in_reply_to="parent.1@mail.example.com", references=("root.0@x.example",)))
    parsed = parse_message(raw)
    assert parsed.message_id == MID
    assert parsed.in_reply_to == ["parent.1@mail.example.com"]
    assert parsed.references == ["root.0@x.example"]
    assert parsed.from_addr is not None
    assert parsed.from_addr.email == "podpora@example.com"
    assert parsed.subject == "Re: [#12] Order"


def test_same_reply_same_bytes() -> None:
    d = draft(attachments=(OutgoingAttachment("a.pdf", "", b"%PDF"),))
    assert build(d) == build(d)  # a retry after a crash sends what was queued


def test_auto_submitted_only_when_asked() -> None:
    msg = read(build(draft(), auto_submitted="auto-replied"))
    assert str(msg["Auto-Submitted"]) == "auto-replied"
    with pytest.raises(ComposeError):
        build(draft(), auto_submitted="auto-replied\r\nBcc: x@example.com")


def test_extra_headers() -> None:
    msg = read(build(draft(), extra_headers=[("X-Mailer-Note", "Žádost č. 5")]))
    assert str(msg["X-Mailer-Note"]) == "Žádost č. 5"
    for name, value in [("From", "x"), ("Bad Name", "x"), ("X-Ok", "a\r\nBcc: b@example.com")]:
        with pytest.raises(ComposeError):
            build(draft(), extra_headers=[(name, value)])


def test_date_needs_a_zone() -> None:
    with pytest.raises(ValueError):
        build_message(draft(), SENDER, message_id=MID, date=datetime(2026, 11, 20, 10, 4))
    msg = read(
        build_message(draft(), SENDER, message_id=MID, date=datetime(2026, 1, 2, tzinfo=UTC))
    )
    assert msg["Date"].datetime == datetime(2026, 1, 2, tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# Any language


NAMES = [
    "Jana Novák",
    "Žluťoučký Kůň Úpěl Ďábelské Ódy",
    "山田 太郎",
    "Ada 🎉 Lovelace",
    "O'Brien, Mary-Ann (billing)",
    'Quote "me" \\ here',
    "Ünïcödé, with comma",
    "x" * 90,
]


@pytest.mark.parametrize("name", NAMES)
def test_display_names_read_back(name: str) -> None:
    raw = build(
        draft(
            to=(
                f'"{name.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}" <c@example.com>',
            )
        ),
        Sender(name, "Podpora", "podpora@example.com", "{agent}"),
    )
    assert_well_formed(raw)
    msg = read(raw)
    assert msg["To"].addresses[0].addr_spec == "c@example.com"
    if len(re.findall(rb"=\?utf-8", header_block(raw))) <= 2:
        # one encoded word per name: even the stdlib's reader sees it exactly
        assert msg["From"].addresses[0].display_name == name
        assert msg["To"].addresses[0].display_name == name
    parsed = parse_message(raw)
    assert parsed.from_addr is not None and parsed.from_addr.name == name
    assert parsed.to[0].name == name


def test_long_non_ascii_name_keeps_its_spaces() -> None:
    # Several encoded words: readers that follow RFC 2047 must see every space.
    name = "Žluťoučký kůň úpěl ďábelské ódy a " * 4 + "日本語の名前"
    name = name.strip()
    raw = build(draft(), Sender(name, "Podpora", "podpora@example.com", "{agent}"))
    assert_well_formed(raw)
    assert len(re.findall(rb"=\?utf-8\?", header_block(raw))) > 2
    parsed = parse_message(raw)
    assert parsed.from_addr is not None and parsed.from_addr.name == name


SUBJECTS = [
    "Re: [#12] Objednávka č. 123456 — dodání",
    "Re: [#12] 注文番号 123456 について",
    "Re: [#12] 🎉 Party 🎉",
    "Re: [#12] " + "Žluťoučký kůň úpěl ďábelské ódy " * 6,
    "Re: [#12] " + "a" * 200,
    "Re: [#12] =?utf-8?q?not_an_encoded_word?=",
    "Re: [#12] " + "long words " * 30,
    "",
]


@pytest.mark.parametrize("subject", SUBJECTS)
def test_subjects_read_back(subject: str) -> None:
    raw = build(draft(subject=subject))
    assert_well_formed(raw)
    want = " ".join(subject.split())
    assert str(read(raw)["Subject"]) == want
    assert parse_message(raw).subject == want


BODIES = [
    "Dobrý den,\n\nzásilka je na cestě.\n\n-- \nJana\n",
    "こんにちは。\nご注文ありがとうございます。🎉\n",
    "From the warehouse: shipped.\nFrom here on\n.\n..\n. \nend\n",
    "x" * 3000 + "\n" + "ž" * 1500 + "\n",
    "trailing spaces   \n-- \nsig\n",
    "tab\there and a form feed \x0c there\n",
]


@pytest.mark.parametrize("body", BODIES)
def test_bodies_read_back(body: str) -> None:
    raw = build(draft(body=body))
    assert_well_formed(raw)
    assert content(read(raw)) == body
    # mbox-minded relays rewrite "From " at a line start: it must never be there raw
    assert not re.search(rb"(?m)^From ", raw.split(b"\r\n\r\n", 1)[1])


def test_crlf_and_lone_cr_in_a_body_become_line_ends() -> None:
    msg = read(build(draft(body="one\r\ntwo\rthree")))
    assert content(msg) == "one\ntwo\nthree\n"


def test_short_ascii_body_is_plain_7bit() -> None:
    msg = read(build(draft(body="Short and plain.\n")))
    assert msg["Content-Transfer-Encoding"] == "7bit"
    msg = read(build(draft(body="Krátký.\n")))
    assert msg["Content-Transfer-Encoding"] == "quoted-printable"


# --------------------------------------------------------------------------------------------
# Attachments


def test_attachments_read_back() -> None:
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 40
    d = draft(
        body="Přikládám smlouvu.\n",
        attachments=(
            OutgoingAttachment("smlouva žluťoučká 日本.pdf", "", pdf),
            OutgoingAttachment("notes.txt", "text/plain", "řádek\n".encode()),
            OutgoingAttachment("data.bin", "Application/X-Custom", b"\x00\x01"),
            OutgoingAttachment("original.eml", "message/rfc822", b"Subject: x\r\n\r\nhi\r\n"),
            OutgoingAttachment("a" * 200 + ".pdf", "", b"long name"),
        ),
    )
    raw = build(d)
    assert_well_formed(raw)
    msg = read(raw)
    assert msg.get_content_type() == "multipart/mixed"
    body, *parts = list(msg.iter_parts())
    assert body.get_content_type() == "text/plain"
    assert content(body) == "Přikládám smlouvu.\n"
    got = [
        (
            p.get_filename(),
            p.get_content_type(),
            p["Content-Transfer-Encoding"],
            p.get_payload(decode=True),
        )
        for p in parts
    ]
    assert got == [
        ("smlouva žluťoučká 日本.pdf", "application/pdf", "base64", pdf),
        ("notes.txt", "text/plain", "base64", "řádek\n".encode()),
        ("data.bin", "application/x-custom", "base64", b"\x00\x01"),
        ("original.eml", "application/octet-stream", "base64", b"Subject: x\r\n\r\nhi\r\n"),
        ("a" * 200 + ".pdf", "application/pdf", "base64", b"long name"),
    ]
    assert all(p.get_content_disposition() == "attachment" for p in parts)
    assert b"filename*" in raw  # RFC 2231 for the non-ASCII and the long name
    assert all(p["MIME-Version"] is None for p in parts)
    parsed = parse_message(raw)
    assert [a.filename for a in parsed.attachments][:2] == [
        "smlouva žluťoučká 日本.pdf",
        "notes.txt",
    ]
    assert parsed.text_body.strip() == "Přikládám smlouvu."


def test_unknown_extension_is_octet_stream_and_bad_type_refused() -> None:
    msg = read(build(draft(attachments=(OutgoingAttachment("x.zzzunknown", "", b"1"),))))
    assert [p.get_content_type() for p in msg.iter_attachments()] == ["application/octet-stream"]
    with pytest.raises(ComposeError):
        build(draft(attachments=(OutgoingAttachment("x", "text/plain\r\nX-Evil: 1", b"1"),)))


# --------------------------------------------------------------------------------------------
# Header injection: a line break anywhere must never start a header of its own

INJECT = "\r\nBcc: victim@example.net\r\nX-Evil: 1"


def assert_no_injection(raw: bytes) -> None:
    assert_well_formed(raw)
    names = header_names(raw)
    assert "bcc" not in names and "x-evil" not in names
    assert b"\r\nX-Evil" not in raw and b"\r\nBcc" not in raw
    for part in read(raw).walk():
        assert part["X-Evil"] is None and part["Bcc"] is None


@pytest.mark.parametrize(
    "changes",
    [
        {"subject": "Order" + INJECT},
        {"subject": "Objednávka" + INJECT},
        {"subject": "Order\nX-Evil: 1"},
        {"subject": "Order\rX-Evil: 1"},
        {"subject": "Order\u2028X-Evil: 1"},
        {"attachments": (OutgoingAttachment("a.pdf" + INJECT, "", b"1"),)},
        {"attachments": (OutgoingAttachment("ž.pdf\nX-Evil: 1", "", b"1"),)},
        {"in_reply_to": "a@example.com" + INJECT},
        {"references": ("a@example.com" + INJECT, "b@example.com")},
    ],
)
def test_line_breaks_in_fields_never_make_headers(changes: dict[str, object]) -> None:
    assert_no_injection(build(draft(**changes)))


@pytest.mark.parametrize(
    "sender",
    [
        Sender("Jana" + INJECT, "Podpora", "podpora@example.com"),
        Sender("Jana", "Podpora\nX-Evil: 1", "podpora@example.com"),
        Sender("Jana Novák\r\n", "Po\rdpora", "podpora@example.com", "{agent}\n{team}"),
    ],
)
def test_line_breaks_in_names_never_make_headers(sender: Sender) -> None:
    raw = build(draft(), sender)
    assert_no_injection(raw)
    name = read(raw)["From"].addresses[0].display_name
    assert "\n" not in name and "\r" not in name


@pytest.mark.parametrize(
    "changes",
    [
        {"to": ("ada@example.com" + INJECT,)},
        {"to": ('"Ada' + INJECT + '" <ada@example.com>',)},
        {"to": ("Ada\nX-Evil: 1 <ada@example.com>",)},
        {"to": ("ada@example.com\r\n",)},
        {"cc": ("<carol@example.net\nX-Evil: 1>",)},
        {"bcc": ("boss@example.net\r\nX-Evil: 1",)},
    ],
)
def test_line_breaks_in_addresses_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ComposeError, match=r"line break|space"):
        build(draft(**changes))
    with pytest.raises(ComposeError):
        recipients(draft(**changes))


def test_bad_message_id_and_sender_refused() -> None:
    with pytest.raises(ComposeError):
        build_message(draft(), SENDER, message_id="a@b\r\nX-Evil: 1", date=WHEN)
    with pytest.raises(ComposeError):
        build(draft(), Sender("J", "P", "podpora@example.com\r\nX-Evil: 1"))


# --------------------------------------------------------------------------------------------
# Recipients and addresses


def test_a_draft_needs_a_recipient() -> None:
    with pytest.raises(ComposeError, match="no recipient"):
        build(draft(to=()))
    with pytest.raises(ComposeError, match="no recipient"):
        build(draft(to=("  ",)))
    msg = read(build(draft(to=(), bcc=("boss@example.net",))))  # Bcc alone is enough
    assert msg["To"] is None


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("ada.example.com", "no @"),
        ("ada@@example.com", "two @"),
        ("a@b@example.com", "two @"),
        ("@example.com", "nothing before"),
        ("ada@", "no domain"),
        ("ada @example.com", "space"),
        ("ada@exa_mple.com", "bad domain"),
        ("ad(a@example.com", "bad character"),
        ("ada.@example.com", "dot"),
        ("žofie@example.com", "non-ASCII"),
    ],
)
def test_bad_addresses_refused_with_the_reason(address: str, why: str) -> None:
    with pytest.raises(ComposeError, match=re.escape(why)):
        build(draft(to=(address,)))
    found, problems = parse_address_list(f"ok@example.com, {address}")
    assert found == ("ok@example.com",)
    assert len(problems) == 1 and why in problems[0]


def test_recipients_are_envelope_addresses_each_once() -> None:
    d = draft(
        to=("Ada <Ada@Example.com>", "bob@example.org"),
        cc=("ada@example.com", "Carol <carol@příklad.example>"),
        bcc=("BOB@example.org", "boss@example.net"),
    )
    assert recipients(d) == [
        "Ada@Example.com",
        "bob@example.org",
        "carol@xn--pklad-zsa96e.example",
        "boss@example.net",
    ]
    msg = read(build(d))
    assert [a.addr_spec for a in msg["Cc"].addresses] == [
        "ada@example.com",
        "carol@xn--pklad-zsa96e.example",
    ]


def test_parse_address_list() -> None:
    found, problems = parse_address_list(
        'a@x.example, Bob <b@y.example>; "Doe, John" <j@z.example>;c@z.example, '
    )
    assert found == (
        "a@x.example",
        "Bob <b@y.example>",
        '"Doe, John" <j@z.example>',
        "c@z.example",
    )
    assert problems == []
    found, problems = parse_address_list("a@x.example,, nobody, Eve <eve@>, <x@y.example")
    assert found == ("a@x.example",)
    assert problems == [
        "entry 2: empty",
        "'nobody': no @",
        "'Eve <eve@>': no domain after the @",
        "'<x@y.example': unbalanced < >",
    ]
    # what the editor shows can be read again to the same addresses
    again, none = parse_address_list(
        ", ".join(parse_address_list('"A \\"q\\", b" <a@x.example>')[0])
    )
    assert again == ('"A \\"q\\", b" <a@x.example>',) and none == []


# --------------------------------------------------------------------------------------------
# Subjects


@pytest.mark.parametrize(
    ("original", "want"),
    [
        ("Order", "Re: [#12] Order"),
        ("Re: Order", "Re: [#12] Order"),
        ("RE: re: Re: Order", "Re: [#12] Order"),
        ("AW: Re: Sv: Odp: Vs: Order", "Re: [#12] Order"),
        ("Re[2]: RE(3): Order", "Re: [#12] Order"),
        ("Fwd: FW: WG: TR: RV: Order", "Re: [#12] Order"),
        ("Re: [#12] Order", "Re: [#12] Order"),
        ("[#12] Re: Order", "Re: [#12] Order"),
        ("Re: Order [#12]", "Re: [#12] Order"),
        ("Re: [#12] Re: [#12] Order", "Re: [#12] Order"),
        ("回复： 订单", "Re: [#12] 订单"),
        ("Re: [#99] Other ticket", "Re: [#12] [#99] Other ticket"),
        ("Regarding the order", "Re: [#12] Regarding the order"),
        ("Reklamace: vadné zboží", "Re: [#12] Reklamace: vadné zboží"),
        ("", "Re: [#12]"),
        ("  Re:   Order\r\n  two  ", "Re: [#12] Order two"),
    ],
)
def test_reply_subject(original: str, want: str) -> None:
    assert reply_subject(original, "[#12]") == want


def test_forward_subject() -> None:
    assert forward_subject("Re: AW: Objednávka", "[#12]") == "Fwd: [#12] Objednávka"
    assert forward_subject("Fwd: [#12] Objednávka", "[#12]") == "Fwd: [#12] Objednávka"


# --------------------------------------------------------------------------------------------
# Quoting


def test_quote_bottom() -> None:
    text = "Hello,\n\n> earlier\nwhere is my order?\n\n"
    got = quote(text, author="Ada Lovelace", date=datetime(2026, 11, 20, 10, 4), style="bottom")
    assert got == (
        "\n\nOn 2026-11-20 10:04, Ada Lovelace wrote:\n"
        "> Hello,\n>\n>> earlier\n> where is my order?\n"
    )


def test_quote_top_none_and_unsafe_text() -> None:
    got = quote("a\x1b[31mred\x1b[0m\r\nb", author="Eve\x1b]0;x\x07\nX", date=None, style="top")
    assert got == "Eve X wrote:\n> ared\n> b\n\n"
    assert quote("anything", author="A", date=None, style="none") == ""
    assert quote("x", author="", date=None).endswith("the customer wrote:\n> x\n")
    with pytest.raises(ValueError):
        quote("x", author="A", date=None, style="sideways")


# --------------------------------------------------------------------------------------------
# References


def test_references_for() -> None:
    assert references_for("p@x.example", ["r@x.example", "<q@x.example>"]) == (
        "r@x.example",
        "q@x.example",
        "p@x.example",
    )
    assert references_for("<p@x.example>", []) == ("p@x.example",)
    # the parent's id last, once; malformed ids dropped
    assert references_for("p@x.example", ["p@x.example", "bad id@x", "no-at", "r@x.example"]) == (
        "r@x.example",
        "p@x.example",
    )


def test_references_trimmed_keep_root_and_latest() -> None:
    chain = [f"m{i}@x.example" for i in range(30)]
    got = references_for("parent@x.example", chain, limit=5)
    assert got == (
        "m0@x.example",
        "m27@x.example",
        "m28@x.example",
        "m29@x.example",
        "parent@x.example",
    )
    assert len(references_for("parent@x.example", chain)) == 20
    with pytest.raises(ValueError):
        references_for("p@x.example", [], limit=1)
