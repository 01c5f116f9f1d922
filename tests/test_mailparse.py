from __future__ import annotations

import base64
import quopri
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpdesk.core.html_text import html_to_text
from helpdesk.core.mailparse import (
    FORWARD_MARKER,
    MAX_DEFECTS,
    attachment_bytes,
    parse_message,
)
from helpdesk.core.message import AutoKind, ParsedMessage

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "mail-corpus"


def mail(
    headers: str,
    body: bytes | str = b"Hello\n",
    *,
    ctype: str | None = None,
    cte: str | None = None,
) -> bytes:
    """A message from header lines (one per line, no trailing newline needed) and a body."""
    lines = [
        "From: Jana Novak <jana@example.com>",
        "To: support@example.org",
        "Message-ID: <m1@example.com>",
    ]
    lines += [h for h in re.split(r"\r?\n(?![ \t])", headers.strip("\n")) if h]
    if ctype:
        lines.append(f"Content-Type: {ctype}")
    if cte:
        lines.append(f"Content-Transfer-Encoding: {cte}")
    head = "\r\n".join(lines).encode("utf-8")
    data = body.encode("utf-8") if isinstance(body, str) else body
    return head + b"\r\n\r\n" + data


def parse(raw: bytes) -> ParsedMessage:
    msg = parse_message(raw)
    assert msg.parse_error is None, msg.parse_error
    return msg


# Bodies: charsets and transfer encodings -----------------------------------------------------

TEXT_CS = "Příliš žluťoučký kůň úpěl ďábelské ódy"


@pytest.mark.parametrize(
    ("charset", "text"),
    [
        ("utf-8", TEXT_CS),
        ("iso-8859-2", TEXT_CS),
        ("windows-1250", TEXT_CS),
        ("koi8-r", "Съешь же ещё этих мягких французских булок"),
        ("iso-2022-jp", "日本語のテキストです"),
        ("shift_jis", "日本語のテキストです"),
        ("iso-8859-1", "Déjà vu, garçon"),
    ],
)
@pytest.mark.parametrize("cte", ["8bit", "quoted-printable", "base64"])
def test_body_charsets_and_encodings(charset: str, text: str, cte: str) -> None:
    data = text.encode(charset) + b"\n"
    if cte == "quoted-printable":
        data = quopri.encodestring(data)
    elif cte == "base64":
        data = base64.encodebytes(data)
    msg = parse(mail("", data, ctype=f'text/plain; charset="{charset}"', cte=cte))
    assert msg.text_body == text
    assert not msg.html_only
    assert msg.defects == []


def test_undeclared_charset_utf8_and_windows_1250() -> None:
    assert parse(mail("", TEXT_CS.encode("utf-8"))).text_body == TEXT_CS
    assert parse(mail("", TEXT_CS.encode("windows-1250"))).text_body == TEXT_CS


def test_unknown_charset_label_falls_back_with_defect() -> None:
    msg = parse(mail("", TEXT_CS.encode("utf-8"), ctype="text/plain; charset=x-no-such"))
    assert msg.text_body == TEXT_CS
    assert any("unknown charset" in d and "x-no-such" in d for d in msg.defects)


def test_invalid_bytes_in_declared_charset() -> None:
    msg = parse(mail("", b"ok \xff\xfe end", ctype="text/plain; charset=utf-8"))
    assert msg.text_body.startswith("ok ") and msg.text_body.endswith(" end")
    assert msg.defects


@pytest.mark.parametrize("encoded", ["SGVsbG8gd29ybGQ", "SGVsbG8gd29ybGQ=", "SGVsbG8g\nd29ybGQ=="])
def test_base64_with_broken_padding(encoded: str) -> None:
    assert parse(mail("", encoded, cte="base64")).text_body == "Hello world"


@pytest.mark.parametrize("cte", ["7-bit", "plain", "8bits", "text/html", "base64;"])
def test_odd_transfer_encoding_labels(cte: str) -> None:
    body = "SGVsbG8=" if cte.startswith("base64") else "Hello"
    assert parse(mail("", body, cte=cte)).text_body == "Hello"


