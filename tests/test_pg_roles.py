"""Database-enforced permissions on a real PostgreSQL: each agent connects as their own role,
and the database itself refuses what the client would refuse."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import DBAPIError

from helpdesk.core.team import Role
from helpdesk.storage import drafts
from helpdesk.storage.drafts import DraftRecord
from helpdesk.storage.lock_table import LockTable
from helpdesk.storage.pg_roles import (
    RoleError,
    create_agent_role,
    drop_agent_role,
    install_row_security,
    scram_verifier,
)
from helpdesk.storage.team_store import Registration, TeamStore

ADMIN, JANA, PETR, LEAD = "admin@h.example", "jana@h.example", "petr@h.example", "lead@h.example"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class Team:
    """A team store with row security installed and one login role per agent."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        tag = secrets.token_hex(3)
        self.group = install_row_security(admin_url, group=f"hd_test_{tag}_agents")
        self.roles = {email: f"hd_{email.split('@')[0]}_{tag}" for email in (JANA, PETR, LEAD)}
        self.roles[ADMIN] = f"hd_admin_{tag}"
        for email, role in self.roles.items():
            team_role = Role.ADMIN if email == ADMIN else None  # agents made first: no admin yet
            create_agent_role(
                admin_url, role, "s3cret-" + tag, email, team_role=team_role, group=self.group
            )
        self.admin = LockTable(TeamStore(admin_url))  # the tables' owner: not restricted
        self._tables: list[LockTable] = []
        # The team's admin, through their own role, makes a lead.
        assert self.as_agent(ADMIN).set_agent(ADMIN, LEAD, role=Role.LEAD).ok

    def url(self, email: str) -> str:
        return make_url(self.admin_url).set(username=self.roles[email]).render_as_string(False)

    def as_agent(self, email: str) -> LockTable:
        lt = LockTable(TeamStore(self.url(email)))
        self._tables.append(lt)
        return lt

    def raw(self, email: str, sql: str, **params: object) -> int:
        """Run one statement as the agent's role, outside the client; returns rows changed."""
        engine = create_engine(self.url(email))
        try:
            with engine.begin() as conn:
                return conn.execute(text(sql), params).rowcount
        finally:
            engine.dispose()

    def tickets(self, n: int) -> list[int]:
        regs = [
            Registration(
                f"r{i}-{uuid.uuid4()}@c.example",
                [],
                [],
                None,
                f"ticket {i}",
                f"c{i}@c.example",
                T0 + timedelta(minutes=i),
            )
            for i in range(n)
        ]
        return [r.ticket for r in self.admin.store.register(regs)]

    def close(self) -> None:
        for lt in [*self._tables, self.admin]:
            lt.store.close()
        for role in self.roles.values():
            drop_agent_role(self.admin_url, role)
        engine = create_engine(self.admin_url)
        try:
            with engine.begin() as conn:
                conn.execute(text(f'DROP OWNED BY "{self.group}"'))
                conn.execute(text(f'DROP ROLE "{self.group}"'))
        finally:
            engine.dispose()


@pytest.fixture
def team(pg_url: str) -> Iterator[Team]:
    t = Team(pg_url)
    try:
        yield t
    finally:
        t.close()


def refused(team: Team, email: str, sql: str, **params: object) -> str:
    with pytest.raises(DBAPIError) as caught:
        team.raw(email, sql, **params)
    return str(caught.value.orig)


def test_agent_claims_through_the_lock_table(team: Team) -> None:
    a, b, c = team.tickets(3)
    jana = team.as_agent(JANA)
    assert jana.claim(JANA, a).ok
    nxt = jana.handle_next(JANA)  # FOR UPDATE SKIP LOCKED, UPDATE ... RETURNING
    assert nxt.ok and nxt.ticket == b
    assert jana.release(JANA, b).ok
    assert jana.add_note(JANA, a, "Called the customer back.", note_id=str(uuid.uuid4())).ok
    assert jana.set_field(JANA, a, "priority", "2").ok
    jana.heartbeat(JANA, a)
    assert jana.skip(JANA, c, "later").ok
    assert jana.assign(JANA, a, PETR).ok  # agents hand over what is theirs
    assert [e.actor for e in jana.events_since(0) if e.ticket == a][-1] == JANA
    assert team.admin.state(a).assignee == PETR  # type: ignore[union-attr]
    # New mail registered from an agent's session opens tickets too.
    (new,) = [
        r.ticket
        for r in jana.store.register(
            [Registration("fresh@c.example", [], [], None, "hi", "x@c.example", T0)]
        )
    ]
    assert team.admin.state(new) is not None


