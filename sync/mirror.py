"""The tickets' state mirrored onto the mailbox, for colleagues who read it in a plain mail
client (`[accounts.NAME.mirror]`, see `core.mirror_config`).

* a ticket answered (a REPLIED event, or our own mail in it): its customer mail up to the
  answer gets `\\Answered`;
* a ticket an agent opened (the cache's `seen` table): its mail up to then gets `\\Seen`;
* a closed ticket's customer mail leaves the inbox folders for the archive folder, a spam
  ticket's for the junk folder; opened again (or not spam after all), it returns to the inbox.
  The archive and junk folders are watched like the inbox (a rebuilt cache finds the mail
  there), so mail that arrives in them otherwise (a server's spam filter, a colleague's
  client) is met too: it leaves them only once the team has set its ticket's status, never
  because its ticket merely is open.

What the server should look like is worked out from the cache, for the tickets changed since
the account's cursor (team events, new messages and agents' reading, kept in `cache_meta`), so
a run with nothing new costs three small queries and no connection. A ticket whose folder could
not be worked on (renumbered since the last sync, or missing on the server) stays in the
cursor and is tried again by the next run. The account's first run makes the archive and junk
folders, so that every watched folder exists. Flags are only ever added:
a colleague who marks a message unread again is not overruled until the ticket changes.

Moves are one `UID MOVE` per folder pair and batch; the server's COPYUID answer (UIDPLUS)
names the new UIDs, and the cache's locations follow in one transaction, so the next sync sees
the message neither vanish nor arrive. Should the process die between the two, the sync of the
source folder drops the stale location (the server reports the UID gone), and a message that
has to come back from the archive or junk folder and has no known location is looked up there
by its Message-ID. Only mail that came from a server is looked for: a message imported from
files has no location anywhere, and no SEARCH will find it.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from imapclient import IMAPClient
from sqlalchemy import and_, exists, func, or_, select, true

from helpdesk.core.config import AccountSettings, ImapSettings
from helpdesk.core.mirror_config import MirrorSettings
from helpdesk.core.sanitize import safe_text
from helpdesk.core.team import EventKind
from helpdesk.core.workflow import SPAM, StatusKind, WorkflowSettings
from helpdesk.storage import outbox
from helpdesk.storage.cache import (
    event_t,
    location_t,
    mailbox_t,
    message_t,
    seen_t,
    ticket_t,
)
from helpdesk.storage.db import as_utc
from helpdesk.storage.folder_state import flag_string, forget_uids, set_flags
from helpdesk.storage.workspace import Workspace
from helpdesk.sync.credentials import get_password
from helpdesk.sync.faults import describe_fault
from helpdesk.sync.imap import close_quietly, connect

__all__ = ["ANSWERED", "SEEN", "ClientFactory", "MailboxMirror", "MirrorReport", "cursor_key"]

ANSWERED = "\\Answered"
SEEN = "\\Seen"
MOVE_BATCH = 500  # UIDs in one UID MOVE: a command line stays well inside server limits
SEARCH_BATCH = 40  # Message-IDs in one SEARCH (an OR chain)
_CHUNK = 500
# Agents' reading is told by the time they opened a ticket; two agents' apps may commit
# slightly out of time order, so tickets read just before the cursor are looked at again.
SEEN_MARGIN = timedelta(seconds=60)
_PLACEHOLDER = "@placeholder.helpdesk.invalid"
# Message-IDs that can go into a SEARCH as one quoted string, untrusted as they are.
_SEARCHABLE_ID = re.compile(r"^[!#-\[\]-~]{1,250}$")
_ID_IN_HEADER = re.compile(rb"<([^<>\s]+)>")

ClientFactory = Callable[[AccountSettings], IMAPClient]


def cursor_key(account: str) -> str:
    return f"mirror:{account}"


def default_client(account: AccountSettings) -> IMAPClient:
    assert account.imap is not None
    return connect(account.imap, get_password(account, "imap"))


@dataclass(slots=True)
class MirrorReport:
    tickets: int = 0  # tickets whose mail was compared with what the server should show
    flagged: int = 0  # server copies given \Answered or \Seen
    moved: dict[str, int] = field(default_factory=dict)  # folder -> copies moved into it
    created: list[str] = field(default_factory=list)  # "account: folder" made on the server
    errors: dict[str, str] = field(default_factory=dict)  # account -> what went wrong
    connected: bool = False  # some account's server was asked at all
    # "account: folder" -> tickets whose mail there was left for the next run (the folder
    # was renumbered since the last sync, or is missing on the server)
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        moved = ", ".join(f"{n} to {safe_text(f)}" for f, n in sorted(self.moved.items()))
        text = f"{self.tickets} tickets compared, {self.flagged} flagged, moved: {moved or 'none'}"
        if self.skipped:
            left = ", ".join(f"{n} in {safe_text(f)}" for f, n in sorted(self.skipped.items()))
            text += f"; left for the next run: {left}"
        return text


@dataclass(frozen=True, slots=True)
class _Marks:
    """How far the cache's changes went when a run began: the next run starts there."""

    event: int
    message: int
    seen: str  # ISO time of the newest `seen` row; "" when none
    retry: tuple[int, ...] = ()  # tickets a run had to leave: the next run takes them again

    def to_json(self) -> str:
        return json.dumps(
            {
                "event": self.event,
                "message": self.message,
                "seen": self.seen,
                "retry": list(self.retry),
            }
        )

    @staticmethod
    def from_json(text: str) -> _Marks | None:
        try:
            data = json.loads(text)
            retry = tuple(int(n) for n in data.get("retry", ()))
            return _Marks(int(data["event"]), int(data["message"]), str(data["seen"]), retry)
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


