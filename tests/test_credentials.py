"""Passwords from password_command and from a real (in-memory) keyring backend."""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import keyring.backend
import keyring.errors
import pytest

from helpdesk.core.config import AccountSettings, ImapSettings, SmtpSettings, TlsMode
from helpdesk.sync import credentials
from helpdesk.sync.credentials import CredentialError, get_password, set_password


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A complete keyring backend that keeps secrets in a dict for the test's lifetime."""

    priority = -1  # never picked by keyring's own detection: tests set it explicitly

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.store.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError("not found")


class LockedKeyring(keyring.backend.KeyringBackend):
    """A backend that cannot be used, like a locked or absent desktop keyring."""

    priority = -1

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.PasswordSetError("locked")


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


def account(
    imap_command: str | None = None, smtp_command: str | None = None, name: str = "support"
) -> AccountSettings:
    return AccountSettings(
        name=name,
        address="support@example.com",
        imap=ImapSettings(
            host="imap.example.com",
            port=993,
            tls=TlsMode.TLS,
            user="support@example.com",
            password_command=imap_command,
        ),
        smtp=SmtpSettings(
            host="smtp.example.com",
            port=465,
            tls=TlsMode.TLS,
            user="support@example.com",
            password_command=smtp_command,
        ),
    )


# ------------------------------------------------------------------------------------------
# password_command


def test_command_first_line_stripped(memory_keyring: MemoryKeyring) -> None:
    acct = account(imap_command="printf '%s\\n' '  s3cret  ' 'second line'")
    assert get_password(acct, "imap") == "s3cret"


def test_command_is_split_not_run_by_a_shell(memory_keyring: MemoryKeyring) -> None:
    acct = account(imap_command="echo 'two words' $HOME;", smtp_command="printf %s 'x y'")
    assert get_password(acct, "imap") == "two words $HOME;"
    assert get_password(acct, "smtp") == "x y"


def test_command_wins_over_the_keyring(memory_keyring: MemoryKeyring) -> None:
    set_password("support", "from-keyring")
    acct = account(imap_command="echo from-command")
    assert get_password(acct, "imap") == "from-command"
    assert get_password(acct, "smtp") == "from-keyring"  # smtp has no command of its own


def test_failing_command_names_account_and_status_but_not_output(
    memory_keyring: MemoryKeyring,
) -> None:
    acct = account(imap_command="sh -c 'echo leaked-secret; echo leaked-err >&2; exit 3'")
    with pytest.raises(CredentialError) as info:
        get_password(acct, "imap")
    message = str(info.value)
    assert "'support'" in message and "imap" in message
    assert "exit status 3" in message
    assert "leaked" not in message


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("/nonexistent/helpdesk-secret-tool get", "not found"),
        ("printf ''", "printed no password"),
        ("echo 'unbalanced", "cannot be split"),
    ],
)
def test_bad_commands(memory_keyring: MemoryKeyring, command: str, reason: str) -> None:
    with pytest.raises(CredentialError) as info:
        get_password(account(smtp_command=command), "smtp")
    assert reason in str(info.value)
    assert info.value.account == "support" and info.value.service == "smtp"


def test_slow_command_times_out(
    memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(credentials, "COMMAND_TIMEOUT", 0.2)
    with pytest.raises(CredentialError) as info:
        get_password(account(imap_command="sleep 5"), "imap")
    assert "did not finish" in str(info.value)


# ------------------------------------------------------------------------------------------
# keyring


def test_keyring_service_key_then_account_key(memory_keyring: MemoryKeyring) -> None:
    set_password("support", "both")
    set_password("support", "imap-only", "imap")
    assert memory_keyring.store == {
        ("helpdesk", "support"): "both",
        ("helpdesk", "support:imap"): "imap-only",
    }
    assert get_password(account(), "imap") == "imap-only"
    assert get_password(account(), "smtp") == "both"


def test_missing_password_says_how_to_set_it(memory_keyring: MemoryKeyring) -> None:
    set_password("other", "not ours")
    with pytest.raises(CredentialError) as info:
        get_password(account(), "smtp")
    assert "helpdesk auth set support" in str(info.value)


def test_unusable_keyring_points_to_password_command() -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(LockedKeyring())
    try:
        with pytest.raises(CredentialError) as info:
            get_password(account(), "imap")
        assert "password_command" in str(info.value)
        with pytest.raises(CredentialError):
            set_password("support", "pw")
        # a command still works without any keyring
        assert get_password(account(imap_command="echo ok"), "imap") == "ok"
    finally:
        keyring.set_keyring(previous)


def test_delete_password(memory_keyring: MemoryKeyring) -> None:
    set_password("support", "pw", "smtp")
    assert credentials.delete_password("support", "smtp") is True
    assert credentials.delete_password("support", "smtp") is False
    assert memory_keyring.store == {}


@pytest.mark.parametrize(("service", "password"), [("pop3", "pw"), (None, "")])
def test_set_password_rejects_bad_input(
    memory_keyring: MemoryKeyring, service: str | None, password: str
) -> None:
    with pytest.raises(ValueError):
        set_password("support", password, service)
    assert memory_keyring.store == {}
