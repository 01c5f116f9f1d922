"""Real servers for the tests: Dovecot IMAP, an aiosmtpd SMTP server and a PostgreSQL cluster.

Each start function writes its own configuration under a directory it is given, listens on
127.0.0.1 on free ports and returns once the server answers. Nothing here touches the system
configuration or the system services. pytest is not imported: conftest.py turns
`ServerUnavailable` into a skip (or a failure in CI).
"""

from __future__ import annotations

import contextlib
import grp
import itertools
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from imapclient import IMAPClient

HOST = "127.0.0.1"
IMAP_TIMEOUT = 10.0
START_TIMEOUT = 30.0
# Another xdist worker may take a port between our probe and the server's bind: retry then.
PORT_ATTEMPTS = 3


class ServerUnavailable(Exception):
    """A program or system user a server needs is not installed on this machine."""


class ServerStartError(Exception):
    """The server is installed but did not come up."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _is_root() -> bool:
    return os.geteuid() == 0


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _chown(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def make_server_root(prefix: str = "helpdesk-servers-") -> Path:
    """A temp dir that other system users (nobody, postgres) can traverse but not list."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o711)
    return root


# --------------------------------------------------------------------------- TLS


@dataclass(frozen=True)
class TlsCert:
    """A self-signed certificate for localhost and 127.0.0.1; it is its own CA."""

    cert_file: Path
    key_file: Path

    @property
    def ca_file(self) -> Path:
        return self.cert_file

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert_file))


def make_tls_cert(directory: Path) -> TlsCert:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ServerUnavailable("openssl is not installed (Debian package: openssl)")
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    # An EC key is made in milliseconds where RSA takes a noticeable fraction of a second.
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-nodes",
            "-days",
            "3",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return TlsCert(cert_file=cert, key_file=key)


# --------------------------------------------------------------------------- waiting


def _wait_until(
    ready: Any, process: subprocess.Popen[bytes] | None, what: str, log: Path | None
) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process is not None and process.poll() is not None:
            tail = _log_tail(log) if log else ""
            raise ServerStartError(f"{what} exited with status {process.returncode}\n{tail}")
        if ready():
            return
        if time.monotonic() > deadline:
            tail = _log_tail(log) if log else ""
            raise ServerStartError(f"{what} not ready after {START_TIMEOUT:.0f} s\n{tail}")
        time.sleep(0.02)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1.0):
            return True
    except OSError:
        return False


def _imap_greets(port: int) -> bool:
    """True once the IMAP login process answers, not merely once the master has bound."""
    try:
        with socket.create_connection((HOST, port), timeout=2.0) as sock:
            return sock.recv(200).startswith(b"* OK")
    except OSError:
        return False


def _stop_process_group(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Stop a server started with start_new_session=True, and whatever it forked."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    # The master is gone; children it left behind share its process group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


# --------------------------------------------------------------------------- Dovecot

_APPENDUID = re.compile(rb"APPENDUID \d+ (\d+)")
_SAFE_USER = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9._@+-]*")