@dataclass(slots=True)
class _FolderWork:
    """What one source folder needs: flags to add (per flag set), UIDs to move (per target)."""

    flags: dict[tuple[str, ...], list[int]] = field(default_factory=lambda: defaultdict(list))
    moves: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    tickets: set[int] = field(default_factory=set)  # whose mail this is: kept if it cannot be done

    def __bool__(self) -> bool:
        return bool(self.flags or self.moves)


@dataclass(slots=True)
class _Plan:
    folders: dict[str, _FolderWork] = field(default_factory=lambda: defaultdict(_FolderWork))
    # Message-IDs (-> message pk) that belong in the inbox but have no known server copy:
    # looked for in the archive and junk folders (a move whose cache update was lost).
    lost: dict[str, int] = field(default_factory=dict)
    lost_tickets: set[int] = field(default_factory=set)
    tickets: int = 0
    retry: set[int] = field(default_factory=set)  # left for the next run

    def __bool__(self) -> bool:
        return bool(self.lost) or any(self.folders.values())


@dataclass(frozen=True, slots=True)
class _Roles:
    """Which folder plays which part for one account."""

    imap: ImapSettings
    mirror: MirrorSettings
    workflow: WorkflowSettings

    @property
    def home(self) -> str | None:
        return self.mirror.home(self.imap.folders)

    @property
    def own_folders(self) -> list[str]:
        """The archive and junk folders: made on the server by the mirror."""
        return [f for f in (self.mirror.archive, self.mirror.junk) if f is not None]

    def role(self, folder: str) -> str | None:
        """The folder's part: "archive", "junk", "inbox", or None for folders the mirror
        never moves from (Sent, folders nobody watches)."""
        if folder == self.mirror.archive:
            return "archive"
        if folder == self.mirror.junk:
            return "junk"
        if folder in self.imap.folders and folder != self.imap.sent_folder:
            return "inbox"
        return None

    def target(self, status: str) -> str | None:
        """Where a ticket's customer mail belongs; None: wherever it is."""
        if status.strip().casefold() == SPAM:
            return self.mirror.junk
        if self.workflow.status(status).kind is StatusKind.CLOSED:
            return self.mirror.archive
        return self.home


