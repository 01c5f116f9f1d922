"""`helpdesk rules test FILE.eml`, run as a user runs it, on the rules of the example config."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from mailbuild import message

EXAMPLE = Path(__file__).resolve().parent.parent / "helpdesk.toml"


def helpdesk(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    return subprocess.run(
        [sys.executable, "-m", "helpdesk", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def example_config(tmp_path: Path) -> Path:
    """The shipped example with its rule examples switched on."""
    text = EXAMPLE.read_text(encoding="utf-8")
    head, marker, rules = text.partition("# [[rules]]")
    rules = re.sub(r"^# (?=\[\[rules\]\]|\w+ = |\s+\{|\]$)", "", marker + rules, flags=re.M)
    config = tmp_path / "helpdesk.toml"
    config.write_text(head + rules, encoding="utf-8")
    return config


def eml(tmp_path: Path, name: str, raw: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(raw)
    return path


def test_reply_about_an_order_goes_to_support_and_nothing_is_done(tmp_path: Path) -> None:
    config = example_config(tmp_path)
    path = eml(tmp_path, "reply.eml", message("r@c.example", subject="Re: Objednávka 1234"))
    result = helpdesk("--config", str(config), "rules", "test", str(path))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert 'Message: "Re: Objednávka 1234" from jan@customer.example' in out
    assert re.search(r"^\s+1  Supplier to purchasing\s+not matched: from_domain equals", out, re.M)
    assert re.search(r"^\s+2  Order replies to support\s+matched", out, re.M)
    assert re.search(r"^\s+3  Orders to the warehouse\s+not reached: stopped by", out, re.M)
    would = out.split("Would do:\n", 1)[1]
    assert "assign to department:support (round-robin)" in would
    assert "warehouse" not in would
    assert "Nothing was done" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["helpdesk.toml", "reply.eml"]


def test_hours_flag_and_json(tmp_path: Path) -> None:
    config = example_config(tmp_path)
    path = eml(tmp_path, "urgent.eml", message("u@c.example", subject="Spěchá: Objednávka 9"))
    unknown = json.loads(
        helpdesk("--config", str(config), "rules", "test", str(path), "--json").stdout
    )
    urgent = next(r for r in unknown["rules"] if r["name"] == "Urgent after hours")
    assert urgent["outcome"] == "not matched"
    assert "in_business_hours is not known" in urgent["reason"]
    assert unknown["in_business_hours"] is None
    assert unknown["actions"]["assign"] == {
        "agent": None,
        "department": "warehouse",
        "strategy": "least_loaded",
    }

    out = json.loads(
        helpdesk(
            "--config", str(config), "rules", "test", str(path), "--json", "--hours", "out"
        ).stdout
    )
    assert out["in_business_hours"] is False
    assert out["actions"]["priority"] == "urgent"
    assert out["actions"]["tags"] == ["after-hours"]
    assert out["actions"]["auto_reply"] == "order-received"
    assert "priority = urgent" in out["would_do"]

    inside = helpdesk("--config", str(config), "rules", "test", str(path), "--hours", "in")
    assert "inside business hours" in inside.stdout
    assert "priority = urgent" not in inside.stdout


def test_terminal_escapes_in_the_message_never_reach_the_output(tmp_path: Path) -> None:
    config = example_config(tmp_path)
    raw = message(
        "e@c.example",
        sender="Evil <evil@c.example>",
        subject="Objednávka \x1b]52;c;ZXZpbA==\x07\x1b[31mred",
    )
    path = eml(tmp_path, "evil.eml", raw)
    for extra in ((), ("--json",)):
        result = helpdesk("--config", str(config), "rules", "test", str(path), *extra)
        assert result.returncode == 0, result.stderr
        assert "\x1b" not in result.stdout and "\x07" not in result.stdout
        assert "Objednávka" in result.stdout


def test_bad_rule_is_a_config_error_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "helpdesk.toml"
    config.write_text(
        '[[rules]]\nname = "Orders"\nconditions = [\n  { field = "subject", matches = "([" },\n]\n'
        'assign = "department:warehouse"\n',
        encoding="utf-8",
    )
    path = eml(tmp_path, "m.eml", message("m@c.example"))
    result = helpdesk("--config", str(config), "rules", "test", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f'{config}:4: rules[1].conditions[1].matches: in rule "Orders"' in result.stderr
    assert "bad regular expression" in result.stderr


def test_no_rules_and_missing_file(tmp_path: Path) -> None:
    config = tmp_path / "helpdesk.toml"
    config.write_text("", encoding="utf-8")
    path = eml(tmp_path, "m.eml", message("m@c.example"))
    result = helpdesk("--config", str(config), "rules", "test", str(path))
    assert result.returncode == 0 and f"No rules in {config}." in result.stdout
    missing = helpdesk("--config", str(config), "rules", "test", str(tmp_path / "nope.eml"))
    assert missing.returncode == 1
    assert "nope.eml" in missing.stderr and "Traceback" not in missing.stderr
