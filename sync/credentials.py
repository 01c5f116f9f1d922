"""Account passwords: from a ``password_command`` or the system keyring, never from a file.

Nothing here logs or repeats a secret, nor the output of a password command (a failing
command may print part of what it guards): errors name the account, the service and the
exit status only.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from typing import TYPE_CHECKING, Literal

from helpdesk.core.config import AccountSettings

if TYPE_CHECKING:
    from types import ModuleType


def _keyring() -> ModuleType:
    """keyring, imported when a password is first looked up: it takes a fifth of a second
    to load its backends, which the app's first screen does not need."""
    import keyring
    import keyring.errors

    return keyring


__all__ = [
    "COMMAND_TIMEOUT",
    "KEYRING_SERVICE",
    "CredentialError",
    "delete_password",
    "get_password",
    "keyring_key",
    "set_password",
]

KEYRING_SERVICE = "helpdesk"
COMMAND_TIMEOUT = 30.0

Service = Literal["imap", "smtp"]
_SERVICES = ("imap", "smtp")


class CredentialError(Exception):
    """A password could not be found; the message says how to provide one."""

    def __init__(self, account: str, service: str | None, message: str) -> None:
        self.account = account
        self.service = service
        super().__init__(message)


def keyring_key(account_name: str, service: str | None = None) -> str:
    """The keyring user name: ``ACCOUNT:SERVICE``, or ``ACCOUNT`` for both services."""
    if service is None:
        return account_name
    if service not in _SERVICES:
        raise ValueError(f"service must be one of {_SERVICES}, not {service!r}")
    return f"{account_name}:{service}"


def get_password(account: AccountSettings, service: Service) -> str:
    """The password for ``account``'s ``service`` server.

    Order: the server's ``password_command``; the keyring entry ``ACCOUNT:SERVICE``; the
    keyring entry ``ACCOUNT`` (one password for both servers, the usual case).
    """
    if service not in _SERVICES:
        raise ValueError(f"service must be one of {_SERVICES}, not {service!r}")
    server = account.imap if service == "imap" else account.smtp
    command = server.password_command if server is not None else None
    if command:
        return _run_command(account.name, service, command)
    for user in (keyring_key(account.name, service), keyring_key(account.name)):
        try:
            found = _keyring().get_password(KEYRING_SERVICE, user)
        except _keyring().errors.KeyringError as err:
            raise CredentialError(
                account.name,
                service,
                f"account {account.name!r} ({service}): the keyring is not usable here "
                f"({type(err).__name__}); set password_command in "
                f"[accounts.{account.name}.{service}] instead",
            ) from None
        if found:
            return found
    raise CredentialError(
        account.name,
        service,
        f"account {account.name!r} ({service}): no password stored; run "
        f"`helpdesk auth set {account.name}` or set password_command in "
        f"[accounts.{account.name}.{service}]",
    )


def _run_command(account: str, service: str, command: str) -> str:
    where = f"account {account!r} ({service}): password_command"
    try:
        argv = shlex.split(command)
    except ValueError:
        raise CredentialError(account, service, f"{where} cannot be split into words") from None
    if not argv:
        raise CredentialError(account, service, f"{where} is empty")
    # No shell expands "~" for us, and "~/bin/getpw" is the natural way to write it.
    argv[0] = os.path.expanduser(argv[0])
    try:
        # No shell: the command line is split by us, so no expansion surprises.
        result = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise CredentialError(account, service, f"{where}: program {argv[0]!r} not found") from None
    except PermissionError:
        raise CredentialError(
            account, service, f"{where}: program {argv[0]!r} is not executable"
        ) from None
    except subprocess.TimeoutExpired:
        raise CredentialError(
            account, service, f"{where} did not finish within {COMMAND_TIMEOUT:g} s"
        ) from None
    except OSError as err:
        raise CredentialError(
            account, service, f"{where} could not be started ({err.strerror})"
        ) from None
    if result.returncode != 0:
        raise CredentialError(
            account, service, f"{where} failed with exit status {result.returncode}"
        )
    lines = result.stdout.decode("utf-8", errors="replace").splitlines()
    password = lines[0].strip() if lines else ""
    if not password:
        raise CredentialError(account, service, f"{where} printed no password")
    return password


def set_password(account_name: str, password: str, service: str | None = None) -> None:
    """Store a password in the keyring, for one service or (``service=None``) for both."""
    user = keyring_key(account_name, service)
    if not password:
        raise ValueError("an empty password cannot be stored")
    try:
        _keyring().set_password(KEYRING_SERVICE, user, password)
    except _keyring().errors.KeyringError as err:
        raise CredentialError(
            account_name,
            service,
            f"account {account_name!r}: the keyring refused the password "
            f"({type(err).__name__}); use password_command instead",
        ) from None


def delete_password(account_name: str, service: str | None = None) -> bool:
    """Remove a stored password; False when there was none."""
    try:
        _keyring().delete_password(KEYRING_SERVICE, keyring_key(account_name, service))
    except _keyring().errors.PasswordDeleteError:
        return False
    except _keyring().errors.KeyringError as err:
        raise CredentialError(
            account_name, service, f"account {account_name!r}: keyring error ({type(err).__name__})"
        ) from None
    return True
