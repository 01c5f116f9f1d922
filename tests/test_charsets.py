"""Charsets, header encodings, transfer encodings, HTML and MIME structure: Czech, Polish,
Russian and Japanese text must come out right, whatever the sender's mailer did to it."""

from __future__ import annotations

import base64
import quopri

import pytest
from mailbuild import message

from helpdesk.core.mailparse import FORWARD_MARKER, attachment_bytes, parse_message
from helpdesk.core.message import ParsedMessage

CS = "Příliš žluťoučký kůň úpěl ďábelské ódy. Šťastný Žižka"
PL = "Zażółć gęślą jaźń. Źdźbło, Łódź i Śląsk; ąę"
RU = "Съешь же ещё этих мягких французских булок, да выпей чаю"
JA = "日本語のテキストです。カタカナも漢字も、ひらがなも。"


def raw_mail(
    body: bytes, *, ctype: str | None = None, cte: str = "8bit", head: bytes = b""
) -> bytes:
    lines = [
        b"From: Jana Novak <jana@example.com>",
        b"To: support@example.org",
        b"Subject: test",
        b"Message-ID: <c1@example.com>",
        b"MIME-Version: 1.0",
    ]
    if ctype is not None:
        lines.append(b"Content-Type: " + ctype.encode())
    lines.append(b"Content-Transfer-Encoding: " + cte.encode())
    if head:
        lines.insert(0, head)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def parse(raw: bytes) -> ParsedMessage:
    msg = parse_message(raw)
    assert msg.parse_error is None, msg.parse_error
    return msg


def encode_body(data: bytes, cte: str) -> bytes:
    if cte == "quoted-printable":
        return quopri.encodestring(data)
    if cte == "base64":
        return base64.encodebytes(data)
    return data


# Declared charsets ---------------------------------------------------------------------------

DECLARED = [
    ("utf-8", CS),
    ("iso-8859-2", CS),
    ("windows-1250", CS),
    ("utf-8", PL),
    ("iso-8859-2", PL),
    ("windows-1250", PL),
    ("utf-8", RU),
    ("koi8-r", RU),
    ("windows-1251", RU),
    ("utf-8", JA),
    ("iso-2022-jp", JA),
    ("shift_jis", JA),
    ("euc-jp", JA),
]


@pytest.mark.parametrize(("charset", "text"), DECLARED)
@pytest.mark.parametrize("cte", ["8bit", "quoted-printable", "base64"])
def test_declared_charset(charset: str, text: str, cte: str) -> None:
    data = encode_body(text.encode(charset), cte)
    msg = parse(raw_mail(data, ctype=f"text/plain; charset={charset}", cte=cte))
    assert msg.text_body == text
    assert msg.defects == []


@pytest.mark.parametrize(
    ("label", "codec", "text"),
    [
        ("utf8", "utf-8", CS),
        ("UTF8", "utf-8", PL),
        ("latin-2", "iso-8859-2", CS),
        ("latin2", "iso-8859-2", PL),
        ("ISO_8859-2", "iso-8859-2", CS),
        ("iso8859-2", "iso-8859-2", CS),
        ("win-1250", "windows-1250", CS),
        ("windows1250", "windows-1250", PL),
        ("x-cp1250", "windows-1250", CS),
        ("cp-1251", "windows-1251", RU),
        ("koi8r", "koi8-r", RU),
        ('"koi8-r"', "koi8-r", RU),
    ],
)
def test_charset_label_aliases(label: str, codec: str, text: str) -> None:
    msg = parse(raw_mail(text.encode(codec), ctype=f"text/plain; charset={label}"))
    assert msg.text_body == text
    assert msg.defects == []


@pytest.mark.parametrize(
    ("codec", "text"),
    [("utf-8", CS), ("iso-8859-2", CS), ("windows-1250", PL), ("koi8-r", RU), ("shift_jis", JA)],
)
def test_unknown_charset_label_is_guessed_and_reported(codec: str, text: str) -> None:
    msg = parse(raw_mail(text.encode(codec), ctype="text/plain; charset=x-unknown"))
    assert msg.text_body == text
    assert any("unknown charset" in d and "x-unknown" in d for d in msg.defects)


