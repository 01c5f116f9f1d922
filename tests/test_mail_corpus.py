"""Every message of the shared real-world corpus parses, plus known answers for some of them.

The corpus lives beside the repository: /work/main is the repo, /work/shared/mail-corpus the
corpus (CI clones the repo with shared/ next to it).

Which files are skipped, and why: ``README.md`` and ``.gitattributes`` are the corpus's own
documentation, and a file that starts with the OLE2 compound-file signature
(``D0 CF 11 E0 A1 B1 1A E1``) is an Outlook ``.msg`` container, not RFC 5322 mail. Every
other file is parsed, including the ones that do not look like mail at all (a lone newline,
a batched-SMTP transcript): the sync feeds whatever the server holds, so they must not fail.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpdesk.core.mailparse import FORWARD_MARKER, attachment_bytes, parse_message
from helpdesk.core.message import AutoKind, ParsedMessage
from helpdesk.core.sanitize import safe_text

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "mail-corpus"
OLE2_SIGNATURE = bytes.fromhex("d0cf11e0a1b11ae1")
NOT_MAIL_NAMES = {"README.md", ".gitattributes"}


def _corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    out = []
    for path in sorted(CORPUS.rglob("*")):
        if not path.is_file() or path.name in NOT_MAIL_NAMES:
            continue
        with path.open("rb") as fh:
            if fh.read(8) == OLE2_SIGNATURE:
                continue
        out.append(path)
    return out


FILES = _corpus_files()
pytestmark = pytest.mark.skipif(not FILES, reason=f"mail corpus not found at {CORPUS}")


def _parse(rel: str) -> tuple[bytes, ParsedMessage]:
    raw = (CORPUS / rel).read_bytes()
    return raw, parse_message(raw)


def test_corpus_is_all_there() -> None:
    # The README says about 318 files; a loader that silently finds a handful must fail.
    assert len(FILES) > 300
    skipped_msg = [
        p for p in CORPUS.rglob("*") if p.is_file() and p.read_bytes()[:8] == OLE2_SIGNATURE
    ]
    assert [p.name for p in skipped_msg] == ["mail_outlook_1"]


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(CORPUS)) for p in FILES])
def test_every_corpus_file_parses(path: Path) -> None:
    raw = path.read_bytes()
    msg = parse_message(raw)
    assert msg.parse_error is None
    assert msg.message_id
    assert msg.size == len(raw)
    assert len(msg.content_hash) == 64
    assert len(msg.defects) <= 10
    for text in [msg.subject, msg.text_body, *(a.filename for a in msg.attachments)]:
        assert safe_text(text) == text
    for addr in [msg.from_addr, *msg.to, *msg.cc, *msg.reply_to]:
        if addr is not None:
            assert safe_text(addr.name) == addr.name
            assert addr.email == addr.email.lower()
    if msg.date is not None:
        assert msg.date.utcoffset() is not None and msg.date.utcoffset().total_seconds() == 0
    for att in msg.attachments:
        assert att.filename and "/" not in att.filename and "\\" not in att.filename
        data = attachment_bytes(raw, att.part)
        if not att.content_type.startswith("message/"):
            assert len(data) == att.size, att


@pytest.mark.parametrize(
    "rel",
    [
        p.relative_to(CORPUS).as_posix()
        for p in FILES
        if "/bounce/" in p.as_posix() or "multipart_report_emails" in p.as_posix()
    ],
)
def test_bounces_are_recognised(rel: str) -> None:
    assert _parse(rel)[1].auto is AutoKind.BOUNCE


@pytest.mark.parametrize(
    ("rel", "subject"),
    [
        ("django-helpdesk/quoted_printable.eml", "Český test"),
        ("django-helpdesk/all-special-chars.eml", "Testovácí email"),
        ("spamassassin/nice/unicode1", "Domače omrežje"),
        ("ruby-mail/multi_charset/japanese_iso_2022.eml", "まみむめも"),
        ("ruby-mail/rfc6532/utf8_headers.eml", "Säying Hello"),
        ("ruby-mail/error_emails/bad_encoded_subject.eml", "TEST"),
    ],
)
def test_known_subjects(rel: str, subject: str) -> None:
    assert _parse(rel)[1].subject == subject


@pytest.mark.parametrize(
    ("rel", "filename"),
    [
        ("ruby-mail/attachment_emails/attachment_nonascii_filename.eml", "ciële.txt"),
        ("ruby-mail/multi_charset/japanese_attachment.eml", "てすと.txt"),
        ("spamassassin/nice/unicode1", "документы для отдела кадров.pdf"),
        (
            "ruby-mail/attachment_emails/attachment_with_base64_encoded_name.eml",
            "This is a test.pdf",
        ),
    ],
)
def test_known_attachment_names(rel: str, filename: str) -> None:
    assert filename in [a.filename for a in _parse(rel)[1].attachments]


def test_rfc6532_addresses() -> None:
    msg = _parse("ruby-mail/rfc6532/utf8_headers.eml")[1]
    assert msg.from_addr is not None
    assert msg.from_addr.name == "Jöhn Doe"
    assert msg.from_addr.email == "jdöe@mächine.example"
    assert msg.message_id_synthesised
    assert msg.message_id.endswith("@synthesised.helpdesk.invalid")
    assert "no Message-ID" in msg.defects


def test_encoded_display_name_with_comma() -> None:
    msg = _parse("flanker/encoded-header.eml")[1]
    assert msg.from_addr is not None
    assert (msg.from_addr.name, msg.from_addr.email) == ("Foo, Bar", "foo.bar@example.com")
    assert msg.message_id == "1234567890-1234-4567@example.com"


def test_forwarded_message_text_and_nested_attachment() -> None:
    raw, msg = _parse("ruby-mail/attachment_emails/attachment_message_rfc822.eml")
    assert FORWARD_MARKER in msg.text_body
    by_name = {a.filename: a for a in msg.attachments}
    pdf = by_name["broken.pdf"]
    assert pdf.part == "2.2"
    assert attachment_bytes(raw, pdf.part).startswith(b"%PDF")


def test_top_level_delivery_status_is_shown() -> None:
    msg = _parse("flanker/bounce/delayed-broken.eml")[1]
    assert msg.auto is AutoKind.BOUNCE
    assert "Status: 4.2.2" in msg.text_body


def test_wrong_boundary_is_repaired() -> None:
    msg = _parse("mail-parser/mail_malformed_3")[1]
    assert msg.html_only
    assert "Ver" in msg.text_body and "PGh0bWw" not in msg.text_body


def test_mailing_list() -> None:
    assert _parse("spamassassin/nice/mailman_message.txt")[1].auto is AutoKind.LIST


def test_8bit_body_in_declared_charset() -> None:
    msg = _parse("ruby-mail/multi_charset/ks_c_5601-1987.eml")[1]
    assert msg.text_body == "스티해"
