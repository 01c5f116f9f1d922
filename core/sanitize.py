"""Make untrusted text from mail safe to show in a terminal and safe to use as a file name.

Mail can carry terminal escape sequences (colour changes, OSC 52 clipboard writes, window
title changes), C0/C1 control characters and Unicode bidi overrides that make ``exe.pdf``
look like ``fdp.exe``. Everything from a message goes through :func:`safe_text` before the
rest of the program sees it; attachment names also go through :func:`safe_filename`.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["json_safe", "safe_filename", "safe_text"]

# Escape sequences are removed whole, not just their ESC byte, so that no half-sequence such
# as "[31m" or "]52;c;..." is left in the text. The 8-bit C1 forms (0x9b CSI, 0x9d OSC, ...)
# are treated like their 7-bit ESC forms. An unterminated string command loses only its
# introducer, so a stray byte cannot swallow the rest of a message.
_ESCAPE_SEQUENCE = re.compile(
    r"""
      (?:\x1b\[|\x9b) [0-?]* [ -/]* [@-~]?                      # CSI ... final byte
    | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]) [^\x07\x1b\x9c]{0,8192} (?:\x07|\x1b\\|\x9c)
                                                  # terminated OSC/DCS/SOS/PM/APC string
    | \x1b [ -/]* [0-~]?                                        # other ESC sequences
    """,
    re.VERBOSE,
)

# C0 controls except tab and newline, DEL, C1 controls, and the bidi embedding, override and
# isolate characters. Carriage returns are handled before this runs.
_UNSAFE_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

# Anything that needs work at all: a quick check that lets the common clean text through.
_NEEDS_WORK = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def safe_text(s: str) -> str:
    """Return ``s`` without escape sequences, control characters (but newline and tab) and
    bidi overrides, with CRLF and lone CR turned into LF.

    Rich/Textual markup such as ``[bold]`` is left as literal text: escaping markup is the
    job of whoever renders the text, and stripping it here would change what the sender wrote.
    """
    if not _NEEDS_WORK.search(s):
        return s
    if "\r" in s:
        s = s.replace("\r\n", "\n").replace("\r", "\n")
    s = s.replace("\u2028", "\n").replace("\u2029", "\n")
    if "\x1b" in s or any(c in s for c in "\x90\x98\x9b\x9d\x9e\x9f"):
        s = _ESCAPE_SEQUENCE.sub("", s)
    return _UNSAFE_CHARS.sub("", s)


# Characters that have a meaning in paths or are refused by common file systems.
_FILENAME_RESERVED = re.compile(r'[<>:"|?*\x00-\x1f\x7f]')
# Invisible formatting characters that can hide the real extension.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]")
_WINDOWS_DEVICE_NAMES = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(1, 10)}
    | {f"lpt{i}" for i in range(1, 10)}
)
MAX_FILENAME_CHARS = 120
_MAX_EXTENSION_CHARS = 16


def _clean_filename(name: str) -> str:
    name = unicodedata.normalize("NFC", safe_text(name))
    name = _INVISIBLE.sub("", name)
    # Only the last path component counts: "../../etc/passwd" and "C:\x\y.exe" name a file
    # somewhere else; what the sender meant is its base name.
    name = re.split(r"[/\\]", name)[-1]
    name = name.replace("\n", " ").replace("\t", " ")
    name = _FILENAME_RESERVED.sub("_", name)
    name = re.sub(r"\.{2,}", ".", name)
    name = re.sub(r"\s+", " ", name)
    # Leading dots hide files; trailing dots and spaces are dropped by Windows, which would
    # let "evil.exe." slip past an extension check.
    name = name.strip(" .")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    if stem.lower() in _WINDOWS_DEVICE_NAMES or name.lower() in _WINDOWS_DEVICE_NAMES:
        name = "_" + name
    if len(name) > MAX_FILENAME_CHARS:
        if dot and 0 < len(ext) <= _MAX_EXTENSION_CHARS and stem:
            keep = MAX_FILENAME_CHARS - len(ext) - 1
            name = name[: len(name) - len(ext) - 1][:keep].rstrip(" .") + "." + ext
        else:
            name = name[:MAX_FILENAME_CHARS].rstrip(" .")
    return name


def safe_filename(name: str, fallback: str) -> str:
    """Return a file name made from ``name`` that is safe to create in any directory.

    No path separators, no ``..``, no control or bidi characters, no leading dot, at most
    :data:`MAX_FILENAME_CHARS` characters (the extension is kept when shortening). When
    nothing usable is left, ``fallback`` (cleaned the same way) or ``"attachment"`` is used,
    so the result is never empty.
    """
    cleaned = _clean_filename(name or "")
    if cleaned:
        return cleaned
    cleaned = _clean_filename(fallback or "")
    return cleaned or "attachment"


def json_safe(encoded: str) -> str:
    """JSON text (from ``json.dumps(..., ensure_ascii=False)``) with every character a
    terminal could act on written as a ``\\uXXXX`` escape: the same JSON for a program, and
    harmless when a person prints it. (The encoder already escapes C0 controls.)"""
    return _UNSAFE_CHARS.sub(lambda m: f"\\u{ord(m.group()):04x}", encoded)
