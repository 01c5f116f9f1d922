"""Which language a customer wrote in, guessed cheaply from the text: enough to pick the
acknowledgement in their language and to put templates of that language first.

Only the languages of the team's customers are told apart (Czech, Slovak, Polish, German,
English, Russian, Japanese). A mail's own Content-Language wins when it names one plainly.
Short or mixed texts give None: a wrong guess is worse than the team's default language.
"""

from __future__ import annotations

import re
from collections import Counter

__all__ = ["LANGUAGES", "guess_language", "primary_subtag"]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Frequent little words that a language uses and its neighbours do not (or much less).
_WORDS: dict[str, frozenset[str]] = {
    "cs": _words(
        "se že jsem jsme jste prosím děkuji dobrý den není mám byl bych jak ale který "
        "která které bude také nebo už jen když pro při jako tak ještě můžete zdravím "
        "objednávka objednávku reklamace zboží"
    ),
    "sk": _words(
        "sa som sme ste prosím ďakujem dobrý deň nie mám bol by ako ale ktorý ktorá ktoré "
        "bude aj alebo už len keď pre pri tak ešte môžete zdravím objednávka objednávku "
        "reklamácia tovar"
    ),
    "pl": _words(
        "jest się nie że na jestem dzień dobry proszę dziękuję mam był jak ale który "
        "która które będzie także lub już tylko kiedy dla przy tak jeszcze mogą "
        "zamówienie reklamacja towar witam pozdrawiam"
    ),
    "de": _words(
        "der die das und ist ich nicht sie mit ein eine einen zu bitte danke guten tag "
        "wir haben für auf von mein meine bestellung grüße freundlichen"
    ),
    "en": _words(
        "the and is not you with to please thank thanks hello we have for my of it this "
        "that order would could regards dear"
    ),
    "ru": _words("и не на что я с пожалуйста спасибо здравствуйте это мой заказ как но для уже"),
}
# Letters one language of the set has and the others lack.
_LETTERS: dict[str, str] = {"cs": "řůě", "sk": "ľĺŕäô", "pl": "łąęśźżćń", "de": "ß"}
LANGUAGES = (*_WORDS, "ja")

_WORD = re.compile(r"[^\W\d_]+")
_KANA = re.compile(r"[\u3040-\u30ff]")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_TAG = re.compile(r"^\s*([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*\s*$")
_SAMPLE = 4000  # characters read: the start of a mail says enough, and quoted text follows
_LEAST = 2  # points a guess needs
_LETTER_POINTS = 2  # a telling letter counts for this many words


def primary_subtag(tag: str) -> str:
    """``en`` of ``en-GB``, lower-cased; "" for what is not a language tag."""
    m = _TAG.match(tag or "")
    return m.group(1).lower() if m else ""


def guess_language(text: str, declared: str | None = None) -> str | None:
    """The language code (see :data:`LANGUAGES`) the text is most likely written in."""
    if declared:
        # "cs" or "cs-CZ"; a list ("de, en") says the mail is in several: guess instead.
        code = primary_subtag(declared)
        if code in LANGUAGES:
            return code
    sample = text[:_SAMPLE]
    if _KANA.search(sample):
        return "ja"
    lowered = sample.lower()
    points: Counter[str] = Counter()
    for word in _WORD.findall(lowered):
        for language, words in _WORDS.items():
            if word in words:
                points[language] += 1
    for language, letters in _LETTERS.items():
        points[language] += _LETTER_POINTS * sum(lowered.count(c) for c in letters)
    if _CYRILLIC.search(sample):
        points["ru"] += _LETTER_POINTS
    ranked = points.most_common(2)
    if not ranked or ranked[0][1] < _LEAST:
        return None
    if len(ranked) > 1 and ranked[1][1] == ranked[0][1]:
        return None  # a tie says nothing
    return ranked[0][0]