UNDECLARED = [
    ("windows-1250", CS),
    ("iso-8859-2", CS),
    ("windows-1250", PL),
    ("iso-8859-2", PL),
    ("koi8-r", RU),
    ("windows-1251", RU),
    ("shift_jis", JA),
    ("euc-jp", JA),
    ("iso-2022-jp", JA),  # 7-bit: escape sequences, no high bytes at all
    ("utf-8", JA),
]


@pytest.mark.parametrize(("codec", "text"), UNDECLARED)
@pytest.mark.parametrize("ctype", [None, "text/plain", "text/plain; charset=us-ascii"])
def test_undeclared_charset_is_guessed(codec: str, text: str, ctype: str | None) -> None:
    assert parse(raw_mail(text.encode(codec), ctype=ctype)).text_body == text


def test_short_undeclared_text_prefers_the_configured_fallback() -> None:
    # Byte 0xB9 is "ą" in windows-1250 and "š" in ISO-8859-2, both real letters: with nothing
    # else to go by, the configured fallback decides.
    data = b"Ko\xb9"
    assert parse_message(raw_mail(data)).text_body == "Koą"
    assert parse_message(raw_mail(data), fallback_charset="iso-8859-2").text_body == "Koš"


@pytest.mark.parametrize("declared", ["iso-8859-2", "windows-1250", "koi8-r", "iso-8859-1"])
@pytest.mark.parametrize("text", [CS, PL, RU])
def test_utf8_bytes_under_a_wrong_single_byte_label(declared: str, text: str) -> None:
    msg = parse(raw_mail(text.encode("utf-8"), ctype=f"text/plain; charset={declared}"))
    assert msg.text_body == text


def test_invalid_bytes_under_utf8_label_keep_the_rest() -> None:
    data = "Dobrý den ".encode() + b"\xff\xfe" + " děkuji".encode()
    msg = parse(raw_mail(data, ctype="text/plain; charset=utf-8"))
    assert msg.text_body.startswith("Dobrý den ") and msg.text_body.endswith(" děkuji")
    assert any("not valid utf-8" in d for d in msg.defects)


# Header encodings (RFC 2047 and raw 8-bit) ------------------------------------------------------


def b_word(charset: str, text: str) -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?="


def q_word(charset: str, text: str) -> str:
    encoded = "".join(
        chr(b) if b < 0x80 and chr(b).isalnum() else "_" if b == 0x20 else f"={b:02X}"
        for b in text.encode(charset)
    )
    return f"=?{charset}?Q?{encoded}?="


def subject_of(value: str | bytes, body_ctype: str = "text/plain; charset=utf-8") -> str:
    header = value.encode() if isinstance(value, str) else value
    return parse(
        raw_mail(b"x", ctype=body_ctype).replace(b"Subject: test", b"Subject: " + header)
    ).subject


@pytest.mark.parametrize(("charset", "text"), [c for c in DECLARED if c[0] != "euc-jp"])
@pytest.mark.parametrize("word", [b_word, q_word])
def test_encoded_word_subjects(charset: str, text: str, word: object) -> None:
    assert callable(word)
    assert subject_of(word(charset, text)) == text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # closing ?= missing, at the end and before more text
        ("=?utf-8?Q?P=C5=99=C3=ADli=C5=A1", "Příliš"),
        ("=?utf-8?B?xIxlc2vDvQ== zbytek", "Český zbytek"),
        ("=?utf-8?B?xIxlc2vDvQ?", "Český"),
        # bad base64 padding: missing, too short, too much
        ("=?utf-8?B?xIxlc2vDvQ?=", "Český"),
        ("=?utf-8?B?xIxlc2vDvQ=?=", "Český"),
        ("=?utf-8?B?xIxlc2vDvQ====?=", "Český"),
        # an encoded word folded in the middle (B and Q)
        ("=?utf-8?B?xIxl\r\n c2vDvQ==?=", "Český"),
        ("=?utf-8?Q?P=C5=99=C3=AD\r\n li=C5=A1?= konec", "Příliš konec"),
        # a multi-byte character split across two words on two lines
        ("=?utf-8?Q?=C5?=\r\n =?utf-8?Q?=BDlu=C5=A5ou=C4=8Dk=C3=BD?=", "Žluťoučký"),
        # three charsets in one header; whitespace between words is not text
        (
            f"{b_word('iso-8859-2', 'Šťastný')} {q_word('koi8-r', 'день')}\r\n"
            f" {b_word('iso-2022-jp', '日本')} end",
            "Šťastnýдень日本 end",
        ),
        # unknown and empty charset labels still decode what they can
        ("=?x-unknown?Q?caf=C3=A9?=", "café"),
        ("=??Q?caf=C3=A9?=", "café"),
        # a lower-case word inside text, and an encoded underscore
        ("Re: =?utf-8?q?Objedn=C3=A1vka=5F1?= hotovo", "Re: Objednávka_1 hotovo"),
    ],
)
def test_broken_and_tricky_encoded_words(value: str, expected: str) -> None:
    assert subject_of(value) == expected