def test_agent_cannot_take_or_move_a_colleagues_ticket_in_sql(team: Team) -> None:
    (n,) = team.tickets(1)
    assert team.as_agent(PETR).claim(PETR, n).ok
    why = refused(
        team, JANA, "UPDATE team_ticket SET assignee = :me WHERE number = :n", me=JANA, n=n
    )
    assert "held by" in why and PETR in why
    refused(team, JANA, "UPDATE team_ticket SET assignee = NULL WHERE number = :n", n=n)
    refused(team, JANA, "UPDATE team_ticket SET lock_holder = :p WHERE number = :n", p=PETR, n=n)
    refused(team, JANA, "DELETE FROM team_ticket WHERE number = :n", n=n)
    refused(team, JANA, "DELETE FROM team_event")
    refused(team, JANA, "UPDATE team_event SET actor = 'someone'")
    assert team.admin.state(n).assignee == PETR  # type: ignore[union-attr]
    # The client's own attempt is refused by the client first, and tells who holds it.
    lost = team.as_agent(JANA).claim(JANA, n)
    assert not lost.ok and lost.holder == PETR


def test_agent_cannot_write_in_someone_elses_name(team: Team) -> None:
    (n,) = team.tickets(1)
    now = datetime.now(UTC)
    refused(
        team,
        JANA,
        "INSERT INTO team_note (id, ticket, author, body, created_at) VALUES (:i, :n, :a, 'x', :t)",
        i=str(uuid.uuid4()),
        n=n,
        a=PETR,
        t=now,
    )
    refused(
        team,
        JANA,
        "INSERT INTO team_event (ticket, actor, kind, at, recorded_at) VALUES (:n, :a, 'claimed', :t, :t)",
        n=n,
        a=PETR,
        t=now,
    )
    refused(team, JANA, "UPDATE team_note SET body = 'changed'")
    # An agent's own note goes in; the lock table's note is in the agent's name too.
    assert (
        team.raw(
            JANA,
            "INSERT INTO team_note (id, ticket, author, body, created_at) VALUES (:i, :n, :a, 'mine', :t)",
            i=str(uuid.uuid4()),
            n=n,
            a=JANA,
            t=now,
        )
        == 1
    )
    # The lock table, asked to act for someone else through Jana's login, is refused too.
    with pytest.raises(DBAPIError):
        team.as_agent(JANA).add_note(PETR, n, "forged", note_id=str(uuid.uuid4()))
    assert [x.author for x in team.admin.notes(n)] == [JANA]


def test_agent_cannot_raise_their_own_role_or_edit_a_colleague(team: Team) -> None:
    why = refused(team, JANA, "UPDATE team_agent SET role = 'admin' WHERE email = :e", e=JANA)
    assert "admin" in why
    refused(team, JANA, "UPDATE team_agent SET away = true WHERE email = :e", e=PETR)
    refused(team, JANA, "INSERT INTO team_db_role VALUES ('x', :e)", e=JANA)
    assert team.as_agent(JANA).set_agent(JANA, JANA, away=True).ok  # one's own row is fine
    assert team.admin.agent(JANA).away  # type: ignore[union-attr]


def test_lead_steals_and_hands_over(team: Team) -> None:
    a, b = team.tickets(2)
    assert team.as_agent(PETR).claim(PETR, a).ok
    assert team.as_agent(PETR).claim(PETR, b).ok
    lead = team.as_agent(LEAD)
    assert lead.steal(LEAD, a).ok
    assert team.admin.state(a).assignee == LEAD  # type: ignore[union-attr]
    moved = lead.reassign_all(LEAD, PETR, JANA)  # also marks Petr away: a lead may
    assert moved.ok and team.admin.state(b).assignee == JANA  # type: ignore[union-attr]
    assert team.admin.agent(PETR).away  # type: ignore[union-attr]
    # A lead still may not give anyone a role.
    refused(team, LEAD, "UPDATE team_agent SET role = 'admin' WHERE email = :e", e=LEAD)