# Headers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("=?utf-8?q?P=C5=99=C3=ADli=C5=A1?=", "Příliš"),
        ("=?ISO-8859-2?B?UPjtbGm5?=", "Příliš"),
        # a multi-byte character split across two encoded words, folded over two lines
        ("=?utf-8?q?P=C5?=\r\n =?utf-8?q?=99=C3=ADli=C5=A1?= ok", "Příliš ok"),
        ("Re:=?utf-8?q?_=C4=8Cau?=next", "Re: Čaunext"),  # no spaces around the word
        ("=?x-bogus?q?caf=C3=A9?=", "café"),  # unknown charset label
        ("=?utf-8*cs?q?=C4=8Cau?=", "Čau"),  # RFC 2231 language in RFC 2047
        ("=?utf-8?B?xIxl c2vDvQ==?=", "Český"),  # space inside the encoded text
        ("=?utf-8?Q?P=C5=99=C3=ADli=C5=A1", "Příliš"),  # closing ?= missing
        ("=?utf-8?Q broken", "=?utf-8?Q broken"),  # not an encoded word: left as it is
        ("plain  folded\r\n\tsubject", "plain folded subject"),
    ],
)
def test_subject_decoding(subject: str, expected: str) -> None:
    assert parse(mail(f"Subject: {subject}")).subject == expected


def test_raw_8bit_subject_utf8_and_declared_charset() -> None:
    raw = mail("Subject: Příliš", "x")
    assert parse(raw).subject == "Příliš"
    raw = (
        b"From: a@example.com\r\nSubject: P\xf8\xedli\xb9\r\nMessage-ID: <x@example.com>\r\n"
        b"Content-Type: text/plain; charset=iso-8859-2\r\n\r\nbody"
    )
    assert parse(raw).subject == "Příliš"
    raw = b"From: a@example.com\r\nSubject: P\xf8\xedli\x9a\r\n\r\nbody"  # windows-1250
    assert parse(raw).subject == "Příliš"


def test_addresses() -> None:
    msg = parse(
        mail(
            'Cc: "Novák, Jan" <Jan.Novak@Example.COM>, =?utf-8?q?Ji=C5=99=C3=AD?= <jiri@example.net>\n'
            "Reply-To: undisclosed-recipients:;\n"
            "Cc: =?utf-8?b?xb1hbmV0YQ==?= <zaneta@example.org>"
        )
    )
    assert [(a.name, a.email) for a in msg.cc] == [
        ("Novák, Jan", "jan.novak@example.com"),
        ("Jiří", "jiri@example.net"),
        ("Žaneta", "zaneta@example.org"),
    ]
    assert msg.reply_to == []
    assert msg.from_addr is not None and msg.from_addr.email == "jana@example.com"


def test_from_without_address() -> None:
    raw = b"From: just some text\r\nMessage-ID: <a@b.example>\r\n\r\nx"
    msg = parse(raw)
    assert msg.from_addr is not None


def test_missing_from() -> None:
    msg = parse(b"Subject: x\r\nMessage-ID: <a@b.example>\r\n\r\nx")
    assert msg.from_addr is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<abc@example.com>", "abc@example.com"),
        ("abc@example.com", "abc@example.com"),
        ("  <abc\r\n @example.com>  ", "abc@example.com"),
        ("<AAMkADk0ZGI=@EXCH01.corp.example.com>", "AAMkADk0ZGI=@EXCH01.corp.example.com"),
        ("<1234.5678>", "1234.5678"),
        ("garbage-without-at", "garbage-without-at"),
    ],
)
def test_message_id_forms(value: str, expected: str) -> None:
    msg = parse(mail("").replace(b"<m1@example.com>", value.encode()))
    assert msg.message_id == expected
    assert not msg.message_id_synthesised


@pytest.mark.parametrize("value", ["", "<>", "  "])
def test_unusable_message_id_is_synthesised(value: str) -> None:
    raw = mail("").replace(b"<m1@example.com>", value.encode())
    msg = parse(raw)
    assert msg.message_id_synthesised
    assert msg.message_id == f"{msg.dedupe_key[:32]}@synthesised.helpdesk.invalid"


