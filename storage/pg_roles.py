"""Database-enforced permissions for a PostgreSQL team store: one database role per agent.

The client already refuses what an agent may not do (core/team.py); with these roles the
database refuses it too, so an agent with a modified client or a plain SQL prompt cannot
take a colleague's ticket, write a note in someone else's name or rewrite the audit trail.

* `team_db_role` maps a login role to an agent's email. Identity is the *session* user,
  which only a superuser can change: `SET ROLE` to the group does not shed it.
* Agent roles belong to a group role (default `<database>_agents`) that holds the grants:
  read everything, insert registrations, update tickets and agents, append notes and events.
  No DELETE except of one's own presence and skip rows; no DDL.
* Triggers on `team_ticket` and `team_agent` enforce the rules that depend on the old and the
  new row (which row-level security cannot compare): an agent changes `assignee` only of a
  ticket that is unassigned or theirs, takes the reply lock only for themselves, changes
  nobody else's agent row and no role; leads and admins may move any ticket.
* Row-level security makes notes, events, presence and skips carry the session's agent.

The table owner (the admin who ran `install_row_security`) and superusers are not restricted:
the headless sync service can run as the owner.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, create_engine, text

from helpdesk.core.team import EventKind, Role
from helpdesk.storage.team_events import add_event
from helpdesk.storage.team_models import TEAM_TABLES
from helpdesk.storage.team_store import TeamStore

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_SCRAM_ITERATIONS = 4096  # PostgreSQL's default scram_iterations

# Tables agents read and may add rows to; updates and deletes are granted separately.
_READ = ("team_schema_version", *(t.name for t in TEAM_TABLES))
_INSERT = (
    "team_meta",
    "team_ticket",
    "message_index",
    "reference_index",
    "team_note",
    "team_event",
    "team_presence",
    "team_skip",
    "team_draft",
    "auto_mail",
)


class RoleError(Exception):
    """The admin's request cannot be carried out; the message says why."""


def default_group(admin_url: str) -> str:
    """The group role of a team database: roles are cluster-wide, so one per database."""
    database = create_engine(admin_url).url.database or "helpdesk"
    return _check_name(f"{database}_agents"[:63].lower(), "group role")


def _check_name(name: str, what: str) -> str:
    # Plain lower-case names only: they need no quoting in psql, pg_hba.conf or .pgpass.
    if not _NAME.match(name):
        raise RoleError(
            f"{what} {name!r}: use lower-case letters, digits and '_' (at most 63, not first digit)"
        )
    return name


