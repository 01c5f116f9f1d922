"""What went wrong with a sync, said so that an agent or an admin knows what to do.

Every fault ends a sync, is shown (status line, service log) and is retried at the next run:
the stored folder marks mean a retry resumes, never repeats. Texts from servers are untrusted
and pass through `safe_text` before they reach a terminal.
"""

from __future__ import annotations

import errno
import socket
import ssl

from imapclient.exceptions import LoginError
from sqlalchemy.exc import OperationalError

from helpdesk.core.sanitize import safe_text
from helpdesk.sync.credentials import CredentialError

_DISK_FULL = "the disk is full: free some space; nothing was lost and the sync resumes"


def describe_fault(exc: BaseException) -> str:
    """One line for the status line and the log; never a traceback, never a password."""
    if isinstance(exc, LoginError):
        return "the server refused the login: check the user and the password (helpdesk auth set)"
    if isinstance(exc, CredentialError):
        return safe_text(str(exc))
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the server's certificate is not trusted ({safe_text(exc.verify_message or '')})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {safe_text(exc.reason or str(exc))}"
    if isinstance(exc, socket.timeout | TimeoutError):
        return "the server did not answer in time (timeout); retrying"
    if isinstance(exc, ConnectionRefusedError):
        return "the server refused the connection (is the host and port right, is it up?)"
    if isinstance(exc, socket.gaierror):
        return f"the server's name does not resolve ({safe_text(str(exc.strerror))})"
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return _DISK_FULL
    if isinstance(exc, OperationalError):
        text = str(exc.orig).lower()
        if "disk is full" in text:
            return _DISK_FULL
        if "disk i/o error" in text:
            return (
                "the cache could not be written (disk full or failing); nothing was lost and "
                "the sync resumes"
            )
    if isinstance(exc, ConnectionError | EOFError) or type(exc).__name__ == "AbortError":
        return f"the connection to the server broke ({safe_text(str(exc))[:120]}); retrying"
    return safe_text(f"{type(exc).__name__}: {exc}")[:300]