@dataclass(frozen=True)
class ImapAccount:
    """One mailbox user on the test Dovecot, with helpers that set up mail over IMAP."""

    host: str
    port: int
    tls_port: int
    ca_file: Path
    user: str
    password: str

    def connect(self, tls: bool = False) -> IMAPClient:
        """A logged-in client; use it as a context manager so it logs out."""
        if tls:
            context = ssl.create_default_context(cafile=str(self.ca_file))
            client = IMAPClient(
                self.host,
                port=self.tls_port,
                ssl=True,
                ssl_context=context,
                timeout=IMAP_TIMEOUT,
            )
        else:
            client = IMAPClient(self.host, port=self.port, ssl=False, timeout=IMAP_TIMEOUT)
        client.login(self.user, self.password)
        return client

    def append(
        self,
        folder: str,
        raw: bytes,
        flags: Sequence[str | bytes] = (),
        msg_time: datetime | None = None,
    ) -> int:
        """Append one message and return its UID (from the APPENDUID response)."""
        with self.connect() as client:
            response = client.append(folder, raw, flags=tuple(flags), msg_time=msg_time)
        match = _APPENDUID.search(response)
        if match is None:
            raise AssertionError(f"no APPENDUID in {response!r}")
        return int(match.group(1))

    def create_folder(self, name: str) -> None:
        with self.connect() as client:
            client.create_folder(name)

    def uids(self, folder: str = "INBOX") -> list[int]:
        with self.connect() as client:
            client.select_folder(folder, readonly=True)
            return sorted(int(uid) for uid in client.search(["ALL"]))

    def fetch_raw(self, folder: str, uid: int) -> bytes:
        with self.connect() as client:
            client.select_folder(folder, readonly=True)
            data = client.fetch([uid], ["BODY.PEEK[]"])
        return bytes(data[uid][b"BODY[]"])

    def flags(self, folder: str, uid: int) -> set[bytes]:
        with self.connect() as client:
            client.select_folder(folder, readonly=True)
            return set(client.get_flags([uid])[uid])

    def add_flags(self, folder: str, uids: Iterable[int], flags: Sequence[str | bytes]) -> None:
        with self.connect() as client:
            client.select_folder(folder)
            client.add_flags(list(uids), list(flags))

    def expunge(self, folder: str, uids: Iterable[int]) -> None:
        """Delete these messages for good (as another mail client would)."""
        with self.connect() as client:
            client.select_folder(folder)
            targets = list(uids)
            client.add_flags(targets, [b"\\Deleted"])
            client.uid_expunge(targets)

    def move(self, folder: str, uids: Iterable[int], destination: str) -> None:
        with self.connect() as client:
            client.select_folder(folder)
            client.move(list(uids), destination)

    def write_config(
        self,
        directory: Path,
        *,
        tls: bool = True,
        store: str | None = None,
        address: str = "support@helpdesk.example",
        sent_folder: str = "Sent",
        batch_size: int | None = None,
        smtp: SmtpServer | None = None,
        extra: str = "",
    ) -> Path:
        """A helpdesk.toml in `directory` for this account (cache and, unless `store` names
        another, a SQLite team store beside it); the password comes by password_command."""
        directory.mkdir(parents=True, exist_ok=True)
        store = store or f"sqlite:///{directory / 'team.sqlite'}"
        imap = [
            f'host = "{self.host}"',
            f"port = {self.tls_port if tls else self.port}",
            f'tls = "{"tls" if tls else "none"}"',
            f'user = "{self.user}"',
            f'ca_file = "{self.ca_file}"',
            f'password_command = "printf %s {self.password}"',
            'folders = ["INBOX"]',
            f'sent_folder = "{sent_folder}"',
            *([f"batch_size = {batch_size}"] if batch_size else []),
        ]
        config = directory / "helpdesk.toml"
        config.write_text(
            "\n".join(
                [
                    "[agent]",
                    'name = "Jana Dvořáková"',
                    'email = "jana@helpdesk.example"',
                    "[team]",
                    f'store = "{store}"',
                    "[cache]",
                    f'path = "{directory / "cache.sqlite"}"',
                    "[accounts.support]",
                    f'address = "{address}"',
                    "[accounts.support.imap]",
                    *imap,
                    *(_smtp_config(smtp) if smtp is not None else []),
                ]
            )
            + "\n"
            + extra,
            encoding="utf-8",
        )
        return config


def _smtp_config(smtp: SmtpServer) -> list[str]:
    lines = [
        "[accounts.support.smtp]",
        f'host = "{smtp.host}"',
        f"port = {smtp.port}",
        f'tls = "{"none" if smtp.mode == "plain" else smtp.mode}"',
    ]
    if smtp.user:
        lines += [f'user = "{smtp.user}"', f'password_command = "printf %s {smtp.password}"']
    else:
        lines.append('user = ""')  # a relay that takes mail without a login
    if smtp.ca_file:
        lines.append(f'ca_file = "{smtp.ca_file}"')
    return lines


