"""The installed `helpdesk demo` in a real terminal (tmux at 80x24), read from the screen."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest


def _tmux() -> str:
    path = shutil.which("tmux")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("tmux is not installed (CI is set, so this is an error)")
        pytest.skip("tmux is not installed")
    return path


def test_demo_in_tmux(tmp_path: Path) -> None:
    tmux = _tmux()
    exe = Path(sys.executable).parent / "helpdesk"
    assert exe.exists(), f"the console script is not installed next to {sys.executable}"
    session = f"hd-{uuid.uuid4().hex[:8]}"
    env_args = []
    for key, value in {
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
    }.items():
        env_args += ["-e", f"{key}={value}"]
    subprocess.run(
        [
            tmux,
            "-L",
            session,
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "80",
            "-y",
            "24",
            *env_args,
            f"{exe} demo --dir {tmp_path / 'demo'}; sleep 30",
        ],
        check=True,
    )
    tm = [tmux, "-L", session]
    try:
        screen = wait_for_sock(tm, session, "Customer")
        lines = screen.splitlines()
        assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
        assert "Open" in screen and "Unassigned" in screen
        # Ticket rows: a number, a customer and a subject on each line below the header.
        header = next(i for i, line in enumerate(lines) if "Customer" in line and "Subject" in line)
        rows = [line for line in lines[header + 1 : header + 6] if line.strip()]
        assert len(rows) == 5
        assert all(row.split()[0].isdigit() for row in rows)

        subprocess.run([*tm, "send-keys", "-t", session, "j", "Enter"], check=True)
        opened = wait_for_sock(tm, session, "Ticket #")
        number = opened.splitlines()[0].split()[0]
        assert number.startswith("#") and number[1:].isdigit()
        assert f"Ticket {number}" in opened
        subprocess.run([*tm, "send-keys", "-t", session, "q"], check=True)
        wait_for_sock(tm, session, "Customer")
        subprocess.run([*tm, "send-keys", "-t", session, "q"], check=True)
        deadline = time.monotonic() + 15
        while "Customer" in capture_sock(tm, session) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert "Customer" not in capture_sock(tm, session), "the app did not quit on q"
    finally:
        subprocess.run([*tm, "kill-server"], capture_output=True)


def capture_sock(tm: list[str], session: str) -> str:
    return subprocess.run(
        [*tm, "capture-pane", "-p", "-t", session], capture_output=True, text=True, check=True
    ).stdout


def wait_for_sock(tm: list[str], session: str, needle: str, timeout: float = 90.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = capture_sock(tm, session)
        if needle in screen:
            return screen
        time.sleep(0.3)
    raise AssertionError(f"{needle!r} did not appear; the screen was:\n{screen}")
