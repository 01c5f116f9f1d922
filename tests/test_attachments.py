"""Attachments: the blob store, big raw messages kept outside the database, the MIME part
locator against the parser, and saving attachments safely (hostile names, symlinks,
duplicates) and in bounded memory (a 25 MB attachment)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import mailbox
import os
import random
import stat
import subprocess
import sys
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from test_cli import helpdesk, write_config
from test_mail_corpus import _corpus_files

from helpdesk.core.config import parse_config
from helpdesk.core.mail_headers import b64decode_lenient
from helpdesk.core.mailparse import attachment_bytes, parse_message
from helpdesk.core.message import ParsedMessage
from helpdesk.core.mime_parts import (
    _base64_chunks,
    decoded_chunks,
    find_part,
    part_spans,
)
from helpdesk.storage.attachments import (
    list_attachments,
    save_attachment,
    save_for_viewing,
    write_unique,
)
from helpdesk.storage.blobs import BlobStore, remove_orphans
from helpdesk.storage.cache import Cache
from helpdesk.storage.workspace import Workspace, open_workspace
from helpdesk.sync.ingest import Incoming
from helpdesk.sync.service import make_ingestor

MiB = 1024 * 1024


# -- building messages ---------------------------------------------------------------------------


def with_attachments(
    mid: str, attachments: list[tuple[bytes, bytes, bytes]], *, boundary: bytes = b"b0undary"
) -> bytes:
    """A multipart/mixed message: a text part, then (Content-Disposition filename bytes,
    Content-Type, body already encoded) per attachment; bodies are base64 unless the type
    line carries its own encoding header."""
    out = [
        b"From: Jan Novak <jan@customer.example>",
        b"To: support@helpdesk.example",
        b"Subject: Files",
        b"Date: Mon, 02 Nov 2026 09:00:00 +0100",
        b"Message-ID: <" + mid.encode() + b">",
        b"MIME-Version: 1.0",
        b'Content-Type: multipart/mixed; boundary="' + boundary + b'"',
        b"",
        b"--" + boundary,
        b"Content-Type: text/plain; charset=utf-8",
        b"",
        b"Please see the files.",
    ]
    for name, ctype, body in attachments:
        out += [b"--" + boundary, b"Content-Type: " + ctype]
        if b"Content-Transfer-Encoding" not in ctype:
            out.append(b"Content-Transfer-Encoding: base64")
        out += [b'Content-Disposition: attachment; filename="' + name + b'"', b"", body]
    out.append(b"--" + boundary + b"--")
    return b"\r\n".join(out) + b"\r\n"


def b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n").rstrip(b"\r\n")


def workspace(tmp_path: Path, extra: str = "") -> Workspace:
    settings = parse_config(
        f'[team]\nstore = "sqlite:///{tmp_path / "team.sqlite"}"\n'
        f'addresses = ["support@helpdesk.example"]\n'
        f'[cache]\npath = "{tmp_path / "cache.sqlite"}"\n{extra}',
        str(tmp_path / "helpdesk.toml"),
        default_agent=("A", "a@helpdesk.example"),
    )
    return open_workspace(settings)


def ingest(ws: Workspace, *raws: bytes) -> None:
    stats = make_ingestor(ws).ingest([Incoming(r) for r in raws])
    assert stats.new_messages == len(raws)


def pk_of(cache: Cache, mid: str) -> int:
    with cache.engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT id FROM message WHERE message_id = :m"), {"m": mid}
            ).scalar_one()
        )


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() or p.is_symlink()}


# -- the blob store ------------------------------------------------------------------------------


def test_blob_store_is_content_addressed_idempotent_and_private(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    assert not (tmp_path / "blobs").exists()  # opening creates nothing
    data = b"raw message " * 50_000
    ref = store.put(data)
    again = store.put(bytes(data))
    streamed = store.put_stream(io.BytesIO(data))
    assert ref == again == streamed
    assert ref.digest == hashlib.sha256(data).hexdigest() and ref.size == len(data)
    path = store.path_of(ref.digest)
    assert path.parent.name == ref.digest[:2] and path.name == ref.digest
    assert list(store.digests()) == [ref.digest]  # one file for three writes
    assert os.listdir(store.root / "tmp") == []  # no temporary file left behind
    assert path.stat().st_size < len(data) // 10  # kept compressed
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for folder in (store.root, path.parent, store.root / "tmp"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert store.read(ref.digest) == data
    with store.open(ref.digest) as fh:
        assert fh.read(12) == b"raw message " and fh.read() == data[12:]
    with pytest.raises(ValueError):
        store.path_of("../../etc/passwd")


def test_a_write_that_fails_halfway_leaves_no_blob(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")

    class Failing(io.RawIOBase):
        def __init__(self) -> None:
            self.calls = 0

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            self.calls += 1
            if self.calls > 2:
                raise OSError("the disk went away")
            return b"x" * MiB

    with pytest.raises(OSError, match="disk went away"):
        store.put_stream(Failing())
    assert list(store.digests()) == []
    assert os.listdir(store.root / "tmp") == []
    assert store.read(store.put(b"after").digest) == b"after"


def test_a_damaged_blob_is_refused(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    ref = store.put(os.urandom(100_000))
    path = store.path_of(ref.digest)
    damaged = bytearray(path.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    path.write_bytes(bytes(damaged))
    with pytest.raises((OSError, EOFError, zlib.error)):
        store.read(ref.digest)


# -- raw messages in the blob store ----------------------------------------------------------


def test_big_raw_messages_go_to_the_blob_store_and_read_back_identical(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    small = with_attachments("small@customer.example", [(b"a.txt", b"text/plain", b64(b"hi"))])
    big = with_attachments(
        "big@customer.example",
        [(b"big.bin", b"application/octet-stream", b64(random.Random(1).randbytes(400_000)))],
    )
    ingest(ws, small, big)
    cache = ws.cache
    with cache.engine.connect() as conn:
        in_db = conn.execute(text("SELECT message FROM raw_message")).scalars().all()
        in_blobs = conn.execute(text("SELECT message, digest, size FROM raw_blob")).all()
    small_pk, big_pk = pk_of(cache, "small@customer.example"), pk_of(cache, "big@customer.example")
    assert in_db == [small_pk]
    assert [(m, d, s) for m, d, s in in_blobs] == [
        (big_pk, hashlib.sha256(big).hexdigest(), len(big))
    ]
    assert cache.blobs.has(in_blobs[0][1])
    assert cache.raw(small_pk) == small and cache.raw(big_pk) == big
    with cache.open_raw(big_pk) as fh:
        assert fh.read() == big
    with cache.open_raw(small_pk) as fh:
        assert fh.read() == small
    assert cache.counts()["raw"] == cache.counts()["messages"] == 2
    ws.close()


def test_the_threshold_is_configurable(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache.sqlite", raw_blob_limit=0)
    assert cache.raw_blob_limit == 0
    cache.close()
    settings = parse_config(
        '[attachments]\nblob_threshold = "1 KiB"\n', "x.toml", default_agent=("A", "a@x.example")
    )
    assert settings.attachments.blob_threshold == 1024


def test_orphan_blobs_are_swept_but_not_referenced_or_fresh_ones(tmp_path: Path) -> None:
    ws = workspace(tmp_path, '[attachments]\nblob_threshold = "100B"\n')
    ws.cache.raw_blob_limit = 100
    raw = with_attachments("m@customer.example", [(b"a.txt", b"text/plain", b64(b"x" * 500))])
    ingest(ws, raw)
    kept = hashlib.sha256(raw).hexdigest()
    orphan = ws.cache.blobs.put(b"never referenced").digest
    assert remove_orphans(ws.cache.blobs, ws.cache.engine) == 0  # too fresh to be sure
    assert remove_orphans(ws.cache.blobs, ws.cache.engine, older_than=-1) == 1
    assert set(ws.cache.blobs.digests()) == {kept}
    assert orphan not in set(ws.cache.blobs.digests())
    ws.close()


# -- the part locator against the parser ---------------------------------------------------------

CORPUS = _corpus_files()


def _same_enclosed_message(a: bytes, b: bytes) -> bool:
    """The parser regenerates enclosed messages (refolded, LF endings); the locator gives
    them as received: compare what a reader sees."""

    def seen(m: ParsedMessage) -> tuple[str, str, list[tuple[str, str, str]]]:
        return (
            m.subject,
            m.text_body.strip(),
            [(x.part, x.filename, x.content_type) for x in m.attachments],
        )

    return seen(parse_message(a)) == seen(parse_message(b))


@pytest.mark.skipif(not CORPUS, reason="the shared mail corpus is not present")
def test_the_locator_agrees_with_the_parser_on_every_corpus_attachment() -> None:
    checked = 0
    problems: list[str] = []
    for path in CORPUS:
        raw = path.read_bytes()
        parsed = parse_message(raw)
        if not parsed.attachments:
            continue
        spans = {s.path: s for s in part_spans(raw)}
        for att in parsed.attachments:
            checked += 1
            span = spans.get(att.part)
            if span is None:
                problems.append(f"{path.name}: no part {att.part}")
                continue
            mine = b"".join(decoded_chunks(raw, span, chunk_size=1024))
            theirs = attachment_bytes(raw, att.part)
            if span.content_type.startswith("message/"):
                same = _same_enclosed_message(mine, theirs)
            else:
                same = mine == theirs
            if not same:
                problems.append(f"{path.name}: part {att.part} decodes differently")
    assert checked > 150  # the corpus holds about 180 attachments
    assert problems == []


def test_locator_paths_follow_the_parser_on_nesting_and_repairs() -> None:
    inner = with_attachments("inner@customer.example", [(b"in.txt", b"text/plain", b64(b"inside"))])
    raw = (
        b"From: a@customer.example\r\nMessage-ID: <outer@customer.example>\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="declared"\r\n\r\n'
        # the declared boundary is wrong: the parser splits by the one the body uses
        b"--real\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
        b"--real\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"\r\n"
        b"--real\r\nContent-Type: application/pdf; name=x.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + b64(b"%PDF-1.4 body") + b"\r\n"
        b"--real--\r\n"
    )
    parsed = parse_message(raw)
    listed = {a.part: a for a in parsed.attachments}
    assert {"2", "2.2", "3"} <= set(listed)
    for part, att in listed.items():
        span = find_part(raw, part)
        data = b"".join(decoded_chunks(raw, span))
        if att.content_type.startswith("message/"):
            assert data.startswith(b"From: Jan Novak") and data.endswith(b"--b0undary--\r\n")
        else:
            assert data == attachment_bytes(raw, part)
    assert b"".join(decoded_chunks(raw, find_part(raw, "3"))) == b"%PDF-1.4 body"
    with pytest.raises(KeyError):
        find_part(raw, "9")


def test_chunked_decoding_equals_whole_decoding() -> None:
    rnd = random.Random(3)
    # quoted-printable with soft breaks, escapes and trailing blanks; uuencode
    text_part = "".join(
        rnd.choice(["Žluťoučký kůň ", "a" * 90, "=", " \t", "\n", "line\r\n", "x"])
        for _ in range(40_000)
    ).encode("utf-8")
    qp = binascii.b2a_qp(text_part, istext=False).replace(b"\n", b"\r\n")
    binary = rnd.randbytes(150_000)
    uu = (
        b"begin 644 data.bin\r\n"
        + b"".join(
            binascii.b2a_uu(binary[i : i + 45]).replace(b"\n", b"\r\n")
            for i in range(0, len(binary), 45)
        )
        + b"`\r\nend\r\n"
    )
    raw = with_attachments(
        "codecs@customer.example",
        [
            (b"t.txt", b"text/plain\r\nContent-Transfer-Encoding: quoted-printable", qp),
            (b"d.bin", b"application/octet-stream\r\nContent-Transfer-Encoding: x-uuencode", uu),
        ],
    )
    assert b"".join(decoded_chunks(raw, find_part(raw, "3"), chunk_size=1)) == binary
    for part in ("2", "3"):
        span = find_part(raw, part)
        whole = attachment_bytes(raw, part)
        for size in (1, 1500, 64_000):
            assert b"".join(decoded_chunks(raw, span, chunk_size=size)) == whole


def test_streamed_base64_matches_the_lenient_decoder() -> None:
    rnd = random.Random(11)
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    for _ in range(400):
        n = rnd.randrange(0, 300)
        data = bytes(
            rnd.choice(alphabet) if rnd.random() < 0.85 else rnd.choice(b"\r\n \t=*-.\x00")
            for _ in range(n)
        )
        cuts = sorted(rnd.sample(range(n + 1), k=min(n + 1, rnd.randrange(0, 6))))
        pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, n], strict=True)]
        assert b"".join(_base64_chunks(iter(pieces))) == b64decode_lenient(data), data


# -- saving ------------------------------------------------------------------------------------

HOSTILE_NAMES: list[bytes] = [
    b"../../../../tmp/helpdesk-escape-test.sh",
    b"/tmp/helpdesk-escape-test-abs.sh",
    b"..\\\\..\\\\windows\\\\evil.exe",
    b"..",
    b".",
    b"",
    b"   ",
    b"\x1b[31mred\x1b[0m\x1b]0;owned\x07.pdf",
    b"bell\x07and\x08backspace.txt",
    b"CON",
    b"nul.txt",
    b"invoice\xe2\x80\xaefdp.exe",  # a bidi override hiding ".exe"
    b"=?utf-8?b?" + base64.b64encode(b"../../\x00evil\n.sh") + b"?=",
    b"x" * 400 + b".pdf",
    "狗".encode() * 150 + b".txt",
    b".hidden",
]


@pytest.fixture
def hostile_ws(tmp_path: Path) -> tuple[Workspace, int, list[bytes]]:
    ws = workspace(tmp_path)
    bodies = [f"content {i}".encode() for i in range(len(HOSTILE_NAMES))]
    raw = with_attachments(
        "hostile@customer.example",
        [
            (n, b"application/octet-stream", b64(b))
            for n, b in zip(HOSTILE_NAMES, bodies, strict=True)
        ],
    )
    ingest(ws, raw)
    return ws, pk_of(ws.cache, "hostile@customer.example"), bodies


def test_hostile_names_never_escape_the_folder(
    tmp_path: Path, hostile_ws: tuple[Workspace, int, list[bytes]]
) -> None:
    ws, pk, bodies = hostile_ws
    folder = tmp_path / "deep" / "out"
    folder.mkdir(parents=True)
    before = files_under(tmp_path) - files_under(folder)
    atts = list_attachments(ws.cache, 1)
    assert len(atts) == len(HOSTILE_NAMES)
    saved = [save_attachment(ws.cache, pk, a.part, folder) for a in atts]
    ws.close()
    for path, body in zip(saved, bodies, strict=True):
        assert path.parent == folder
        assert path.read_bytes() == body
        name = path.name
        assert name not in ("", ".", "..") and not name.startswith(".")
        assert "/" not in name and "\\" not in name and "\x00" not in name
        assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in name)
        assert "\u202e" not in name
        assert len(name.encode()) <= 255
        assert name.split(".")[0].lower() not in ("con", "nul")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(set(saved)) == len(saved)  # every save is a file of its own
    assert files_under(folder) == set(saved)  # nothing else in the folder (no temp files)
    new_outside = files_under(tmp_path) - files_under(folder) - before
    assert all(p.name.startswith(("cache.", "team.")) for p in new_outside), new_outside
    assert not Path("/tmp/helpdesk-escape-test.sh").exists()
    assert not Path("/tmp/helpdesk-escape-test-abs.sh").exists()


def test_existing_files_and_planted_symlinks_are_never_written_through(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"keep me")
    (folder / "report.pdf").symlink_to(victim)
    (folder / "report (2).pdf").symlink_to(tmp_path / "does-not-exist")  # dangling
    (folder / "report (3).pdf").write_bytes(b"older save")
    first = write_unique(folder, "report.pdf", [b"new ", b"content"])
    second = write_unique(folder, "report.pdf", [b"again"])
    assert first == folder / "report (4).pdf" and first.read_bytes() == b"new content"
    assert second == folder / "report (5).pdf" and second.read_bytes() == b"again"
    assert victim.read_bytes() == b"keep me"
    assert not (tmp_path / "does-not-exist").exists()
    assert (folder / "report (3).pdf").read_bytes() == b"older save"
    assert (folder / "report.pdf").is_symlink()
    noext = [write_unique(folder, "README", [b"1"]), write_unique(folder, "README", [b"2"])]
    assert [p.name for p in noext] == ["README", "README (2)"]


def test_a_failed_save_leaves_nothing_behind(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()

    def chunks() -> Iterator[bytes]:
        yield b"part one"
        raise OSError("decoding failed")

    with pytest.raises(OSError, match="decoding failed"):
        write_unique(folder, "x.pdf", chunks())
    assert list(folder.iterdir()) == []


def test_saving_for_the_system_viewer_uses_a_private_folder(
    tmp_path: Path,
    hostile_ws: tuple[Workspace, int, list[bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ws, pk, bodies = hostile_ws
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    part = list_attachments(ws.cache, 1)[0].part
    path = save_for_viewing(ws.cache, pk, part)
    ws.close()
    assert path.parent.parent == tmp_path
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == bodies[0]


# -- a 25 MB attachment, in bounded memory -------------------------------------------------------

# getrusage's ru_maxrss survives exec (a child forked from a big pytest starts "big"): the
# high-water mark of the new process image, VmHWM, is what counts.
_RSS_SCRIPT = """
import sys
from pathlib import Path
from helpdesk.storage.attachments import save_attachment
from helpdesk.storage.cache import Cache