@dataclass
class DovecotServer:
    host: str
    port: int
    tls_port: int
    ca_file: Path
    root: Path
    passwd_dir: Path
    log_file: Path
    process: subprocess.Popen[bytes]
    _home_owner: str
    _serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_user(self, user: str | None = None, password: str | None = None) -> ImapAccount:
        """Create a user with an empty mailbox, usable at once."""
        with self._lock:
            user = user or f"agent{next(self._serial)}"
            if not _SAFE_USER.fullmatch(user):
                raise ValueError(f"user name {user!r} cannot name a passwd-file")
            password = password or secrets.token_hex(8)
            home = self.root / "home" / user
            home.mkdir(mode=0o700)
            _chown(home, self._home_owner)
            # user:password:uid:gid:gecos:home:shell:extra (uid/gid come from mail_uid)
            line = ":".join([user, "{PLAIN}" + password, "", "", "", str(home), "", ""])
            (self.passwd_dir / user).write_text(line + "\n")
        return ImapAccount(
            host=self.host,
            port=self.port,
            tls_port=self.tls_port,
            ca_file=self.ca_file,
            user=user,
            password=password,
        )

    def stop(self) -> None:
        _stop_process_group(self.process)


def _dovecot_config(
    root: Path, cert: TlsCert, port: int, tls_port: int, mail_user: str, mail_group: str
) -> str:
    if _is_root():
        # Root master: logins run as dovenull and internal services as dovecot (the package
        # creates both); only mailbox access is dropped to an unprivileged user.
        as_user = ""
    else:
        as_user = f"""
default_internal_user = {mail_user}
default_login_user = {mail_user}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""
    return f"""# Written by tests/servers.py for one test session.
base_dir = {root}/run
state_dir = {root}/state
instance_name = helpdesk-test-{port}
protocols = imap
listen = {HOST}
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log

ssl = yes
ssl_cert = <{cert.cert_file}
ssl_key = <{cert.key_file}
disable_plaintext_auth = no
auth_mechanisms = plain login
# Tests of wrong passwords should not wait the default 2 s.
auth_failure_delay = 0
auth_verbose = yes

# One passwd-file per user: Dovecot rereads a changed passwd-file at most once a second,
# so a user added to a shared file right after a login would stay unknown for up to 1 s.
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users/%u
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users/%u
}}

mail_location = maildir:~/Maildir
mail_uid = {mail_user}
mail_gid = {mail_group}
first_valid_uid = 1
mail_fsync = never
mail_max_userip_connections = 100
# IDLE falls back to polling where inotify is unavailable; keep that fast too.
mailbox_idle_check_interval = 1 secs

namespace inbox {{
  inbox = yes
  separator = /
  mailbox Drafts {{
    special_use = \\Drafts
  }}
  mailbox Sent {{
    special_use = \\Sent
  }}
  mailbox Junk {{
    special_use = \\Junk
  }}
  mailbox Trash {{
    special_use = \\Trash
  }}
  mailbox Archive {{
    special_use = \\Archive
  }}
}}

