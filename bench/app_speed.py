"""The app's speed on a big cache (issue 5): start, queue switches, cursor, tickets, search, RSS.

    python bench/app_speed.py [--tickets 100000 --messages 300000] [--dir DIR] [--no-neomutt]

Builds (or reuses, with --dir) a workspace of TICKETS tickets holding MESSAGES messages, made by
the real ingest pipeline (bench/ingest.py's functions), and the same mail as a Maildir. Then,
each in a fresh process, with the real app headless at 80x24 (`app.run_test`):

* start: process start to the queue's ticket table holding rows (bench/app_start.py's
  `first_screen`), median of 3 processes;
* a session: queue switches (number keys and tab), the cursor (j 50 times, G/g, page down),
  opening tickets (enter, until the ticket screen holds its messages) and going back (q), and
  searches (`/`, a word typed, until its results are listed). Each action is timed from the
  key to the state it asks for ("state"), and to the first paint of the screen that shows it
  ("painted"); median and worst.
* peak RSS (ru_maxrss) of those processes;

and, once, neomutt opening the Maildir (no config, no header cache) in tmux at 80x24, from
its start until its index is on the screen. The last lines hold the figures against the
goals of issue 5 as PASS/MISS.

The keys go into the app as key events while the bench polls the app between event-loop
steps, so a figure is the app's own work (and its frame timer), not the test pilot's waits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from helpdesk.tui.app import HelpdeskApp

HERE = Path(__file__).resolve()
START_RUNS = 3
TIMEOUT = 60.0  # seconds an action may take before the run is called broken
PAINT_TIMEOUT = 2.0
POLL = 0.0005  # seconds between looks at the app's state while an action runs
GOALS_MS = {"start": 1000.0, "switch": 50.0, "cursor": 50.0, "open": 50.0, "search": 100.0}
RSS_GOAL_MB = 250.0
SEARCH_WORDS = ["reklamace", "Customer 4242", "c1234", "faktura", "xylofon", "4242"]
# neomutt's index lines start with the message number; while it reads it shows a counter.
INDEX_LINE = re.compile(r"^\s*\d+\s+\S")


# -- the mailbox --------------------------------------------------------------------------


def mailbox(tickets: int, messages: int, seed: int = 1) -> Iterator[tuple[datetime, bytes]]:
    """`messages` mails in about `tickets` conversations over a year: each mail opens a new
    conversation or answers one of the 2,000 most recent (ours or the customer's), in the
    proportion that gives the ticket count asked for. CRLF line ends, as IMAP gives them."""
    from ingest import OURS, WORDS

    rnd = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    step = timedelta(days=365) / max(1, messages)
    recent: deque[tuple[str, str, str]] = deque(maxlen=2000)  # root id, customer, subject
    opened = 0
    for i in range(messages):
        when = start + step * i
        if opened * messages <= i * tickets or not recent:
            opened += 1
            customer = f"Customer {opened} <c{opened % 20000}@customer{opened % 300}.example>"
            subject = f"{rnd.choice(WORDS).capitalize()} {opened}"
            recent.append((f"a{i}@app-speed.example", customer, subject))
            head = [f"From: {customer}", f"To: {OURS}", f"Subject: {subject}"]
        else:
            root, customer, subject = rnd.choice(recent)
            ours = rnd.random() < 0.5
            head = [
                f"From: Agent via Support <{OURS}>" if ours else f"From: {customer}",
                f"To: {customer}" if ours else f"To: {OURS}",
                f"Subject: Re: {subject}",
                f"In-Reply-To: <{root}>",
                f"References: <{root}>",
            ]
        head += [
            f"Date: {when.strftime('%a, %d %b %Y %H:%M:%S +0000')}",
            f"Message-ID: <a{i}@app-speed.example>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
        ]
        body = " ".join(rnd.choices(WORDS, k=rnd.randint(30, 300)))
        yield when, ("\r\n".join(head) + "\r\n\r\n" + body + "\r\n").encode()


def build_workspace(directory: Path, tickets: int, messages: int) -> None:
    """Ingest the mailbox into the workspace in `directory` unless it already holds mail."""
    from ingest import bench_settings, ingest_all

    from helpdesk.storage.workspace import open_workspace
    from helpdesk.sync.service import make_ingestor

    ws = open_workspace(bench_settings(directory))
    try:
        have = ws.cache.counts()
        if have["messages"]:
            print(f"workspace {directory}: reused, {have['messages']:,} messages")
            return
        raws = (raw for _, raw in mailbox(tickets, messages))
        stats, took = ingest_all(raws, make_ingestor(ws))
        print(
            f"workspace {directory}: ingested {stats.new_messages:,} messages into "
            f"{stats.new_tickets:,} tickets in {took:.0f} s ({stats.new_messages / took:,.0f}/s)"
        )
    finally:
        ws.close()


def build_maildir(maildir: Path, tickets: int, messages: int) -> int:
    """The same mail as a Maildir (all in its cur/, seen), unless it is there already."""
    from mailbox_gen import GeneratedMail, MaildirWriter

    done = maildir / ".complete"
    if done.is_file():
        return int(done.read_text())
    shutil.rmtree(maildir, ignore_errors=True)
    writer = MaildirWriter(maildir)
    count = 0
    for when, raw in mailbox(tickets, messages):
        writer.write(
            GeneratedMail(
                raw=raw.replace(b"\r\n", b"\n"),
                when=when,
                folder="INBOX",
                message_id=None,
                conversation=0,
                outgoing=False,
                flags="S",
                kind="plain",
                lang="cs",
                charset="utf-8",
            )
        )
        count += 1
    done.write_text(str(count))
    return count


# -- timing the app, inside a child process ------------------------------------------------


@dataclass
class Sample:
    state_ms: float
    painted_ms: float | None


@dataclass
class Probe:
    """Sends keys to the app and times them: to a condition on the app's state, and to the
    first paint made while that condition holds (a paint renders the state of that moment)."""

    app: HelpdeskApp
    pilot: Pilot[int]
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    _done: Callable[[], bool] | None = None
    _state_at: float | None = None
    _painted_at: float | None = None

    def __post_init__(self) -> None:
        # The headless driver writes nothing, but the app still renders every frame and hands
        # it to _display: that call is the moment a terminal would be sent the new screen.
        original = self.app._display

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            if (
                renderable is not None
                and self._painted_at is None
                and self._done is not None
                and self._done()
            ):
                self._painted_at = time.perf_counter()

        setattr(self.app, "_display", display)  # noqa: B010  (mypy refuses a method assignment)

    def on_message(self, _message: object) -> None:
        """Called before the app handles each message: the first call after the handler that
        reached the state, which may come before the polling loop gets its turn."""
        if self._done is not None and self._state_at is None and self._done():
            self._state_at = time.perf_counter()

    def send(self, key: str) -> None:
        from textual import events

        char = {"tab": "\t", "enter": "\r", "slash": "/", "space": " "}.get(key)
        if char is None and len(key) == 1:
            char = key
        self.app.post_message(events.Key(key, char))

    async def act(
        self,
        label: str,
        keys: list[str],
        done: Callable[[], bool],
        since: Callable[[], float | None] | None = None,
    ) -> Sample:
        """Press `keys` (timed from the last), wait until `done()`, then for the paint.
        `since` may move the start later (the search's debounce) for a second figure."""
        self._done, self._state_at, self._painted_at = None, None, None
        for key in keys:
            self.send(key)
        t0 = time.perf_counter()
        self._done = done
        while not done():
            if time.perf_counter() - t0 > TIMEOUT:
                raise TimeoutError(f"{label}: not done after {TIMEOUT:.0f} s")
            # A short sleep, not sleep(0): a spinning loop would hold the GIL against the
            # app's worker threads (the search runs in one).
            await asyncio.sleep(POLL)
        state_at = min(time.perf_counter(), self._state_at or float("inf"))
        while self._painted_at is None and time.perf_counter() - state_at < PAINT_TIMEOUT:
            await asyncio.sleep(POLL)
        painted = self._painted_at
        if painted is not None:
            state_at = min(state_at, painted)  # that paint found the state reached
        self._done = None
        sample = Sample(
            (state_at - t0) * 1000, (painted - t0) * 1000 if painted is not None else None
        )
        self.samples.setdefault(label, []).append(sample)
        origin = since() if since is not None else None
        if origin is not None:
            self.samples.setdefault(label + " (after the debounce)", []).append(
                Sample(
                    (state_at - origin) * 1000,
                    (painted - origin) * 1000 if painted is not None else None,
                )
            )
        await self.settle()
        return sample

    async def settle(self) -> None:
        """Let the app finish what the last key started, so that actions do not overlap."""
        await self.pilot.pause()
        await asyncio.sleep(0.02)


def _is(get: Callable[[], object], value: object) -> Callable[[], bool]:
    return lambda: get() == value


async def session(directory: Path) -> dict[str, Any]:
    from ingest import bench_settings

    from helpdesk.storage.workspace import open_workspace
    from helpdesk.tui.app import make_app
    from helpdesk.tui.screens.queue import QueueScreen
    from helpdesk.tui.screens.search import SearchResults, SearchScreen
    from helpdesk.tui.screens.ticket import TicketScreen
    from helpdesk.tui.widgets.message_view import MessageView
    from helpdesk.tui.widgets.ticket_table import TicketTable

    ws = open_workspace(bench_settings(directory))
    app = make_app(ws)
    hook: list[Callable[[object], None]] = []
    async with app.run_test(size=(80, 24), message_hook=lambda m: [h(m) for h in hook]) as pilot:
        probe = Probe(app, pilot)
        hook.append(probe.on_message)
        deadline = time.perf_counter() + TIMEOUT
        # The first team sync reloads the lists once it is online: measure after it.
        while not (
            app.screen.query(TicketTable)
            and app.screen.query_one(TicketTable).row_count
            and app.team_state != "team: connecting…"
        ):
            if time.perf_counter() > deadline:
                raise TimeoutError("no ticket rows")
            await pilot.pause(0.01)
        await probe.settle()
        queue = app.screen
        assert isinstance(queue, QueueScreen)
        table = queue.query_one(TicketTable)
        counts = dict(queue.counts)

        def cursor() -> int:
            return table.cursor_row

        async def switch(key: str, to: str) -> None:
            before = table.source
            await probe.act(
                "switch queue", [key], lambda: queue.queue == to and table.source is not before
            )

        def ticket_shown() -> bool:
            screen = app.screen
            return (
                isinstance(screen, TicketScreen)
                and len(screen.query(MessageView)) == len(screen.detail.messages) > 0
            )

        def back_with(before: object) -> Callable[[], bool]:
            # Back is done when the queue shows and is current: it reads the cache again only
            # when something changed while the ticket covered it (then the list is new).
            return lambda: app.screen is queue and not queue.stale and bool(table.row_count)

        def below(row: int) -> Callable[[], bool]:
            return lambda: table.cursor_row > row

        async def open_and_back(rows: int, label: str) -> int:
            """Open the first `rows` tickets of the list one by one, back to the list each time;
            the most messages one of them had."""
            most = 0
            for i in range(rows):
                while table.cursor_row < i:
                    probe.send("j")
                    await probe.settle()
                await probe.act(f"open ticket (enter){label}", ["enter"], ticket_shown)
                ticket = app.screen
                assert isinstance(ticket, TicketScreen)
                most = max(most, len(ticket.detail.messages))
                await probe.act(f"back to the queue (q){label}", ["q"], back_with(table.source))
            return most

        # Queue switches: the number keys round the queues, then tab round them.
        keys = [q.key for q in queue.queues]
        for _ in range(3):
            for n in [*range(2, min(len(keys), 9) + 1), 1]:
                await switch(str(n), keys[n - 1])
        for _ in range(2 * len(keys)):
            at = keys.index(queue.queue)
            await switch("tab", keys[(at + 1) % len(keys)])

        # In the biggest queue: open tickets and back, then the cursor.
        big = max(keys, key=lambda k: counts.get(k, 0))
        await switch(str(keys.index(big) + 1), big)
        busiest = await open_and_back(20, "")
        await probe.act("cursor g (first)", ["g"], _is(cursor, 0))
        for _ in range(50):
            await probe.act("cursor j", ["j"], _is(cursor, table.cursor_row + 1))
        for _ in range(5):
            # The list reads the rows it shows when it draws them: "painted" includes that.
            await probe.act(
                "cursor G (last ticket of the queue)", ["G"], _is(cursor, queue.total - 1)
            )
            await probe.act("cursor g (first)", ["g"], _is(cursor, 0))
        for _ in range(20):
            await probe.act("cursor page down", ["pagedown"], below(table.cursor_row))
        await probe.act("cursor g (first)", ["g"], _is(cursor, 0))
        # Again after the list has been to its far end and back.
        busiest = max(busiest, await open_and_back(5, " (after G)"))

        # Search: `/`, then each word typed at once; the time runs from its last key.
        await probe.act("open search (/)", ["slash"], lambda: isinstance(app.screen, SearchScreen))
        search = app.screen
        assert isinstance(search, SearchScreen)
        results = search.query_one(SearchResults)
        started: list[float] = []
        original_start = search._start

        def start(text: str) -> None:
            started.append(time.perf_counter())
            original_start(text)

        setattr(search, "_start", start)  # noqa: B010  (the debounce ends where _start begins)
        hits: dict[str, int] = {}
        for _ in range(3):
            for word in SEARCH_WORDS:
                started.clear()

                def answered(word: str = word) -> bool:
                    return (
                        search.query_text == word
                        and not search.loading
                        and results.option_count == len(search.hits)
                    )

                await probe.act(
                    "search: last key -> results",
                    ["space" if c == " " else c for c in word],
                    answered,
                    since=lambda: started[-1] if started else None,
                )
                hits[word] = len(search.hits)
                await probe.act("clear search", ["ctrl+u"], _is(lambda: search.query_text, ""))
        await probe.act("back from search", ["escape"], lambda: app.screen is queue)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        await pilot.pause()
    ws.close()
    return {
        "samples": {k: [[s.state_ms, s.painted_ms] for s in v] for k, v in probe.samples.items()},
        "counts": counts,
        "hits": hits,
        "busiest_opened": busiest,
        "rss_mb": rss,
    }


async def start_child(directory: Path) -> dict[str, Any]:
    from app_start import first_screen
    from ingest import bench_settings

    from helpdesk.storage.workspace import open_workspace

    ws = open_workspace(bench_settings(directory))
    opened_at = time.perf_counter()
    rows_at, idle_at, rows = await first_screen(ws)
    ws.close()
    return {
        "opened_at": opened_at,
        "rows_at": opened_at + rows_at,
        # The list reads its rows when it draws them: the first screen is done when idle.
        "drawn_at": opened_at + idle_at,
        "rows": rows,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def child_env(directory: Path) -> dict[str, str]:
    """An installed app has its modules compiled: let the children keep bytecode, outside the
    source tree (this machine's environment may forbid writing it)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(directory / "pycache")
    return env


def child(kind: str, directory: Path) -> dict[str, Any]:
    """Run this script again as `--child KIND`; its last stdout line is its JSON answer."""
    env = child_env(directory)
    started = time.perf_counter()  # CLOCK_MONOTONIC: the same clock in the child
    proc = subprocess.run(
        [sys.executable, str(HERE), "--child", kind, "--dir", str(directory)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode:
        sys.exit(f"the {kind} run failed:\n{proc.stdout[-2000:]}{proc.stderr[-4000:]}")
    answer: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    answer["spawned_at"] = started
    return answer


# -- neomutt ------------------------------------------------------------------------------


def neomutt_start(maildir: Path, expected: int) -> tuple[float, str]:
    """Seconds from starting neomutt in an 80x24 tmux pane until its index is shown, and the
    screen then."""
    if shutil.which("neomutt") is None:
        raise RuntimeError("neomutt is not installed (apt-get install -y neomutt)")
    socket = f"app-speed-{os.getpid()}"
    tmux = ["tmux", "-L", socket, "-f", "/dev/null"]
    home = Path(tempfile.mkdtemp(prefix="app-speed-home-"))
    # Without it neomutt asks whether to create its default folder, ~/Mail, before anything.
    (home / "Mail").mkdir()
    env = {**os.environ, "HOME": str(home), "MAIL": "", "TERM": "xterm-256color"}
    try:
        # The tmux server is started first, so that its own start is not counted.
        subprocess.run(
            [*tmux, "new-session", "-d", "-s", "idle", "-x", "80", "-y", "24"], check=True, env=env
        )
        command = f"neomutt -n -F /dev/null -e 'unset header_cache' -f {maildir}"
        t0 = time.perf_counter()
        subprocess.run(
            [*tmux, "new-session", "-d", "-s", "mutt", "-x", "80", "-y", "24", command],
            check=True,
            env=env,
        )
        while True:
            screen = subprocess.run(
                [*tmux, "capture-pane", "-p", "-t", "mutt"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            lines = screen.splitlines()
            if sum(1 for line in lines if INDEX_LINE.match(line)) >= min(expected, 10):
                return time.perf_counter() - t0, screen
            if time.perf_counter() - t0 > 1800:
                raise TimeoutError("neomutt showed no index in 30 minutes:\n" + screen)
            time.sleep(0.01)
    finally:
        subprocess.run([*tmux, "kill-server"], check=False, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


# -- the report ---------------------------------------------------------------------------


def ms(x: float | None) -> str:
    return f"{x:7.1f}" if x is not None else "      -"


def summary(samples: list[list[float | None]]) -> tuple[float, float, float | None, float | None]:
    state = [s[0] for s in samples if s[0] is not None]
    painted = [s[1] for s in samples if s[1] is not None]
    return (
        statistics.median(state),
        max(state),
        statistics.median(painted) if painted else None,
        max(painted) if painted else None,
    )


def goal_of(label: str) -> str | None:
    """Which goal of issue 5 an action's figure is held against."""
    for prefix, goal in (
        ("switch", "switch"),
        ("cursor", "cursor"),
        ("open ticket", "open"),
        ("back to", "open"),
        ("search: ", "search"),
    ):
        if label.startswith(prefix):
            return goal
    return None


def verdict(ok: bool, line: str) -> None:
    print(f"{'PASS' if ok else 'MISS'}  {line}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--dir", type=Path, help="workspace (and Maildir) kept here and reused")
    parser.add_argument("--no-neomutt", action="store_true", help="skip the neomutt run")
    parser.add_argument("--child", choices=["start", "session"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    if args.child:
        run = start_child if args.child == "start" else session
        print(json.dumps(asyncio.run(run(args.dir))))
        return

    directory: Path = args.dir or Path(tempfile.mkdtemp(prefix="helpdesk-app-speed-"))
    directory.mkdir(parents=True, exist_ok=True)
    try:
        build_workspace(directory, args.tickets, args.messages)
        # Untimed: compiles the bytecode and brings the cache file into memory.
        warm = child("start", directory)
        print(
            f"first start (bytecode compiled): {(warm['rows_at'] - warm['spawned_at']) * 1000:.0f} ms"
        )
        starts = [child("start", directory) for _ in range(START_RUNS)]
        start_ms = [(s["rows_at"] - s["spawned_at"]) * 1000 for s in starts]
        open_ms = [(s["opened_at"] - s["spawned_at"]) * 1000 for s in starts]
        print(
            f"start, process start -> {starts[0]['rows']} rows in the table at 80x24 "
            f"({START_RUNS} fresh processes): median {statistics.median(start_ms):.0f} ms "
            f"(runs {', '.join(f'{x:.0f}' for x in start_ms)}; of which interpreter, imports "
            f"and opening the workspace {statistics.median(open_ms):.0f} ms)"
        )
        drawn_ms = [(s["drawn_at"] - s["spawned_at"]) * 1000 for s in starts]
        print(
            f"start, process start -> first screen drawn and idle: median "
            f"{statistics.median(drawn_ms):.0f} ms (runs {', '.join(f'{x:.0f}' for x in drawn_ms)})"
        )
        result = child("session", directory)
        counts = ", ".join(f"{k} {v:,}" for k, v in result["counts"].items())
        print(f"queues: {counts}")
        print(
            "session in one fresh process, ms from the key:   state median  worst   painted median  worst"
        )
        figures: dict[str, tuple[float, float, float | None, float | None]] = {}
        for label, samples in result["samples"].items():
            figures[label] = summary(samples)
            med, worst, pmed, pworst = figures[label]
            print(
                f"  {label:<44} {len(samples):3}  {ms(med)} {ms(worst)}   {ms(pmed)} {ms(pworst)}"
            )
        print(f"  search hits (first page): {result['hits']}")
        rss = max([result["rss_mb"], *(s["rss_mb"] for s in starts)])
        print(
            f"peak RSS: start {max(s['rss_mb'] for s in starts):.0f} MB, session {result['rss_mb']:.0f} MB"
        )

        mutt: float | None = None
        if not args.no_neomutt:
            maildir = directory / "maildir"
            t0 = time.perf_counter()
            count = build_maildir(maildir, args.tickets, args.messages)
            print(
                f"maildir {maildir}: {count:,} messages ({time.perf_counter() - t0:.0f} s to make)"
            )
            mutt, _screen = neomutt_start(maildir, count)
            print(
                f"neomutt -n -F /dev/null -f MAILDIR, no header cache: index shown after {mutt * 1000:,.0f} ms"
            )

        print("goals of issue 5 (judged on the median of the state figure):")
        med_start = statistics.median(start_ms)
        beside = f"; neomutt {mutt * 1000:,.0f} ms" if mutt is not None else ""
        verdict(med_start < GOALS_MS["start"], f"start < 1 s: median {med_start:.0f} ms{beside}")
        for label, (med, worst, painted, _) in figures.items():
            goal = goal_of(label)
            if goal is None:
                continue
            over = "; the worst is over" if worst >= GOALS_MS[goal] else ""
            verdict(
                med < GOALS_MS[goal],
                f"{label} < {GOALS_MS[goal]:.0f} ms: median {med:.1f} ms, worst {worst:.1f}"
                f"{over}; painted median {ms(painted).strip()}",
            )
        verdict(rss < RSS_GOAL_MB, f"peak RSS < {RSS_GOAL_MB:.0f} MB: {rss:.0f} MB")
    finally:
        if args.dir is None:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