def test_unterminated_word_is_reported() -> None:
    msg = parse(raw_mail(b"x").replace(b"Subject: test", b"Subject: =?utf-8?Q?caf=C3=A9"))
    assert msg.subject == "café"
    assert any("not closed" in d for d in msg.defects)


@pytest.mark.parametrize("text", [CS, PL, RU, JA])
def test_raw_utf8_in_headers(text: str) -> None:
    raw = message("r@example.com", body="x\n").replace(
        b"Subject: ", b"X-Old: x\r\nSubject: " + text.encode() + b"\r\nX-Unused: "
    )
    raw = raw.replace(b"Jan Nov\xc3\xa1k", ("Łukasz " + text[:5]).encode())
    msg = parse(raw)
    assert msg.subject == text
    assert msg.from_addr is not None and msg.from_addr.name == "Łukasz " + text[:5]


@pytest.mark.parametrize(
    ("codec", "text", "body_ctype"),
    [
        ("iso-8859-2", CS, "text/plain; charset=iso-8859-2"),
        ("windows-1250", PL, "text/plain"),
        ("koi8-r", RU, "text/plain; charset=koi8-r"),
        ("koi8-r", RU, "text/plain"),
        ("shift_jis", JA, "text/plain; charset=shift_jis"),
    ],
)
def test_raw_8bit_headers_in_a_legacy_charset(codec: str, text: str, body_ctype: str) -> None:
    assert subject_of(text.encode(codec), body_ctype) == text


def test_undeclared_iso_2022_jp_subject() -> None:
    assert subject_of(JA.encode("iso-2022-jp")) == JA


def test_encoded_display_names() -> None:
    raw = raw_mail(b"x").replace(
        b"From: Jana Novak <jana@example.com>",
        f"From: {q_word('iso-8859-2', 'Paweł Łęcki')} <PAWEL@Example.COM>".encode()
        + f"\r\nCc: {b_word('koi8-r', 'Иван Петров')} <ivan@example.net>,\r\n"
        f" {b_word('iso-2022-jp', '山田太郎')} <taro@example.org>".encode(),
    )
    msg = parse(raw)
    assert msg.from_addr is not None
    assert (msg.from_addr.name, msg.from_addr.email) == ("Paweł Łęcki", "pawel@example.com")
    assert [(a.name, a.email) for a in msg.cc] == [
        ("Иван Петров", "ivan@example.net"),
        ("山田太郎", "taro@example.org"),
    ]


# RFC 2231 parameters -------------------------------------------------------------------------


def attachment_mail(disposition: str, ctype: str = "application/pdf") -> bytes:
    return (
        b"From: a@example.com\r\nMessage-ID: <p@example.com>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nsee attachment\r\n--b\r\n"
        + f"Content-Type: {ctype}\r\nContent-Disposition: {disposition}\r\n".encode()
        + b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQ=\r\n--b--\r\n"
    )


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ("attachment; filename*=utf-8''Faktura%20%C4%8D.%201.pdf", "Faktura č. 1.pdf"),
        # continuations, some percent-encoded, the last one plain and quoted
        (
            "attachment;\r\n filename*0*=utf-8''%C5%BDlu%C5%A5ou;\r\n"
            ' filename*1*=%C4%8Dk%C3%BD;\r\n filename*2=" k\u016f\u0148.pdf"',
            "Žluťoučký kůň.pdf",
        ),
        # continuations given out of order
        ("attachment; filename*1=art2.pdf; filename*0=p", "part2.pdf"),
        # charset and language
        ("attachment; filename*=iso-8859-2'cs'%A9koda.pdf", "Škoda.pdf"),
        ("attachment; filename*=koi8-r'ru'%F3%DE%C5%D4.pdf", "Счет.pdf"),
        ("attachment; filename*=UTF-8'pl'%C5%81%C3%B3d%C5%BA.pdf", "Łódź.pdf"),
        # a quoted extended value, which the RFC does not allow but mailers write
        ("attachment; filename*=\"utf-8''%E6%97%A5%E6%9C%AC.pdf\"", "日本.pdf"),
        # RFC 2047 inside a quoted filename, which the RFC does not allow either
        (f'attachment; filename="{b_word("utf-8", "Příloha.pdf")}"', "Příloha.pdf"),
    ],
)
def test_rfc2231_filenames(disposition: str, expected: str) -> None:
    msg = parse(attachment_mail(disposition))
    assert [a.filename for a in msg.attachments] == [expected]
    assert msg.text_body == "see attachment"


