"""Team administration through the CLI, on a real PostgreSQL with per-agent database roles."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from sqlalchemy.engine import make_url
from test_cli import helpdesk

from helpdesk.storage.pg_roles import drop_agent_role


def config_for(tmp_path: Path, name: str, store: str) -> Path:
    d = tmp_path / name
    d.mkdir()
    config = d / "helpdesk.toml"
    config.write_text(
        f'[team]\nstore = "{store}"\n[cache]\npath = "{d / "cache.sqlite"}"\n', encoding="utf-8"
    )
    return config


def test_roles_departments_and_database_roles(tmp_path: Path, pg_url: str) -> None:
    owner = config_for(tmp_path, "owner", pg_url)
    boss = {"HELPDESK_AGENT": "Boss <boss@h.example>"}
    jana = {"HELPDESK_AGENT": "Jana <jana@h.example>"}
    assert (
        helpdesk("--config", str(owner), "agents", env=boss).returncode == 0
    )  # boss joins first: admin
    assert helpdesk("--config", str(owner), "agents", env=jana).returncode == 0

    denied = helpdesk(
        "--config", str(owner), "agent", "boss@h.example", "--role", "agent", env=jana
    )
    assert denied.returncode == 1 and "lead" in denied.stderr
    ok = helpdesk(
        "--config",
        str(owner),
        "agent",
        "jana@h.example",
        "--role",
        "lead",
        "--departments",
        "sklad,b2b",
        env=boss,
    )
    assert ok.returncode == 0, ok.stderr
    agents = {
        a["email"]: a
        for a in json.loads(helpdesk("--config", str(owner), "agents", "--json", env=boss).stdout)
    }
    assert agents["jana@h.example"]["role"] == "lead" and agents["jana@h.example"][
        "departments"
    ] == ["sklad", "b2b"]

    role = f"hd_{uuid.uuid4().hex[:8]}"
    url = str(make_url(pg_url).set(drivername="postgresql"))
    try:
        installed = helpdesk("admin", "pg-install", "--url", url)
        assert installed.returncode == 0, installed.stderr
        made = helpdesk(
            "admin",
            "pg-role",
            role,
            "petr@h.example",
            "--url",
            url,
            "--name",
            "Petr",
            input="heslo-123\n",
        )
        assert made.returncode == 0, made.stderr
        # Petr's own client connects as his role: the database knows who he is.
        petr_url = make_url(pg_url).set(username=role).render_as_string(hide_password=False)
        petr = config_for(tmp_path, "petr", petr_url)
        as_petr = {"HELPDESK_AGENT": "Petr <petr@h.example>"}
        listed = helpdesk("--config", str(petr), "agents", "--json", env=as_petr)
        assert listed.returncode == 0, listed.stderr
        assert "petr@h.example" in {a["email"] for a in json.loads(listed.stdout)}
        # Pretending to be the admin from Petr's role is refused by the database itself.
        forged = helpdesk("--config", str(petr), "agent", "jana@h.example", "--away", env=boss)
        assert forged.returncode == 1 and "Traceback" not in forged.stderr
        assert "InsufficientPrivilege" in forged.stderr  # refused by the database itself
    finally:
        drop_agent_role(pg_url, role)