def test_synthesised_id_is_the_same_for_two_deliveries() -> None:
    raw = b"From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n"
    first = parse(b"Received: from mx1.example.com\r\n" + raw)
    second = parse(b"Received: from mx2.example.com\r\nDelivered-To: info@example.com\r\n" + raw)
    assert first.content_hash != second.content_hash
    assert first.message_id == second.message_id
    assert first.message_id != parse(raw.replace(b"body", b"other")).message_id


def test_missing_message_id() -> None:
    raw = b"From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n"
    msg = parse(raw)
    assert msg.message_id_synthesised
    assert msg.message_id.endswith("@synthesised.helpdesk.invalid")
    assert "no Message-ID" in msg.defects
    assert msg.malformed


def test_in_reply_to_and_references() -> None:
    msg = parse(
        mail(
            "In-Reply-To: Your message of Monday <parent@example.com> (comment)\n"
            "References: <root@example.com>\r\n <mid@example.com>\r\n\t<parent@\r\n example.com>"
            " junk <root@example.com>"
        )
    )
    assert msg.in_reply_to == ["parent@example.com"]
    assert msg.references == ["root@example.com", "mid@example.com", "parent@example.com"]
    assert msg.thread_ids() == ["parent@example.com", "mid@example.com", "root@example.com"]


def test_references_without_brackets() -> None:
    msg = parse(mail("References: a@example.com b@example.com\nIn-Reply-To: b@example.com"))
    assert msg.references == ["a@example.com", "b@example.com"]
    assert msg.in_reply_to == ["b@example.com"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Tue, 1 Jul 2025 10:00:00 +0200", datetime(2025, 7, 1, 8, 0, tzinfo=UTC)),
        ("1 Jul 2025 10:00:00 -0000", datetime(2025, 7, 1, 10, 0, tzinfo=UTC)),
        ("Sat, 20 Sep 2008 20:04:30 +0300 (comment)", datetime(2008, 9, 20, 17, 4, 30, tzinfo=UTC)),
        ("Wed, 15 Dec 2010    59:10 -0500", None),
        ("not a date", None),
        ("Mon, 1 Jan 2001 10:00:00 +9999", None),
    ],
)
def test_dates(value: str, expected: datetime | None) -> None:
    msg = parse(mail(f"Date: {value}"))
    assert msg.date == expected
    if expected is not None:
        assert msg.date is not None and msg.date.tzinfo is not None
    else:
        assert any("Date" in d for d in msg.defects)


# Structure ----------------------------------------------------------------------------------


def multipart(
    subtype: str, parts: list[bytes], boundary: str = "b0undary", header_boundary: str | None = None
) -> bytes:
    declared = header_boundary or boundary
    body = b"preamble\r\n"
    for part in parts:
        body += f"--{boundary}\r\n".encode() + part + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return (f'Content-Type: multipart/{subtype}; boundary="{declared}"\r\n\r\n').encode() + body


def part(ctype: str, body: bytes, *extra: str) -> bytes:
    head = "\r\n".join([f"Content-Type: {ctype}", *extra])
    return head.encode() + b"\r\n\r\n" + body


def top(body_with_headers: bytes, headers: str = "Subject: t") -> bytes:
    return (
        b"From: a@example.com\r\nMessage-ID: <s@example.com>\r\n"
        + headers.encode()
        + b"\r\nMIME-Version: 1.0\r\n"
        + body_with_headers
    )


def test_alternative_prefers_plain_and_lists_nested_attachments() -> None:
    pdf = base64.encodebytes(b"%PDF-1.4 data")
    html_side = multipart(
        "mixed",
        [
            part("text/html; charset=utf-8", b"<p>HTML version</p>"),
            part(
                "application/pdf; name=doc.pdf",
                pdf,
                "Content-Transfer-Encoding: base64",
                "Content-Disposition: attachment",
            ),
        ],
        boundary="inner",
    )
    raw = top(
        multipart(
            "alternative",
            [
                part("text/plain; charset=utf-8", b"Plain version"),
                html_side,
            ],
        )
    )
    msg = parse(raw)
    assert msg.text_body == "Plain version"
    assert not msg.html_only
    [att] = msg.attachments
    assert (att.filename, att.part, att.size) == ("doc.pdf", "2.2", len(b"%PDF-1.4 data"))
    assert attachment_bytes(raw, "2.2") == b"%PDF-1.4 data"


