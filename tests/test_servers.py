"""Smoke tests: the test servers really are servers a client can use."""

from __future__ import annotations

import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage

import imapclient
import pytest
import sqlalchemy as sa
from servers import DovecotServer, ImapAccount, PostgresServer, SmtpServer

RAW = (
    b"From: Ada Customer <ada@example.com>\r\n"
    b"To: Support <support@example.org>\r\n"
    b"Subject: Printer on fire\r\n"
    b"Message-ID: <smoke-1@example.com>\r\n"
    b"Date: Mon, 02 Jun 2025 09:30:00 +0000\r\n"
    b"\r\n"
    b"It is still burning.\r\n"
)


def _message(subject: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "support@example.org"
    message["To"] = "ada@example.com"
    message["Subject"] = subject
    message.set_content("We are on it.\n")
    return message


# ---------------------------------------------------------------- IMAP


def test_imap_append_and_fetch_plain(imap_account: ImapAccount) -> None:
    when = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)
    uid = imap_account.append("INBOX", RAW, flags=[b"\\Flagged"], msg_time=when)

    assert imap_account.uids("INBOX") == [uid]
    assert imap_account.fetch_raw("INBOX", uid) == RAW
    assert b"\\Flagged" in imap_account.flags("INBOX", uid)
    with imap_account.connect() as client:
        client.select_folder("INBOX", readonly=True)
        internal = client.fetch([uid], ["INTERNALDATE"])[uid][b"INTERNALDATE"]
    assert internal.astimezone(UTC) == when


def test_imap_over_tls_verifies_the_test_ca(imap_account: ImapAccount) -> None:
    uid = imap_account.append("INBOX", RAW)
    with imap_account.connect(tls=True) as client:
        assert isinstance(client.socket(), ssl.SSLSocket)
        client.select_folder("INBOX", readonly=True)
        fetched = client.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"]
    assert fetched == RAW


def test_imap_tls_rejects_an_unknown_ca(imap_account: ImapAccount) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        imapclient.IMAPClient(
            imap_account.host,
            port=imap_account.tls_port,
            ssl=True,
            ssl_context=ssl.create_default_context(),
            timeout=5,
        )


def test_imap_starttls_on_plain_port(imap_account: ImapAccount) -> None:
    client = imapclient.IMAPClient(imap_account.host, port=imap_account.port, ssl=False, timeout=5)
    try:
        client.starttls(ssl.create_default_context(cafile=str(imap_account.ca_file)))
        client.login(imap_account.user, imap_account.password)
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
    finally:
        client.logout()


def test_imap_capabilities_after_login(imap_account: ImapAccount) -> None:
    with imap_account.connect() as client:
        capabilities = set(client.capabilities())
        assert {b"CONDSTORE", b"QRESYNC", b"IDLE", b"UIDPLUS", b"MOVE"} <= capabilities
        assert client.enable("QRESYNC") == [b"QRESYNC"]
        status = client.folder_status("INBOX", [b"HIGHESTMODSEQ", b"UIDVALIDITY"])
        assert status[b"HIGHESTMODSEQ"] >= 1


def test_imap_wrong_password_is_refused(imap_account: ImapAccount) -> None:
    client = imapclient.IMAPClient(imap_account.host, port=imap_account.port, ssl=False, timeout=5)
    try:
        with pytest.raises(imapclient.exceptions.LoginError):
            client.login(imap_account.user, imap_account.password + "x")
    finally:
        client.shutdown()


def test_imap_unknown_user_is_refused(dovecot: DovecotServer) -> None:
    client = imapclient.IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=5)
    try:
        with pytest.raises(imapclient.exceptions.LoginError):
            client.login("nobody-here@example.com", "secret")
    finally:
        client.shutdown()


def test_imap_accounts_are_isolated(dovecot: DovecotServer) -> None:
    first, second = dovecot.add_user(), dovecot.add_user()
    assert first.user != second.user
    first.append("INBOX", RAW)
    assert second.uids("INBOX") == []


def test_imap_folder_helpers(imap_account: ImapAccount) -> None:
    imap_account.create_folder("Archive")
    uids = [imap_account.append("INBOX", RAW) for _ in range(3)]
    imap_account.move("INBOX", uids[:1], "Archive")
    imap_account.expunge("INBOX", uids[1:2])
    assert imap_account.uids("INBOX") == uids[2:]
    assert len(imap_account.uids("Archive")) == 1
    with imap_account.connect() as client:
        archive = [f for f in client.list_folders() if f[2] == "Archive"]
    assert archive and b"\\Archive" in archive[0][0]


