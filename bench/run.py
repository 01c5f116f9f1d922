"""All benchmarks in one command, each in its own process.

    python bench/run.py [--quick]

Runs bench/parse.py, then bench/ingest.py on 100,000 synthetic messages (10,000 with --quick)
into a temporary workspace, then bench/app_start.py and bench/search.py on that workspace, then
bench/app_speed.py (100,000 tickets / 300,000 messages; 10,000 / 30,000 with --quick), then
bench/handle_next.py (100,000 tickets; 10,000 and 3 s per agent count with --quick), then the
IMAP benchmarks against a private Dovecot: bench/imap_sync.py (20,000 messages; 5,000 with
--quick) and bench/doctor.py, and prints their figures.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def run(script: str, *args: str) -> None:
    print(f"\n== {script} {' '.join(args)}", flush=True)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(BENCH / script), *args], check=True)
    print(f"== {script} took {time.perf_counter() - t0:.0f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10,000 messages instead of 100,000")
    args = parser.parse_args()
    n = 10_000 if args.quick else 100_000
    workspace = Path(tempfile.mkdtemp(prefix="helpdesk-bench-"))
    try:
        run("parse.py", "--repeat", "1" if args.quick else "3")
        run("ingest.py", str(n), "--dir", str(workspace))
        run("app_start.py", str(workspace))
        run("search.py", str(n), "--dir", str(workspace))
        # Its own workspace: the shape, three messages a ticket, and neomutt beside it.
        run(
            "app_speed.py",
            *(["--tickets", "10000", "--messages", "30000"] if args.quick else []),
        )
        run(
            "handle_next.py",
            *(["--tickets", "10000", "--seconds", "3"] if args.quick else []),
        )
        # Against a private Dovecot: the sync beside mbsync, and doctor on a big folder.
        run("imap_sync.py", "--messages", "5000" if args.quick else "20000")
        run("doctor.py", str(n))
    except subprocess.CalledProcessError as exc:
        sys.exit(f"benchmark failed: {exc}")
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


if __name__ == "__main__":
    main()