def test_html_only_message() -> None:
    html = (
        b"<html><head><style>p{}</style><script>alert(1)</script></head><body>"
        b"<p>Dear customer,</p><p>see <a href='https://example.com/o/1'>your order</a>"
        b"</p><img src='https://tracker.example.net/p.gif' alt=''></body></html>"
    )
    msg = parse(top(part("text/html; charset=utf-8", html)))
    assert msg.html_only
    assert msg.text_body == "Dear customer,\n\nsee your order <https://example.com/o/1>"


def test_empty_plain_alternative_falls_back_to_html() -> None:
    raw = top(
        multipart(
            "alternative",
            [
                part("text/plain", b"   \r\n"),
                part("text/html", b"<div>Real text</div>"),
            ],
        )
    )
    msg = parse(raw)
    assert msg.text_body == "Real text"
    assert msg.html_only


def test_rfc2231_filename_with_continuations() -> None:
    raw = top(
        multipart(
            "mixed",
            [
                part("text/plain", b"see attached"),
                part(
                    "application/octet-stream",
                    b"abc",
                    "Content-Disposition: attachment;\r\n filename*0*=utf-8''%C5%BElu%C5%A5ou;"
                    '\r\n filename*1*=%C4%8Dk%C3%BD;\r\n filename*2=".txt"',
                ),
                part('application/octet-stream; name="=?utf-8?q?p=C5=99=C3=ADloha?=.bin"', b"xyz"),
                part(
                    "application/octet-stream",
                    b"..",
                    'Content-Disposition: attachment; filename="../../etc/passwd"',
                ),
                part("image/png", b"png", "Content-ID: <img1@example.com>"),
            ],
        )
    )
    msg = parse(raw)
    assert msg.text_body == "see attached"
    assert [(a.filename, a.part, a.size) for a in msg.attachments] == [
        ("žluťoučký.txt", "2", 3),
        ("příloha.bin", "3", 3),
        ("passwd", "4", 2),
        ("part-5.png", "5", 3),
    ]
    assert msg.attachments[3].inline and msg.attachments[3].content_id == "img1@example.com"


def test_forwarded_message_is_included() -> None:
    inner = (
        b"From: =?utf-8?q?Old=C5=99ich?= <old@example.net>\r\nSubject: Original\r\n"
        b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <inner@example.net>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nInner text\r\n"
    )
    raw = top(
        multipart(
            "mixed",
            [
                part("text/plain", b"FYI"),
                part("message/rfc822", inner),
            ],
        )
    )
    msg = parse(raw)
    assert msg.text_body.splitlines() == [
        "FYI",
        "",
        FORWARD_MARKER,
        "From: Oldřich <old@example.net>",
        "Date: Mon, 1 Jan 2024 10:00:00 +0000",
        "Subject: Original",
        "",
        "Inner text",
    ]
    assert msg.message_id == "s@example.com"
    [att] = msg.attachments
    assert att.part == "2" and att.filename == "Original.eml"
    assert b"Inner text" in attachment_bytes(raw, "2")
    assert attachment_bytes(raw, "2.1").strip() == b"Inner text"


def test_wrong_boundary_is_repaired() -> None:
    raw = top(
        multipart(
            "mixed",
            [
                part("text/plain", b"first part"),
                part("text/plain; name=a.txt", b"attached", "Content-Disposition: attachment"),
            ],
            boundary="real",
            header_boundary="declared",
        )
    )
    msg = parse(raw)
    assert msg.text_body == "first part"
    assert [a.filename for a in msg.attachments] == ["a.txt"]
    assert attachment_bytes(raw, "2") == b"attached"
    assert any("boundary" in d for d in msg.defects)


def test_missing_boundary_still_shows_text() -> None:
    raw = top(b"Content-Type: multipart/mixed\r\n\r\njust some text\r\n")
    msg = parse(raw)
    assert "just some text" in msg.text_body


def test_missing_final_boundary() -> None:
    raw = top(
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain\r\n\r\nunfinished"
    )
    assert parse(raw).text_body == "unfinished"