def test_rfc2231_name_in_content_type() -> None:
    msg = parse(
        attachment_mail("attachment", "application/pdf; name*0*=utf-8''%C4%8Cesk; name*1=o.pdf")
    )
    assert [a.filename for a in msg.attachments] == ["Česko.pdf"]


# Transfer encodings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"P=C5=99=C3=ADli=\r\n=C5=A1 dlouh=C3=BD=\r\n =C5=99=C3=A1dek", "Příliš dlouhý řádek"),
        (b"soft=\nbreak with LF only", "softbreak with LF only"),
        (b"lower =c5=99 case", "lower ř case"),
        (b"bad =ZZ escape and =4 short", "bad =ZZ escape and =4 short"),
        (b"trailing equals=", "trailing equals"),
        # whitespace at a line end was added in transport (RFC 2045 6.7), also before a soft break
        (b"trailing spaces   \r\nnext", "trailing spaces\nnext"),
        (b"soft break after space= \r\nok", "soft break after spaceok"),
    ],
)
def test_quoted_printable(body: bytes, expected: str) -> None:
    msg = parse(raw_mail(body, ctype="text/plain; charset=utf-8", cte="quoted-printable"))
    assert msg.text_body == expected


@pytest.mark.parametrize(
    "body",
    [
        base64.b64encode(CS.encode()).rstrip(b"="),  # padding missing
        base64.b64encode(CS.encode()) + b"==",  # too much padding
        b"\r\n".join(base64.encodebytes(CS.encode()).splitlines()) + b"\r\n",  # CRLF lines
        b" ".join(base64.encodebytes(CS.encode()).splitlines()),  # spaces between lines
        b"!*" + base64.b64encode(CS.encode()).replace(b"b", b"b#", 1) + b"\x00",  # garbage
    ],
)
def test_lenient_base64(body: bytes) -> None:
    msg = parse(raw_mail(body, ctype="text/plain; charset=utf-8", cte="base64"))
    assert msg.text_body == CS


# HTML-only mail ------------------------------------------------------------------------------

HTML = f"""<!DOCTYPE html><html><head><title>Newsletter</title>
<style>p {{ color: red }}</style><script>document.write("tracking")</script>
<meta http-equiv="refresh" content="0; url=https://evil.example/"></head>
<body onload="alert(1)"><p>Dobr&yacute; den,&nbsp;{CS}</p>
<p><img src="https://tracker.example/pixel.gif?id=1" width="1" height="1">
<img src="cid:logo@example.com" alt="Logo firmy &amp; spol."></p>
<p>Stav: <a href="https://shop.example/order/1234">objednávka&nbsp;1234</a>,
<a href="https://shop.example/x">https://shop.example/x</a>, <a href="javascript:evil()">klik</a></p>
<style>.late {{ display: none }}</style><script type="module">import("https://evil.example")</script>
<p>&lt;script&gt; is text here &#269;&#x159; &euro; &copy;</p><iframe src="https://evil.example/f"></iframe>
</body></html>"""


@pytest.mark.parametrize("charset", ["utf-8", "windows-1250"])
def test_html_only_mail_is_readable_text_without_remote_content(charset: str) -> None:
    msg = parse(raw_mail(HTML.encode(charset), ctype=f"text/html; charset={charset}"))
    assert msg.html_only
    text = msg.text_body
    assert text.splitlines()[0] == f"Dobrý den, {CS}"
    assert "[Logo firmy & spol.]" in text  # image -> its alt text
    assert "objednávka 1234 <https://shop.example/order/1234>" in text  # link kept as text
    assert "https://shop.example/x," in text and "klik" in text
    assert "<script> is text here čř € ©" in text  # entities decoded, markup from them stays
    for gone in ("tracker.example", "evil.example", "tracking", "color", "display", "alert"):
        assert gone not in text
    assert "<" not in text.replace("<https://shop.example/order/1234>", "").replace(
        "<script> is", ""
    )


