"""How long auto-close holds the team write turn (every claim waits for it) on a synthetic
SQLite team store: 100k tickets, a few thousand waiting on the customer.

    /work/venv/bin/python bench/auto_close_turn.py [--tickets 100000] [--waiting 3000]
        [--module path/to/auto_close.py]   # time another version of the module

Prints the whole call and the time inside `TeamStore.write()`, for a run that closes the
tickets due and for the steady state (a run a minute later that closes nothing).
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert

from helpdesk.core.team import EventKind
from helpdesk.core.workflow import DEFAULT_WORKFLOW, TicketSettings
from helpdesk.storage.team_models import MessageIndex, TeamEvent, TeamTicket
from helpdesk.storage.team_store import TeamStore

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
WAITING = "waiting on customer"
WORKFLOW = replace(DEFAULT_WORKFLOW, tickets=TicketSettings(auto_close_after=WEEK))
_BATCH = 20_000


def _insert(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), _BATCH):
        conn.execute(insert(table), rows[i : i + _BATCH])


def _event(
    ticket: int, kind: EventKind, field: str | None, old: str | None, new: str, at: datetime
) -> dict[str, Any]:
    return {
        "ticket": ticket,
        "actor": "a@h.example",
        "kind": str(kind),
        "field": field,
        "old": old,
        "new": new,
        "at": at,
        "recorded_at": at,
    }


def _message(mid: str, ticket: int, at: datetime, *, outgoing: bool) -> dict[str, Any]:
    return {
        "message_id": mid,
        "ticket": ticket,
        "registered_at": at,
        "sent_at": at,
        "outgoing": outgoing,
    }


def build(store: TeamStore, tickets: int, waiting: int, due: int, seed: int = 7) -> None:
    """Tickets numbered 1..n: the first `waiting` wait on the customer (`due` of them for
    longer than the period), seven in ten of the rest are closed, the others open."""
    rnd = random.Random(seed)
    t_rows: list[dict[str, Any]] = []
    e_rows: list[dict[str, Any]] = []
    m_rows: list[dict[str, Any]] = []
    for n in range(1, tickets + 1):
        created = NOW - timedelta(days=rnd.uniform(8, 400))
        if n <= waiting:
            status = WAITING
            late = WEEK + timedelta(hours=1) if n <= due else timedelta(days=rnd.uniform(0, 6))
            set_at = NOW - late
        else:
            status = "closed" if rnd.random() < 0.7 else "open"
            set_at = created + timedelta(hours=rnd.uniform(1, 48))
        t_rows.append(
            {
                "number": n,
                "subject": f"ticket {n}",
                "customer_email": f"c{n}@c.example",
                "status": status,
                "created_at": created,
                "tags": "",
                "priority": 1,
            }
        )
        e_rows.append(_event(n, EventKind.CREATED, None, None, f"m{n}@c.example", created))
        for _ in range(rnd.randint(0, 3)):  # the everyday edits: tags, priority
            field = rnd.choice(("tags", "priority"))
            e_rows.append(_event(n, EventKind.FIELD, field, None, "x", created))
        if status != "open":
            e_rows.append(_event(n, EventKind.FIELD, "status", "open", status, set_at))
        m_rows.append(_message(f"m{n}@c.example", n, created, outgoing=False))
        if status != "open":
            m_rows.append(_message(f"r{n}@h.example", n, set_at, outgoing=True))
    with store.write() as conn:
        _insert(conn, TeamTicket.__table__, t_rows)
        _insert(conn, TeamEvent.__table__, e_rows)
        _insert(conn, MessageIndex.__table__, m_rows)


def _load(path: str | None) -> Callable[..., list[int]]:
    if path is None:
        from helpdesk.storage.auto_close import auto_close

        return auto_close
    spec = importlib.util.spec_from_file_location("auto_close_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn: Callable[..., list[int]] = module.auto_close
    return fn


def timed_turns(store: TeamStore, turns: list[float]) -> None:
    """Wrap `store.write` so each write turn's length (taking it to committing) is noted."""
    inner = store.write

    @contextmanager
    def write(*args: Any, **kwargs: Any) -> Iterator[Connection]:
        start = time.perf_counter()
        with inner(*args, **kwargs) as conn:
            yield conn
        turns.append(time.perf_counter() - start)

    store.write = write


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tickets", type=int, default=100_000)
    ap.add_argument("--waiting", type=int, default=3_000)
    ap.add_argument("--due", type=int, default=20)
    ap.add_argument("--module", help="another auto_close.py to time")
    ap.add_argument("--db", help="the synthetic store: built here once, then reused")
    args = ap.parse_args()
    auto_close = _load(args.module)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(args.db) if args.db else Path(tmp) / "base.sqlite"
        if not base.exists():
            start = time.perf_counter()
            built = TeamStore(f"sqlite:///{base}", WORKFLOW)
            build(built, args.tickets, args.waiting, args.due)
            built.close()
            print(f"built {args.tickets} tickets in {time.perf_counter() - start:.1f} s")
        path = Path(tmp) / "team.sqlite"  # a copy: the runs close tickets
        shutil.copyfile(base, path)
        store = TeamStore(f"sqlite:///{path}", WORKFLOW)
        for label, now in (("closing", NOW), ("steady", NOW + timedelta(minutes=1))):
            turns: list[float] = []
            timed_turns(store, turns)
            start = time.perf_counter()
            closed = auto_close(store, WORKFLOW, now)
            total = time.perf_counter() - start
            store.write = type(store).write.__get__(store)
            print(
                f"{label}: closed {len(closed):>4}  call {total * 1000:7.1f} ms  "
                f"write turn {sum(turns) * 1000:7.1f} ms ({len(turns)} turns)"
            )
        store.close()


if __name__ == "__main__":
    main()