class MailboxMirror:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.cache = ws.cache

    def run(
        self,
        client_for: ClientFactory | None = None,
        *,
        full: bool = False,
        accounts: Collection[str] | None = None,
    ) -> MirrorReport:
        """Bring every mirrored account's mailbox in line with the tickets changed since its
        cursor (all tickets with ``full``, and on an account's first run). A fault is
        reported per account and the cursor stays, so the next run tries again."""
        report = MirrorReport()
        factory = client_for or default_client
        for account in self.ws.settings.accounts.values():
            if account.imap is None or not account.mirror.active:
                continue
            if accounts is not None and account.name not in accounts:
                continue
            try:
                self._run_account(account, account.imap, factory, full, report)
            except Exception as exc:  # retried next run; the agent or admin reads why
                report.errors[account.name] = describe_fault(exc)
        return report

    # -- what changed ---------------------------------------------------------------------

    def _marks(self) -> _Marks:
        with self.cache.engine.connect() as conn:
            event = conn.execute(select(func.coalesce(func.max(event_t.c.seq), 0))).scalar_one()
            message = conn.execute(select(func.coalesce(func.max(message_t.c.id), 0))).scalar_one()
            seen = as_utc(conn.execute(select(func.max(seen_t.c.at))).scalar_one())
        return _Marks(int(event), int(message), seen.isoformat() if seen else "")

    def _cursor(self, account: str) -> _Marks | None:
        with self.cache.engine.connect() as conn:
            return _Marks.from_json(outbox.meta_get(conn, cursor_key(account), ""))

    def _save_cursor(self, account: str, marks: _Marks) -> None:
        with self.cache.writer.begin() as conn:
            outbox.meta_set(conn, cursor_key(account), marks.to_json())

    def _changed(self, since: _Marks) -> tuple[set[int], set[int]]:
        """Tickets changed since the cursor, and among them those the team changed (whose
        mail may have to be found again to move it back)."""
        with self.cache.engine.connect() as conn:
            by_team = set(
                conn.execute(
                    select(event_t.c.ticket)
                    .where(event_t.c.seq > since.event, event_t.c.ticket.is_not(None))
                    .distinct()
                ).scalars()
            )
            tickets = set(by_team)
            tickets.update(
                conn.execute(
                    select(message_t.c.ticket).where(message_t.c.id > since.message).distinct()
                ).scalars()
            )
            if since.seen:
                after = datetime.fromisoformat(since.seen) - SEEN_MARGIN
                tickets.update(
                    conn.execute(
                        select(seen_t.c.ticket)
                        .where(seen_t.c.at > after.replace(tzinfo=None))
                        .distinct()
                    ).scalars()
                )
            else:
                tickets.update(conn.execute(select(seen_t.c.ticket).distinct()).scalars())
        return tickets, by_team

    # -- what the server should show --------------------------------------------------------

    def _plan(
        self, roles: _Roles, account: str, tickets: set[int] | None, recover: set[int] | None
    ) -> _Plan:
        """``tickets`` None: every ticket; ``recover``: tickets whose lost mail is looked
        for (None: all of them)."""
        plan = _Plan()
        with self.cache.engine.connect() as conn:
            boxes = {
                r.id: r.name
                for r in conn.execute(
                    select(mailbox_t.c.id, mailbox_t.c.name).where(mailbox_t.c.account == account)
                )
            }
            chunks: Iterable[list[int] | None]
            chunks = [None] if tickets is None else _chunks(sorted(tickets), _CHUNK)
            for chunk in chunks:
                self._plan_chunk(conn, roles, boxes, chunk, recover, plan)
        return plan

    def _plan_chunk(
        self,
        conn: Any,
        roles: _Roles,
        boxes: dict[int, str],
        chunk: list[int] | None,
        recover: set[int] | None,
        plan: _Plan,
    ) -> None:
        m, t, loc = message_t, ticket_t, location_t
        when = func.coalesce(m.c.sort_date, m.c.received_at)

        def within(column: Any) -> Any:
            return column.in_(chunk) if chunk is not None else true()

        replied: dict[int, datetime] = {}
        seen: dict[int, datetime] = {}
        answers = [
            select(event_t.c.ticket, func.max(event_t.c.at))
            .where(event_t.c.kind == str(EventKind.REPLIED), within(event_t.c.ticket))
            .group_by(event_t.c.ticket),
            # Our own mail in the ticket answers it too (sent from another client, say);
            # an automatic acknowledgement does not.
            select(m.c.ticket, func.max(when))
            .where(m.c.outgoing.is_(True), m.c.auto == "", within(m.c.ticket))
            .group_by(m.c.ticket),
        ]
        for query in answers:
            for number, at in conn.execute(query):
                stamp = as_utc(at)
                if stamp is not None and (number not in replied or stamp > replied[number]):
                    replied[number] = stamp
        for number, at in conn.execute(
            select(seen_t.c.ticket, func.max(seen_t.c.at))
            .where(within(seen_t.c.ticket))
            .group_by(seen_t.c.ticket)
        ):
            stamp = as_utc(at)
            if stamp is not None:
                seen[number] = stamp
        # Tickets whose status the team has set (closed, spam, opened again): only their
        # mail is taken out of the archive or junk folder. Mail a spam filter or another
        # client put there, of a ticket nobody has decided on, stays.
        decided = set(
            conn.execute(
                select(event_t.c.ticket)
                .where(
                    within(event_t.c.ticket),
                    or_(
                        and_(event_t.c.kind == str(EventKind.FIELD), event_t.c.field == "status"),
                        event_t.c.kind == str(EventKind.AUTO_CLOSED),
                    ),
                )
                .distinct()
            ).scalars()
        )
        anywhere = location_t.alias("anywhere")
        # A message with no server copy at all came from files (or every copy was deleted):
        # no folder can hold it, so it is never looked for.
        located = exists().where(anywhere.c.message == m.c.id)
        rows = conn.execute(
            select(
                m.c.id,
                m.c.message_id,
                m.c.ticket,
                when,
                t.c.status,
                loc.c.mailbox,
                loc.c.uid,
                loc.c.flags,
                located.label("located"),
            )
            .select_from(
                m.join(t, t.c.number == m.c.ticket).outerjoin(
                    loc, and_(loc.c.message == m.c.id, loc.c.mailbox.in_(list(boxes)))
                )
            )
            .where(m.c.outgoing.is_(False), within(m.c.ticket))
        )
        numbers: set[int] = set()
        for pk, message_id, number, at, status, box, uid, flags, somewhere in rows:
            numbers.add(number)
            target = roles.target(status)
            if box is None:
                if (
                    target is not None
                    and target == roles.home
                    and somewhere
                    and number in decided
                    and (recover is None or number in recover)
                    and _searchable(message_id)
                ):
                    plan.lost[message_id] = pk
                    plan.lost_tickets.add(number)
                continue
            folder = boxes[box]
            role = roles.role(folder)
            if role is None:
                continue
            work = plan.folders[folder]
            work.tickets.add(number)
            if roles.mirror.flags:
                stamp = as_utc(at)
                want: set[str] = set()
                if stamp is not None and number in replied and stamp <= replied[number]:
                    want.add(ANSWERED)
                if stamp is not None and number in seen and stamp <= seen[number]:
                    want.add(SEEN)
                missing = tuple(sorted(want - set(flags.split())))
                if missing:
                    work.flags[missing].append(uid)
            moves_out = role == "inbox" or number in decided
            if target is not None and roles.role(target) != role and moves_out:
                work.moves[target].append(uid)
        plan.tickets += len(numbers)

    # -- doing it ---------------------------------------------------------------------------

    def _run_account(
        self,
        account: AccountSettings,
        imap: ImapSettings,
        factory: ClientFactory,
        full: bool,
        report: MirrorReport,
    ) -> None:
        roles = _Roles(imap, account.mirror, self.ws.settings.workflow)
        marks = self._marks()
        cursor = self._cursor(account.name)
        since = None if full else cursor
        if since is None:
            plan = self._plan(roles, account.name, None, None)
        else:
            tickets, by_team = self._changed(since)
            # Left by the last run: taken again, lost mail looked for again too.
            tickets.update(since.retry)
            by_team.update(since.retry)
            plan = self._plan(roles, account.name, tickets, by_team) if tickets else _Plan()
        report.tickets += plan.tickets
        # The first run makes the archive and junk folders, which the sync then watches.
        if plan or (cursor is None and roles.own_folders):
            report.connected = True
            client = factory(account)
            try:
                self._apply(client, account.name, roles, plan, report)
            finally:
                close_quietly(client)
        self._save_cursor(account.name, replace(marks, retry=tuple(sorted(plan.retry))))

    def _apply(
        self, client: IMAPClient, account: str, roles: _Roles, plan: _Plan, report: MirrorReport
    ) -> None:
        existing = {_folder_name(f[2]) for f in client.list_folders()}
        targets = {target for work in plan.folders.values() for target in work.moves}
        targets.update(roles.own_folders)  # watched by the sync: they should exist
        if plan.lost and roles.home is not None:
            targets.add(roles.home)
        for target in sorted(targets):
            if target not in existing:
                self._create(client, account, target, report)
                existing.add(target)
        # Lost mail is looked for where the mirror puts it, then moves home with the rest.
        if plan.lost and roles.home is not None:
            for folder in roles.own_folders:
                if not self._recover(client, account, folder, roles.home, plan):
                    self._skip(account, folder, plan.lost_tickets, plan, report)
        for folder, work in sorted(plan.folders.items()):
            if not work:
                continue
            # A folder gone since the sync, or renumbered: its UIDs name nothing now.
            if folder not in existing or not self._apply_folder(
                client, account, folder, work, report
            ):
                self._skip(account, folder, work.tickets, plan, report)

    @staticmethod
    def _skip(
        account: str, folder: str, tickets: set[int], plan: _Plan, report: MirrorReport
    ) -> None:
        plan.retry.update(tickets)
        key = f"{account}: {folder}"
        report.skipped[key] = report.skipped.get(key, 0) + len(tickets)

    def _create(self, client: IMAPClient, account: str, folder: str, report: MirrorReport) -> None:
        try:
            client.create_folder(folder)
        except IMAPClient.Error as exc:
            raise MirrorError(
                f"the folder {safe_text(folder)!r} does not exist on the server and could not "
                f"be created ({safe_text(str(exc))[:200]}); create it, or change "
                f"[accounts.{account}.mirror]"
            ) from None
        # A plain mail client lists subscribed folders only.
        with contextlib.suppress(IMAPClient.Error):
            client.subscribe_folder(folder)
        report.created.append(f"{account}: {folder}")

    def _select(self, client: IMAPClient, account: str, folder: str) -> int | None:
        """Select for writing; the cache's mailbox id, or None when the folder was renumbered
        since its UIDs were stored (forgotten now: the next sync pairs them again)."""
        info = client.select_folder(folder)
        uidvalidity = int(info[b"UIDVALIDITY"])
        box = self.cache.mailbox(account, folder)
        if box.uidvalidity is None:
            self.cache.save_mailbox(box.id, uidvalidity=uidvalidity)
        elif box.uidvalidity != uidvalidity:
            self.cache.reset_mailbox(box.id, uidvalidity)
            return None
        return box.id

    def _recover(
        self, client: IMAPClient, account: str, folder: str, home: str, plan: _Plan
    ) -> bool:
        """Look for lost mail in ``folder``; False when it could not be looked at."""
        box = self._select(client, account, folder)
        if box is None:
            return False
        if not plan.lost:
            return True
        found = _find_message_ids(client, list(plan.lost))
        if not found:
            return True
        flags = {uid: flag_string(f) for uid, f in client.get_flags(list(found)).items()}
        with self.cache.begin_write() as conn:
            self.cache.add_locations(
                conn,
                [
                    {
                        "message": plan.lost[mid],
                        "mailbox": box,
                        "uid": uid,
                        "flags": flags.get(uid, ""),
                    }
                    for uid, mid in found.items()
                ],
            )
        for uid, mid in found.items():
            plan.lost.pop(mid, None)
            plan.folders[folder].moves[home].append(uid)
        return True

    def _apply_folder(
        self, client: IMAPClient, account: str, folder: str, work: _FolderWork, report: MirrorReport
    ) -> bool:
        """False when the folder was renumbered since the sync: nothing could be done."""
        box = self._select(client, account, folder)
        if box is None:
            return False
        # Flags first: a moved message keeps them, so they need no second command there.
        for names, uids in sorted(work.flags.items()):
            for chunk in _chunks(sorted(set(uids)), MOVE_BATCH):
                answer = client.add_flags(chunk, list(names)) or {}
                set_flags(self.cache, box, {uid: flag_string(f) for uid, f in answer.items()})
                report.flagged += len(answer)
        for target, uids in sorted(work.moves.items()):
            target_box = self.cache.mailbox(account, target).id
            for chunk in _chunks(sorted(set(uids)), MOVE_BATCH):
                moved, uidvalidity = _move(client, chunk, target)
                gone = set(chunk) - {old for old, _ in moved}
                if uidvalidity is None:
                    # No COPYUID (a server without UIDPLUS): the copies are somewhere new,
                    # unnamed; a watched target is paired by the sync, others looked up
                    # by Message-ID when they must come back.
                    forget_uids(self.cache, box, chunk)
                    continue
                self.cache.move_locations(box, target_box, uidvalidity, moved, gone=gone)
                if moved:
                    report.moved[target] = report.moved.get(target, 0) + len(moved)
        return True