service imap-login {{
  chroot =
  inet_listener imap {{
    address = {HOST}
    port = {port}
  }}
  inet_listener imaps {{
    address = {HOST}
    port = {tls_port}
    ssl = yes
  }}
}}
# A failed login from an IP delays that IP's next logins by 2 to 15 s (the auth process
# asks anvil on this socket). Every test connects from 127.0.0.1, so one wrong-password
# test would slow all that follow: moving the socket makes the auth process skip it.
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    path = anvil-auth-penalty-off
  }}
}}
{as_user}"""


def start_dovecot(root: Path, cert: TlsCert) -> DovecotServer:
    """Start Dovecot under `root` (which must be traversable by the mail user)."""
    binary = shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
    )
    if binary is None:
        raise ServerUnavailable("dovecot is not installed (Debian package: dovecot-imapd)")
    if _is_root():
        mail_user, mail_group = "nobody", grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
        for system_user in ("dovecot", "dovenull"):
            try:
                pwd.getpwnam(system_user)
            except KeyError as error:
                raise ServerUnavailable(f"system user {system_user!r} is missing") from error
    else:
        mail_user = pwd.getpwuid(os.getuid()).pw_name
        mail_group = grp.getgrgid(os.getgid()).gr_name

    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o711)
    home = root / "home"
    home.mkdir(exist_ok=True)
    _chown(home, mail_user)
    passwd_dir = root / "users"
    passwd_dir.mkdir(exist_ok=True)
    log = root / "dovecot.log"

    last_error: ServerStartError | None = None
    for _ in range(PORT_ATTEMPTS):
        port, tls_port = free_port(), free_port()
        while tls_port == port:
            tls_port = free_port()
        conf = root / "dovecot.conf"
        conf.write_text(_dovecot_config(root, cert, port, tls_port, mail_user, mail_group))
        # Dovecot's children inherit the caller's stdout: never a pipe, or reads hang.
        with log.open("ab") as out:
            process = subprocess.Popen(
                [binary, "-F", "-c", str(conf)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        try:
            _wait_until(
                lambda p=port, t=tls_port: _imap_greets(p) and _accepts(t),
                process,
                "dovecot",
                log,
            )
        except ServerStartError as error:
            _stop_process_group(process)
            last_error = error
            continue
        return DovecotServer(
            host=HOST,
            port=port,
            tls_port=tls_port,
            ca_file=cert.ca_file,
            root=root,
            passwd_dir=passwd_dir,
            log_file=log,
            process=process,
            _home_owner=mail_user,
        )
    assert last_error is not None
    raise last_error


# --------------------------------------------------------------------------- SMTP


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    """The message as received, CRLF line ends, dot-stuffing removed."""
    auth_user: str | None = None


DataHook = Callable[[ReceivedMail], "str | None"]


class _Recorder:
    def __init__(self, sink: list[ReceivedMail], hooks: list[DataHook]) -> None:
        self.sink = sink
        self.hooks = hooks

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content
        if raw is None:
            raw = envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        # The authenticator hands back the LoginPassword it checked (login_data is deprecated).
        auth = getattr(session, "auth_data", None)
        login = getattr(auth, "login", None)
        mail = ReceivedMail(
            mail_from=str(envelope.mail_from),
            rcpt_tos=list(envelope.rcpt_tos),
            data=bytes(raw),
            auth_user=login.decode() if isinstance(login, bytes) else None,
        )
        for hook in list(self.hooks):
            answer = hook(mail)
            if answer is not None:  # the hook refuses the message with this reply
                return answer
        self.sink.append(mail)
        return "250 2.0.0 Message accepted for delivery"


SmtpMode = Literal["plain", "starttls", "tls"]


@dataclass
class SmtpServer:
    """An SMTP server that keeps every message it receives in `messages`."""

    host: str
    port: int
    mode: SmtpMode
    user: str | None
    password: str | None
    ca_file: Path | None
    messages: list[ReceivedMail]
    _controller: Any
    # Called with each message before it is kept: a hook that returns an SMTP reply refuses
    # the message with it ("550 5.7.1 ..."); a hook may also stop the client (a crash test).
    hooks: list[DataHook] = field(default_factory=list)

    def clear(self) -> None:
        self.messages.clear()
        self.hooks.clear()

    def stop(self) -> None:
        self._controller.stop()


def start_smtp(
    mode: SmtpMode = "plain",
    cert: TlsCert | None = None,
    user: str = "mailer@example.com",
    password: str = "s3cret-Passw0rd",
) -> SmtpServer:
    """Plain SMTP without auth; or STARTTLS/implicit TLS requiring AUTH LOGIN/PLAIN."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    messages: list[ReceivedMail] = []
    hooks: list[DataHook] = []

    def authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        accepted = (
            mechanism in ("LOGIN", "PLAIN")
            and isinstance(auth_data, LoginPassword)
            and secrets.compare_digest(auth_data.login, user.encode())
            and secrets.compare_digest(auth_data.password, password.encode())
        )
        return AuthResult(success=accepted, handled=False, auth_data=auth_data)

    kwargs: dict[str, Any] = {
        # Without a name aiosmtpd asks the resolver for our FQDN, which can take seconds.
        "server_hostname": "smtp.example.net",
        "enable_SMTPUTF8": True,
        "decode_data": False,
    }
    if mode != "plain":
        if cert is None:
            raise ValueError(f"SMTP mode {mode!r} needs a certificate")
        kwargs.update(authenticator=authenticate, auth_required=True, auth_require_tls=True)
        if mode == "starttls":
            kwargs.update(tls_context=cert.server_context(), require_starttls=True)
        else:
            kwargs.update(ssl_context=cert.server_context())

    last_error: Exception | None = None
    for _ in range(PORT_ATTEMPTS):
        controller = Controller(
            _Recorder(messages, hooks), hostname=HOST, port=free_port(), **kwargs
        )
        try:
            controller.start()
        except Exception as error:  # a lost race for the port shows up as a bind error
            last_error = error
            continue
        return SmtpServer(
            host=HOST,
            port=controller.port,
            mode=mode,
            user=None if mode == "plain" else user,
            password=None if mode == "plain" else password,
            ca_file=None if cert is None else cert.ca_file,
            messages=messages,
            _controller=controller,
            hooks=hooks,
        )
    raise ServerStartError(f"aiosmtpd did not start: {last_error!r}")