@contextmanager
def _admin(admin_url: str) -> Iterator[Connection]:
    engine: Engine = create_engine(admin_url)
    if engine.dialect.name != "postgresql":
        raise RoleError("database roles exist on PostgreSQL only; a SQLite team store is one file")
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def _install_sql(schema: str, database: str, group: str) -> list[str]:
    s, g = f'"{schema}"', f'"{group}"'
    path = f"SET search_path = {s}, pg_temp"
    return [
        f"""CREATE TABLE IF NOT EXISTS {s}.team_db_role (
            role_name TEXT PRIMARY KEY,
            email TEXT NOT NULL REFERENCES {s}.team_agent(email))""",
        f"REVOKE ALL ON {s}.team_db_role FROM PUBLIC",
        # Who is acting: the login role of the session, mapped to an agent (NULL: not mapped).
        f"""CREATE OR REPLACE FUNCTION {s}.helpdesk_agent() RETURNS TEXT
            LANGUAGE sql STABLE SECURITY DEFINER {path} AS
            $$ SELECT email FROM team_db_role WHERE role_name = session_user $$""",
        f"""CREATE OR REPLACE FUNCTION {s}.helpdesk_is_lead(who TEXT) RETURNS BOOLEAN
            LANGUAGE sql STABLE SECURITY DEFINER {path} AS
            $$ SELECT coalesce((SELECT role IN ('lead', 'admin') FROM team_agent
                                WHERE email = who), false) $$""",
        f"""CREATE OR REPLACE FUNCTION {s}.helpdesk_is_admin(who TEXT) RETURNS BOOLEAN
            LANGUAGE sql STABLE SECURITY DEFINER {path} AS
            $$ SELECT coalesce((SELECT role = 'admin' FROM team_agent
                                WHERE email = who), false) $$""",
        # The owner of the tables (and superusers, members of every role) are not restricted.
        f"""CREATE OR REPLACE FUNCTION {s}.helpdesk_unrestricted() RETURNS BOOLEAN
            LANGUAGE sql STABLE SECURITY DEFINER {path} AS
            $$ SELECT pg_has_role(session_user,
                   (SELECT relowner FROM pg_class WHERE oid = 'team_ticket'::regclass),
                   'MEMBER') $$""",
        # Who a guard acts for: NULL for the owner (unrestricted), an error for a database
        # role that is no agent, else the agent's email. One prelude for every guard.
        f"""CREATE OR REPLACE FUNCTION {s}.helpdesk_acting_agent() RETURNS TEXT
            LANGUAGE plpgsql STABLE SECURITY DEFINER {path} AS $$
        DECLARE
            me TEXT;
        BEGIN
            IF helpdesk_unrestricted() THEN
                RETURN NULL;
            END IF;
            me := helpdesk_agent();
            IF me IS NULL THEN
                RAISE EXCEPTION 'database role % is not mapped to an agent of this team',
                    session_user USING ERRCODE = '42501';
            END IF;
            RETURN me;
        END $$""",
        f"""CREATE OR REPLACE FUNCTION {s}.helpdesk_ticket_guard() RETURNS trigger
            LANGUAGE plpgsql SECURITY DEFINER {path} AS $$
        DECLARE
            me TEXT := helpdesk_acting_agent();
        BEGIN
            IF me IS NULL THEN
                RETURN NEW;  -- the team's owner (migrations, admin tools)
            END IF;
            IF helpdesk_is_lead(me) THEN
                RETURN NEW;
            END IF;
            IF TG_OP = 'INSERT' THEN
                IF NEW.assignee IS NOT NULL AND NEW.assignee <> me THEN
                    RAISE EXCEPTION 'only a lead can open a ticket for another agent'
                        USING ERRCODE = '42501';
                END IF;
            ELSE
                IF NEW.number <> OLD.number OR NEW.created_at <> OLD.created_at
                   OR NEW.subject <> OLD.subject
                   OR NEW.customer_email <> OLD.customer_email THEN
                    RAISE EXCEPTION 'ticket #% keeps its number, subject, customer and date',
                        OLD.number USING ERRCODE = '42501';
                END IF;
                IF NEW.assignee IS DISTINCT FROM OLD.assignee
                   AND OLD.assignee IS NOT NULL AND OLD.assignee <> me THEN
                    RAISE EXCEPTION 'ticket #% is held by %; only a lead can take or reassign it',
                        OLD.number, OLD.assignee USING ERRCODE = '42501';
                END IF;
            END IF;
            IF NEW.lock_holder IS NOT NULL AND NEW.lock_holder <> me
               AND (TG_OP = 'INSERT' OR NEW.lock_holder IS DISTINCT FROM OLD.lock_holder) THEN
                RAISE EXCEPTION 'only % can take the reply lock for %', NEW.lock_holder,
                    NEW.lock_holder USING ERRCODE = '42501';
            END IF;
            RETURN NEW;
        END $$""",
        f"""CREATE OR REPLACE FUNCTION {s}.helpdesk_agent_guard() RETURNS trigger
            LANGUAGE plpgsql SECURITY DEFINER {path} AS $$
        DECLARE
            me TEXT := helpdesk_acting_agent();
        BEGIN
            IF me IS NULL THEN
                RETURN NEW;  -- the team's owner (migrations, admin tools)
            END IF;
            IF helpdesk_is_admin(me) THEN
                RETURN NEW;
            END IF;
            IF NEW.email <> OLD.email OR NEW.created_at <> OLD.created_at
               OR NEW.role <> OLD.role THEN
                RAISE EXCEPTION 'only an admin can change roles' USING ERRCODE = '42501';
            END IF;
            IF OLD.email = me THEN
                RETURN NEW;
            END IF;
            -- A lead hands over an absent colleague's work and marks them away; nothing else.
            IF helpdesk_is_lead(me) AND NEW.name = OLD.name
               AND NEW.departments = OLD.departments THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION 'only an admin can change another agent' USING ERRCODE = '42501';
        END $$""",
        f"DROP TRIGGER IF EXISTS helpdesk_ticket_guard ON {s}.team_ticket",
        f"""CREATE TRIGGER helpdesk_ticket_guard BEFORE INSERT OR UPDATE ON {s}.team_ticket
            FOR EACH ROW EXECUTE FUNCTION {s}.helpdesk_ticket_guard()""",
        f"DROP TRIGGER IF EXISTS helpdesk_agent_guard ON {s}.team_agent",
        f"""CREATE TRIGGER helpdesk_agent_guard BEFORE UPDATE ON {s}.team_agent
            FOR EACH ROW EXECUTE FUNCTION {s}.helpdesk_agent_guard()""",
        # Grants, to the group only.
        f'GRANT CONNECT ON DATABASE "{database}" TO {g}',
        f"GRANT USAGE ON SCHEMA {s} TO {g}",
        f"GRANT SELECT ON {', '.join(f'{s}.{t}' for t in _READ)} TO {g}",
        f"GRANT INSERT ON {', '.join(f'{s}.{t}' for t in _INSERT)} TO {g}",
        f"GRANT UPDATE ON {s}.team_ticket, {s}.team_agent, {s}.team_draft TO {g}",
        # Automatic replies: decided by a registration, claimed and marked by a sender.
        f"GRANT UPDATE ON {s}.auto_mail TO {g}",
        f"GRANT DELETE ON {s}.team_presence, {s}.team_skip TO {g}",
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {s} TO {g}",
        *(
            f"GRANT EXECUTE ON FUNCTION {s}.{f}() TO {g}"
            for f in ("helpdesk_agent", "helpdesk_unrestricted")
        ),
        # Row-level security: rows written carry the session's agent.
        *_policies(s, g),
    ]


