"""Messages per second of ``parse_message``: over the shared corpus, and over 5,000
synthetic typical support messages (plain text, text+HTML alternatives, small attachments).

Run: /work/venv/bin/python bench/parse.py [--repeat N]
"""

from __future__ import annotations

import argparse
import base64
import random
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from helpdesk.core.mailparse import parse_message

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "mail-corpus"
OLE2_SIGNATURE = bytes.fromhex("d0cf11e0a1b11ae1")

_WORDS = [
    "order",
    "invoice",
    "delivery",
    "refund",
    "account",
    "password",
    "printer",
    "broken",
    "thanks",
    "please",
    "objednávka",
    "faktura",
    "doručení",
    "reklamace",
    "účet",
    "heslo",
    "tiskárna",
    "děkuji",
    "prosím",
]


def corpus_messages() -> list[bytes]:
    out = []
    for path in sorted(CORPUS.rglob("*")):
        if path.is_file() and path.name not in ("README.md", ".gitattributes"):
            data = path.read_bytes()
            if not data.startswith(OLE2_SIGNATURE):
                out.append(data)
    return out


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n)).capitalize() + "."


def synthetic_message(i: int, rng: random.Random) -> bytes:
    text = "\n\n".join(_sentence(rng, rng.randint(8, 30)) for _ in range(rng.randint(2, 8)))
    headers = (
        f"Return-Path: <customer{i}@example.com>\r\n"
        f"Received: from mx.example.net by mail.example.org; Mon, 3 Mar 2025 10:{i % 60:02d}:00"
        " +0100\r\n"
        f"From: =?utf-8?q?Jana_Nov=C3=A1kov=C3=A1_{i}?= <customer{i}@example.com>\r\n"
        "To: Support <support@example.org>\r\n"
        f"Subject: =?utf-8?q?Re=3A_Objedn=C3=A1vka_{i}?=\r\n"
        f"Date: Mon, 3 Mar 2025 10:{i % 60:02d}:00 +0100\r\n"
        f"Message-ID: <{i}.{rng.getrandbits(40):x}@mail.example.com>\r\n"
        f"In-Reply-To: <{i - 1}@support.example.org>\r\n"
        f"References: <{i - 2}@support.example.org> <{i - 1}@support.example.org>\r\n"
        "MIME-Version: 1.0\r\n"
    ).encode()
    kind = i % 4
    if kind in (0, 1):
        return (
            headers + b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n\r\n" + text.encode()
        )
    html = "".join(f"<p>{p}</p>" for p in text.split("\n\n"))
    alternative = (
        b'Content-Type: multipart/alternative; boundary="alt"\r\n\r\n--alt\r\n'
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + text.encode() + b"\r\n--alt\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n" + html.encode() + b"\r\n--alt--\r\n"
    )
    if kind == 2:
        return headers + alternative
    attachment = base64.encodebytes(rng.randbytes(20_000))
    return (
        headers
        + b'Content-Type: multipart/mixed; boundary="mix"\r\n\r\n--mix\r\n'
        + alternative
        + b'\r\n--mix\r\nContent-Type: application/pdf; name="faktura.pdf"\r\n'
        b'Content-Disposition: attachment; filename="faktura.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + attachment + b"\r\n--mix--\r\n"
    )


def measure(messages: Sequence[bytes], repeat: int) -> tuple[float, list[float]]:
    per_message: list[float] = []
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for raw in messages:
            t0 = time.perf_counter()
            parse_message(raw)
            per_message.append(time.perf_counter() - t0)
        best = min(best, time.perf_counter() - start)
    return len(messages) / best, per_message


def report(name: str, messages: Sequence[bytes], repeat: int) -> None:
    rate, times = measure(messages, repeat)
    times.sort()
    p95 = times[int(len(times) * 0.95)]
    print(
        f"{name:<24} {len(messages):>6} msgs  {rate:>8.0f} msg/s  "
        f"median {statistics.median(times) * 1e3:.3f} ms  p95 {p95 * 1e3:.3f} ms  "
        f"max {times[-1] * 1e3:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(1)
    synthetic = [synthetic_message(i, rng) for i in range(5000)]
    plain = [m for i, m in enumerate(synthetic) if i % 4 in (0, 1)]
    if CORPUS.is_dir():
        report("corpus", corpus_messages(), args.repeat)
    else:
        print(f"corpus not found at {CORPUS}")
    report("synthetic (mixed)", synthetic, args.repeat)
    report("synthetic plain only", plain, args.repeat)


if __name__ == "__main__":
    main()
