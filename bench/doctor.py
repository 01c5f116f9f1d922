"""`helpdesk doctor` on a big folder: how long the proof that nothing is missing takes.

    python bench/doctor.py [N] [--gap K] [--lose L] [--repeat R]

Starts a throwaway Dovecot (tests/servers.py), writes N messages straight into the test user's
Maildir (seconds, where N appends would take minutes), expunges every K-th over IMAP so that the
UID set has gaps, then fills a cache and a team store with rows for exactly the messages left
(SQL, no parsing) and deletes L of the cache's rows so that doctor has something to find. Then
runs doctor R times and prints its wall time split into server (login, SELECT, UID SEARCH) and
local (cache and team store queries) time, and checks that it found exactly the L lost UIDs.

Dovecot's first look at a folder of fresh Maildir files builds its index; that is timed apart,
since a server that has been delivering the mail all along has its index already.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pwd
import shutil
import sys
import tempfile
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

from helpdesk.cli.doctor import doctor
from helpdesk.storage.cache import Cache
from helpdesk.storage.cache_models import (
    CachedMessage,
    CachedTicket,
    Mailbox,
    MessageLocation,
    RawMessage,
)
from helpdesk.storage.locations import load_settings
from helpdesk.storage.team_models import MessageIndex, TeamTicket
from helpdesk.storage.team_store import TeamStore
from helpdesk.sync.census import folder_uids

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

PER_TICKET = 4
BATCH = 5000
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


WORDS = [
    "dobrý",
    "den",
    "objednávka",
    "zásilka",
    "reklamace",
    "faktura",
    "platba",
    "děkuji",
    "prosím",
    "balík",
]


def body(i: int) -> str:
    """About 1.5 kB of text: the cache's message rows are as wide as a real support mail's,
    so a query that scans the table instead of an index shows its cost."""
    words = [WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(180)]
    return f"Objednávka {i}: " + " ".join(words) + "\n"


def raw_message(i: int) -> bytes:
    return (
        f"From: Zákazník {i} <c{i}@customer.example>\r\n"
        "To: support@helpdesk.example\r\n"
        f"Subject: Dotaz {i}\r\n"
        "Date: Mon, 02 Mar 2026 09:00:00 +0100\r\n"
        f"Message-ID: <bench-{i}@customer.example>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n" + body(i).replace("\n", "\r\n")
    ).encode()


def write_maildir(home: Path, n: int, owner: str) -> None:
    entry = pwd.getpwnam(owner)
    maildir = home / "Maildir"
    for sub in ("", "cur", "new", "tmp"):
        (maildir / sub).mkdir(exist_ok=True)
        os.chown(maildir / sub, entry.pw_uid, entry.pw_gid)
    cur = maildir / "cur"
    stamp = int(time.time())
    for i in range(n):
        data = raw_message(i)
        # Fresh names: Dovecot remembers names it has expunged (PITFALLS.md).
        path = cur / f"{stamp}.M{i}P{os.getpid()}.bench,S={len(data)}:2,S"
        path.write_bytes(data)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def fill_stores(
    cache: Cache, team: TeamStore, uids: list[int], uidvalidity: int, uidnext: int
) -> None:
    """One message per UID, PER_TICKET messages a ticket, in both stores, with Core inserts."""
    tickets = (len(uids) + PER_TICKET - 1) // PER_TICKET
    with team.engine.begin() as conn:
        for start in range(0, tickets, BATCH):
            conn.execute(
                insert(TeamTicket.__table__),
                [
                    {"number": t + 1, "subject": f"Dotaz {t}", "created_at": T0}
                    for t in range(start, min(start + BATCH, tickets))
                ],
            )
        for start in range(0, len(uids), BATCH):
            conn.execute(
                insert(MessageIndex.__table__),
                [
                    {
                        "message_id": f"bench-{i}@customer.example",
                        "ticket": i // PER_TICKET + 1,
                        "registered_at": T0,
                    }
                    for i in range(start, min(start + BATCH, len(uids)))
                ],
            )
    with cache.writer.begin() as conn:
        box = conn.execute(
            insert(Mailbox.__table__).returning(Mailbox.__table__.c.id),
            {"account": "support", "name": "INBOX", "uidvalidity": uidvalidity, "uidnext": uidnext},
        ).scalar_one()
        for start in range(0, tickets, BATCH):
            conn.execute(
                insert(CachedTicket.__table__),
                [
                    {"number": t + 1, "created_at": T0, "last_activity": T0}
                    for t in range(start, min(start + BATCH, tickets))
                ],
            )
        for start in range(0, len(uids), BATCH):
            part = range(start, min(start + BATCH, len(uids)))
            conn.execute(
                insert(CachedMessage.__table__),
                [
                    {
                        "id": i + 1,
                        "message_id": f"bench-{i}@customer.example",
                        "dedupe_key": hashlib.sha256(raw_message(i)).hexdigest(),
                        "ticket": i // PER_TICKET + 1,
                        "subject": f"Dotaz {i}",
                        "from_name": f"Zákazník {i}",
                        "from_email": f"c{i}@customer.example",
                        "to_addrs": "support@helpdesk.example",
                        "text_body": body(i),
                        "received_at": T0,
                    }
                    for i in part
                ],
            )
            conn.execute(
                insert(RawMessage.__table__),
                [{"message": i + 1, "data": zlib.compress(raw_message(i))} for i in part],
            )
            # Which file got which UID does not matter to doctor: it compares UID sets.
            conn.execute(
                insert(MessageLocation.__table__),
                [{"message": i + 1, "mailbox": box, "uid": uids[i]} for i in part],
            )


def lose(cache: Cache, uids: list[int]) -> None:
    loc, raw, msg = MessageLocation.__table__, RawMessage.__table__, CachedMessage.__table__
    with cache.writer.begin() as conn:
        for uid in uids:
            pk = conn.execute(loc.select().where(loc.c.uid == uid)).one().message
            conn.execute(loc.delete().where(loc.c.message == pk))
            conn.execute(raw.delete().where(raw.c.message == pk))
            conn.execute(msg.delete().where(msg.c.id == pk))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("n", type=int, nargs="?", default=100_000)
    parser.add_argument("--gap", type=int, default=50, help="expunge every K-th message (0: none)")
    parser.add_argument("--lose", type=int, default=25, help="cache rows to delete")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from servers import make_server_root, make_tls_cert, start_dovecot

    root = make_server_root()
    work = Path(tempfile.mkdtemp(prefix="helpdesk-bench-doctor-"))
    dovecot = start_dovecot(root / "dovecot", make_tls_cert(root / "tls"))
    try:
        acct = dovecot.add_user()
        t = time.perf_counter()
        write_maildir(dovecot.root / "home" / acct.user, args.n, dovecot._home_owner)
        print(f"wrote {args.n:,} Maildir files in {time.perf_counter() - t:.1f} s", flush=True)

        with acct.connect() as client:
            t = time.perf_counter()
            info = client.select_folder("INBOX")
            print(
                f"Dovecot's first look (index build, once): {time.perf_counter() - t:.1f} s",
                flush=True,
            )
            if args.gap:
                gone = list(range(args.gap, int(info[b"EXISTS"]) + 1, args.gap))
                client.delete_messages(gone)  # a fresh folder numbers its messages 1..N
                client.expunge()
            info = client.select_folder("INBOX", readonly=True)
            uidvalidity, uidnext = int(info[b"UIDVALIDITY"]), int(info[b"UIDNEXT"])
            exists = int(info[b"EXISTS"])
            for esearch in (True, False):
                t = time.perf_counter()
                uids = sorted(folder_uids(client, exists, esearch=esearch))
                how = "UID SEARCH RETURN (ALL)" if esearch else "UID SEARCH (plain)"
                print(f"  {how}: {len(uids):,} UIDs in {time.perf_counter() - t:.3f} s")

        cache = Cache(work / "cache.sqlite")
        team = TeamStore(f"sqlite:///{work / 'team.sqlite'}")
        t = time.perf_counter()
        fill_stores(cache, team, uids, uidvalidity, uidnext)
        lost = uids[7 :: max(1, len(uids) // max(args.lose, 1))][: args.lose]
        lose(cache, lost)
        cache.close()
        team.close()
        print(f"filled cache and team store in {time.perf_counter() - t:.1f} s", flush=True)

        # No Sent folder: the census looks at INBOX alone.
        config = acct.write_config(work, sent_folder="")
        settings = load_settings(str(config), env={})
        print(
            f"\ndoctor on {len(uids):,} messages ({args.n - len(uids):,} expunged), {len(lost)} lost:"
        )
        for run in range(args.repeat):
            lines: list[str] = []
            t = time.perf_counter()
            report = doctor(settings, lines.append)
            wall = time.perf_counter() - t
            s = report.seconds
            assert abs(s["wall"] - wall) < 0.05
            found = [u for f in report.folders for u in f.missing]
            assert found == sorted(lost), (found, lost)
            share = s["server"] / (s["server"] + s["local"])
            print(
                f"  run {run + 1}: {wall:.2f} s wall; server {s['server']:.2f} s and local "
                f"{s['local']:.2f} s side by side (server {share:.0%} of the work); "
                f"found {len(found)} of {len(lost)} lost, {len(report.problems)} problem(s)",
                flush=True,
            )
            steps = ", ".join(f"{k} {v:.2f}" for k, v in report.local_steps.items())
            print(f"         local: {steps}", flush=True)
        print("\n".join(lines))
    finally:
        dovecot.stop()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