# Routing rules act in the transaction that registers the mail, on a ticket that this very
# transaction wrote (its row version is ours): no agent can sign as "rules" elsewhere.
def _by_rules(table: str, column: str) -> str:
    return (
        f"{table}.{column} = 'rules' AND EXISTS (SELECT 1 FROM team_ticket t "
        f"WHERE t.number = {table}.ticket AND t.xmin = pg_current_xact_id()::xid)"
    )


def _policies(s: str, g: str) -> list[str]:
    me = f"{s}.helpdesk_agent()"
    rules: dict[str, list[tuple[str, str, str | None, str | None]]] = {
        # table: [(policy, command, USING, WITH CHECK)]
        "team_note": [
            ("read", "SELECT", "true", None),
            (
                "own",
                "INSERT",
                None,
                f"author = {me} OR ({_by_rules('team_note', 'author')})",
            ),
        ],
        "team_event": [
            ("read", "SELECT", "true", None),
            # Registering new mail opens tickets in the name of the system.
            (
                "own",
                "INSERT",
                None,
                f"actor = {me} OR (actor = 'system' AND kind = 'created') "
                f"OR ({_by_rules('team_event', 'actor')})",
            ),
        ],
        "team_presence": [
            ("read", "SELECT", "true", None),
            ("own", "INSERT", None, f"agent = {me}"),
            ("own_delete", "DELETE", f"agent = {me} OR expires_at < now()", None),
        ],
        "team_skip": [
            ("own_read", "SELECT", f"agent = {me}", None),
            ("own", "INSERT", None, f"agent = {me}"),
            ("own_delete", "DELETE", f"agent = {me}", None),
        ],
        "team_draft": [
            # A colleague taking a ticket over reads the draft; only its author changes it.
            ("read", "SELECT", "true", None),
            ("own", "INSERT", None, f"author = {me}"),
            ("own_update", "UPDATE", f"author = {me}", f"author = {me}"),
        ],
        "team_meta": [
            ("read", "SELECT", "true", None),
            # The signing key is made by whoever needs it first; nothing else is added.
            ("secret", "INSERT", None, "key = 'hmac_secret'"),
        ],
    }
    out: list[str] = []
    for table, policies in rules.items():
        out.append(f"ALTER TABLE {s}.{table} ENABLE ROW LEVEL SECURITY")
        for name, command, using, check in policies:
            policy = f"helpdesk_{name}"
            out.append(f"DROP POLICY IF EXISTS {policy} ON {s}.{table}")
            clause = f"CREATE POLICY {policy} ON {s}.{table} FOR {command} TO {g}"
            if using is not None:
                clause += f" USING ({using})"
            if check is not None:
                clause += f" WITH CHECK ({check})"
            out.append(clause)
    return out


def _ddl(conn: Connection, statement: str) -> None:
    """Run a statement as written: no bound parameters, so `%` and `:` in it stay literal."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(statement)
    finally:
        cursor.close()


def install_row_security(admin_url: str, *, group: str | None = None) -> str:
    """Create (or bring up to date) the team store with its group role, grants, triggers and
    policies. Run as the role that owns (or will own) the tables. Idempotent; returns the
    group role's name."""
    group = _check_name(group or default_group(admin_url), "group role")
    store = TeamStore(admin_url)  # creates or migrates the tables as their owner
    try:
        _ = store.secret  # made now, so agents only ever read it
    finally:
        store.close()
    with _admin(admin_url) as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        database = conn.execute(text("SELECT current_database()")).scalar_one()
        if not conn.execute(
            text("SELECT 1 FROM pg_roles WHERE rolname = :g"), {"g": group}
        ).first():
            _ddl(conn, f'CREATE ROLE "{group}" NOLOGIN')
        for statement in _install_sql(schema, database, group):
            _ddl(conn, statement)
    return group


