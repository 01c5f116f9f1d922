"""The language guess that picks an acknowledgement and orders templates."""

from __future__ import annotations

import pytest

from helpdesk.core.language_guess import guess_language, primary_subtag


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Dobrý den, prosím o vrácení peněz za objednávku, zboží přišlo rozbité.", "cs"),
        ("Dobrý deň, prosím o vrátenie peňazí, tovar prišiel poškodený. Ďakujem", "sk"),
        ("Dzień dobry, proszę o zwrot pieniędzy, towar przyszedł uszkodzony.", "pl"),
        ("Guten Tag, ich habe eine Frage zu meiner Bestellung. Mit freundlichen Grüßen", "de"),
        ("Hello, I have not received my order yet. Could you please check? Thanks", "en"),
        ("Здравствуйте, мой заказ не пришёл. Спасибо", "ru"),
        ("注文した商品がまだ届きません。確認してください。", "ja"),
    ],
)
def test_the_languages_of_our_customers(text: str, expected: str) -> None:
    assert guess_language(text) == expected


def test_too_little_to_say_is_no_guess() -> None:
    assert guess_language("") is None
    assert guess_language("OK") is None
    assert guess_language("12345 / 2026-11-23") is None


def test_a_plain_content_language_wins_and_a_list_does_not() -> None:
    english = "Hello, I have not received my order yet. Thanks"
    assert guess_language(english, "cs-CZ") == "cs"
    assert guess_language(english, "de, en") == "en"  # several: the text decides
    assert guess_language(english, "xx") == "en"  # not one of ours


def test_primary_subtag() -> None:
    assert primary_subtag("en-GB") == "en"
    assert primary_subtag(" CS ") == "cs"
    assert primary_subtag("not a tag") == ""
