"""Handle-next speed of the team store: latency and claims/second with concurrent agents.

    python bench/handle_next.py [--tickets N] [--agents 1,5,20] [--seconds S]
                                [--engines sqlite,postgresql] [--think MS] [--profile FILE]

Fills a fresh team store with N tickets (TeamStore.register, batches of 1,000; a tenth get a
higher priority and one in a hundred an SLA deadline, so the handle-next order has work to do),
then for each agent count runs that many processes that press `n` (LockTable.handle_next) for
S seconds each and prints the median and p99 latency of a handle-next and the claims per second
of the whole team. Then it measures how long a colleague's cache takes to see a claim: one
process claims tickets at random moments, another polls LockTable.events_since every 100 ms,
and the delay from the claim's commit to the poll that returns it is printed.

PostgreSQL runs in a temporary cluster started by tests/servers.py (fsync off, loopback) and
stopped at the end. --think adds a pause between one agent's presses (0: back to back, the
worst case); --profile writes a cProfile dump of one agent's handle-next calls on SQLite.
"""

from __future__ import annotations

import argparse
import cProfile
import multiprocessing
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from sqlalchemy import update

from helpdesk.storage.lock_table import LockTable
from helpdesk.storage.team_models import TeamTicket
from helpdesk.storage.team_store import Registration, TeamStore

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

BATCH = 1000
POLL = 0.1  # seconds between a cache's polls of the event log
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
CTX = multiprocessing.get_context("fork")
_ticket = TeamTicket.__table__


def agent_email(i: int) -> str:
    return f"agent{i}@bench.example"


