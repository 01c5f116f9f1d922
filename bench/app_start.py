"""Time to the first screen: the app on a bench workspace until the ticket table has rows.

    python bench/app_start.py DIR [--repeat N]

DIR is a workspace left by `bench/ingest.py --dir DIR`. Prints, for a fresh process, the time
to import the app and open the workspace, then (best and worst of N) the time from building
the app with `make_app` to the queue's ticket table holding its first page of rows, in an
80x24 headless terminal.
"""

from __future__ import annotations

import time

_PROCESS_START = time.perf_counter()

import argparse  # noqa: E402  (the imports below are part of what is timed)
import asyncio  # noqa: E402
from pathlib import Path  # noqa: E402

from ingest import bench_settings  # noqa: E402

from helpdesk.storage.workspace import Workspace, open_workspace  # noqa: E402
from helpdesk.tui.app import make_app  # noqa: E402
from helpdesk.tui.widgets.ticket_table import TicketTable  # noqa: E402

_TIMEOUT = 60.0


async def first_screen(ws: Workspace) -> tuple[float, float, int]:
    """Seconds from make_app until the ticket table has rows, until the app is idle after
    that (the first screen painted), and how many rows the table has."""
    t0 = time.perf_counter()
    app = make_app(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        while True:
            tables = app.screen.query(TicketTable)
            if tables and tables.first().row_count > 0:
                rows_at = time.perf_counter() - t0
                break
            if time.perf_counter() - t0 > _TIMEOUT:
                raise TimeoutError(f"no ticket rows after {_TIMEOUT:.0f} s")
            await pilot.pause(0.001)
        await pilot.pause()
        return rows_at, time.perf_counter() - t0, tables.first().row_count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dir", type=Path, help="a workspace made by bench/ingest.py --dir")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not (args.dir / "cache.sqlite").is_file():
        parser.error(f"{args.dir}: no cache.sqlite (run bench/ingest.py --dir {args.dir})")
    ws = open_workspace(bench_settings(args.dir))
    ready = time.perf_counter() - _PROCESS_START
    print(f"app start: imports and opening the workspace {ready * 1000:.0f} ms")
    with_rows: list[float] = []
    settled: list[float] = []
    for i in range(args.repeat):
        rows_at, idle_at, rows = asyncio.run(first_screen(ws))
        with_rows.append(rows_at)
        settled.append(idle_at)
        if i == 0:
            first = time.perf_counter() - _PROCESS_START
            print(
                f"  first run: make_app -> {rows} rows in the table {rows_at * 1000:.0f} ms, "
                f"-> idle {idle_at * 1000:.0f} ms; {first * 1000:.0f} ms from process start"
            )
    for label, times in (("rows in the table", with_rows), ("idle (first paint)", settled)):
        print(
            f"  make_app -> {label:<18}: best {min(times) * 1000:4.0f} ms, "
            f"worst {max(times) * 1000:4.0f} ms over {len(times)} runs"
        )
    ws.close()


if __name__ == "__main__":
    main()