def test_delivery_status_bounce() -> None:
    status = (
        b"Reporting-MTA: dns; mx.example.org\r\n\r\n"
        b"Final-Recipient: rfc822; x@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
    )
    raw = top(
        multipart(
            "report; report-type=delivery-status",
            [
                part("text/plain", b"Delivery failed."),
                part("message/delivery-status", status),
                part("text/rfc822-headers", b"Subject: mine\r\n"),
            ],
        ),
        headers="Subject: Undelivered",
    )
    msg = parse(raw)
    assert msg.auto is AutoKind.BOUNCE
    assert "Status: 5.1.1" in msg.text_body and "Delivery failed." in msg.text_body


def test_pathological_nesting_is_capped() -> None:
    depth = 300
    body = b"innermost"
    for i in range(depth):
        body = (
            f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n'.encode()
            + body
            + f"\r\n--b{i}--\r\n".encode()
        )
    msg = parse_message(top(body))
    assert msg.message_id == "s@example.com"
    assert msg.parse_error is not None or any("nesting" in d for d in msg.defects)


def test_many_parts_and_defects_are_capped() -> None:
    parts = [part(f"text/plain; charset=bogus-{i}", b"x") for i in range(40)]
    msg = parse(top(multipart("mixed", parts)))
    assert len(msg.defects) <= MAX_DEFECTS
    assert msg.defects[-1].startswith("and ")


# Automatic mail -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "kind"),
    [
        ("", AutoKind.NONE),
        ("Auto-Submitted: no", AutoKind.NONE),
        ("Auto-Submitted: auto-replied", AutoKind.AUTO_REPLY),
        ("Auto-Submitted: auto-generated; owner-email=x@example.com", AutoKind.AUTO_REPLY),
        ("X-Autoreply: yes", AutoKind.AUTO_REPLY),
        ("X-Autorespond: vacation", AutoKind.AUTO_REPLY),
        ("X-Auto-Response-Suppress: All", AutoKind.NONE),
        ("Precedence: auto_reply", AutoKind.AUTO_REPLY),
        ("Return-Path: <>", AutoKind.AUTO_REPLY),  # null sender, nothing says bounce
        ("Return-Path: <>\nSubject: Undelivered Mail Returned to Sender", AutoKind.BOUNCE),
        ("X-Failed-Recipients: x@example.net", AutoKind.BOUNCE),
        ("Return-Path: <jana@example.com>", AutoKind.NONE),
        ("List-Id: Support <support.example.org>", AutoKind.LIST),
        ("List-Unsubscribe: <mailto:u@example.org>\nPrecedence: list", AutoKind.LIST),
        ("List-Unsubscribe: <mailto:u@example.org>", AutoKind.BULK),  # a newsletter
        ("Precedence: bulk", AutoKind.BULK),
        ("Precedence: junk", AutoKind.BULK),
    ],
)
def test_auto_kind(headers: str, kind: AutoKind) -> None:
    assert parse(mail(headers)).auto is kind


@pytest.mark.parametrize(
    "sender",
    [
        "MAILER-DAEMON@mx.example.org",
        "postmaster@example.org",
        "Mail Delivery System <Mailer-Daemon@example.org>",
    ],
)
def test_bounce_senders(sender: str) -> None:
    raw = mail("").replace(b"Jana Novak <jana@example.com>", sender.encode())
    assert parse(raw).auto is AutoKind.BOUNCE


# Untrusted text -----------------------------------------------------------------------------


def test_escape_sequences_are_removed_and_markup_stays_literal() -> None:
    raw = mail(
        "Subject: =?utf-8?q?=1B[31mred=1B[0m_[bold]x[/bold]?=",
        "Body \x1b[2J\x1b]52;c;ZXZpbA==\x07text [bold]kept[/bold]\r\n\x9b31mend",
        ctype="text/plain; charset=utf-8",
    )
    msg = parse(raw)
    assert msg.subject == "red [bold]x[/bold]"
    assert msg.text_body == "Body text [bold]kept[/bold]\nend"


