from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpdesk.core.sanitize import MAX_FILENAME_CHARS, safe_filename, safe_text


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\x\\y.exe", "y.exe"),
        ("report.pdf", "report.pdf"),
        ("žluťoučký kůň.txt", "žluťoučký kůň.txt"),
        (".bashrc", "bashrc"),
        ("...hidden", "hidden"),
        ("evil.exe. ", "evil.exe"),
        ("a..b.txt", "a.b.txt"),
        ("CON", "_CON"),
        ("nul.txt", "_nul.txt"),
        ('we<ir>d:"na|me?*.txt', "we_ir_d__na_me__.txt"),
        ("line\nbreak.txt", "line break.txt"),
    ],
)
def test_safe_filename_examples(name: str, expected: str) -> None:
    assert safe_filename(name, "fallback.bin") == expected


def test_bidi_override_cannot_disguise_the_extension() -> None:
    # Shown right-to-left, "\u202efdp.exe" reads as "exe.pdf".
    name = safe_filename("invoice\u202efdp.exe", "x")
    assert name == "invoicefdp.exe"
    assert name.endswith(".exe")


@pytest.mark.parametrize("name", ["", "   ", "..", "/", "\\", "\x1b[31m", "\u202e", "./.."])
def test_empty_results_use_the_fallback(name: str) -> None:
    assert safe_filename(name, "part-2.pdf") == "part-2.pdf"


def test_unusable_fallback_still_gives_a_name() -> None:
    assert safe_filename("", "../") == "attachment"


def test_very_long_name_keeps_extension() -> None:
    name = safe_filename("a" * 1000 + ".docx", "x")
    assert len(name) <= MAX_FILENAME_CHARS
    assert name.endswith(".docx")
    assert name.startswith("aaaa")


def test_very_long_name_without_extension() -> None:
    assert len(safe_filename("b" * 5000, "x")) == MAX_FILENAME_CHARS


@given(st.text(), st.text())
def test_safe_filename_properties(name: str, fallback: str) -> None:
    out = safe_filename(name, fallback)
    assert out
    assert "/" not in out and "\\" not in out and ".." not in out
    assert not out.startswith(".")
    assert len(out) <= MAX_FILENAME_CHARS + 1  # "_" may be added before a device name
    assert safe_text(out) == out
    assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in out)
    assert not any(c in out for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain text", "plain text"),
        ("a\x1b[31mred\x1b[0m b", "ared b"),
        ("x\x1b]52;c;aGVsbG8=\x07y", "xy"),  # OSC 52: write the clipboard
        ("x\x1b]0;title\x1b\\y", "xy"),  # OSC with ST terminator
        ("x\x1bP1$tpayload\x1b\\y", "xy"),  # DCS
        ("x\x9b2Jy", "xy"),  # 8-bit CSI
        ("a\x1bcb", "ab"),  # RIS: reset the terminal
        ("line1\r\nline2\rline3", "line1\nline2\nline3"),
        ("tab\tkept\nnewline kept", "tab\tkept\nnewline kept"),
        ("bell\x07 nul\x00 del\x7f", "bell nul del"),
        ("abc\u202etxt.exe", "abctxt.exe"),
        ("[bold]not markup[/bold] [link=x]y[/link]", "[bold]not markup[/bold] [link=x]y[/link]"),
        ("a\x1b]unterminated title", "aunterminated title"),
    ],
)
def test_safe_text_examples(text: str, expected: str) -> None:
    assert safe_text(text) == expected


@given(st.text())
def test_safe_text_properties(text: str) -> None:
    out = safe_text(text)
    assert "\x1b" not in out and "\r" not in out
    assert all(c in "\n\t" or not (ord(c) < 32 or 0x7F <= ord(c) <= 0x9F) for c in out)
    assert safe_text(out) == out


def test_json_output_escapes_what_a_terminal_would_act_on() -> None:
    import json

    from helpdesk.core.sanitize import json_safe

    data = {"subject": "Objednávka \x9b31m\u202egpj.exe\x7f", "name": "Žluťoučký kůň"}
    text = json_safe(json.dumps(data, ensure_ascii=False))
    assert not any(c in text for c in "\x9b\u202e\x7f\x1b")
    assert "\\u009b" in text and "\\u202e" in text
    assert "Žluťoučký kůň" in text  # accents stay readable
    assert json.loads(text) == data  # the same JSON for a program
