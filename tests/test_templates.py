"""Templates (core.templates and storage.templates_dir): rendering, missing variables, the
picker's ranking, template files, signatures."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from helpdesk.core.templates import (
    KNOWN_VARIABLES,
    Template,
    TemplateError,
    combined_signature,
    fuzzy_rank,
    parse_template_file,
    render,
    unfilled,
    variables_for,
    with_signature,
)
from helpdesk.storage.templates_dir import MAX_TEMPLATE_BYTES, load_templates


def values(**changes: object) -> dict[str, str]:
    base: dict[str, object] = {
        "customer_name": "Ada Lovelace",
        "customer_email": "ada@example.com",
        "ticket": 1234,
        "subject": "Re: AW: Order 123456 is late",
        "agent_name": "Jana Novák",
        "agent_email": "jana@example.com",
        "team": "Podpora",
        "order_pattern": r"order\s*#?(\d{6,})",
        "today": date(2026, 11, 20),
        "next_opening": datetime(2026, 11, 23, 8, 0, tzinfo=UTC),
    }
    base.update(changes)
    return variables_for(**base)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Rendering


def test_every_known_variable_is_filled() -> None:
    text = " | ".join(f"{{{{ {name} }}}}" for name in KNOWN_VARIABLES)
    got = render(text, values())
    assert got.missing == () and got.spans == ()
    assert got.text == (
        "Ada Lovelace | Ada | ada@example.com | 1234 | Order 123456 is late | Jana Novák | "
        "Jana | jana@example.com | Podpora | 123456 | 2026-11-20 | 2026-11-23 08:00 | "
        "2026-11-23 | 08:00"
    )


def test_missing_values_stay_visible_with_their_places() -> None:
    body = "Dear {{customer.first_name}},\norder {{ order.number }} and {{ nonsense.x }}; {{customer.first_name}}"
    got = render(body, values(customer_name="", subject="Where is my parcel?"))
    assert got.text == body  # nothing filled, nothing blanked
    assert got.missing == ("customer.first_name", "order.number", "nonsense.x")
    assert [got.text[a:b] for a, b in got.spans] == [
        "{{customer.first_name}}",
        "{{ order.number }}",
        "{{ nonsense.x }}",
        "{{customer.first_name}}",
    ]


def test_spans_point_into_the_rendered_text() -> None:
    got = render("{{ customer.name }}: {{ order.number }}!", {"customer.name": "Žofie Dvořáková"})
    assert got.text == "Žofie Dvořáková: {{ order.number }}!"
    ((start, end),) = got.spans
    assert got.text[start:end] == "{{ order.number }}"


def test_values_are_inserted_literally() -> None:
    got = render("Hi {{ customer.name }}", {"customer.name": "{{ agent.name }} [b]x[/b] \\1"})
    assert got.text == "Hi {{ agent.name }} [b]x[/b] \\1"
    assert got.missing == ()
    assert unfilled(got.text) == ("agent.name",)  # the sender still refuses it


def test_blank_value_counts_as_missing() -> None:
    assert render("{{ team.name }}", {"team.name": "  "}).missing == ("team.name",)


def test_unfilled() -> None:
    assert unfilled("a {{x}} b {{ y.z }} {{x}} {{ not closed } {{1bad}}") == ("x", "y.z")
    assert unfilled("nothing here {single}") == ()


def test_variables_from_untrusted_names() -> None:
    got = values(customer_name="Eve\x1b[31m\r\nBcc: x", agent_name="Lovelace, Ada")
    assert got["customer.name"] == "Eve Bcc: x"
    assert got["agent.first_name"] == "Ada"
    # an address given as the name is no name
    assert "customer.name" not in values(customer_name="ada@example.com")
    assert "order.number" not in values(order_pattern=None)
    assert values(subject="ORDER #9876543")["order.number"] == "9876543"


# --------------------------------------------------------------------------------------------
# The picker

TEMPLATES = [
    Template("Odpověď na reklamaci", "cs", body="x"),
    Template("Order shipped", "en", body="x"),
    Template("Objednávka odeslána", "cs", body="x"),
    Template("Opening hours", "", body="x"),
    Template("Refund", "en", body="x"),
]


def names(found: list[Template]) -> list[str]:
    return [t.name for t in found]


def test_fuzzy_ignores_case_and_accents() -> None:
    assert names(fuzzy_rank("odpo", TEMPLATES)) == ["Odpověď na reklamaci"]
    assert names(fuzzy_rank("odp", TEMPLATES)) == ["Odpověď na reklamaci", "Order shipped"]
    assert names(fuzzy_rank("ODPOVED", TEMPLATES)) == ["Odpověď na reklamaci"]
    assert names(fuzzy_rank("objodesl", TEMPLATES)) == ["Objednávka odeslána"]
    assert fuzzy_rank("zzz", TEMPLATES) == []


def test_fuzzy_best_first() -> None:
    # "or" is a prefix of "Order", scattered in the others
    assert names(fuzzy_rank("or", TEMPLATES))[0] == "Order shipped"
    assert names(fuzzy_rank("oh", TEMPLATES))[0] == "Opening hours"  # two word starts


def test_fuzzy_prefers_the_language_by_its_primary_subtag() -> None:
    found = [Template("Refund", "en-GB", body="x"), Template("Vrácení", "cs", body="x")]
    assert names(fuzzy_rank("", found, language="en")) == ["Refund", "Vrácení"]
    assert names(fuzzy_rank("", found, language="cs-CZ")) == ["Vrácení", "Refund"]


def test_fuzzy_prefers_the_language() -> None:
    ranked = names(fuzzy_rank("o", TEMPLATES, language="cs"))
    assert ranked[:2] == ["Objednávka odeslána", "Odpověď na reklamaci"]
    assert ranked[2] == "Opening hours"  # any language before the other languages
    assert ranked[-1] == "Order shipped"


def test_empty_query_gives_all_by_name() -> None:
    assert names(fuzzy_rank("", TEMPLATES)) == sorted(names(TEMPLATES), key=str.casefold)
    assert names(fuzzy_rank("  ", TEMPLATES, "en"))[:2] == ["Order shipped", "Refund"]


# --------------------------------------------------------------------------------------------
# Template files


def test_file_with_front_matter() -> None:
    text = "Subject: Your order {{ order.number }}\nLanguage: cs\n\n\nDobrý den {{ customer.name }},\n\n"
    t = parse_template_file("objednavka", text, "/t/objednavka.txt")
    assert t == Template(
        name="objednavka",
        language="cs",
        subject="Your order {{ order.number }}",
        body="Dobrý den {{ customer.name }},\n",
        source="/t/objednavka.txt",
    )


def test_file_without_front_matter_is_all_body() -> None:
    t = parse_template_file("thanks", "\ufeffThanks: we got it.\r\nBye\r\n", "t.txt")
    assert (t.subject, t.language, t.body) == (None, "", "Thanks: we got it.\nBye\n")


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("Subject: x\nLanguage: cs\nBody starts without a blank line\n", 3, "blank line"),
        ("Subject: x\nLanguage: cs", 2, "body is missing"),
        ("Subject: x\nSubject: y\n\nbody\n", 2, "given twice"),
        ("Language: Czech\n\nbody\n", 1, "language code"),
        ("Subject: \n\nbody\n", 1, "subject is empty"),
        ("Subject: x\n\n\n  \n", 3, "body is empty"),
        ("Language: cs\n\nline one\nline two {{ custmer.name }}\n", 4, "custmer.name"),
        ("\n\nhello {{ nope }}\n", 3, "unknown variable {{ nope }}"),
        ("Subject: {{ bad.one }}\n\nbody\n", 1, "bad.one"),
        ("ok\nbell \x07 here\n", 2, "control character U+0007"),
        ("ok\n\x1b[31mred\n", 2, "control character U+001B"),
    ],
)
def test_bad_files_name_the_line(text: str, line: int, words: str) -> None:
    with pytest.raises(TemplateError) as info:
        parse_template_file("t", text, "/srv/templates/t.txt")
    assert info.value.line == line
    assert str(info.value).startswith(f"/srv/templates/t.txt:{line}: ")
    assert words in str(info.value)


# --------------------------------------------------------------------------------------------
# The folder


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, str):
        text = text.encode()
    path.write_bytes(text)
    return path


def test_load_templates(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    write(folder / "b-refund.md", "Language: en\n\nRefund for {{ order.number }}.\n")
    write(folder / "a-thanks.txt", "Thanks!\n")
    write(folder / ".hidden.txt", "swap file\n")
    write(folder / "notes.rst", "other kind\n")
    write(folder / "big.txt", b"x" * (MAX_TEMPLATE_BYTES + 1))
    write(folder / "latin1.txt", "ok\nŽ".encode("cp1250"))
    write(folder / "broken.txt", "Hi {{ custmer.name }}\n")
    write(folder / "A-THANKS.md", "Duplicate name\n")
    (folder / "sub").mkdir()
    write(folder / "sub" / "deep.txt", "not read: not recursive\n")
    outside = write(tmp_path / "secret.txt", "outside the folder\n")
    (folder / "c-link-out.txt").symlink_to(outside)
    (folder / "d-link-in.txt").symlink_to(folder / "a-thanks.txt")
    (folder / "e-dangling.txt").symlink_to(folder / "missing.txt")
    os.mkfifo(folder / "f-fifo.txt")

    found, problems = load_templates(folder)
    assert [(t.name, t.language, t.body) for t in found] == [
        ("A-THANKS", "", "Duplicate name\n"),  # file names sort as bytes: capitals first
        ("b-refund", "en", "Refund for {{ order.number }}.\n"),
        ("d-link-in", "", "Thanks!\n"),
    ]
    assert found[0].source == str(folder / "A-THANKS.md")
    text = "\n".join(problems)
    assert f"{folder / 'a-thanks.txt'}: skipped, A-THANKS.md has the same name" in text
    assert f"{folder / 'big.txt'}: skipped, larger than 256 KiB" in text
    assert f"{folder / 'latin1.txt'}:2: skipped, not UTF-8 text" in text
    assert f"{folder / 'broken.txt'}:1: unknown variable" in text
    assert f"{folder / 'c-link-out.txt'}: skipped, a link to outside" in text
    assert f"{folder / 'e-dangling.txt'}: skipped" in text
    assert f"{folder / 'f-fifo.txt'}: skipped, not a regular file" in text
    assert len(problems) == 7
    assert "hidden" not in text and "notes.rst" not in text and "deep" not in text


def test_load_templates_missing_folder(tmp_path: Path) -> None:
    found, problems = load_templates(tmp_path / "nope")
    assert found == [] and len(problems) == 1 and "cannot be read" in problems[0]


# --------------------------------------------------------------------------------------------
# Signatures


def test_signature_once() -> None:
    signed = with_signature("Hello,\n\nall done.\n\n\n", "Jana Novák\nPodpora")
    assert signed == "Hello,\n\nall done.\n\n-- \nJana Novák\nPodpora\n"
    assert with_signature(signed, "Jana Novák\nPodpora") == signed
    assert with_signature(signed, "-- \nJana Novák\nPodpora") == signed


def test_signature_with_its_own_separator_and_edge_cases() -> None:
    assert with_signature("Hi", "--\nJana") == "Hi\n\n-- \nJana\n"
    assert with_signature("", "Jana") == "\n-- \nJana\n"
    assert with_signature("Hi\n", "  \n") == "Hi\n"
    # a body that already has a signature block gets the text, not a second separator
    assert with_signature("Hi\n\n-- \nOld line\n", "Jana") == "Hi\n\n-- \nOld line\nJana\n"
    # a mention of the name in the text is no signature
    assert with_signature("Ask Jana.\n", "Jana").endswith("\n-- \nJana\n")


def test_combined_signature() -> None:
    assert combined_signature("-- \nJana Novák", "Podpora\nExample Ltd.\n") == (
        "Jana Novák\nPodpora\nExample Ltd."
    )
    assert combined_signature("", "Podpora") == "Podpora"