def test_escape_in_names_and_filenames() -> None:
    raw = top(
        multipart(
            "mixed",
            [
                part("text/plain", b"x"),
                part(
                    "application/octet-stream",
                    b"y",
                    'Content-Disposition: attachment; filename="\x1b]0;pwn\x07a\u202egpj.exe"',
                ),
            ],
        ),
        headers='Subject: s\r\nCc: "=?utf-8?q?=1B[5mName?=" <c@example.com>',
    )
    msg = parse(raw)
    assert msg.cc[0].name == "Name"
    assert msg.attachments[0].filename == "agpj.exe"


def test_top_level_fallback_on_unexpected_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from helpdesk.core import mailparse

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(mailparse, "_walk_node", boom)
    raw = mail("Subject: =?utf-8?q?=C4=8Cau?=")
    msg = parse_message(raw)
    assert msg.parse_error == "RuntimeError: simulated failure"
    assert msg.subject == "Čau"
    assert msg.message_id == "m1@example.com"
    assert msg.from_addr is not None and msg.from_addr.email == "jana@example.com"
    assert msg.size == len(raw) and len(msg.content_hash) == 64


# Properties ---------------------------------------------------------------------------------


def _check_invariants(msg: ParsedMessage, raw: bytes) -> None:
    assert msg.message_id
    assert msg.size == len(raw)
    assert "\x1b" not in msg.text_body and "\x1b" not in msg.subject
    for att in msg.attachments:
        assert att.filename and "/" not in att.filename


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4000))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    _check_invariants(parse_message(raw), raw)


_SEEDS = [
    mail("Subject: =?utf-8?q?P=C5=99=C3=ADli=C5=A1?=\nReferences: <a@b.example>"),
    top(
        multipart(
            "mixed",
            [
                part(
                    "text/plain; charset=iso-8859-2",
                    quopri.encodestring("Příliš".encode("iso-8859-2")),
                    "Content-Transfer-Encoding: quoted-printable",
                ),
                part(
                    "application/pdf; name*=utf-8''%C5%BE.pdf",
                    base64.encodebytes(b"%PDF"),
                    "Content-Transfer-Encoding: base64",
                ),
                part("message/rfc822", mail("Subject: inner", "inner")),
            ],
        )
    ),
]
for _name in (
    "flanker/torture-part.eml",
    "ruby-mail/attachment_emails/attachment_pdf.eml",
    "flanker/bounce/zed.eml",
    "django-helpdesk/forwarded-message.eml",
):
    if (CORPUS / _name).is_file():
        _SEEDS.append((CORPUS / _name).read_bytes())


@st.composite
def mutated_messages(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "dup"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(
                st.sampled_from(
                    [
                        b"\r\n",
                        b"\n\n",
                        b"--",
                        b"=?",
                        b"?=",
                        b"<",
                        b">",
                        b";",
                        b"\x1b[",
                        b"\xff",
                        b"Content-Type: multipart/mixed; boundary=x\r\n",
                        b"=\r\n",
                        b"*0*=",
                    ]
                )
            )
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 50))]
        elif op == "truncate":
            del data[pos:]
        elif op == "dup":
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 200))]
    return bytes(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_messages())
def test_mutated_messages_never_raise(raw: bytes) -> None:
    msg = parse_message(raw)
    _check_invariants(msg, raw)
    for att in msg.attachments:
        attachment_bytes(raw, att.part)


# HTML to text --------------------------------------------------------------------------------


def test_html_to_text_structure() -> None:
    html = """<h1>Title</h1><p>One<br>Two</p><ul><li>a</li><li>b<ol><li>c</li></ol></li></ul>
    <blockquote><p>quoted</p></blockquote><pre>  keep   spaces</pre>
    <table><tr><td>x</td><td>y</td></tr></table><p><a href="https://example.com">https://example.com</a>
    <a href="javascript:evil()">click</a> <a href="mailto:a@example.com?subject=x">mail us</a>
    <img alt="logo" src="cid:x"></p><noscript>no</noscript>&amp; &lt;tag&gt;"""
    assert html_to_text(html).splitlines() == [
        "Title",
        "",
        "One",
        "Two",
        "",
        "- a",
        "- b",
        "  1. c",
        "",
        "> quoted",
        "",
        "  keep   spaces",
        "",
        "x  y",
        "",
        "https://example.com click mail us <a@example.com> [logo]",
        "",
        "& <tag>",
    ]


