"""Shared fixtures.

Server fixtures start real servers once per test session; under pytest-xdist every worker has
its own session, so its own servers on its own ports. A missing server program skips the test,
except in CI (environment variable CI set), where it fails.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn, TypeVar

import pytest
from servers import (
    DovecotServer,
    ImapAccount,
    PostgresServer,
    ServerUnavailable,
    SmtpServer,
    TlsCert,
    make_server_root,
    make_tls_cert,
    start_dovecot,
    start_postgres,
    start_smtp,
)

T = TypeVar("T")

SERVER_FIXTURES = frozenset(
    {
        "tls_cert",
        "dovecot",
        "imap_account",
        "smtp_server",
        "smtp_tls_server",
        "postgres_server",
        "pg_base_url",
        "pg_url",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a server fixture, so `-m "not servers"` leaves them out."""
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.servers)


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is an error, not a skip)", pytrace=False)
    pytest.skip(reason)


def _start(starter: Callable[[], T]) -> T:
    try:
        return starter()
    except ServerUnavailable as error:
        _unavailable(str(error))


@pytest.fixture(scope="session")
def server_root() -> Iterator[Path]:
    """A per-session temp dir for all servers; the system users they run as can traverse it."""
    root = make_server_root()
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def tls_cert(server_root: Path) -> TlsCert:
    """Self-signed certificate for 127.0.0.1/localhost; `tls_cert.ca_file` verifies it."""
    return _start(lambda: make_tls_cert(server_root / "tls"))


@pytest.fixture(scope="session")
def dovecot(server_root: Path, tls_cert: TlsCert) -> Iterator[DovecotServer]:
    server = _start(lambda: start_dovecot(server_root / "dovecot", tls_cert))
    yield server
    server.stop()


@pytest.fixture
def imap_account(dovecot: DovecotServer) -> ImapAccount:
    """A fresh Dovecot user with an empty mailbox."""
    return dovecot.add_user()


@pytest.fixture(scope="session")
def _smtp_plain() -> Iterator[SmtpServer]:
    server = _start(lambda: start_smtp("plain"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _smtp_starttls(tls_cert: TlsCert) -> Iterator[SmtpServer]:
    server = _start(lambda: start_smtp("starttls", tls_cert))
    yield server
    server.stop()


@pytest.fixture
def smtp_server(_smtp_plain: SmtpServer) -> SmtpServer:
    """Plain SMTP, no auth; `.messages` holds what this test sent."""
    _smtp_plain.clear()
    return _smtp_plain


@pytest.fixture
def smtp_tls_server(_smtp_starttls: SmtpServer) -> SmtpServer:
    """SMTP requiring STARTTLS then AUTH LOGIN/PLAIN with `.user`/`.password`."""
    _smtp_starttls.clear()
    return _smtp_starttls


@pytest.fixture(scope="session")
def postgres_server(server_root: Path) -> Iterator[PostgresServer]:
    server = _start(lambda: start_postgres(server_root / "postgres"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_base_url(postgres_server: PostgresServer) -> str:
    """URL of the cluster's `postgres` database (for admin work; tests use `pg_url`)."""
    return postgres_server.base_url


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    """`postgresql+psycopg://` URL of a fresh empty database, dropped after the test."""
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh team store's URL: each test that takes it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'team.sqlite'}"
    return str(request.getfixturevalue("pg_url"))
