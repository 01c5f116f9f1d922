"""A big, deterministic support mailbox for the sync benchmarks, written straight into a Maildir.

    python bench/mailbox_gen.py N --maildir DIR [--seed S]    # INBOX in DIR, Sent in DIR/.Sent
    python bench/mailbox_gen.py N --summary                    # only print what it would make

The same (N, seed) always gives the same bytes. The mail is what a small e-shop's shared
support mailbox holds after a year: conversations in Czech, Polish, English and German (and a
few in Russian and Japanese) in UTF-8, ISO-8859-2, windows-1250, ISO-8859-1, KOI8-R and
ISO-2022-JP, quoted-printable, base64 and 8bit, plain and HTML; replies that quote what they
answer, carry In-Reply-To/References (some only In-Reply-To) and a "Re:" subject; our own
replies go to the Sent folder. Sizes are mostly 2-30 KB; about 2 % carry a PDF or JPEG
attachment (random bytes) of up to 5 MB; about 1 % is malformed in the ways real mail is
(broken MIME boundaries, wrong or unknown charsets, raw 8-bit or broken encoded-word headers,
missing Message-ID, Date or From, bad base64). Dates are spread evenly over a year.

Messages are built as text, not with the `email` package: 100,000 of them must take seconds.
Files get fresh names (a Maildir name Dovecot has seen expunged stays invisible), carry their
size (`S=`, `W=`) so Dovecot need not read them to answer RFC822.SIZE, and their mtime is the
arrival time, which Dovecot reports as INTERNALDATE.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import bisect
import html
import os
import random
import secrets
import socket
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import quote

from helpdesk.core import demo_mailbox_texts as tx
from helpdesk.core.demo_mailbox import AGENTS, TEAM_ADDRESS, TEAM_NAME

START = datetime(2025, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=365)
SUPPORT = TEAM_ADDRESS
INBOX, SENT = "INBOX", "Sent"

# Share of conversations per language, and the charsets their mail clients use.
LANG_WEIGHTS = {"cs": 52, "pl": 20, "en": 16, "de": 9, "ru": 1.5, "ja": 1.5}
CHARSETS: dict[str, tuple[tuple[str, int], ...]] = {
    "cs": (("utf-8", 60), ("iso-8859-2", 22), ("windows-1250", 18)),
    "pl": (("utf-8", 60), ("iso-8859-2", 25), ("windows-1250", 15)),
    "en": (("utf-8", 70), ("us-ascii", 30)),
    "de": (("utf-8", 55), ("iso-8859-1", 30), ("windows-1250", 15)),
    "ru": (("koi8-r", 70), ("utf-8", 30)),
    "ja": (("iso-2022-jp", 80), ("utf-8", 20)),
}
TZ = {"cs": 1, "pl": 1, "de": 1, "en": 0, "ru": 3, "ja": 9}
NEW_CONVERSATION = 0.42
HTML_SHARE = 0.4
ATTACHMENT_SHARE = 0.02
MALFORMED_SHARE = 0.01
AUTO_REPLY_SHARE = 0.01
MAX_ATTACHMENT = 5 * 1024 * 1024
OPEN_THREADS = 4000

# Legacy charsets lack typographic quotes and dashes: mail clients write plain ones.
_PLAIN_PUNCT = (
    ("„", '"'),
    ("“", '"'),
    ("”", '"'),
    ("‚", "'"),
    ("‘", "'"),
    ("’", "'"),
    ("–", "-"),
    ("—", "-"),
    ("…", "..."),
    ("×", "x"),
    ("→", "->"),
    ("€", "EUR"),
    ("\u00a0", " "),
)
# Attachment bytes are slices of one random pool, encoded once: base64 of 5 MB per message
# would make the generator ten times slower. A base64 line holds 57 bytes in 77 characters.
_B64_LINE_BYTES, _B64_LINE_CHARS = 57, 77
PADDING_CHARS = 300_000

# --- words the demo mailbox does not have --------------------------------------------------

DE_FIRST = (
    "Lukas",
    "Anna",
    "Felix",
    "Lena",
    "Jonas",
    "Marie",
    "Tobias",
    "Sophie",
    "Jürgen",
    "Käthe",
)
DE_SURNAMES = ("Müller", "Schäfer", "Weiß", "Köhler", "Bäcker", "Groß", "Hoffmann", "Krüger")
DE_DOMAINS = ("post.example", "netz.example", "web.example")
RU_NAMES = ("Алексей Смирнов", "Ольга Иванова", "Дмитрий Кузнецов", "Наталья Попова")
JA_NAMES = ("佐藤 花子", "鈴木 一郎", "高橋 美咲", "田中 健")

DE_TEXT = {
    "subjects": (
        "Bestellung Nr. {order}",
        "Frage zur Lieferung {order}",
        "Reklamation: {product}",
        "Rücksendung der Bestellung {order}",
        "Rechnung {invoice} fehlt",
    ),
    "greetings": ("Guten Tag,", "Hallo,", "Sehr geehrte Damen und Herren,"),
    "opening": (
        "ich habe vor {days} Tagen die Bestellung Nr. {order} aufgegeben ({product}), aber "
        "bisher keine Versandbestätigung erhalten. Können Sie mir bitte sagen, wann die "
        "Ware verschickt wird?",
        "die Lieferung {tracking} ist heute angekommen, leider ist der Karton beschädigt und "
        "der Artikel „{product}“ hat einen Sprung. Fotos schicke ich gerne nach.",
        "ich möchte die Bestellung {order} zurückschicken, weil die Größe nicht passt. Wie "
        "läuft die Rücksendung ab und wer trägt die Versandkosten?",
        "für meine Bestellung {order} fehlt noch die Rechnung {invoice}. Für die Buchhaltung "
        "brauche ich sie mit ausgewiesener Mehrwertsteuer an die Firma {company}.",
        "die Zahlung per Karte für die Bestellung {order} ist zweimal abgebucht worden. Bitte "
        "prüfen Sie das und erstatten Sie den doppelten Betrag von {price}.",
    ),
    "follow": (
        "Vielen Dank für die schnelle Antwort. Die Sendung steht laut Verfolgung aber noch "
        "immer im Verteilzentrum. Wissen Sie, was da los ist?",
        "Danke, das Etikett habe ich bekommen. Ich bringe das Paket morgen zur Post.",
        "Entschuldigen Sie, dass ich noch einmal schreibe, aber ich habe bisher nichts gehört.",
    ),
    "agent": (
        "vielen Dank für Ihre Nachricht. Die Bestellung {order} wurde heute an {carrier} "
        "übergeben, die Sendungsnummer lautet {tracking}. Die Zustellung erwarten wir in zwei "
        "bis drei Werktagen.",
        "es tut uns leid, dass die Ware beschädigt angekommen ist. Wir schicken Ihnen heute "
        "einen Ersatz; das beschädigte Stück müssen Sie nicht zurücksenden.",
        "die Rechnung {invoice} finden Sie im Anhang. Bei Fragen antworten Sie einfach auf "
        "diese E-Mail.",
    ),
    "signoff": (
        "Mit freundlichen Grüßen\n{name}",
        "Viele Grüße\n{first}",
        "Danke und Gruß\n{name}",
    ),
    "agent_signoff": "Mit freundlichen Grüßen\n\n{agent}\nKundenservice obchod.example",
    "attribution": "Am {day}.{month}.{year} um {hour}:{minute} schrieb {name}:",
    "reply_prefix": ("Re: ", "AW: ", "WG: "),
}
RU_TEXT = {
    "subjects": ("Заказ № {order}", "Вопрос по доставке {order}", "Возврат товара"),
    "greetings": ("Здравствуйте,", "Добрый день,"),
    "opening": (
        "я оформил заказ № {order} {days} дней назад, но до сих пор не получил информацию об "
        "отправке. Подскажите, пожалуйста, когда ожидать посылку?",
        "посылка {tracking} пришла повреждённой, товар «{product}» разбит. Прошу заменить "
        "товар или вернуть деньги.",
    ),
    "follow": ("Спасибо за ответ. Посылка всё ещё не пришла, что мне делать?",),
    "signoff": ("С уважением,\n{name}", "Спасибо,\n{name}"),
    "attribution": "{day}.{month}.{year} в {hour}:{minute}, {name} пишет:",
    "reply_prefix": ("Re: ", "Ответ: "),
}
JA_TEXT = {
    "subjects": ("注文番号 {order} について", "配送についての問い合わせ", "返品のお願い"),
    "greetings": ("お世話になっております。", "こんにちは。"),
    "opening": (
        "{days}日前に注文番号 {order} で商品を注文しましたが、まだ発送の連絡がありません。"
        "いつ届くか教えていただけますか。",
        "本日荷物が届きましたが、箱が破損しており、商品が割れていました。交換をお願いします。",
    ),
    "follow": ("ご返信ありがとうございます。まだ荷物が届いていません。",),
    "signoff": ("よろしくお願いいたします。\n{name}",),
    "attribution": "{year}/{month}/{day} {hour}:{minute} {name}:",
    "reply_prefix": ("Re: ",),
}
DISCLAIMERS = {
    "cs": "Tento e-mail a jeho přílohy jsou důvěrné a určené pouze adresátovi. Pokud jste jej "
    "obdržel(a) omylem, informujte prosím odesílatele a zprávu smažte. Odesílatel neodpovídá "
    "za škody způsobené změnou zprávy nebo jejím opožděným doručením.",
    "pl": "Niniejsza wiadomość i załączniki są poufne i przeznaczone wyłącznie dla adresata. "
    "Jeżeli otrzymali Państwo tę wiadomość omyłkowo, prosimy o powiadomienie nadawcy i jej "
    "usunięcie.",
    "en": "This email and any attachments are confidential and intended solely for the "
    "addressee. If you received it in error, please notify the sender and delete it. Any "
    "views expressed are those of the author and not necessarily of the company.",
    "de": "Diese E-Mail enthält vertrauliche Informationen und ist nur für den Empfänger "
    "bestimmt. Wenn Sie nicht der richtige Adressat sind, informieren Sie bitte den Absender "
    "und löschen Sie diese Mail.",
}
HTML_HEAD = (
    '<html><head><meta http-equiv="Content-Type" content="text/html; charset={charset}">'
    '<style type="text/css">p.MsoNormal, li.MsoNormal, div.MsoNormal {{margin:0cm; '
    "font-size:11.0pt; font-family:Calibri,sans-serif;}} a:link {{color:#0563C1; "
    "text-decoration:underline;}} .MsoChpDefault {{font-size:10.0pt;}} @page WordSection1 "
    "{{size:612.0pt 792.0pt; margin:72.0pt 72.0pt 72.0pt 72.0pt;}}</style></head>\n"
    '<body lang="{lang}" link="#0563C1" vlink="#954F72"><div class="WordSection1">\n'
)
MAILERS = (
    "Microsoft Outlook 16.0",
    "Mozilla Thunderbird",
    "Apple Mail (2.3774.300.61.1.2)",
    "Roundcube Webmail/1.6.5",
    "K-9 Mail for Android",
    None,
    None,
)


# --- the conversations --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GeneratedMail:
    raw: bytes  # LF line ends, as Maildir files hold them
    when: datetime  # arrival time (INTERNALDATE)
    folder: str  # INBOX or Sent
    message_id: str | None  # without <>; None where a malformed message has none
    conversation: int
    outgoing: bool
    flags: str  # Maildir info letters, sorted: "", "S", "RS"
    kind: str  # "plain", "html", "attachment", "auto-reply" or "malformed:<what>"
    lang: str
    charset: str


@dataclass(slots=True)
class _Conversation:
    number: int
    lang: str
    charset: str
    name: str
    email: str
    subject: str
    topic: str
    ctx: _Ctx
    ids: list[str] = field(default_factory=list)
    last_text: str = ""
    last_name: str = ""
    last_when: datetime = START
    last_ours: bool = False
    messages: int = 0


class _Ctx(dict[str, str]):
    """Template values; a placeholder the texts use but we do not fill stays readable."""

    def __missing__(self, key: str) -> str:
        return key


def _ascii_local(name: str) -> str:
    table = str.maketrans(
        "áčďéěíňóřšťúůýžąćęłńóśźżäöüßÁČĎÉĚÍŇÓŘŠŤÚŮÝŽĄĆĘŁŃŚŹŻÄÖÜ",
        "acdeeinorstuuyzacelnoszzaousACDEEINORSTUUYZACELNSZZAOU",
    )
    out = name.translate(table).lower().replace(" ", ".")
    return "".join(c for c in out if c.isascii() and (c.isalnum() or c == ".")) or "zakaznik"


def _weighted(rng: random.Random, pairs: Iterable[tuple[str, float]]) -> str:
    items = list(pairs)
    return rng.choices([k for k, _ in items], [w for _, w in items])[0]


def _b64_lines(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii")


def _qp(data: bytes) -> str:
    return binascii.b2a_qp(data).decode("ascii")


def _encoded_words(text: str, charset: str, rng: random.Random) -> str:
    """RFC 2047 words of at most 75 characters, folded; ASCII text stays as it is."""
    if text.isascii():
        return text
    if charset == "us-ascii":
        charset = "utf-8"
    q = charset != "iso-2022-jp" and rng.random() < 0.4
    step = {"utf-8": 22, "iso-2022-jp": 10}.get(charset, 40)
    words = []
    for i in range(0, len(text), step):
        chunk = text[i : i + step].encode(charset, "replace")
        if q:
            enc = "".join(
                chr(b)
                if (48 <= b <= 57 or 65 <= b <= 90 or 97 <= b <= 122)
                else "_"
                if b == 32
                else f"={b:02X}"
                for b in chunk
            )
            words.append(f"=?{charset}?Q?{enc}?=")
        else:
            words.append(f"=?{charset}?B?{base64.b64encode(chunk).decode()}?=")
    return "\n ".join(words)


def _address(name: str, email: str, charset: str, rng: random.Random) -> str:
    if not name:
        return email
    if name.isascii():
        return f'"{name}" <{email}>' if any(c in name for c in ',.()"') else f"{name} <{email}>"
    return f"{_encoded_words(name, charset, rng)} <{email}>"


class MailboxGenerator:
    """Messages in arrival order; `total` sets the pace (a year for `total` messages) and the
    generator may run past it, at the same pace, for mail that arrives later."""

    def __init__(self, total: int, seed: int = 1) -> None:
        self.total = max(1, total)
        self.rng = random.Random(seed)
        self.index = 0
        self._serial = 0
        self._open: list[_Conversation] = []
        self._conversations = 0
        self._slot = SPAN / self.total
        self._pools = {lang: self._pool(lang) for lang in LANG_WEIGHTS}
        self._padding = {
            (lang, ours): self._padding_text(lang, ours)
            for lang in LANG_WEIGHTS
            for ours in (False, True)
        }
        self._random_b64 = _b64_lines(self.rng.randbytes(MAX_ATTACHMENT + 100 * _B64_LINE_BYTES))

    # -- texts of a language

    @staticmethod
    def _pool(lang: str) -> dict[str, tuple[str, ...]]:
        if lang in ("cs", "pl", "en"):
            topics = [t[lang] for t in tx.TOPICS.values() if lang in t]
            words = tx.LANGS[lang]
            return {
                "subjects": tuple(s for t in topics for s in t.subjects),
                "opening": tuple(s for t in topics for s in t.opening),
                "follow": tuple(s for t in topics for s in t.follow),
                "agent": tuple(s for t in topics for s in (*t.agent, *t.agent_follow)),
                "greetings": words.greetings,
                "signoff": words.signoffs,
                "thanks": words.thanks,
                "agent_greeting": (words.agent_greeting,),
                "agent_signoff": (words.agent_signoff,),
                "attribution": (words.attribution,),
                "reply_prefix": words.reply_prefixes,
            }
        text = {"de": DE_TEXT, "ru": RU_TEXT, "ja": JA_TEXT}[lang]
        pool: dict[str, tuple[str, ...]] = {
            k: (v,) if isinstance(v, str) else tuple(v) for k, v in text.items()
        }
        pool.setdefault("agent", tx.TOPICS["order_status"]["en"].agent)
        pool.setdefault("agent_signoff", (tx.LANGS["en"].agent_signoff,))
        pool.setdefault("thanks", pool["follow"])
        pool["agent_greeting"] = pool["greetings"][:1]
        return pool

    def _padding_text(self, lang: str, ours: bool) -> tuple[str, list[int]]:
        """A long text of this language's paragraphs, and where each paragraph starts: long
        mail takes a slice of it instead of filling templates paragraph by paragraph."""
        pool = self._pools[lang]
        paragraphs: list[str] = []
        size = 0
        while size < PADDING_CHARS:
            name, email = self._customer(lang)
            ctx = self._context(lang, name, email)
            for key in ("agent",) if ours else ("opening", "follow"):
                para = self._fill(self._pick(pool, key), ctx)
                paragraphs.append(para)
                size += len(para) + 2
        starts, pos = [], 0
        for para in paragraphs:
            starts.append(pos)
            pos += len(para) + 2
        return "\n\n".join(paragraphs), starts

    def _pad(self, lang: str, ours: bool, chars: int) -> str:
        text, starts = self._padding[lang, ours]
        first = self.rng.randrange(len(starts) // 2)
        begin = starts[first]
        last = bisect.bisect_left(starts, begin + chars, lo=first + 1)
        end = starts[last] - 2 if last < len(starts) else len(text)
        return text[begin:end]

    # -- people and conversations

    def _customer(self, lang: str) -> tuple[str, str]:
        rng = self.rng
        if lang in ("cs", "pl", "en"):
            female = rng.random() < 0.5
            first = rng.choice(
                {
                    "cs": (tx.CS_MALE_FIRST, tx.CS_FEMALE_FIRST),
                    "pl": (tx.PL_MALE_FIRST, tx.PL_FEMALE_FIRST),
                    "en": (tx.EN_MALE_FIRST, tx.EN_FEMALE_FIRST),
                }[lang][female]
            )
            if lang == "en":
                surname = rng.choice(tx.EN_SURNAMES)
            else:
                surname = rng.choice(tx.CS_SURNAMES if lang == "cs" else tx.PL_SURNAMES)[female]
            name = f"{first} {surname}"
            domains = {"cs": tx.CS_DOMAINS, "pl": tx.PL_DOMAINS, "en": tx.EN_DOMAINS}[lang]
        elif lang == "de":
            name = f"{rng.choice(DE_FIRST)} {rng.choice(DE_SURNAMES)}"
            domains = DE_DOMAINS
        else:
            name = rng.choice(RU_NAMES if lang == "ru" else JA_NAMES)
            domains = tx.EN_DOMAINS
        local = _ascii_local(name) if lang not in ("ru", "ja") else f"user{rng.randrange(10**5)}"
        if rng.random() < 0.3:
            local += str(rng.randrange(1, 99))
        return name, f"{local}@{rng.choice(domains)}"

    def _context(self, lang: str, name: str, email: str) -> _Ctx:
        rng = self.rng
        product = rng.choice(tx.PRODUCTS)
        other = rng.choice(tx.PRODUCTS)
        col = {"cs": 0, "pl": 1}.get(lang, 2)
        place = rng.choice(tx.PLACES.get(lang, tx.PLACES["en"]))
        carriers = tx.CARRIERS.get(lang, tx.CARRIERS["en"])
        return _Ctx(
            order=str(rng.randrange(2_400_000, 2_999_999)),
            product=str(product[col]),
            product2=str(other[col]),
            price=f"{product[3]} Kč",
            unit_price=f"{other[3]} Kč",
            tracking=f"CZ{rng.randrange(10**9, 10**10)}",
            tracking2=f"CZ{rng.randrange(10**9, 10**10)}",
            invoice=f"FV{rng.randrange(250000, 259999)}",
            rma=f"RMA-{rng.randrange(1000, 9999)}",
            days=str(rng.randrange(2, 14)),
            date=f"{rng.randrange(1, 28)}. {rng.randrange(1, 12)}.",
            street=place[2],
            zip=place[1],
            city=place[0],
            company=rng.choice(tx.SMALL_COMPANIES.get(lang, tx.SMALL_COMPANIES["en"])),
            email=email,
            domain=email.rsplit("@", 1)[1],
            qty=str(rng.randrange(2, 40)),
            carrier=rng.choice(carriers),
            first=name.split()[0],
            name=name,
            phone=f"+420 {rng.randrange(600, 799)} {rng.randrange(100, 999)} {rng.randrange(100, 999)}",
            a=rng.choice(("", "a")),
            em=rng.choice(("em", "am")),
            agent=rng.choice(AGENTS)[0],
        )

    def _fill(self, template: str, ctx: _Ctx) -> str:
        text = template.format_map(ctx)
        return text.replace("[[pdf]]", "").replace("[[png]]", "").replace("[[jpg]]", "")

    def _pick(self, pool: Mapping[str, tuple[str, ...]], key: str) -> str:
        return self.rng.choice(pool[key])

    def _new_conversation(self) -> _Conversation:
        rng = self.rng
        lang = _weighted(rng, LANG_WEIGHTS.items())
        charset = _weighted(rng, CHARSETS[lang])
        name, email = self._customer(lang)
        ctx = self._context(lang, name, email)
        pool = self._pools[lang]
        topic = rng.choice(pool["subjects"])
        self._conversations += 1
        return _Conversation(
            number=self._conversations,
            lang=lang,
            charset=charset,
            name=name,
            email=email,
            subject=self._fill(topic, ctx),
            topic=topic,
            ctx=ctx,
        )

    # -- one message

    def __iter__(self) -> Iterator[GeneratedMail]:
        while True:
            yield self.next()

    def take(self, count: int) -> Iterator[GeneratedMail]:
        for _ in range(count):
            yield self.next()

    def next(self) -> GeneratedMail:
        rng = self.rng
        i = self.index
        self.index += 1
        when = START + self._slot * (i + rng.random() * 0.9)
        when = when.replace(microsecond=0)
        conv: _Conversation
        if self._open and rng.random() > NEW_CONVERSATION:
            # Mostly recent conversations, now and then one that went quiet for weeks.
            back = min(len(self._open) - 1, int(rng.expovariate(1 / 250)))
            pos = len(self._open) - 1 - back
            conv = self._open.pop(pos)
            ours = (not conv.last_ours and rng.random() < 0.65) or (
                conv.last_ours and rng.random() < 0.1
            )
        else:
            conv = self._new_conversation()
            ours = False
        auto = not ours and conv.messages > 0 and rng.random() < AUTO_REPLY_SHARE * 2
        mail = self._message(conv, i, when, ours, auto)
        # A conversation ends after a thank-you or simply stops; most get a few turns.
        if conv.messages < 14 and rng.random() > (0.12 if ours else 0.05) * conv.messages:
            self._open.append(conv)
            if len(self._open) > OPEN_THREADS:
                del self._open[0]
        return mail

    def _message(
        self, conv: _Conversation, i: int, when: datetime, ours: bool, auto: bool
    ) -> GeneratedMail:
        rng = self.rng
        pool = self._pools[conv.lang]
        ctx = conv.ctx
        reply = conv.messages > 0
        lang, charset = conv.lang, conv.charset
        if ours:
            agent_name = rng.choice(AGENTS)[0]
            ctx["agent"] = agent_name
            sender = (f"{agent_name} via {TEAM_NAME}", SUPPORT)
            to = (conv.name, conv.email)
            # Our replies are written in UTF-8 whatever the customer used.
            charset = "utf-8" if lang != "en" else charset
            paragraphs = [
                self._fill(self._pick(pool, "agent_greeting"), ctx),
                self._fill(self._pick(pool, "agent"), ctx),
                self._fill(self._pick(pool, "agent_signoff"), ctx),
            ]
        elif auto:
            sender = (conv.name, conv.email)
            to = ("", SUPPORT)
            body = tx.AUTO_REPLY_BODY if lang == "cs" else tx.EN_AUTO_REPLY_BODY
            paragraphs = [self._fill(body, ctx)]
        else:
            sender = (conv.name, conv.email)
            to = (TEAM_NAME, SUPPORT)
            key = "follow" if reply and rng.random() < 0.85 else "opening"
            if reply and rng.random() < 0.2:
                key = "thanks"
            paragraphs = [
                self._fill(self._pick(pool, "greetings"), ctx),
                self._fill(self._pick(pool, key), ctx),
                self._fill(self._pick(pool, "signoff"), ctx),
            ]
        text = "\n\n".join(paragraphs)

        # Size: mostly 2-30 KB (log-uniform), a tail of long mail up to about 150 KB.
        roll = rng.random()
        target = 1800 * (12 ** rng.random()) if roll < 0.95 else 25_000 * (5 ** rng.random())
        with_html = rng.random() < HTML_SHARE
        text_target = int(target / (2.4 if with_html else 1.0))
        extra: list[str] = []
        if reply and conv.last_text and not auto:
            attribution = self._fill(
                self._pick(pool, "attribution"),
                _Ctx(
                    day=str(conv.last_when.day),
                    month=str(conv.last_when.month),
                    month2=f"{conv.last_when.month:02d}",
                    year=str(conv.last_when.year),
                    hour=f"{conv.last_when.hour:02d}",
                    minute=f"{conv.last_when.minute:02d}",
                    name=conv.last_name,
                    email=conv.email,
                    wday="Mon",
                    mon="Jan",
                    day2="",
                ),
            )
            quoted = conv.last_text[: max(0, text_target - len(text))]
            extra.append(attribution + "\n" + "> " + quoted.replace("\n", "\n> "))
        size = len(text) + sum(len(e) for e in extra)
        if size < text_target and lang in DISCLAIMERS and rng.random() < 0.3:
            extra.append("-- \n" + DISCLAIMERS[lang])
            size += len(extra[-1])
        if size < text_target:
            # More of the same language: long mail is long because people explain at length.
            paragraphs.insert(-1, self._pad(lang, ours, text_target - size))
        text = "\n\n".join(paragraphs)
        full_text = text + ("\n\n" + "\n\n".join(extra) if extra else "")

        attachment = not auto and rng.random() < ATTACHMENT_SHARE
        malformed = rng.random() < MALFORMED_SHARE
        what = rng.choice(_MALFORMATIONS) if malformed else ""
        if what in ("boundary", "no-boundary-param", "bad-base64") and not attachment:
            with_html = True

        self._serial += 1
        msgid = self._message_id(conv, ours, i)
        prefix = rng.choice(pool["reply_prefix"]) if reply else ""
        if auto:
            subject = (
                tx.AUTO_REPLY_SUBJECT_PREFIX if lang == "cs" else tx.EN_AUTO_REPLY_SUBJECT_PREFIX
            ) + conv.subject
        else:
            subject = prefix + conv.subject
        tz = timezone(
            timedelta(
                hours=TZ[lang] + (1 if lang in ("cs", "pl", "de") and 3 < when.month < 11 else 0)
            )
        )
        sent_at = (when - timedelta(seconds=rng.randrange(2, 90))).astimezone(tz)

        hcs = charset if charset != "us-ascii" else "utf-8"
        headers = [
            f"Return-Path: <{sender[1]}>",
            f"Received: from mx.{sender[1].rsplit('@', 1)[1]} (mx.{sender[1].rsplit('@', 1)[1]} "
            f"[192.0.2.{rng.randrange(1, 254)}])\n\tby mx.obchod.example with ESMTPS id "
            f"{rng.getrandbits(40):010X}\n\tfor <{SUPPORT}>; {format_datetime(when)}",
            f"From: {_address(sender[0], sender[1], hcs, rng)}",
            f"To: {_address(to[0], to[1], hcs, rng)}",
            f"Subject: {_encoded_words(subject, hcs, rng)}",
            f"Date: {format_datetime(sent_at)}",
            f"Message-ID: <{msgid}>",
        ]
        if reply and conv.ids:
            headers.append(f"In-Reply-To: <{conv.ids[-1]}>")
            if rng.random() < 0.9:
                refs = " ".join(f"<{m}>" for m in conv.ids[-10:])
                headers.append(f"References: {refs}")
        if auto:
            headers.append("Auto-Submitted: auto-replied")
        mailer = rng.choice(MAILERS) if not ours else "helpdesk"
        if mailer:
            headers.append(f"X-Mailer: {mailer}")
        headers.append("MIME-Version: 1.0")

        body_headers, body = self._body(full_text, charset, lang, with_html, attachment, what)
        raw_text = "\n".join(headers) + "\n" + body_headers + "\n\n" + body
        if not raw_text.endswith("\n"):
            raw_text += "\n"
        # Headers are ASCII and 8bit bodies were decoded as latin-1: this restores their bytes.
        raw = raw_text.encode("latin-1")
        if what:
            raw, msgid_kept = self._malform(raw, what, full_text)
        else:
            msgid_kept = True

        conv.messages += 1
        if msgid_kept:
            conv.ids.append(msgid)
        conv.last_text = full_text[:40_000]
        conv.last_name = sender[0]
        conv.last_when = sent_at
        conv.last_ours = ours
        if ours:
            flags = "S"
        elif when < START + SPAN - timedelta(days=14):
            flags = "RS" if rng.random() < 0.6 else "S"
        else:
            flags = "" if rng.random() < 0.5 else "S"
        kind = (
            f"malformed:{what}"
            if what
            else "auto-reply"
            if auto
            else "attachment"
            if attachment
            else "html"
            if with_html
            else "plain"
        )
        return GeneratedMail(
            raw=raw,
            when=when,
            folder=SENT if ours else INBOX,
            message_id=msgid if msgid_kept else None,
            conversation=conv.number,
            outgoing=ours,
            flags=flags,
            kind=kind,
            lang=lang,
            charset=charset,
        )

    def _message_id(self, conv: _Conversation, ours: bool, i: int) -> str:
        rng = self.rng
        if ours:
            return f"{rng.getrandbits(64):016x}.{i}@helpdesk.obchod.example"
        style = rng.random()
        domain = conv.email.rsplit("@", 1)[1]
        if style < 0.3:
            # Outlook's long upper-case ids
            host = f"AM{rng.randrange(1, 9)}PR{rng.randrange(10, 99)}MB{rng.randrange(1000, 9999)}"
            return f"{host}{rng.getrandbits(80):020X}@{host}.eurprd0{rng.randrange(1, 9)}.prod.outlook.example"
        if style < 0.6:
            return f"CA+{base64.urlsafe_b64encode(rng.randbytes(30)).decode()}@mail.{domain}"
        return f"{rng.getrandbits(128):032x}.{i}@{domain}"

    def _text_part(self, text: str, charset: str, subtype: str) -> tuple[str, str]:
        """(headers, encoded body) of one text part."""
        rng = self.rng
        if charset not in ("utf-8", "us-ascii"):
            for fancy, plain in _PLAIN_PUNCT:
                if fancy in text:
                    text = text.replace(fancy, plain)
        data = (
            text.encode(charset, "replace")
            if charset != "us-ascii"
            else text.encode("ascii", "replace")
        )
        if charset == "iso-2022-jp" or (charset == "us-ascii" and data.isascii()):
            cte, body = "7bit", data.decode("ascii", "replace")
        else:
            roll = rng.random()
            if roll < 0.55:
                cte, body = "quoted-printable", _qp(data)
            elif roll < 0.8:
                cte, body = "base64", _b64_lines(data)
            else:
                cte, body = "8bit", data.decode("latin-1")
        params = f'text/{subtype}; charset="{charset}"'
        if subtype == "plain" and rng.random() < 0.3:
            params += "; format=flowed"
        return f"Content-Type: {params}\nContent-Transfer-Encoding: {cte}", body

    def _html(self, text: str, charset: str, lang: str) -> str:
        paras = (
            '<p class="MsoNormal">'
            + html.escape(text)
            .replace("\n\n", '<o:p></o:p></p>\n<p class="MsoNormal">')
            .replace("\n", "<br>\n")
            + "<o:p></o:p></p>"
        )
        return HTML_HEAD.format(charset=charset, lang=lang) + paras + "\n</div></body></html>\n"

    def _body(
        self, text: str, charset: str, lang: str, with_html: bool, attachment: bool, what: str
    ) -> tuple[str, str]:
        """(content headers, body). A body of 8bit text is returned as latin-1 text so that
        the message's bytes come back unchanged from the final latin-1/utf-8 encode."""
        rng = self.rng
        plain_h, plain_b = self._text_part(text, charset, "plain")
        if with_html:
            html_h, html_b = self._text_part(self._html(text, charset, lang), charset, "html")
            b = f"----=_NextPart_{rng.getrandbits(64):016X}"
            part_h = f'Content-Type: multipart/alternative;\n\tboundary="{b}"'
            part_b = (
                f"This is a multi-part message in MIME format.\n\n--{b}\n{plain_h}\n\n{plain_b}\n"
                f"--{b}\n{html_h}\n\n{html_b}\n--{b}--\n"
            )
        else:
            part_h, part_b = plain_h, plain_b
        if not attachment:
            return part_h, part_b
        b = f"=_mixed_{rng.getrandbits(64):016x}"
        kind = "pdf" if rng.random() < 0.6 else "jpg"
        if kind == "pdf":
            size = int(30_000 * (13 ** rng.random()))
            magic = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
            ctype, fname = (
                "application/pdf",
                rng.choice(("faktura", "objednavka", "Rechnung", "reklamace")),
            )
        else:
            size = int(200_000 * (25 ** rng.random()))
            magic = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
            ctype, fname = (
                "image/jpeg",
                rng.choice(("IMG_2024", "fotka_poškození", "zdjęcie", "photo")),
            )
        lines = min(size, MAX_ATTACHMENT) // _B64_LINE_BYTES
        pool_lines = len(self._random_b64) // _B64_LINE_CHARS
        start = rng.randrange(pool_lines - lines)
        encoded = (
            _b64_lines(magic + rng.randbytes(_B64_LINE_BYTES - len(magic)))
            + (self._random_b64[(start + 1) * _B64_LINE_CHARS : (start + lines) * _B64_LINE_CHARS])
        )
        fname = f"{fname}_{rng.randrange(1000, 9999)}.{kind}"
        # Outlook puts an encoded word inside the quotes; others use RFC 2231.
        word = f"=?utf-8?B?{base64.b64encode(fname.encode()).decode()}?="
        name = fname if fname.isascii() else word
        if fname.isascii():
            disp = f'attachment; filename="{fname}"'
        elif rng.random() < 0.5:
            disp = f"attachment; filename*=utf-8''{quote(fname)}"
        else:
            disp = f'attachment; filename="{word}"'
        if what == "bad-base64":
            encoded = (
                encoded[: len(encoded) // 2] + "!!not*base64~~\n" + encoded[len(encoded) // 2 : -3]
            )
        body = (
            f'--{b}\n{part_h}\n\n{part_b}\n--{b}\nContent-Type: {ctype}; name="{name}"\n'
            f"Content-Transfer-Encoding: base64\nContent-Disposition: {disp}\n\n{encoded}--{b}--\n"
        )
        return f'Content-Type: multipart/mixed; boundary="{b}"', body

    def _malform(self, raw: bytes, what: str, text: str) -> tuple[bytes, bool]:
        """Spoil a well-formed message the way real senders do. Returns (raw, has Message-ID)."""
        head, sep, body = raw.partition(b"\n\n")
        lines = head.split(b"\n")

        def drop(*names: bytes) -> list[bytes]:
            out: list[bytes] = []
            skipping = False
            for ln in lines:
                if ln[:1] in (b" ", b"\t"):
                    if not skipping:
                        out.append(ln)
                    continue
                skipping = ln.split(b":", 1)[0].lower() in names
                if not skipping:
                    out.append(ln)
            return out

        def replace(name: bytes, value: bytes) -> list[bytes]:
            out = drop(name.lower())
            out.insert(3, name + b": " + value)
            return out

        kept_id = True
        if what == "no-message-id":
            lines = drop(b"message-id")
            kept_id = False
        elif what == "no-from-date":
            lines = drop(b"from", b"date", b"return-path")
        elif what == "bad-date":
            lines = replace(b"Date", b"Tomorrow, 35 Foo 20x5 25:61:00 +9900")
        elif what == "raw-8bit-header":
            lines = replace(
                b"Subject",
                ("Reklamace – " + text[:60].replace("\n", " ")).encode("cp1250", "replace"),
            )
        elif what == "bad-encoded-word":
            lines = replace(
                b"Subject", b"=?utf-8?B?UmVrbGFtYWNlIMWhcGF0bsOp!!?= =?x-unknown?Q?=C5=A1?="
            )
        elif what == "unknown-charset":
            body = text.encode("cp1250", "replace")
            lines = drop(b"content-type", b"content-transfer-encoding")
            lines += [
                b'Content-Type: text/plain; charset="x-windows-cz"',
                b"Content-Transfer-Encoding: 8bit",
            ]
        elif what == "wrong-charset":
            body = text.encode("iso-8859-2", "replace")
            lines = drop(b"content-type", b"content-transfer-encoding")
            lines += [
                b'Content-Type: text/plain; charset="utf-8"',
                b"Content-Transfer-Encoding: 8bit",
            ]
        elif what == "boundary":
            # The header names one boundary, the parts use another, and the end never comes.
            body = body.replace(b"--\n", b"\n").replace(b"----=_NextPart_", b"----=_Nextpart_", 2)
        elif what == "no-boundary-param":
            joined = b"\n".join(lines)
            for marker in (b';\n\tboundary="', b'; boundary="'):
                start = joined.find(marker)
                if start >= 0:
                    end = joined.index(b'"', start + len(marker))
                    joined = joined[:start] + joined[end + 1 :]
                    break
            lines = joined.split(b"\n")
        return b"\n".join(lines) + sep + body, kept_id


_MALFORMATIONS = (
    "no-message-id",
    "no-from-date",
    "bad-date",
    "raw-8bit-header",
    "bad-encoded-word",
    "unknown-charset",
    "wrong-charset",
    "boundary",
    "no-boundary-param",
    "bad-base64",
)


# --- writing ------------------------------------------------------------------------------


@dataclass(slots=True)
class MixStats:
    """What a run made, for the benchmark's header."""

    messages: int = 0
    bytes: int = 0
    folders: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    langs: Counter[str] = field(default_factory=Counter)
    charsets: Counter[str] = field(default_factory=Counter)
    sizes: list[int] = field(default_factory=list)
    conversations: set[int] = field(default_factory=set)

    def add(self, mail: GeneratedMail) -> None:
        self.messages += 1
        self.bytes += len(mail.raw)
        self.folders[mail.folder] += 1
        self.kinds[mail.kind.split(":")[0]] += 1
        self.langs[mail.lang] += 1
        self.charsets[mail.charset] += 1
        self.sizes.append(len(mail.raw))
        self.conversations.add(mail.conversation)

    def describe(self) -> str:
        sizes = sorted(self.sizes)

        def pct(p: float) -> str:
            return f"{sizes[min(len(sizes) - 1, int(p * len(sizes)))] / 1024:.0f}"

        def share(c: Counter[str]) -> str:
            n = max(1, self.messages)
            return ", ".join(f"{k} {100 * v / n:.1f}%" for k, v in c.most_common())

        return (
            f"{self.messages:,} messages in {len(self.conversations):,} conversations, "
            f"{self.bytes / 1e6:,.0f} MB ({', '.join(f'{k} {v:,}' for k, v in sorted(self.folders.items()))})\n"
            f"  sizes KB: p10 {pct(0.1)}, median {pct(0.5)}, p90 {pct(0.9)}, p99 {pct(0.99)}, "
            f"max {sizes[-1] / 1024 if sizes else 0:,.0f}\n"
            f"  kinds: {share(self.kinds)}\n  languages: {share(self.langs)}\n"
            f"  charsets: {share(self.charsets)}"
        )


def maildir_folder(maildir: Path, folder: str) -> Path:
    """Where Dovecot's Maildir++ layout keeps a folder."""
    return maildir if folder == INBOX else maildir / f".{folder}"


class MaildirWriter:
    """Writes messages into Maildir folders as a delivery agent would (tmp, then cur), under
    names nobody used before, owned by whoever owns the folder."""

    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir
        self.token = secrets.token_hex(4)
        self.host = socket.gethostname().replace("/", "_").replace(":", "_") or "bench"
        self.serial = 0
        self._owners: dict[str, tuple[int, int] | None] = {}

    def _dir(self, folder: str) -> Path:
        path = maildir_folder(self.maildir, folder)
        if folder not in self._owners:
            for sub in ("cur", "new", "tmp"):
                (path / sub).mkdir(parents=True, exist_ok=True)
            st = (path / "cur").stat()
            owner = (st.st_uid, st.st_gid)
            self._owners[folder] = owner if owner != (os.geteuid(), os.getegid()) else None
        return path

    def write(self, mail: GeneratedMail) -> Path:
        folder = self._dir(mail.folder)
        self.serial += 1
        epoch = int(mail.when.timestamp())
        vsize = len(mail.raw) + mail.raw.count(b"\n")
        base = f"{epoch}.M{self.serial % 1_000_000}P{os.getpid()}Q{self.serial}R{self.token}.{self.host}"
        name = f"{base},S={len(mail.raw)},W={vsize}:2,{mail.flags}"
        tmp = folder / "tmp" / base
        with open(tmp, "wb") as out:
            out.write(mail.raw)
        os.utime(tmp, (epoch, epoch))
        owner = self._owners[mail.folder]
        if owner is not None:
            os.chown(tmp, *owner)
        final = folder / "cur" / name
        os.rename(tmp, final)
        return final


def append_over_imap(client: object, mails: Iterable[GeneratedMail]) -> int:
    """Deliver messages over IMAP (an IMAPClient, logged in): new mail arriving as it would.
    Returns how many were appended."""
    count = 0
    for mail in mails:
        flags = [b"\\Seen"] if "S" in mail.flags else []
        raw = mail.raw.replace(b"\n", b"\r\n")
        client.append(mail.folder, raw, flags=flags, msg_time=mail.when)  # type: ignore[attr-defined]
        count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("n", type=int, help="messages to make")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--maildir", type=Path, help="write into this Maildir (INBOX; Sent in .Sent)"
    )
    parser.add_argument("--summary", action="store_true", help="make the mail, write nothing")
    args = parser.parse_args()
    if not args.maildir and not args.summary:
        parser.error("give --maildir DIR or --summary")
    stats = MixStats()
    writer = MaildirWriter(args.maildir) if args.maildir else None
    t0 = time.perf_counter()
    for mail in MailboxGenerator(args.n, args.seed).take(args.n):
        stats.add(mail)
        if writer:
            writer.write(mail)
    took = time.perf_counter() - t0
    print(stats.describe())
    print(
        f"made{' and wrote' if writer else ''} in {took:.1f} s = {args.n / took:,.0f} messages/s",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