@given(st.text(max_size=500))
def test_html_to_text_never_raises(text: str) -> None:
    assert isinstance(html_to_text(text), str)


# Automatic mail: real-looking samples ---------------------------------------------------------

OUTLOOK_CUSTOMER = """From: Jan Novak <jan@customer.example>
To: support@example.org
Subject: RE: Automatic reply: Reklamace tiskarny
Thread-Topic: Reklamace tiskarny
Thread-Index: AQHZx1234567890abcdefABCDEF==
X-MS-Has-Attach:
X-MS-TNEF-Correlator:
X-Auto-Response-Suppress: All
Auto-Submitted: no
Return-Path: <jan@customer.example>"""

AUTO_SAMPLES = {
    "ordinary Outlook mail with X-Auto-Response-Suppress": (OUTLOOK_CUSTOMER, AutoKind.NONE),
    "subject alone proves nothing": (
        "Subject: Automatic reply: is this how your system answers?",
        AutoKind.NONE,
    ),
    "Exchange out-of-office (old, no Auto-Submitted)": (
        "Subject: Automatic reply: Reklamace tiskarny\nX-Auto-Response-Suppress: All\n"
        "Thread-Topic: Reklamace tiskarny\nX-MS-Exchange-Inbox-Rules-Loop: jan@customer.example",
        AutoKind.AUTO_REPLY,
    ),
    "Exchange out-of-office (new)": (
        "Subject: Automatic reply: Reklamace\nAuto-Submitted: auto-generated\n"
        "X-Auto-Response-Suppress: All",
        AutoKind.AUTO_REPLY,
    ),
    "Czech Outlook out-of-office": (
        "Subject: =?utf-8?q?Automatick=C3=A1_odpov=C4=9B=C4=8F=3A_Reklamace?=\n"
        "X-Auto-Response-Suppress: All",
        AutoKind.AUTO_REPLY,
    ),
    "sieve vacation": (
        "Subject: Auto: Reklamace\nAuto-Submitted: auto-replied (vacation)\nPrecedence: bulk",
        AutoKind.AUTO_REPLY,
    ),
    "X-Autoreply": ("Subject: Re: Reklamace\nX-Autoreply: yes", AutoKind.AUTO_REPLY),
    "X-Autoreply: no": ("Subject: Re: Reklamace\nX-Autoreply: no", AutoKind.NONE),
    "X-Autorespond": ("Subject: Out of office\nX-Autorespond: Reklamace", AutoKind.AUTO_REPLY),
    "Precedence auto_reply": ("Precedence: auto_reply", AutoKind.AUTO_REPLY),
    "null sender, nothing else": ("Return-Path: <>\nSubject: Re: Reklamace", AutoKind.AUTO_REPLY),
    "Exchange NDR without a report": (
        "Return-Path: <>\nSubject: Undeliverable: Reklamace\nX-MS-Exchange-Message-Is-Ndr:",
        AutoKind.BOUNCE,
    ),
    "exim bounce": (
        "Subject: Mail delivery failed: returning message to sender\n"
        "X-Failed-Recipients: jan@customer.example\nAuto-Submitted: auto-replied",
        AutoKind.BOUNCE,
    ),
    "mailing list": (
        "List-Id: Printer users <printers.lists.example.org>\n"
        "List-Unsubscribe: <https://lists.example.org/u>, <mailto:leave@lists.example.org>\n"
        "List-Post: <mailto:printers@lists.example.org>\nPrecedence: list",
        AutoKind.LIST,
    ),
    "newsletter": (
        "List-Unsubscribe: <https://news.example.com/u?id=1>\n"
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        AutoKind.BULK,
    ),
    "Precedence bulk": ("Precedence: bulk\nSubject: Akce", AutoKind.BULK),
}


@pytest.mark.parametrize(
    ("headers", "kind"), list(AUTO_SAMPLES.values()), ids=list(AUTO_SAMPLES.keys())
)
def test_auto_kind_samples(headers: str, kind: AutoKind) -> None:
    raw = mail(headers)
    if headers.startswith("From:"):
        raw = raw.replace(b"From: Jana Novak <jana@example.com>\r\n", b"", 1)
    assert parse(raw).auto is kind
