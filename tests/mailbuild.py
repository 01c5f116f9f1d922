"""Small builders of raw test messages (bytes as a server would hold them)."""

from __future__ import annotations


def message(
    mid: str | None,
    *,
    sender: str = "Jan Novák <jan@customer.example>",
    to: str = "support@helpdesk.example",
    subject: str = "Objednávka 1234",
    body: str = "Dobrý den,\nkde je moje objednávka?\n",
    in_reply_to: str | None = None,
    references: str | None = None,
    date: str = "Mon, 02 Nov 2026 09:00:00 +0100",
    extra: str = "",
) -> bytes:
    from email.header import Header

    lines = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {Header(subject, 'utf-8').encode()}",
        f"Date: {date}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    if mid is not None:
        lines.append(f"Message-ID: <{mid}>")
    if in_reply_to:
        lines.append(f"In-Reply-To: <{in_reply_to}>")
    if references:
        lines.append(f"References: {references}")
    if extra:
        lines.extend(extra.strip("\n").split("\n"))
    return ("\r\n".join(lines) + "\r\n\r\n" + body.replace("\n", "\r\n")).encode("utf-8")