class MirrorError(Exception):
    """Something the admin has to fix; the text says what."""


def _chunks(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


def _folder_name(name: object) -> str:
    return name.decode(errors="replace") if isinstance(name, bytes) else str(name)


def _searchable(message_id: str) -> bool:
    return not message_id.endswith(_PLACEHOLDER) and bool(_SEARCHABLE_ID.match(message_id))


def _move(
    client: IMAPClient, uids: list[int], target: str
) -> tuple[list[tuple[int, int]], int | None]:
    """UID MOVE; the (old, new) UID pairs and the target's UIDVALIDITY from COPYUID (None
    when the server did not say)."""
    untagged = client._imap.untagged_responses
    untagged.pop("COPYUID", None)  # imaplib keeps untagged answers until they are taken
    client.move(uids, target)
    answers = untagged.pop("COPYUID", None) or []
    pairs: list[tuple[int, int]] = []
    uidvalidity: int | None = None
    for answer in answers:
        parsed = _copyuid(answer)
        if parsed is None:
            continue
        uidvalidity, old, new = parsed
        pairs += zip(old, new, strict=True)
    if uidvalidity is None:
        return [], None
    return pairs, uidvalidity


def _copyuid(answer: object) -> tuple[int, list[int], list[int]] | None:
    """``uidvalidity source-set dest-set`` (RFC 4315), both sets in the same order."""
    text = answer.decode("ascii", "replace") if isinstance(answer, bytes) else str(answer)
    parts = text.strip().split()
    if len(parts) < 3:
        return None
    try:
        uidvalidity = int(parts[0])
        old, new = _ordered_set(parts[1]), _ordered_set(parts[2])
    except ValueError:
        return None
    if len(old) != len(new):
        return None
    return uidvalidity, old, new


def _ordered_set(text: str) -> list[int]:
    """A sequence set in its written order: ``4:6,9`` -> [4, 5, 6, 9] (``6:4`` counts down)."""
    out: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition(":")
        a = int(low)
        b = int(high) if high else a
        step = 1 if b >= a else -1
        out.extend(range(a, b + step, step))
    return out


def _find_message_ids(client: IMAPClient, wanted: list[str]) -> dict[int, str]:
    """UIDs of the selected folder whose Message-ID is one of ``wanted``: UID -> id."""
    found: dict[int, str] = {}
    targets = set(wanted)
    for i in range(0, len(wanted), SEARCH_BATCH):
        batch = wanted[i : i + SEARCH_BATCH]
        criteria: list[str] = ["HEADER", "Message-ID", batch[-1]]
        for mid in reversed(batch[:-1]):
            criteria = ["OR", "HEADER", "Message-ID", mid, *criteria]
        uids = list(client.search(criteria))
        if not uids:
            continue
        # SEARCH matches substrings: the header itself decides.
        headers = client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
        for uid, data in headers.items():
            raw = next((v for k, v in data.items() if k.startswith(b"BODY[")), b"")
            for match in _ID_IN_HEADER.finditer(raw or b""):
                mid = match.group(1).decode("ascii", "replace")
                if mid in targets:
                    found[uid] = mid
                    break
    return found
