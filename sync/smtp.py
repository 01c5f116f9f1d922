"""Handing one message to the SMTP server, and telling a fault worth a retry from a refusal.

A refusal (5xx for this message) will not change by retrying: the reply is marked failed with
the server's words. Everything else (no network, timeouts, 4xx, a wrong password that an
admin can fix) is retried with backoff, so nothing the agent wrote is dropped.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass

from helpdesk.core.config import SmtpSettings, TlsMode
from helpdesk.core.sanitize import safe_text
from helpdesk.sync.faults import describe_fault


class SmtpFault(Exception):
    """Sending failed. `permanent`: trying again cannot help. `uncertain`: the connection
    broke after the message was handed over, so the server may have it (never resend then)."""

    def __init__(self, message: str, *, permanent: bool, uncertain: bool = False) -> None:
        self.permanent = permanent
        self.uncertain = uncertain
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Accepted:
    refused: dict[str, str]  # recipients the server refused while it accepted the others


def _server_words(code: int, text: bytes | str) -> str:
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {safe_text(words)[:200]}"


def _context(settings: SmtpSettings) -> ssl.SSLContext:
    if settings.ca_file:
        return ssl.create_default_context(cafile=settings.ca_file)
    return ssl.create_default_context()


def _connect(settings: SmtpSettings, password: str | None) -> smtplib.SMTP:
    client: smtplib.SMTP
    if settings.tls is TlsMode.TLS:
        client = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout, context=_context(settings)
        )
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    try:
        client.ehlo()
        if settings.tls is TlsMode.STARTTLS:
            client.starttls(context=_context(settings))
            client.ehlo()
        if settings.user is not None:
            client.login(settings.user, password or "")
    except BaseException:
        _close(client)
        raise
    return client


def _close(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def send(
    settings: SmtpSettings,
    password: str | None,
    raw: bytes,
    mail_from: str,
    recipients: Sequence[str],
) -> Accepted:
    """Hand `raw` to the server for `recipients`; raises SmtpFault when it was not accepted."""
    try:
        client = _connect(settings, password)
    except smtplib.SMTPAuthenticationError as exc:
        raise SmtpFault(
            f"the SMTP server refused the login ({_server_words(exc.smtp_code, exc.smtp_error)}):"
            " check the user and the password (helpdesk auth set)",
            permanent=False,
        ) from None
    except smtplib.SMTPNotSupportedError:
        raise SmtpFault(
            "the SMTP server offers no STARTTLS or no login: check tls and user in the config",
            permanent=False,
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise SmtpFault(f"SMTP: {describe_fault(exc)}", permanent=False) from None
    try:
        refused = _transaction(client, raw, mail_from, recipients)
    finally:
        _close(client)
    return Accepted({r: _server_words(c, t) for r, (c, t) in refused.items()})


def _transaction(
    client: smtplib.SMTP, raw: bytes, mail_from: str, recipients: Sequence[str]
) -> dict[str, tuple[int, bytes]]:
    """MAIL, RCPT, DATA by hand (not `sendmail`), to know whether a broken connection came
    before the message was handed over (retry) or after (the server may have it)."""
    try:
        code, words = client.mail(mail_from)
        if code != 250:
            raise SmtpFault(
                f"the SMTP server refused the sender ({_server_words(code, words)})",
                permanent=code >= 500,
            )
        refused: dict[str, tuple[int, bytes]] = {}
        for rcpt in recipients:
            code, words = client.rcpt(rcpt)
            if code not in (250, 251):
                refused[rcpt] = (code, words)
        if len(refused) == len(recipients):
            client.rset()
            text = "; ".join(
                f"{safe_text(r)}: {_server_words(c, t)}" for r, (c, t) in refused.items()
            )
            raise SmtpFault(
                f"the SMTP server refused every recipient ({text})",
                permanent=all(c >= 500 for c, _ in refused.values()),
            )
    except (smtplib.SMTPException, OSError) as exc:
        raise SmtpFault(f"SMTP: {describe_fault(exc)}", permanent=False) from None
    try:
        code, words = client.data(raw)
    except smtplib.SMTPDataError as exc:  # DATA itself refused: nothing was handed over
        raise SmtpFault(
            f"the SMTP server refused the message ({_server_words(exc.smtp_code, exc.smtp_error)})",
            permanent=exc.smtp_code >= 500,
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise SmtpFault(
            f"SMTP: the connection broke while the server had the message ({describe_fault(exc)})",
            permanent=False,
            uncertain=True,
        ) from None
    if code != 250:
        raise SmtpFault(
            f"the SMTP server refused the message ({_server_words(code, words)})",
            permanent=code >= 500,
        )
    return refused