def create_agent_role(
    admin_url: str,
    role: str,
    password: str,
    email: str,
    *,
    name: str = "",
    team_role: Role | None = None,
    group: str | None = None,
) -> None:
    """Create (or update the password of) a login role for the agent `email`, member of the
    group, and map it to the agent, who is added to the team if new (as `team_role`, default
    agent; given for an existing agent, it changes their role: this is how the first admin is
    made). The password reaches the server only as a SCRAM-SHA-256 verifier, never in a log."""
    role = _check_name(role, "role")
    group = _check_name(group or default_group(admin_url), "group role")
    verifier = scram_verifier(password)
    with _admin(admin_url) as conn:
        if not conn.execute(
            text("SELECT 1 FROM pg_roles WHERE rolname = :g"), {"g": group}
        ).first():
            raise RoleError(f"group role {group} does not exist: run install_row_security first")
        found = conn.execute(
            text("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = :r"), {"r": role}
        ).first()
        if found is not None and found[0]:
            raise RoleError(f"{role} is a superuser or bypasses row security: not an agent role")
        mapped = conn.execute(
            text("SELECT email FROM team_db_role WHERE role_name = :r"), {"r": role}
        ).scalar()
        if mapped is not None and mapped != email:
            raise RoleError(f"{role} already acts as {mapped}")
        verb = "ALTER" if found is not None else "CREATE"
        _ddl(
            conn,
            f'{verb} ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS '
            f"PASSWORD '{verifier}'",
        )
        _ddl(conn, f'GRANT "{group}" TO "{role}"')
        now = datetime.now(UTC)
        new_agent = conn.execute(
            text(
                "INSERT INTO team_agent (email, name, role, departments, away, created_at) "
                "VALUES (:e, :n, :r, '', false, :t) ON CONFLICT (email) DO NOTHING"
            ),
            {
                "e": email,
                "n": name or email.split("@")[0],
                "r": str(team_role or Role.AGENT),
                "t": now,
            },
        ).rowcount
        if team_role is not None and not new_agent:
            old_role = conn.execute(
                text("SELECT role FROM team_agent WHERE email = :e"), {"e": email}
            ).scalar_one()
            if old_role != str(team_role):
                conn.execute(
                    text("UPDATE team_agent SET role = :r WHERE email = :e"),
                    {"r": str(team_role), "e": email},
                )
                add_event(
                    conn,
                    ticket=None,
                    actor=f"db:{conn.execute(text('SELECT session_user')).scalar_one()}",
                    kind=EventKind.AGENT,
                    field="role",
                    old=f"{email}:{old_role}",
                    new=f"{email}:{team_role}",
                    at=now,
                )
        if mapped is None:
            conn.execute(
                text("INSERT INTO team_db_role (role_name, email) VALUES (:r, :e)"),
                {"r": role, "e": email},
            )
            admin = conn.execute(text("SELECT session_user")).scalar_one()
            add_event(
                conn,
                ticket=None,
                actor=f"db:{admin}",
                kind=EventKind.AGENT,
                field="db_role",
                new=f"{email}:{role}" + (" (new agent)" if new_agent else ""),
                at=now,
            )


def drop_agent_role(admin_url: str, role: str) -> None:
    """Remove an agent's login role and its mapping (the agent stays in the team's history)."""
    role = _check_name(role, "role")
    with _admin(admin_url) as conn:
        conn.execute(text("DELETE FROM team_db_role WHERE role_name = :r"), {"r": role})
        if conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first():
            # Agent roles own nothing (their grants come with the group): a plain DROP ROLE,
            # which an owner with CREATEROLE may run, unlike DROP OWNED.
            _ddl(conn, f'DROP ROLE "{role}"')


def scram_verifier(password: str, *, salt: bytes | None = None) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802, RFC 7677)."""
    if not password:
        raise RoleError("empty password")
    if not password.isascii():
        # The server normalises non-ASCII passwords (SASLprep) before hashing; ASCII ones are
        # used as they are, so a verifier made here matches what the client will send.
        raise RoleError("use an ASCII password for a database role")
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _SCRAM_ITERATIONS)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")

    def b64(b: bytes) -> str:
        return base64.b64encode(b).decode("ascii")

    return f"SCRAM-SHA-256${_SCRAM_ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


__all__ = [
    "RoleError",
    "create_agent_role",
    "default_group",
    "drop_agent_role",
    "install_row_security",
    "scram_verifier",
]