def fill(lt: LockTable, n: int) -> float:
    """N tickets registered in batches, as the ingest does; returns seconds taken."""
    rng = random.Random(4)
    t0 = time.perf_counter()
    for start in range(0, n, BATCH):
        regs = [
            Registration(
                f"m{i}@customer.example",
                [],
                [],
                None,
                f"order {i} did not arrive",
                f"c{i % 5000}@customer.example",
                T0 + timedelta(seconds=30 * i),
            )
            for i in range(start, min(n, start + BATCH))
        ]
        lt.store.register(regs)
    with lt.store.write() as conn:
        numbers = list(range(1, n + 1))
        urgent = rng.sample(numbers, n // 10)
        conn.execute(update(_ticket).where(_ticket.c.number.in_(urgent)).values(priority=2))
        due = rng.sample(numbers, n // 100)
        conn.execute(
            update(_ticket)
            .where(_ticket.c.number.in_(due))
            .values(sla_due=T0 + timedelta(days=3, hours=rng.randint(0, 48)))
        )
    return time.perf_counter() - t0


def _press_n(
    url: str,
    agent: str,
    seconds: float,
    think: float,
    barrier: Barrier,
    out: Any,
    profile: str | None,
) -> None:
    lt = LockTable(TeamStore(url))
    lt.handle_next(agent)  # connect and warm up outside the measurement
    prof = cProfile.Profile() if profile else None
    latencies: list[float] = []
    claims = 0
    barrier.wait()
    if prof:
        prof.enable()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        t = time.perf_counter()
        res = lt.handle_next(agent)
        latencies.append(time.perf_counter() - t)
        claims += res.ok
        if think:
            time.sleep(think * random.uniform(0.5, 1.5))
    if prof:
        prof.disable()
        prof.dump_stats(profile)
    lt.store.close()
    out.put((latencies, claims))


def run_agents(
    lt: LockTable, agents: int, seconds: float, think: float, profile: str | None
) -> dict[str, float]:
    lt.store.engine.dispose()  # children must not share the parent's connections
    out = CTX.Queue()
    barrier = CTX.Barrier(agents + 1)
    procs = [
        CTX.Process(
            target=_press_n,
            args=(
                lt.store.url,
                agent_email(i),
                seconds,
                think,
                barrier,
                out,
                profile if i == 0 else None,
            ),
        )
        for i in range(agents)
    ]
    for p in procs:
        p.start()
    barrier.wait(timeout=120)
    t0 = time.perf_counter()
    results = [out.get(timeout=seconds + 300) for _ in procs]
    wall = time.perf_counter() - t0
    for p in procs:
        p.join(timeout=60)
        if p.exitcode != 0:
            raise SystemExit(f"an agent process failed (exit code {p.exitcode})")
    lat = sorted(x for r, _ in results for x in r)
    claims = sum(c for _, c in results)
    return {
        "calls": len(lat),
        "median_ms": statistics.median(lat) * 1000,
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
        "max_ms": lat[-1] * 1000,
        "claims_per_s": claims / wall,
    }


def _claimer(url: str, count: int, ready: Any, out: Any) -> None:
    lt = LockTable(TeamStore(url))
    rng = random.Random(7)
    ready.wait()
    for _ in range(count):
        time.sleep(rng.uniform(0.05, 0.35))  # not in step with the poller
        res = lt.handle_next(agent_email(0))
        out.put(("claimed", res.ticket, time.monotonic()))  # just after the commit
    lt.store.close()


def _poller(url: str, count: int, ready: Any, out: Any) -> None:
    lt = LockTable(TeamStore(url))
    seq = lt.last_seq()
    seen = 0
    ready.set()
    while seen < count:
        events = lt.events_since(seq)
        now = time.monotonic()
        for e in events:
            seq = e.seq
            if e.kind == "claimed" and e.actor == agent_email(0):
                out.put(("seen", e.ticket, now))
                seen += 1
        time.sleep(POLL)
    lt.store.close()


def propagation(lt: LockTable, count: int = 40) -> dict[str, float]:
    """Delay from a claim's commit to a colleague's poll of the event log returning it."""
    lt.store.engine.dispose()
    out = CTX.Queue()
    ready = CTX.Event()
    procs = [
        CTX.Process(target=_poller, args=(lt.store.url, count, ready, out)),
        CTX.Process(target=_claimer, args=(lt.store.url, count, ready, out)),
    ]
    for p in procs:
        p.start()
    claimed: dict[int, float] = {}
    seen: dict[int, float] = {}
    for _ in range(2 * count):
        kind, ticket, at = out.get(timeout=120)
        (claimed if kind == "claimed" else seen)[ticket] = at
    for p in procs:
        p.join(timeout=60)
    delays = sorted(seen[t] - claimed[t] for t in claimed)
    return {
        "median_ms": statistics.median(delays) * 1000,
        "max_ms": delays[-1] * 1000,
    }


def bench(url: str, args: argparse.Namespace, label: str) -> None:
    lt = LockTable(TeamStore(url))
    for i in range(max(args.agents)):
        lt.join(agent_email(i), f"Agent {i}")
    took = fill(lt, args.tickets)
    print(
        f"{label}: {args.tickets:,} tickets registered in {took:.1f} s "
        f"({args.tickets / took:,.0f}/s)",
        flush=True,
    )
    print(f"  {'agents':>6} {'calls':>7} {'median':>9} {'p99':>9} {'max':>9} {'claims/s':>9}")
    for agents in args.agents:
        profile = args.profile if (args.profile and label == "sqlite" and agents == 1) else None
        r = run_agents(lt, agents, args.seconds, args.think / 1000, profile)
        print(
            f"  {agents:>6} {r['calls']:>7,.0f} {r['median_ms']:>6.1f} ms {r['p99_ms']:>6.1f} ms "
            f"{r['max_ms']:>6.1f} ms {r['claims_per_s']:>9,.0f}",
            flush=True,
        )
    p = propagation(lt)
    print(
        f"  a colleague's cache sees a claim (polling every {POLL * 1000:.0f} ms): "
        f"median {p['median_ms']:.0f} ms, max {p['max_ms']:.0f} ms",
        flush=True,
    )
    lt.store.close()


@contextmanager
def postgres() -> Iterator[str]:
    from servers import make_server_root, start_postgres

    root = make_server_root()
    server = start_postgres(root)
    try:
        yield server.url(server.create_database("bench_handle_next"))
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--agents", default="1,5,20", help="comma-separated agent counts")
    parser.add_argument("--seconds", type=float, default=10.0, help="per agent count")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--think", type=float, default=0.0, help="ms between one agent's presses")
    parser.add_argument("--profile", help="cProfile dump of one agent's calls (SQLite, 1 agent)")
    args = parser.parse_args()
    args.agents = [int(a) for a in args.agents.split(",")]
    engines = args.engines.split(",")
    if "sqlite" in engines:
        tmp = Path(tempfile.mkdtemp(prefix="helpdesk-bench-hn-"))
        try:
            bench(f"sqlite:///{tmp / 'team.sqlite'}", args, "sqlite")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if "postgresql" in engines:
        with postgres() as url:
            bench(url, args, "postgresql")


if __name__ == "__main__":
    main()
