"""Reading the templates folder (``[reply] templates_dir``): one canned reply per file.

Only the reading is here; what a file means is ``core.templates.parse_template_file``'s. A bad
file is reported and skipped, never fatal: one typo must not take every template away.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from helpdesk.core.templates import Template, TemplateError, parse_template_file

__all__ = ["MAX_TEMPLATE_BYTES", "TEMPLATE_SUFFIXES", "load_templates"]

MAX_TEMPLATE_BYTES = 256 * 1024
TEMPLATE_SUFFIXES = (".txt", ".md")


def _read(path: Path) -> bytes | str:
    """The file's bytes, or why they cannot be had. Opened without following a final symlink
    and without blocking (a FIFO planted in the folder must not hang the app)."""
    try:
        fd = os.open(
            path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        )
    except OSError as err:
        return f"cannot be opened ({err.strerror or err})"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file"
        if info.st_size > MAX_TEMPLATE_BYTES:
            return f"larger than {MAX_TEMPLATE_BYTES // 1024} KiB ({info.st_size} bytes)"
        chunks: list[bytes] = []
        total = 0
        while chunk := os.read(fd, 65536):
            total += len(chunk)
            if total > MAX_TEMPLATE_BYTES:  # grew while being read
                return f"larger than {MAX_TEMPLATE_BYTES // 1024} KiB"
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as err:
        return f"cannot be read ({err.strerror or err})"
    finally:
        os.close(fd)


def load_templates(folder: Path) -> tuple[list[Template], list[str]]:
    """The templates of ``folder`` (``*.txt`` and ``*.md``, not recursive, by file name),
    each named after its file's stem; and a message for every file left out and why.

    Hidden files (editors' swap and backup files) are passed over silently. A symlink is
    followed only when it stays inside the folder.
    """
    problems: list[str] = []
    try:
        root = folder.resolve(strict=True)
        entries = sorted(root.iterdir(), key=lambda p: p.name)
    except OSError as err:
        return [], [f"{folder}: the templates folder cannot be read ({err.strerror or err})"]
    found: list[Template] = []
    names: dict[str, Path] = {}
    for entry in entries:
        if entry.name.startswith(".") or entry.suffix.lower() not in TEMPLATE_SUFFIXES:
            continue
        try:
            target = entry.resolve(strict=True)
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop
            problems.append(f"{entry}: skipped, a link to nothing")
            continue
        if not target.is_relative_to(root):
            problems.append(f"{entry}: skipped, a link to outside the templates folder")
            continue
        data = _read(target)
        if isinstance(data, str):
            problems.append(f"{entry}: skipped, {data}")
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            line = data.count(b"\n", 0, err.start) + 1
            problems.append(f"{entry}:{line}: skipped, not UTF-8 text")
            continue
        try:
            template = parse_template_file(entry.stem, text, str(entry))
        except TemplateError as err:
            problems.append(f"{err}; skipped")
            continue
        folded = template.name.casefold()
        if folded in names:
            problems.append(f"{entry}: skipped, {names[folded].name} has the same name")
            continue
        names[folded] = entry
        found.append(template)
    return found, problems