# MIME structure ------------------------------------------------------------------------------


def part(ctype: str, body: bytes, *extra: str) -> bytes:
    head = "\r\n".join([f"Content-Type: {ctype}", *extra])
    return head.encode() + b"\r\n\r\n" + body


def multipart(subtype: str, boundary: str, parts: list[bytes]) -> bytes:
    out = f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n'.encode()
    for p in parts:
        out += f"--{boundary}\r\n".encode() + p + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


TOP = b"From: Jana Novak <jana@example.com>\r\nMessage-ID: <n@example.com>\r\nMIME-Version: 1.0\r\n"


def test_alternative_inside_related_inside_mixed() -> None:
    alternative = multipart(
        "alternative",
        "alt",
        [
            part(
                "text/plain; charset=iso-8859-2",
                quopri.encodestring(CS.encode("iso-8859-2")),
                "Content-Transfer-Encoding: quoted-printable",
            ),
            part("text/html; charset=utf-8", f"<p>{CS}</p><img src='cid:img1'>".encode()),
        ],
    )
    related = multipart(
        "related",
        "rel",
        [
            alternative,
            part(
                "image/png",
                base64.encodebytes(b"\x89PNG\r\n\x1a\nimage"),
                "Content-ID: <img1>",
                "Content-Transfer-Encoding: base64",
            ),
        ],
    )
    raw = TOP + multipart(
        "mixed",
        "mix",
        [
            related,
            part(
                "application/pdf",
                base64.encodebytes(b"%PDF-1.4 invoice"),
                "Content-Disposition: attachment; filename*=utf-8''faktura-%C5%99.pdf",
                "Content-Transfer-Encoding: base64",
            ),
        ],
    )
    msg = parse(raw)
    assert msg.text_body == CS  # the plain rendering, once, not the HTML copy
    assert not msg.html_only
    assert [(a.part, a.filename, a.inline, a.content_id) for a in msg.attachments] == [
        ("1.2", "part-1.2.png", True, "img1"),
        ("2", "faktura-ř.pdf", False, ""),
    ]
    assert attachment_bytes(raw, "1.2") == b"\x89PNG\r\n\x1a\nimage"
    assert attachment_bytes(raw, "2") == b"%PDF-1.4 invoice"


def test_forwarded_message_is_a_readable_block_with_its_attachments() -> None:
    inner = (
        f"From: {q_word('koi8-r', 'Иван Петров')} <ivan@example.net>\r\n".encode()
        + b"To: jana@example.com\r\n"
        + f"Subject: {b_word('iso-2022-jp', '見積書')}\r\n".encode()
        + b"Date: Mon, 02 Nov 2026 09:00:00 +0100\r\nMessage-ID: <inner@example.net>\r\n"
        + multipart(
            "mixed",
            "in",
            [
                part("text/plain; charset=koi8-r", RU.encode("koi8-r")),
                part(
                    'application/pdf; name="=?utf-8?q?nab=C3=ADdka.pdf?="',
                    base64.encodebytes(b"%PDF inner"),
                    "Content-Transfer-Encoding: base64",
                ),
            ],
        )
    )
    raw = TOP + multipart(
        "mixed",
        "out",
        [
            part("text/plain; charset=utf-8", "Přeposílám, viz níže.".encode()),
            part("message/rfc822", inner, "Content-Disposition: inline"),
        ],
    )
    msg = parse(raw)
    lines = msg.text_body.splitlines()
    assert lines[0] == "Přeposílám, viz níže."
    start = lines.index(FORWARD_MARKER)
    assert lines[start + 1 : start + 5] == [
        "From: Иван Петров <ivan@example.net>",
        "Date: Mon, 02 Nov 2026 09:00:00 +0100",
        "Subject: 見積書",
        "To: jana@example.com",
    ]
    assert lines[-1] == RU
    assert [(a.part, a.filename, a.content_type) for a in msg.attachments] == [
        ("2", "見積書.eml", "message/rfc822"),
        ("2.2", "nabídka.pdf", "application/pdf"),
    ]
    assert attachment_bytes(raw, "2.2") == b"%PDF inner"
    assert parse(attachment_bytes(raw, "2")).message_id == "inner@example.net"
    assert msg.bounced_ids == []  # a forward is not a bounce
