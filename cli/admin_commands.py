"""Team administration from the CLI: agents' roles and departments, PostgreSQL roles."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from helpdesk.core.team import Role
from helpdesk.storage.locations import load_settings
from helpdesk.storage.workspace import open_workspace
from helpdesk.sync.team import TeamService


def add_parsers(sub: Any) -> None:
    agent = sub.add_parser(
        "agent", help="change an agent: role (admins), departments (leads), away"
    )
    agent.add_argument("email")
    agent.add_argument("--role", choices=[r.value for r in Role])
    agent.add_argument("--departments", metavar="A,B", help="comma-separated; empty clears")
    away = agent.add_mutually_exclusive_group()
    away.add_argument(
        "--away", action="store_true", default=None, help="mark away (handle-next and rules skip)"
    )
    away.add_argument("--back", action="store_true", default=None, help="mark back from away")

    admin = sub.add_parser(
        "admin", help="PostgreSQL set-up: each agent as a database role (see docs)"
    )
    admin_sub = admin.add_subparsers(dest="admin_command", metavar="ACTION", required=True)
    install = admin_sub.add_parser(
        "pg-install", help="install grants, triggers and row security (as the owner)"
    )
    install.add_argument(
        "--url", required=True, help="the team database as its owner: postgresql://owner@host/db"
    )
    role = admin_sub.add_parser(
        "pg-role", help="create a login role for an agent (password from the terminal or stdin)"
    )
    role.add_argument("role", help="the database role name, e.g. hd_jana")
    role.add_argument("email", help="the agent's email")
    role.add_argument("--url", required=True, help="the team database as its owner")
    role.add_argument("--name", default="", help="the agent's name")
    role.add_argument(
        "--team-role", choices=[r.value for r in Role], help="also set the agent's team role"
    )


def run_agent(args: argparse.Namespace) -> int:
    ws = open_workspace(load_settings(args.config))
    try:
        svc = TeamService(ws)
        departments = None
        if args.departments is not None:
            departments = [d.strip() for d in args.departments.split(",") if d.strip()]
        away = True if args.away else (False if args.back else None)
        out = svc.set_agent(
            args.email.lower(),
            role=Role(args.role) if args.role else None,
            departments=departments,
            away=away,
        )
    finally:
        ws.close()
    if not out.ok:
        print(f"helpdesk: {out.message}", file=sys.stderr)
        return 1
    print(f"{args.email} updated")
    return 0


def run_admin(args: argparse.Namespace) -> int:
    from helpdesk.storage.pg_roles import create_agent_role, install_row_security

    if args.url.startswith("postgresql://"):  # psycopg 3 is the driver we ship
        args.url = "postgresql+psycopg://" + args.url.removeprefix("postgresql://")
    if args.admin_command == "pg-install":
        group = install_row_security(args.url)
        print(f"installed; agents' roles join the group {group}")
        return 0
    password = (
        getpass.getpass(f"Password for {args.role}: ")
        if sys.stdin.isatty()
        else sys.stdin.readline().rstrip("\n")
    )
    if not password:
        print("helpdesk: empty password, no role created", file=sys.stderr)
        return 1
    create_agent_role(
        args.url,
        args.role,
        password,
        args.email.lower(),
        name=args.name,
        team_role=Role(args.team_role) if args.team_role else None,
    )
    print(f"role {args.role} can now connect as {args.email}")
    return 0


HANDLERS = {"agent": run_agent, "admin": run_admin}