def test_unmapped_role_in_the_group_can_change_nothing(team: Team) -> None:
    (n,) = team.tickets(1)
    stray = f"hd_stray_{secrets.token_hex(3)}"
    engine = create_engine(team.admin_url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{stray}" LOGIN IN ROLE "{team.group}"'))
    team.roles["stray@h.example"] = stray  # dropped with the others
    try:
        why = refused(
            team, "stray@h.example", "UPDATE team_ticket SET assignee = 'x' WHERE number = :n", n=n
        )
        assert "not mapped" in why
        refused(
            team,
            "stray@h.example",
            "INSERT INTO team_note (id, ticket, author, body, created_at) "
            "VALUES ('n1', :n, :a, 'x', now())",
            n=n,
            a=JANA,
        )
    finally:
        engine.dispose()


def test_role_requests_are_checked(team: Team) -> None:
    with pytest.raises(RoleError):
        create_agent_role(team.admin_url, "Robert'); DROP TABLE x; --", "pw", JANA)
    with pytest.raises(RoleError, match="already acts as"):
        create_agent_role(team.admin_url, team.roles[JANA], "pw", PETR, group=team.group)
    # Re-running for the same agent only changes the password, or the role when asked to.
    create_agent_role(team.admin_url, team.roles[JANA], "new-pw", JANA, group=team.group)
    assert team.admin.agent(JANA).role is Role.AGENT  # type: ignore[union-attr]
    create_agent_role(
        team.admin_url, team.roles[JANA], "new-pw", JANA, team_role=Role.LEAD, group=team.group
    )
    assert team.admin.agent(JANA).role is Role.LEAD  # type: ignore[union-attr]
    assert any(e.field == "role" and e.new == f"{JANA}:lead" for e in team.admin.events_since(0))


def test_scram_verifier_matches_the_rfc_7677_example() -> None:
    """RFC 7677 section 3: password "pencil"; its exchange proves both stored keys."""
    salt = "W22ZaJ0SNY7soEsUEjb6gQ=="
    v = scram_verifier("pencil", salt=base64.b64decode(salt))
    assert v.startswith(f"SCRAM-SHA-256$4096:{salt}$")
    stored, server = (base64.b64decode(x) for x in v.split("$")[2].split(":"))
    nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    auth = f"n=user,r=rOprNGfwEbeRWgbNEkqO,r={nonce},s={salt},i=4096,c=biws,r={nonce}".encode()
    # The server's signature in the RFC is made with ServerKey...
    signature = hmac.digest(server, auth, "sha256")
    assert base64.b64encode(signature) == b"6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    # ...and the client's proof, unmasked with StoredKey, hashes back to StoredKey.
    proof = base64.b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    client_key = bytes(
        a ^ b for a, b in zip(proof, hmac.digest(stored, auth, "sha256"), strict=True)
    )
    assert hashlib.sha256(client_key).digest() == stored


def test_agent_replies_and_shares_drafts_only_in_their_own_name(team: Team) -> None:
    (n,) = team.tickets(1)
    jana = team.as_agent(JANA)
    assert jana.take_reply_lock(JANA, n).ok
    jana.record_reply(JANA, n, "hd.1.abc@helpdesk.example")
    jana.drop_reply_lock(JANA, n)
    replied = [e for e in team.admin.events_since(0) if e.kind == "replied"]
    assert [(e.actor, e.new) for e in replied] == [(JANA, "hd.1.abc@helpdesk.example")]

    now = datetime.now(UTC)
    mine = DraftRecord(id=str(uuid.uuid4()), ticket=n, kind="reply", author=JANA, body="v1")
    drafts.push(jana.store, [replace(mine, updated_at=now)])
    drafts.push(jana.store, [replace(mine, body="v2", updated_at=now + timedelta(seconds=1))])
    petr = team.as_agent(PETR)
    (seen,) = drafts.shared_for_ticket(petr.store, n)  # a colleague taking over reads it
    assert seen.body == "v2" and seen.author == JANA
    forged = DraftRecord(id=str(uuid.uuid4()), ticket=n, kind="reply", author=JANA, body="x")
    with pytest.raises(DBAPIError):
        drafts.push(petr.store, [replace(forged, updated_at=now)])
    with pytest.raises(DBAPIError):  # nor can Petr overwrite Jana's draft
        drafts.push(
            petr.store, [replace(mine, author=PETR, body="v3", updated_at=now + timedelta(1))]
        )
    (still,) = drafts.shared_for_ticket(team.admin.store, n)
    assert still.body == "v2"