# --------------------------------------------------------------------------- PostgreSQL


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.name)) or (0,)


def find_postgres_bin() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin, else the directory of pg_ctl on PATH."""
    base = Path("/usr/lib/postgresql")
    if base.is_dir():
        versions = sorted(
            (d for d in base.iterdir() if (d / "bin" / "initdb").exists()), key=_version_key
        )
        if versions:
            return versions[-1] / "bin"
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl and shutil.which("initdb"):
        return Path(pg_ctl).resolve().parent
    return None


@dataclass
class PostgresServer:
    host: str
    port: int
    user: str
    data_dir: Path
    log_file: Path
    bin_dir: Path
    _run_as: list[str]
    _serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy 2 URL for psycopg 3 (trust authentication: no password)."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    @property
    def base_url(self) -> str:
        return self.url()

    def _admin(self) -> Any:
        import psycopg

        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            dbname="postgres",
            autocommit=True,
            connect_timeout=10,
        )

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database and return its name."""
        with self._lock:
            name = name or f"test_{next(self._serial)}_{secrets.token_hex(3)}"
        from psycopg import sql

        with self._admin() as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def drop_database(self, name: str) -> None:
        from psycopg import sql

        # FORCE ends connections a test's engine pool may still hold open.
        with self._admin() as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def stop(self) -> None:
        subprocess.run(
            [
                *self._run_as,
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.data_dir.parent,
            timeout=60,
            check=False,
        )


def start_postgres(root: Path) -> PostgresServer:
    """initdb + pg_ctl start under `root`, as the postgres system user when we are root."""
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        raise ServerUnavailable("PostgreSQL is not installed (Debian package: postgresql)")
    run_as: list[str] = []
    if _is_root():
        # The server refuses to run as root.
        try:
            pwd.getpwnam("postgres")
        except KeyError as error:
            raise ServerUnavailable("the 'postgres' system user is missing") from error
        runuser = shutil.which("runuser")
        if runuser is None:
            raise ServerUnavailable("runuser (util-linux) is needed to run PostgreSQL as root")
        run_as = [runuser, "-u", "postgres", "--"]

    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o700)
    if _is_root():
        _chown(root, "postgres")
    data, sockets, log = root / "data", root / "sockets", root / "postgres.log"
    sockets.mkdir(exist_ok=True)
    log.touch()
    if _is_root():
        _chown(sockets, "postgres")
        _chown(log, "postgres")

    def run(args: list[str]) -> subprocess.CompletedProcess[bytes]:
        with log.open("ab") as out:
            return subprocess.run(
                [*run_as, *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                cwd=root,
                timeout=120,
                check=False,
                env={**os.environ, "LC_ALL": "C", "LANG": "C"},
            )

    result = run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]
    )
    if result.returncode != 0:
        raise ServerStartError(f"initdb failed\n{_log_tail(log)}")
    # Durability is pointless for a throw-away cluster and costs seconds per test run.
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(
            f"\nlisten_addresses = '{HOST}'\n"
            f"unix_socket_directories = '{sockets}'\n"
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            "max_connections = 50\nshared_buffers = 32MB\n"
        )

    last_error = ""
    for _ in range(PORT_ATTEMPTS):
        port = free_port()
        result = run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(log),
                "-o",
                f"-p {port}",
                "-w",
                "-t",
                str(int(START_TIMEOUT)),
                "start",
            ]
        )
        if result.returncode == 0:
            server = PostgresServer(
                host=HOST,
                port=port,
                user="postgres",
                data_dir=data,
                log_file=log,
                bin_dir=bin_dir,
                _run_as=run_as,
            )
            _wait_until(lambda p=port: _accepts(p), None, "postgres", log)
            return server
        last_error = _log_tail(log)
    raise ServerStartError(f"pg_ctl start failed\n{last_error}")
