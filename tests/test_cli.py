"""The `helpdesk` command as scripts use it: errors, import, tickets/show --json."""

from __future__ import annotations

import json
import mailbox
import os
import subprocess
import sys
from pathlib import Path

from mailbuild import message


def helpdesk(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "helpdesk", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        cwd=cwd,
        input=input,
    )


def write_config(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "helpdesk.toml"
    config.write_text(
        f"""[agent]
name = "Jana"
email = "jana@helpdesk.example"
[team]
store = "sqlite:///{tmp_path / "team.sqlite"}"
addresses = ["support@helpdesk.example"]
[cache]
path = "{tmp_path / "cache.sqlite"}"
{extra}""",
        encoding="utf-8",
    )
    return config


def test_bad_config_is_one_clear_error(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        '[accounts.support]\naddress = "support@helpdesk.example"\n'
        '[accounts.support.imap]\nhost = "imap.example.com"\nport = "abc"\n',
    )
    result = helpdesk("--config", str(config), "tickets")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(config) in result.stderr
    assert "accounts.support.imap.port" in result.stderr
    line = config.read_text(encoding="utf-8").splitlines().index('port = "abc"') + 1
    assert f"{config}:{line}:" in result.stderr  # the line of the key
    assert "integer" in result.stderr


def test_missing_config_file_named(tmp_path: Path) -> None:
    result = helpdesk("--config", str(tmp_path / "nope.toml"), "tickets")
    assert result.returncode == 2
    assert "nope.toml" in result.stderr and "Traceback" not in result.stderr


def test_import_maildir_then_list_and_show_json(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    md = mailbox.Maildir(tmp_path / "mail", create=True)
    md.add(message("a1@c.example", subject="Objednávka 5"))
    md.add(
        message(
            "a2@c.example",
            subject="Re: Objednávka 5",
            in_reply_to="a1@c.example",
            date="Mon, 02 Nov 2026 12:00:00 +0100",
        )
    )
    md.add(message("b1@c.example", sender="Piotr <piotr@wp.example>", subject="Zamówienie nr 8"))
    result = helpdesk("--config", str(config), "import", str(tmp_path / "mail"))
    assert result.returncode == 0, result.stderr
    assert "3 new" in result.stdout and "2 new tickets" in result.stdout
    # Importing again adds nothing.
    again = helpdesk("--config", str(config), "import", str(tmp_path / "mail"))
    assert "0 new," in again.stdout and "3 already known" in again.stdout

    listed = helpdesk("--config", str(config), "tickets", "--json")
    assert listed.returncode == 0, listed.stderr
    tickets = json.loads(listed.stdout)
    assert sorted(t["subject"] for t in tickets) == ["Objednávka 5", "Zamówienie nr 8"]
    order = next(t for t in tickets if t["subject"] == "Objednávka 5")
    assert order["message_count"] == 2 and order["status"] == "new" and order["assignee"] is None

    shown = helpdesk("--config", str(config), "show", str(order["number"]), "--json")
    detail = json.loads(shown.stdout)
    assert [m["message_id"] for m in detail["messages"]] == ["a1@c.example", "a2@c.example"]
    assert detail["customer_email"] == "jan@customer.example"

    text = helpdesk("--config", str(config), "show", str(order["number"]))
    assert "Objednávka 5" in text.stdout and "kde je moje objednávka?" in text.stdout
    missing = helpdesk("--config", str(config), "show", "9999")
    assert missing.returncode == 1 and "no ticket #9999" in missing.stderr


def test_import_mbox(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    box = mailbox.mbox(tmp_path / "mail.mbox")
    box.add(message("m1@c.example", subject="Reklamace"))
    box.add(message("m2@c.example", subject="Dotaz"))
    box.flush()
    result = helpdesk("--config", str(config), "import", str(tmp_path / "mail.mbox"))
    assert result.returncode == 0 and "2 new tickets" in result.stdout


def test_import_bad_path(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = helpdesk("--config", str(config), "import", str(tmp_path / "nothing"))
    assert (
        result.returncode == 1
        and "no such file" in result.stderr
        and "Traceback" not in result.stderr
    )


def test_help_lists_subcommands() -> None:
    result = helpdesk("--help")
    for cmd in ("demo", "sync", "import", "doctor", "tickets", "show", "auth"):
        assert cmd in result.stdout


def test_demo_workspace_holds_the_sample_mailbox(tmp_path: Path) -> None:
    result = helpdesk("demo", "--no-app", "--dir", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stderr
    config = result.stdout.strip()
    tickets = json.loads(helpdesk("--config", config, "tickets", "--queue", "all", "--json").stdout)
    assert 100 <= len(tickets) <= 200
    # Mail in all three languages made it through the pipeline.
    subjects = " ".join(t["subject"] for t in tickets)
    assert any(c in subjects for c in "řůě")  # Czech
    assert any(c in subjects for c in "łąęż")  # Polish
    assert any(
        w in subjects.lower() for w in ("order", "parcel", "invoice", "refund", "delivery", "item")
    )
    from helpdesk.storage.locations import load_settings
    from helpdesk.storage.workspace import open_workspace

    ws = open_workspace(load_settings(config, env={}))
    details = [ws.cache.ticket(t["number"]) for t in tickets if t["message_count"] > 1]
    ws.close()
    messages = [m for d in details if d is not None for m in d.messages]
    assert any(m.outgoing for m in messages)  # the agents' replies joined their tickets
    assert any(m.auto == "auto-reply" for m in messages)
    assert any(m.attachments for m in messages)


def test_team_commands_between_two_agents(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    md = mailbox.Maildir(tmp_path / "mail", create=True)
    for i in range(3):
        md.add(
            message(
                f"t{i}@c.example",
                subject=f"Dotaz {i}",
                date=f"Mon, 02 Nov 2026 0{i + 1}:00:00 +0000",
            )
        )
    assert helpdesk("--config", str(config), "import", str(tmp_path / "mail")).returncode == 0
    jana = {"HELPDESK_AGENT": "Jana <jana@helpdesk.example>"}
    petr = {"HELPDESK_AGENT": "Petr <petr@helpdesk.example>"}

    nxt = helpdesk("--config", str(config), "next", "--json", env=jana)
    assert nxt.returncode == 0, nxt.stderr
    first = json.loads(nxt.stdout)
    assert (
        first["subject"] == "Dotaz 0" and first["assignee"] == "jana@helpdesk.example"
    )  # oldest waiting

    taken = helpdesk("--config", str(config), "claim", str(first["number"]), env=petr)
    assert taken.returncode == 1 and "jana@helpdesk.example" in taken.stderr

    noted = helpdesk(
        "--config", str(config), "note", str(first["number"]), "Volala, pošlu náhradu.", env=petr
    )
    assert noted.returncode == 0, noted.stderr
    shown = json.loads(
        helpdesk("--config", str(config), "show", str(first["number"]), "--json", env=jana).stdout
    )
    assert [(n["author"], n["body"]) for n in shown["notes"]] == [
        ("petr@helpdesk.example", "Volala, pošlu náhradu.")
    ]
    assert [h["kind"] for h in shown["history"]] == ["created", "claimed", "refused", "note"]
    text = helpdesk("--config", str(config), "show", str(first["number"]), env=jana).stdout
    assert "INTERNAL NOTE by petr@helpdesk.example" in text

    mine = json.loads(
        helpdesk("--config", str(config), "tickets", "--queue", "mine", "--json", env=jana).stdout
    )
    assert [t["number"] for t in mine] == [first["number"]]
    denied = helpdesk(
        "--config",
        str(config),
        "reassign",
        "--from",
        "jana@helpdesk.example",
        "--to",
        "petr@helpdesk.example",
        env=petr,
    )
    assert denied.returncode == 1 and "lead" in denied.stderr
    # Jana joined first, so she runs the team (admin): she may hand her work over.
    moved = helpdesk(
        "--config",
        str(config),
        "reassign",
        "--from",
        "jana@helpdesk.example",
        "--to",
        "petr@helpdesk.example",
        env=jana,
    )
    assert moved.returncode == 0, moved.stderr
    agents = {
        a["email"]: a
        for a in json.loads(helpdesk("--config", str(config), "agents", "--json", env=jana).stdout)
    }
    assert (
        agents["jana@helpdesk.example"]["away"] and agents["petr@helpdesk.example"]["holding"] == 1
    )
    assert (
        agents["jana@helpdesk.example"]["role"] == "admin"
        and agents["petr@helpdesk.example"]["role"] == "agent"
    )
    released = helpdesk(
        "--config", str(config), "release", str(first["number"]), "--json", env=petr
    )
    assert json.loads(released.stdout)["ok"] is True
