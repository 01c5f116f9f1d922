"""Properties of ``parse_message`` over mutated real and generated messages: it never raises,
always returns a ParsedMessage whose text is safe for a terminal, and is deterministic.

Derandomized, so CI sees the same examples on every run."""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mailbuild import message

from helpdesk.core.mailparse import parse_message
from helpdesk.core.message import Address, AttachmentInfo, ParsedMessage
from helpdesk.core.sanitize import safe_text

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "mail-corpus"
OLE2_SIGNATURE = bytes.fromhex("d0cf11e0a1b11ae1")
MAX_SEED_BYTES = 48_000  # larger corpus files only slow the run; the small ones cover the shapes

PROPERTY_SETTINGS = settings(
    max_examples=350,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _corpus_seeds() -> list[bytes]:
    if not CORPUS.is_dir():
        return []
    out = []
    for path in sorted(CORPUS.rglob("*")):
        if not path.is_file() or path.name in ("README.md", ".gitattributes"):
            continue
        data = path.read_bytes()
        if len(data) <= MAX_SEED_BYTES and not data.startswith(OLE2_SIGNATURE):
            out.append(data)
    return out


def _generated_seeds() -> list[bytes]:
    multipart = (
        b"From: =?utf-8?q?Jana_Nov=C3=A1kov=C3=A1?= <jana@example.com>\r\n"
        b"To: support@example.org\r\nSubject: =?iso-8859-2?B?UPjtbGm5?=\r\n"
        b"Message-ID: <gen-1@example.com>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n--outer\r\n'
        b'Content-Type: multipart/alternative; boundary="inner"\r\n\r\n--inner\r\n'
        b"Content-Type: text/plain; charset=koi8-r\r\nContent-Transfer-Encoding: quoted-printable"
        b"\r\n\r\n=F3=DE=C5=D4 soft=\r\nbreak\r\n--inner\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>Hi <img alt=x src=cid:a>"
        b"<script>x</script></p>\r\n--inner--\r\n--outer\r\n"
        b"Content-Type: application/pdf\r\n"
        b"Content-Disposition: attachment; filename*0*=utf-8''%C5%BE; filename*1=.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(b"%PDF-1.4" * 20)
        + b"--outer\r\nContent-Type: message/rfc822\r\n\r\n"
        + message("inner@example.net", body="Vnitřní zpráva\n")
        + b"\r\n--outer--\r\n"
    )
    bounce = (
        b"From: MAILER-DAEMON@mx.example.net\r\nReturn-Path: <>\r\nSubject: Undelivered\r\n"
        b"Message-ID: <b@mx.example.net>\r\nContent-Type: multipart/report; "
        b'report-type=delivery-status; boundary="r"\r\n\r\n--r\r\n'
        b"Content-Type: text/plain\r\n\r\nfailed\r\n--r\r\n"
        b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n"
        b"Final-Recipient: rfc822; x@example.com\r\nStatus: 5.1.1\r\n\r\n--r\r\n"
        b"Content-Type: text/rfc822-headers\r\n\r\nMessage-ID: <orig@example.org>\r\n"
        b"Subject: x\r\n--r--\r\n"
    )
    return [
        message("plain@example.com"),
        message("reply@example.com", in_reply_to="a@example.org", references="<a@example.org>"),
        multipart,
        bounce,
    ]


SEEDS = _generated_seeds() + _corpus_seeds()

_INJECTIONS = [
    b"\x00",
    b"\x1b",
    b"\x1b[31m",
    b"\x1b]52;c;ZXZpbA==\x07",
    b"\x9b2J",
    b"\r",
    b"\r\n",
    b"\n\n",
    "\u202e".encode(),
    b"=?utf-8?q?=1B[2J?=",
    b"=?",
    b"?=",
    b"--",
    b'boundary="',
    b"=\r\n",
    b"*0*=",
    b"\xff\xfe",
    b"\xc5",
    b"&#27;",
    b"<script>",
]


@st.composite
def mutated_messages(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(
            st.sampled_from(
                [
                    "flip",
                    "inject",
                    "delete",
                    "truncate",
                    "dup_header",
                    "drop_header",
                    "boundary",
                    "huge_header",
                ]
            )
        )
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        head_end = data.find(b"\n\n")
        head_end = data.find(b"\r\n\r\n") if head_end < 0 else head_end
        head_end = len(data) if head_end < 0 else head_end
        lines = bytes(data[:head_end]).split(b"\n")
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "inject":
            data[pos:pos] = draw(st.sampled_from(_INJECTIONS))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        elif op == "truncate":
            del data[pos:]
        elif op == "dup_header" and lines:
            i = draw(st.integers(0, len(lines) - 1))
            lines.insert(i, lines[i])
            data[:head_end] = b"\n".join(lines)
        elif op == "drop_header" and lines:
            del lines[draw(st.integers(0, len(lines) - 1))]
            data[:head_end] = b"\n".join(lines)
        elif op == "boundary":
            at = data.find(b"--", pos)
            if at >= 0:
                data[at : at + draw(st.integers(2, 12))] = draw(
                    st.sampled_from([b"-", b"--x", b"", b"--\r\n--", b"- -"])
                )
        elif op == "huge_header":
            name = draw(
                st.sampled_from([b"Subject", b"References", b"To", b"Content-Type", b"X-Long"])
            )
            unit = draw(
                st.sampled_from(
                    [b"a", b"=?utf-8?q?=C5=A1?= ", b"<x@y> ", b"\x1b[1m", b"; a*1*=%C5"]
                )
            )
            data[0:0] = name + b": " + unit * draw(st.integers(10_000, 60_000)) + b"\r\n"
    return bytes(data)


def _texts(msg: ParsedMessage) -> list[str]:
    """Every string of a parsed message, however deeply held."""
    out: list[str] = []

    def collect(value: object) -> None:
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, list):
            for item in value:
                collect(item)
        elif isinstance(value, (Address, AttachmentInfo)):
            for f in dataclasses.fields(value):
                collect(getattr(value, f.name))

    for f in dataclasses.fields(msg):
        collect(getattr(msg, f.name))
    return out


def check(raw: bytes) -> None:
    msg = parse_message(raw)
    assert isinstance(msg, ParsedMessage)
    assert msg.message_id and msg.size == len(raw) and len(msg.content_hash) == 64
    for text in _texts(msg):
        # What sanitize.safe_text leaves is what may reach a terminal: it must change nothing.
        assert safe_text(text) == text, repr(text[:200])
        assert "\x1b" not in text and "\r" not in text
    for att in msg.attachments:
        assert att.filename and "/" not in att.filename and "\\" not in att.filename
        assert "\n" not in att.filename
    for mid in [msg.message_id, *msg.in_reply_to, *msg.references, *msg.bounced_ids]:
        assert mid and not any(c.isspace() for c in mid)
    assert parse_message(raw) == msg  # deterministic


@PROPERTY_SETTINGS
@given(mutated_messages())
def test_mutated_messages(raw: bytes) -> None:
    check(raw)


@settings(PROPERTY_SETTINGS, max_examples=150)
@given(st.binary(max_size=3000))
def test_arbitrary_bytes(raw: bytes) -> None:
    check(raw)


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Subject", "From", "To", "Message-ID", "References", "Content-Type"]),
            st.text(max_size=200),
        ),
        max_size=8,
    ),
    st.text(max_size=500),
)
def test_generated_headers_and_text(headers: list[tuple[str, str]], body: str) -> None:
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    check((head + "\r\n" + body).encode("utf-8", "surrogatepass"))


def test_every_seed_parses_cleanly_enough() -> None:
    """The unmutated seeds hold too, so a mutation failure points at the mutation."""
    assert len(SEEDS) > 100
    for raw in SEEDS:
        check(raw)
