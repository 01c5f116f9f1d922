"""A threading reference nobody here wrote: the mail indexer `notmuch`, in a throwaway config.

notmuch groups messages into threads by In-Reply-To and References alone (an id referenced
but absent becomes a "ghost" that still links its referrers), never by subject. This module
only runs it and reads its answer; the comparison with our tickets lives in the test.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

NOTMUCH = shutil.which("notmuch")


class NotmuchError(Exception):
    pass


def _environment(config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTMUCH_")}
    env["NOTMUCH_CONFIG"] = str(config)
    # With its own HOME, notmuch can never fall back to a user's ~/.notmuch-config.
    env["HOME"] = str(config.parent)
    return env


def _run(args: list[str], env: Mapping[str, str]) -> str:
    assert NOTMUCH is not None
    done = subprocess.run(
        [NOTMUCH, *args], env=dict(env), capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise NotmuchError(f"notmuch {' '.join(args)}: exit {done.returncode}: {done.stderr}")
    return done.stdout


def _messages(tree: list[Any]) -> Iterator[dict[str, Any]]:
    """The messages of one thread of `notmuch show --format=json`: nested [message, replies]."""
    for node in tree:
        message, replies = node
        if message is not None:
            yield message
        yield from _messages(replies)


def notmuch_threads(mail_root: Path, work: Path) -> dict[Path, int]:
    """Index every Maildir below `mail_root` and return each mail file's thread (numbered).

    `work` receives the config file; the database goes to `mail_root/.notmuch`, which no
    Maildir reader looks into.
    """
    work.mkdir(parents=True, exist_ok=True)
    config = work / "notmuch-config"
    config.write_text(
        f"[database]\npath={mail_root}\n"
        "[new]\ntags=\nignore=\n"
        "[maildir]\nsynchronize_flags=false\n"
        "[user]\nname=Reference\nprimary_email=reference@reference.example\n",
        encoding="utf-8",
    )
    env = _environment(config)
    _run(["new", "--quiet"], env)
    threads = json.loads(_run(["show", "--format=json", "--body=false", "*"], env))
    out: dict[Path, int] = {}
    for number, thread in enumerate(threads):
        for message in _messages(thread):
            names = message["filename"]
            for name in names if isinstance(names, list) else [names]:
                out[Path(name)] = number
    expected = int(_run(["count", "--output=threads", "*"], env).strip())
    if expected != len(threads):
        raise NotmuchError(f"notmuch show gave {len(threads)} threads, count says {expected}")
    return out


def together_pairs(groups: Mapping[str, object]) -> set[tuple[str, str]]:
    """Every (a, b) with a < b that share a group, from item -> group."""
    members: dict[object, list[str]] = {}
    for item, group in groups.items():
        members.setdefault(group, []).append(item)
    return {
        (a, b) for items in members.values() for a, b in itertools.combinations(sorted(items), 2)
    }


def pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def cross(left: Iterable[str], right: Iterable[str]) -> set[tuple[str, str]]:
    return {pair(a, b) for a in left for b in right}