def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise SystemExit("no VmHWM")

cache = Cache(Path(sys.argv[1]))
before = peak()
path = save_attachment(cache, int(sys.argv[2]), sys.argv[3], Path(sys.argv[4]))
print(before, peak(), path)
"""


def test_a_25_mb_attachment_is_saved_streamed_and_byte_identical(tmp_path: Path) -> None:
    data = random.Random(25).randbytes(25 * MiB)
    digest = hashlib.sha256(data).hexdigest()
    ws = workspace(tmp_path)
    raw = with_attachments(
        "big25@customer.example",
        [(b"scan.pdf", b"application/pdf", b64(data))],
    )
    ingest(ws, raw)
    del raw, data
    pk = pk_of(ws.cache, "big25@customer.example")
    with ws.cache.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM raw_blob")).scalar_one() == 1
    (att,) = [a for a in list_attachments(ws.cache, 1) if a.filename == "scan.pdf"]
    assert att.size == 25 * MiB

    out = tmp_path / "out"
    out.mkdir()
    tracemalloc.start()
    try:
        path = save_attachment(ws.cache, pk, att.part, out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    ws.close()
    # The message is 34 MB of base64: reading it whole, or the attachment whole, would show.
    assert peak < 16 * MiB, f"Python heap peaked at {peak / MiB:.1f} MiB"
    with path.open("rb") as fh:
        assert hashlib.file_digest(fh, "sha256").hexdigest() == digest

    # The whole process, mapped pages included, in a fresh interpreter.
    again = tmp_path / "again"
    again.mkdir()
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _RSS_SCRIPT,
            str(tmp_path / "cache.sqlite"),
            str(pk),
            att.part,
            str(again),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    before, after, saved = result.stdout.split(maxsplit=2)
    grown = int(after) - int(before)
    assert grown < 75 * MiB, f"peak RSS grew by {grown / MiB:.1f} MiB"
    with Path(saved.strip()).open("rb") as fh:
        assert hashlib.file_digest(fh, "sha256").hexdigest() == digest


# -- the command line ------------------------------------------------------------------------


def test_cli_lists_and_saves_attachments(tmp_path: Path) -> None:
    config = write_config(tmp_path, '[attachments]\nblob_threshold = "1KiB"\n')
    pdf = b"%PDF-1.4 " + bytes(range(256)) * 20
    raw = with_attachments(
        "cli@customer.example",
        [
            (b"\x1b[2J\x1b]52;c;Zm9v\x07report.pdf", b"application/pdf", b64(pdf)),
            (b"notes.txt", b"text/plain", b64(b"short")),
        ],
    )
    box = mailbox.mbox(tmp_path / "in.mbox")
    box.add(raw)
    box.close()
    assert helpdesk("--config", str(config), "import", str(tmp_path / "in.mbox")).returncode == 0

    listed = helpdesk("--config", str(config), "attachments", "1")
    assert listed.returncode == 0, listed.stderr
    assert "\x1b" not in listed.stdout and "\x07" not in listed.stdout
    assert "report.pdf" in listed.stdout and "notes.txt" in listed.stdout
    as_json = json.loads(helpdesk("--config", str(config), "attachments", "1", "--json").stdout)
    assert [(a["part"], a["content_type"]) for a in as_json] == [
        ("2", "application/pdf"),
        ("3", "text/plain"),
    ]

    out = tmp_path / "out"
    out.mkdir()
    saved = helpdesk("--config", str(config), "save-attachment", "1", "2", "--to", str(out))
    assert saved.returncode == 0, saved.stderr
    (only,) = list(out.iterdir())
    assert only.read_bytes() == pdf and only.name.endswith("report.pdf")
    assert "\x1b" not in only.name
    every = helpdesk("--config", str(config), "save-attachment", "1", "--all", "--to", str(out))
    assert every.returncode == 0, every.stderr
    assert len(list(out.iterdir())) == 3
    missing = helpdesk("--config", str(config), "save-attachment", "1", "7", "--to", str(out))
    assert missing.returncode == 1 and "no attachment at part 7" in missing.stderr

    # The configured threshold reached the ingest: this message (over 1 KiB) is a blob.
    cache = Cache(tmp_path / "cache.sqlite")
    with cache.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM raw_blob")).scalar_one() == 1
    cache.close()