def test_imap_idle_sees_new_mail(imap_account: ImapAccount) -> None:
    with imap_account.connect() as client:
        client.select_folder("INBOX")
        client.idle()
        try:
            imap_account.append("INBOX", RAW)
            responses = client.idle_check(timeout=5)
        finally:
            client.idle_done()
    assert (1, b"EXISTS") in responses


# ---------------------------------------------------------------- SMTP


def test_smtp_plain_stores_the_envelope(smtp_server: SmtpServer) -> None:
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        refused = client.send_message(
            _message("Plain"),
            from_addr="bounce@example.org",
            to_addrs=["ada@example.com", "team@example.org"],
        )
    assert refused == {}
    assert len(smtp_server.messages) == 1
    received = smtp_server.messages[0]
    assert received.mail_from == "bounce@example.org"
    assert received.rcpt_tos == ["ada@example.com", "team@example.org"]
    assert b"Subject: Plain\r\n" in received.data
    assert received.data.endswith(b"We are on it.\r\n")
    assert received.auth_user is None


def test_smtp_fixture_starts_empty(smtp_server: SmtpServer) -> None:
    assert smtp_server.messages == []


def test_smtp_starttls_with_auth(smtp_tls_server: SmtpServer) -> None:
    assert smtp_tls_server.ca_file is not None
    assert smtp_tls_server.user and smtp_tls_server.password
    context = ssl.create_default_context(cafile=str(smtp_tls_server.ca_file))
    with smtplib.SMTP(smtp_tls_server.host, smtp_tls_server.port, timeout=5) as client:
        client.starttls(context=context)
        client.login(smtp_tls_server.user, smtp_tls_server.password)
        client.send_message(_message("Secure"), to_addrs=["ada@example.com"])
    assert [m.rcpt_tos for m in smtp_tls_server.messages] == [["ada@example.com"]]
    assert smtp_tls_server.messages[0].auth_user == smtp_tls_server.user
    assert b"Subject: Secure" in smtp_tls_server.messages[0].data


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_smtp_auth_mechanisms(smtp_tls_server: SmtpServer, mechanism: str) -> None:
    assert smtp_tls_server.user and smtp_tls_server.password and smtp_tls_server.ca_file
    context = ssl.create_default_context(cafile=str(smtp_tls_server.ca_file))
    with smtplib.SMTP(smtp_tls_server.host, smtp_tls_server.port, timeout=5) as client:
        client.starttls(context=context)
        client.ehlo()
        client.user, client.password = smtp_tls_server.user, smtp_tls_server.password
        code, _ = client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))
        assert code == 235


def test_smtp_tls_server_refuses_bad_password_and_unauthenticated_mail(
    smtp_tls_server: SmtpServer,
) -> None:
    assert smtp_tls_server.ca_file and smtp_tls_server.user
    context = ssl.create_default_context(cafile=str(smtp_tls_server.ca_file))
    with smtplib.SMTP(smtp_tls_server.host, smtp_tls_server.port, timeout=5) as client:
        client.starttls(context=context)
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login(smtp_tls_server.user, "wrong")
        with pytest.raises(smtplib.SMTPSenderRefused):
            client.send_message(_message("Nope"), to_addrs=["ada@example.com"])
    assert smtp_tls_server.messages == []


# ---------------------------------------------------------------- PostgreSQL


def test_postgres_roundtrip(pg_url: str) -> None:
    assert pg_url.startswith("postgresql+psycopg://")
    engine = sa.create_engine(pg_url)
    metadata = sa.MetaData()
    tickets = sa.Table(
        "tickets",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("subject", sa.Text, nullable=False),
    )
    try:
        metadata.create_all(engine)
        with engine.begin() as connection:
            connection.execute(
                tickets.insert(), [{"subject": "Printer on fire"}, {"subject": "Ünïcödé"}]
            )
        with engine.connect() as connection:
            rows = connection.execute(sa.select(tickets.c.subject).order_by(tickets.c.id))
            assert rows.scalars().all() == ["Printer on fire", "Ünïcödé"]
            assert connection.execute(sa.text("SHOW server_encoding")).scalar() == "UTF8"
    finally:
        engine.dispose()


def test_postgres_databases_are_fresh_and_dropped(
    postgres_server: PostgresServer, pg_url: str
) -> None:
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as connection:
            tables = connection.execute(
                sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            ).scalar()
            assert tables == 0
    finally:
        engine.dispose()
    name = postgres_server.create_database()
    postgres_server.drop_database(name)
    admin = sa.create_engine(postgres_server.base_url)
    try:
        with admin.connect() as connection:
            names = connection.execute(sa.text("SELECT datname FROM pg_database")).scalars()
            assert name not in set(names)
    finally:
        admin.dispose()
