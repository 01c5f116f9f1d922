"""A sample support mailbox for ``helpdesk demo``: a month of mail of a small Czech e-shop.

:func:`generate` returns about 300 RFC 5322 messages (CRLF line endings) that the demo feeds
through the real import pipeline. The set is deterministic for a given ``now`` and ``seed``,
and deliberately imperfect where real mail is: replies that carry only ``In-Reply-To``, a
"Re:" written as a fresh message, a customer writing twice without threading, an
out-of-office reply, a bounce, legacy charsets, HTML-only mail, a newsletter, a message
without a Message-ID.

The messages are built with the classic ``email.mime``/``email.header`` API and the compat32
policy: the header-object policies cost about 2 ms per message, which would blow the demo's
start-up budget; this way the whole set takes a few tens of milliseconds.

All domains are reserved ones (``*.example``, ``example.com/org/net``), all people invented.
"""

from __future__ import annotations

import random
import re
import textwrap
import unicodedata
import zlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from email import encoders
from email.charset import BASE64, QP, Charset
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr
from html import escape

from helpdesk.core import demo_mailbox_texts as tx

TEAM_NAME = "Podpora"
TEAM_ADDRESS = "podpora@obchod.example"
INFO_ADDRESS = "info@obchod.example"
SHOP_DOMAIN = "obchod.example"
AGENTS: tuple[tuple[str, str], ...] = (
    ("Jana Dvořáková", "jana@obchod.example"),
    ("Tomáš Krejčí", "tomas@obchod.example"),
    ("Magdalena Nowak", "magda@obchod.example"),  # answers the Polish mail
    ("Lukáš Beneš", "lukas@obchod.example"),
)
WINDOW = timedelta(days=30)
MAILER_DAEMON = "MAILER-DAEMON@mx.obchod.example"

_POLICY = compat32.clone(linesep="\r\n")
_UTC = UTC
_POLISH_AGENT = 2
_RANDOM_THREADS = 106  # on top of the scripted ones; tuned so the set holds about 300 mails
_LENGTH_WEIGHTS = ((1, 30), (2, 30), (3, 17), (4, 12), (5, 7), (6, 4))
_HOUR_WEIGHT = (
    0.03,
    0.02,
    0.02,
    0.02,
    0.03,
    0.05,
    0.2,
    0.5,
    1.0,
    1.0,
    1.0,
    1.0,
    0.8,
    0.9,
    0.9,
    0.9,
    0.9,
    0.7,
    0.7,
    0.7,
    0.8,
    0.8,
    0.6,
    0.3,
)
# Characters that the legacy 8-bit charsets lack; their senders' clients would have typed these.
_LEGACY = str.maketrans(
    {"„": '"', "“": '"', "”": '"', "–": "-", "—": "-", "…": "...", "’": "'", "→": "->"}
)
_MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_MONTHS_CS = (
    "ledna",
    "února",
    "března",
    "dubna",
    "května",
    "června",
    "července",
    "srpna",
    "září",
    "října",
    "listopadu",
    "prosince",
)  # genitive: "do 13. března"
_WDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MARKER = re.compile(r"\[\[(\w+)\]\]")


# --- time ---------------------------------------------------------------------------------


def _last_sunday(year: int, month: int) -> date:
    day = date(year, month, 31)  # March and October both have 31 days
    return day - timedelta(days=(day.weekday() - 6) % 7)


def _utc_offset(when: datetime, base: int) -> int:
    """Hours east of UTC in Central Europe (base 1) or the UK and Ireland (base 0), EU rules."""
    start = datetime.combine(_last_sunday(when.year, 3), datetime.min.time(), _UTC)
    end = datetime.combine(_last_sunday(when.year, 10), datetime.min.time(), _UTC)
    summer = start + timedelta(hours=1) <= when < end + timedelta(hours=1)
    return base + (1 if summer else 0)


def _local(when: datetime, base: int) -> datetime:
    return when.astimezone(timezone(timedelta(hours=_utc_offset(when, base))))


def _pick_start(rng: random.Random, lo: datetime, hi: datetime, base: int) -> datetime:
    """A moment people write mail: mostly working hours, less at night and at weekends."""
    span = int((hi - lo).total_seconds())
    while True:
        when = lo + timedelta(seconds=rng.randrange(span))
        local = _local(when, base)
        weight = _HOUR_WEIGHT[local.hour] * (0.6 if local.weekday() >= 5 else 1.0)
        if rng.random() < weight:
            return when


def _agent_time(rng: random.Random, after: datetime) -> datetime:
    """When the team answers: minutes to a day later, inside office hours in Prague."""
    roll = rng.random()
    if roll < 0.6:
        minutes = rng.randint(8, 120)
    elif roll < 0.9:
        minutes = rng.randint(120, 360)
    else:
        minutes = rng.randint(1000, 2600)
    when = after + timedelta(minutes=minutes, seconds=rng.randrange(60))
    local = _local(when, 1)
    if local.weekday() < 5 and 8 <= local.hour < 17:
        return when
    day = local.date()
    if local.hour >= 17 or local.weekday() >= 5:
        day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    opening = datetime(day.year, day.month, day.day, 8, tzinfo=local.tzinfo)
    return opening.astimezone(_UTC) + timedelta(
        minutes=rng.randint(3, 150), seconds=rng.randrange(60)
    )


def _customer_time(rng: random.Random, after: datetime, base: int) -> datetime:
    roll = rng.random()
    if roll < 0.5:
        minutes = rng.randint(15, 180)
    elif roll < 0.85:
        minutes = rng.randint(180, 1440)
    else:
        minutes = rng.randint(1440, 3600)
    when = after + timedelta(minutes=minutes, seconds=rng.randrange(60))
    hour = _local(when, base).hour
    if hour < 7:
        when += timedelta(hours=7 - hour, minutes=rng.randint(0, 90))
    elif hour == 23:
        when += timedelta(hours=8, minutes=rng.randint(0, 90))
    return when


# --- people ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Customer:
    name: str
    first: str
    email: str
    lang: str
    female: bool
    phone: str
    company: str
    place: tuple[str, str, str]
    tz_base: int
    greeting: str
    signoff: str
    reply_prefix: str
    charset: str = "utf-8"
    cte: str = "quoted-printable"
    wrap: bool = False  # breaks lines at 72 columns, as desktop clients do
    quotes: bool = True  # keeps the quoted history when replying
    show_name: bool = True
    msgid_style: int = 0

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2]


def _ascii(text: str) -> str:
    text = text.replace("ł", "l").replace("Ł", "L")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _phone(rng: random.Random, lang: str) -> str:
    if lang == "cs":
        return f"+420 555 {rng.randint(100, 999)} {rng.randint(100, 999)}"
    if lang == "pl":
        return f"+48 555 {rng.randint(100, 999)} {rng.randint(100, 999)}"
    return f"+44 7700 900{rng.randint(100, 999)}"  # the UK's range reserved for fiction


def _make_customers(rng: random.Random) -> dict[str, list[_Customer]]:
    used_names: set[str] = set()
    used_mail: set[str] = set()

    def person(lang: str) -> tuple[str, str, bool]:
        while True:
            female = rng.random() < 0.55
            if lang == "cs":
                first = rng.choice(tx.CS_FEMALE_FIRST if female else tx.CS_MALE_FIRST)
                last = rng.choice(tx.CS_SURNAMES)[1 if female else 0]
            elif lang == "pl":
                first = rng.choice(tx.PL_FEMALE_FIRST if female else tx.PL_MALE_FIRST)
                last = rng.choice(tx.PL_SURNAMES)[1 if female else 0]
            else:
                first = rng.choice(tx.EN_FEMALE_FIRST if female else tx.EN_MALE_FIRST)
                last = rng.choice(tx.EN_SURNAMES)
            if f"{first} {last}" not in used_names:
                used_names.add(f"{first} {last}")
                return first, last, female

    def address(first: str, last: str, domains: tuple[str, ...]) -> str:
        f, s = _ascii(first).lower(), _ascii(last).lower().replace(" ", "")
        while True:
            local = rng.choice(
                (
                    f"{f}.{s}",
                    f"{s}.{f}",
                    f"{f[0]}{s}",
                    f"{f}.{s}{rng.randint(60, 99)}",
                    f"{f}{s}",
                    f"{s}{rng.randint(1, 999)}",
                    f"{f}_{s}",
                )
            )
            mail = f"{local}@{rng.choice(domains)}"
            if mail not in used_mail:
                used_mail.add(mail)
                return mail

    def customer(lang: str, **overrides: object) -> _Customer:
        first, last, female = person(lang)
        texts = tx.LANGS[lang]
        place = rng.choice(tx.PLACES[lang])
        fields: dict[str, object] = {
            "name": f"{first} {last}",
            "first": first,
            "email": address(
                first, last, {"cs": tx.CS_DOMAINS, "pl": tx.PL_DOMAINS, "en": tx.EN_DOMAINS}[lang]
            ),
            "lang": lang,
            "female": female,
            "phone": _phone(rng, lang),
            "company": rng.choice(tx.SMALL_COMPANIES[lang]),
            "place": place,
            "tz_base": 0 if place[0] in ("Manchester", "Dublin", "Bristol") else 1,
            "greeting": rng.choice(texts.greetings),
            "signoff": rng.choice(texts.signoffs),
            "reply_prefix": rng.choice(texts.reply_prefixes),
            "cte": rng.choice(("quoted-printable", "quoted-printable", "8bit", "base64")),
            "wrap": rng.random() < 0.4,
            "quotes": rng.random() < 0.6,
            "show_name": rng.random() < 0.9,
            "msgid_style": rng.randrange(3),
        }
        fields.update(overrides)
        return _Customer(**fields)  # type: ignore[arg-type]

    groups: dict[str, list[_Customer]] = {
        "cs": [
            customer("cs", charset="iso-8859-2", cte="quoted-printable", wrap=True),
            customer("cs", charset="windows-1250", cte="8bit", quotes=True),
        ],
        "pl": [customer("pl", charset="iso-8859-2", cte="quoted-printable")],
        "en": [],
    }
    groups["cs"] += [customer("cs") for _ in range(42)]
    groups["pl"] += [customer("pl") for _ in range(19)]
    groups["en"] += [customer("en") for _ in range(12)]
    groups["b2b"] = [
        _Customer(
            name=name,
            first=first,
            email=f"{local}@{tx.B2B_DOMAIN}",
            lang="cs",
            female=female,
            phone=_phone(rng, "cs"),
            company=tx.B2B_COMPANY,
            place=("Brno", "612 00", "Křížkovského 30"),
            tz_base=1,
            greeting="Dobrý den,",
            signoff=f"S pozdravem\n\n{{name}}\n{tx.B2B_COMPANY}\n{{phone}}",
            reply_prefix="RE: ",
            cte="base64",
            msgid_style=2,
        )
        for name, first, female, local in tx.B2B_PEOPLE
    ]
    return groups


# --- conversations --------------------------------------------------------------------------


@dataclass(slots=True)
class _Mail:
    when: datetime
    sender: tuple[str, str]
    to: list[tuple[str, str]]
    subject: str
    body: str  # plain text; for HTML-only mail the text a reader would quote
    tz_base: int = 1
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    cc: list[tuple[str, str]] = field(default_factory=list)
    charset: str = "utf-8"
    cte: str = "quoted-printable"
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    kind: str = "text"  # text, html, alternative, bounce
    html: str = ""
    bounced: _Mail | None = None


@dataclass(slots=True)
class _Plan:
    customer: _Customer
    topic: str
    length: int
    start: datetime
    variant: int
    flags: frozenset[str] = frozenset()


class _Builder:
    def __init__(self, now: datetime, seed: int) -> None:
        self.rng = random.Random(seed)
        self.end = now.astimezone(_UTC).replace(microsecond=0)
        # one minute of slack so that no mail sits exactly on the window's edge
        self.begin = self.end - WINDOW + timedelta(minutes=1)
        self.mails: list[_Mail] = []
        self.orders = iter(self.rng.sample(range(1000, 10000), 400))
        self.jpeg_named = False

    # ids and small values

    def customer_msgid(self, customer: _Customer, when: datetime) -> str:
        host = f"mail.{customer.domain}"
        rng = self.rng
        if customer.msgid_style == 0:
            return f"<{rng.getrandbits(64):016x}@{host}>"
        if customer.msgid_style == 1:
            return f"<{when:%Y%m%d%H%M%S}.{rng.randrange(10**6):06d}@{host}>"
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+_-"
        token = "".join(rng.choice(alphabet) for _ in range(34))
        return f"<CA{token}@{host}>"

    def agent_msgid(self, when: datetime) -> str:
        return f"<{when:%Y%m%d%H%M%S}.{self.rng.getrandbits(48):012x}@{SHOP_DOMAIN}>"

    def tracking(self) -> str:
        return f"PP{self.rng.randint(10**9, 10**10 - 1)}CZ"

    def context(self, plan: _Plan) -> dict[str, object]:
        rng, cust = self.rng, plan.customer
        lang = cust.lang
        index = {"cs": 0, "pl": 1, "en": 2}[lang]
        product, product2 = rng.sample(tx.PRODUCTS, 2)
        place = cust.place if rng.random() < 0.7 else rng.choice(tx.PLACES[lang])
        year = plan.start.year
        due = _local(plan.start, 1) + timedelta(days=rng.randint(3, 7))
        return {
            "order": f"{year}-{next(self.orders)}",
            "product": product[index],
            "product2": product2[index],
            "price": _price(product[3], lang),
            "unit_price": _price(int(product[3] * 0.62 / 1.21), "cs"),
            "tracking": self.tracking(),
            "tracking2": self.tracking(),
            "invoice": f"FV{year}{rng.randint(1, 99999):05d}",
            "rma": f"{year % 100}{rng.randint(100, 999)}",
            "days": rng.randint(3, 9),
            "date": _day_text(due, lang),
            "city": place[0],
            "zip": place[1],
            "street": place[2],
            "company": cust.company,
            "email": cust.email,
            "domain": cust.domain,
            "qty": rng.randrange(20, 65, 5),
            "carrier": rng.choice(tx.CARRIERS[lang]),
            "first": cust.first,
            "name": cust.name,
            "phone": cust.phone,
            "a": "a" if cust.female else "",
            "em": "am" if cust.female else "em",
        }

    # attachments

    def attach(self, mail: _Mail, kinds: list[str], ctx: dict[str, object]) -> None:
        rng = self.rng
        for kind in kinds:
            if kind == "jpg":
                if self.jpeg_named:
                    name = rng.choice((f"IMG_{rng.randint(1000, 9999)}.jpg", "fotka.jpg"))
                else:
                    name = "poškozený balík.jpg"
                    self.jpeg_named = True
                mail.attachments.append(("image/jpeg", name, _jpeg_like(rng)))
            elif kind == "png":
                name = "snímek obrazovky.png" if rng.random() < 0.5 else "screenshot.png"
                mail.attachments.append(("image/png", name, _png(rng)))
            elif kind == "pdf":
                invoice = str(ctx["invoice"])
                lines = [
                    f"obchod.example - doklad {invoice}",
                    f"Objednavka {ctx['order']}",
                    _ascii(str(ctx["product"])),
                    f"Celkem: {_ascii(str(ctx['price']))}",
                ]
                mail.attachments.append(("application/pdf", f"{invoice}.pdf", _pdf(lines)))

    # one conversation

    def conversation(self, plan: _Plan) -> None:
        rng, cust = self.rng, plan.customer
        lang = cust.lang
        texts = tx.LANGS[lang]
        topic = tx.TOPICS[plan.topic][lang]
        ctx = self.context(plan)
        v = plan.variant
        subject = topic.subjects[v % len(topic.subjects)].format_map(ctx)
        cc = [("", INFO_ADDRESS)] if "cc_info" in plan.flags else []
        agent = _POLISH_AGENT if lang == "pl" and rng.random() < 0.8 else rng.choice((0, 1, 3))

        # the opening message
        kinds: list[str] = []
        if "long" in plan.flags:
            subject = tx.LONG_COMPLAINT_SUBJECT.format_map(ctx)
            body = self.long_body(cust, ctx)
        elif "html" in plan.flags:
            subject = tx.HTML_ONLY_SUBJECT
            body = ""
        elif "emoji" in plan.flags:
            subject = tx.EMOJI_SUBJECT
            body = self.customer_body(cust, tx.EMOJI_BODY.format_map(ctx), cust.greeting, None)
        else:
            core, kinds = _fill(topic.opening[v % len(topic.opening)], ctx)
            body = self.customer_body(cust, core, cust.greeting, None)
        opening = self.customer_mail(cust, plan.start, subject, body, cc)
        if "html" in plan.flags:
            opening.kind = "html"
            opening.html = tx.HTML_ONLY_BODY.format_map(
                {k: escape(str(val)) for k, val in ctx.items()}
            )
            opening.body = re.sub(r"<[^>]+>", "", opening.html.replace("</div>", "\n")).strip()
        self.attach(opening, kinds, ctx)
        self.mails.append(opening)
        parent = opening

        if "duplicate" in plan.flags:
            when = plan.start + timedelta(hours=rng.randint(5, 30), minutes=rng.randrange(60))
            if when < self.end:
                core = _fill(rng.choice(texts.duplicate), ctx)[0]
                again = self.customer_mail(
                    cust,
                    when,
                    texts.duplicate_prefix + subject,
                    self.customer_body(cust, core, cust.greeting, None),
                    cc,
                )
                self.mails.append(again)
                parent = again

        for turn in range(1, plan.length):
            if turn % 2 == 1:  # the team answers
                when = _agent_time(rng, parent.when)
                if when > self.end:
                    return
                if turn >= 3 and rng.random() < 0.15:
                    agent = rng.choice([i for i in range(len(AGENTS)) if i != agent])
                if turn == 1 and "long" in plan.flags:
                    template = tx.LONG_AGENT
                elif turn == 1 and "html" in plan.flags:
                    template = tx.HTML_AGENT
                elif turn == 1 and "emoji" in plan.flags:
                    template = tx.EMOJI_AGENT
                elif turn == 1:
                    template = topic.agent[v % len(topic.agent)]
                elif turn == 3:
                    template = topic.agent_follow[v % len(topic.agent_follow)]
                else:
                    template = rng.choice(texts.agent_close)
                core, kinds = _fill(template, ctx)
                reply = self.agent_mail(agent, cust, parent, when, subject, core, cc)
                self.attach(reply, kinds, ctx)
                self.mails.append(reply)
                parent = reply
                if turn == 1 and "auto_reply" in plan.flags:
                    self.mails.append(self.auto_reply(cust, reply, ctx))
                if turn == 1 and "bounce" in plan.flags:
                    self.mails.append(self.bounce(cust, reply))
                    return
            else:  # the customer again
                when = _customer_time(rng, parent.when, cust.tz_base)
                if when > self.end:
                    return
                if turn == 4 or plan.length == 3:
                    core, kinds = rng.choice(texts.thanks), []
                else:
                    core, kinds = _fill(topic.follow[v % len(topic.follow)], ctx)
                # a follow-up opens plainly, if at all, even when the first mail began
                # "Good morning, please help."
                greet = texts.greetings[0] if rng.random() < 0.3 else None
                quote = parent if cust.quotes else None
                body = self.customer_body(cust, core, greet, quote)
                to = [(f"{AGENTS[agent][0]} via {TEAM_NAME}", TEAM_ADDRESS)]
                reply = self.customer_mail(cust, when, cust.reply_prefix + subject, body, cc, to)
                if turn == 2 and "unthreaded_re" in plan.flags:
                    pass  # a new mail typed with a "Re:" subject: no threading headers at all
                elif turn == 2 and "irt_only" in plan.flags:
                    reply.in_reply_to = parent.message_id
                else:
                    _thread(reply, parent)
                self.attach(reply, kinds, ctx)
                self.mails.append(reply)
                parent = reply

    # message makers

    def customer_mail(
        self,
        cust: _Customer,
        when: datetime,
        subject: str,
        body: str,
        cc: list[tuple[str, str]],
        to: list[tuple[str, str]] | None = None,
    ) -> _Mail:
        return _Mail(
            when=when,
            sender=(cust.name if cust.show_name else "", cust.email),
            to=to or [(self.rng.choice(("", "Podpora obchod.example")), TEAM_ADDRESS)],
            cc=list(cc),
            subject=subject,
            body=body,
            tz_base=cust.tz_base,
            message_id=self.customer_msgid(cust, when),
            charset=cust.charset,
            cte=cust.cte,
        )

    def agent_mail(
        self,
        agent: int,
        cust: _Customer,
        parent: _Mail,
        when: datetime,
        subject: str,
        core: str,
        cc: list[tuple[str, str]],
    ) -> _Mail:
        texts = tx.LANGS[cust.lang]
        core = core if cust.lang == "cs" else _capitalise(core)
        body = (
            f"{texts.agent_greeting.format(first=cust.first)}\n\n{core}\n\n"
            f"{texts.agent_signoff.format(agent=AGENTS[agent][0])}\n"
        )
        if self.rng.random() < 0.7:
            body += "\n" + _attribution(parent, cust.lang) + "\n" + _quote(parent.body)
        mail = _Mail(
            when=when,
            sender=(f"{AGENTS[agent][0]} via {TEAM_NAME}", TEAM_ADDRESS),
            to=[(cust.name, cust.email)],
            cc=list(cc),
            subject="Re: " + subject,
            body=body,
            message_id=self.agent_msgid(when),
        )
        _thread(mail, parent)
        return mail

    def customer_body(
        self, cust: _Customer, core: str, greeting: str | None, quote: _Mail | None
    ) -> str:
        parts = []
        if greeting:
            parts.append(greeting)
            keep_case = cust.lang == "cs" and greeting.endswith(",")
            core = core if keep_case else _capitalise(core)
        else:
            core = _capitalise(core)
        parts.append(core)
        signoff = cust.signoff.format(name=cust.name, first=cust.first, phone=cust.phone)
        if _first_word(signoff) == _first_word(core):  # no "Thanks! ... Thanks, Jan"
            signoff = cust.name
        parts.append(signoff)
        if cust.wrap:
            parts = [_wrap(p) for p in parts]
        body = "\n\n".join(parts) + "\n"
        if quote is not None:
            body += "\n" + _attribution(quote, cust.lang) + "\n" + _quote(quote.body)
        return body

    def long_body(self, cust: _Customer, ctx: dict[str, object]) -> str:
        rng = self.rng
        paragraphs = [p.format_map(ctx) for p in tx.LONG_COMPLAINT_PARAGRAPHS]
        lines = [tx.LONG_COMPLAINT_TABLE_HEAD.format_map(ctx), ""]
        total = 0
        for number, product in enumerate(rng.sample(tx.PRODUCTS, len(tx.PRODUCTS)), 1):
            count = rng.randint(1, 2)
            total += count * product[3]
            price = _price(count * product[3], "cs")
            lines.append(f"{number:2d}. {product[0]:<40} {count} ks  {price:>10}")
        lines += [
            "",
            f"Celkem k úhradě: {_price(total, 'cs')} (zaplaceno kartou)",
            "",
            _wrap(tx.ORDER_CONFIRMATION_FOOTER),
            "",
            "",
            "\n".join(_wrap(p) for p in tx.LONG_FORWARDED.format_map(ctx).split("\n")),
        ]
        text = (
            cust.greeting
            + "\n\n"
            + "\n\n".join(_wrap(p) for p in paragraphs)
            + "\n\n"
            + cust.signoff.format(name=cust.name, first=cust.first, phone=cust.phone)
            + "\n\n\n"
            + "\n".join(lines)
            + "\n"
        )
        return text

    def auto_reply(self, cust: _Customer, to_mail: _Mail, ctx: dict[str, object]) -> _Mail:
        when = to_mail.when + timedelta(seconds=self.rng.randint(20, 150))
        back = _day_text(_local(when, 1) + timedelta(days=self.rng.randint(5, 12)), cust.lang)
        values = {"date": back, "name": cust.name, "company": ctx["company"]}
        if cust.lang == "cs":
            subject = tx.AUTO_REPLY_SUBJECT_PREFIX + to_mail.subject
            body = tx.AUTO_REPLY_BODY.format_map(values)
        else:
            subject = tx.EN_AUTO_REPLY_SUBJECT_PREFIX + to_mail.subject
            body = tx.EN_AUTO_REPLY_BODY.format_map(values)
        mail = self.customer_mail(cust, when, subject, body, [], [("", TEAM_ADDRESS)])
        mail.headers = [("Auto-Submitted", "auto-replied"), ("X-Auto-Response-Suppress", "All")]
        _thread(mail, to_mail)
        return mail

    def bounce(self, cust: _Customer, to_mail: _Mail) -> _Mail:
        when = to_mail.when + timedelta(seconds=self.rng.randint(30, 200))
        text = tx.BOUNCE_TEXT.format(email=cust.email, domain=cust.domain)
        return _Mail(
            when=when,
            sender=("Mail Delivery System", MAILER_DAEMON),
            to=[("", TEAM_ADDRESS)],
            subject="Undelivered Mail Returned to Sender",
            body=text,
            message_id=f"<{when:%Y%m%d%H%M%S}.{self.rng.getrandbits(40):010X}@mx.{SHOP_DOMAIN}>",
            charset="us-ascii",
            headers=[("Auto-Submitted", "auto-replied")],
            kind="bounce",
            bounced=to_mail,
        )

    def newsletter(self, when: datetime, subject: str, teaser: str) -> _Mail:
        name, address = tx.NEWSLETTER_SENDER
        token = f"{self.rng.getrandbits(40):010x}"
        text = (
            f"{subject}\n\n{teaser}\n\nVíce na https://velkoobchod.example/novinky\n\n"
            f"--\nTento e-mail dostáváte jako registrovaný partner. Odhlásit se můžete zde: "
            f"https://velkoobchod.example/odhlasit?u={token}\n"
        )
        html = (
            f'<html><body style="font-family:sans-serif"><h1>{escape(subject)}</h1>'
            f"<p>{escape(teaser)}</p>"
            f'<p><a href="https://velkoobchod.example/novinky">Více novinek</a></p>'
            f'<img src="https://velkoobchod.example/px/{token}.gif" width="1" height="1">'
            f'<p style="font-size:small"><a href="https://velkoobchod.example/odhlasit?u='
            f'{token}">Odhlásit odběr</a></p></body></html>\n'
        )
        return _Mail(
            when=when,
            sender=(name, address),
            to=[("", TEAM_ADDRESS)],
            subject=subject,
            body=text,
            message_id=f"<nl.{token}@mail.velkoobchod.example>",
            headers=[
                ("Precedence", "bulk"),
                ("List-Id", "Novinky pro partnery <novinky.velkoobchod.example>"),
                (
                    "List-Unsubscribe",
                    f"<mailto:odhlasit@velkoobchod.example?subject={token}>, "
                    f"<https://velkoobchod.example/odhlasit?u={token}>",
                ),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ],
            kind="alternative",
            html=html,
        )

    def web_form(self, cust: _Customer, when: datetime) -> _Mail:
        ctx = {
            "name": cust.name,
            "email": cust.email,
            "phone": cust.phone,
            "order": "",
            "first": cust.first,
            "sent": format_datetime(_local(when, 1)),
        }
        mail = self.customer_mail(
            cust,
            when,
            tx.WEBFORM_SUBJECT,
            tx.WEBFORM_BODY.format_map(ctx),
            [],
            [("", TEAM_ADDRESS)],
        )
        mail.message_id = None  # the shop's old form script never set one
        mail.cte = "8bit"
        mail.charset = "utf-8"
        return mail


# --- helpers for text -------------------------------------------------------------------------


def _fill(template: str, ctx: dict[str, object]) -> tuple[str, list[str]]:
    text = template.format_map(ctx)
    kinds = _MARKER.findall(text)
    return _MARKER.sub("", text), kinds


def _first_word(text: str) -> str:
    return text.split(maxsplit=1)[0].strip(",.!").lower() if text.strip() else ""


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _wrap(paragraph: str) -> str:
    return "\n".join(
        textwrap.fill(line, 72) if len(line) > 72 else line for line in paragraph.split("\n")
    )


def _quote(body: str) -> str:
    out = []
    for line in body.rstrip("\n").split("\n"):
        out.append((">" + line) if line.startswith(">") else ("> " + line) if line else ">")
    return "\n".join(out) + "\n"


def _attribution(mail: _Mail, lang: str) -> str:
    local = _local(mail.when, mail.tz_base)
    name = mail.sender[0] or mail.sender[1]
    return tx.LANGS[lang].attribution.format(
        day=local.day,
        month=local.month,
        month2=f"{local.month:02d}",
        year=local.year,
        hour=local.hour,
        minute=f"{local.minute:02d}",
        wday=_WDAYS_EN[local.weekday()],
        mon=_MONTHS_EN[local.month - 1][:3],
        name=name,
        email=mail.sender[1],
    )


def _day_text(day: datetime, lang: str) -> str:
    if lang == "cs":
        return f"{day.day}. {_MONTHS_CS[day.month - 1]}"
    if lang == "pl":
        return f"{day.day:02d}.{day.month:02d}"
    return f"{day.day} {_MONTHS_EN[day.month - 1]}"


def _price(czk: int, lang: str) -> str:
    if lang == "cs":
        return f"{czk:,} Kč".replace(",", " ")
    if lang == "pl":
        return f"{round(czk / 5.8)} zł"
    return f"{czk / 25:.2f} EUR"


def _thread(mail: _Mail, parent: _Mail) -> None:
    assert parent.message_id is not None
    mail.in_reply_to = parent.message_id
    refs = [r for r in parent.references if r != parent.message_id]
    mail.references = [*refs[-9:], parent.message_id]


# --- attachments --------------------------------------------------------------------------------


def _jpeg_like(rng: random.Random) -> bytes:
    """Bytes shaped like a JPEG photo (markers right, pixels noise): enough for a mail client."""
    head = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00H\x00H\x00\x00"
    return head + rng.randbytes(rng.randint(3000, 6000)) + b"\xff\xd9"


def _png(rng: random.Random) -> bytes:
    """A real, tiny PNG: a grey 'browser window' with a red error bar."""
    width, height = 48, 30
    rows = []
    for y in range(height):
        if y < 4:
            pixel = b"\x50\x50\x58"
        elif 12 <= y < 18:
            pixel = b"\xd0\x30\x30"
        else:
            shade = 235 + rng.randrange(8)
            pixel = bytes((shade, shade, shade))
        rows.append(b"\x00" + pixel * width)
    raw = zlib.compress(b"".join(rows), 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return len(data).to_bytes(4, "big") + kind + data + crc.to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes((8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def _pdf(lines: list[str]) -> bytes:
    """A minimal valid one-page PDF showing ``lines`` (ASCII) in Helvetica."""
    text = " ".join(
        f"({line.replace(chr(92), '').replace('(', '').replace(')', '')}) Tj 0 -20 Td"
        for line in lines
    )
    stream = f"BT /F1 12 Tf 56 780 Td {text} ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


# --- serialising ------------------------------------------------------------------------------


def _legacy_safe(text: str, charset: str) -> str:
    if charset in ("utf-8", "us-ascii"):
        return text
    return text.translate(_LEGACY).encode(charset, "replace").decode(charset)


def _header_text(text: str, charset: str, name: str) -> str:
    if text.isascii():
        return _fold(f"{name}: {text}")[len(name) + 2 :]
    encoded = Header(_legacy_safe(text, charset), charset, header_name=name).encode()
    return encoded.replace("\n", "\r\n")


def _address(pair: tuple[str, str], charset: str) -> str:
    name, email = pair
    if not name:
        return email
    return formataddr(
        (_legacy_safe(name, charset), email), charset=charset if charset != "us-ascii" else "utf-8"
    )


def _text_part(text: str, subtype: str, charset: str, cte: str) -> MIMEText:
    cs = Charset(charset)
    # None means 7bit or 8bit, whichever the bytes need
    cs.body_encoding = {"quoted-printable": QP, "base64": BASE64}.get(cte)  # type: ignore[assignment]
    part = MIMEText(_legacy_safe(text, charset), subtype, cs)  # type: ignore[arg-type]
    del part["MIME-Version"]
    return part


class _Serializer:
    def __init__(self, seed: int) -> None:
        # boundaries get their own stream so that they never shift the content's randomness
        self.rng = random.Random(seed * 7919 + 1)
        self.header_blocks: dict[int, str] = {}

    def boundary(self) -> str:
        return f"----=_Part_{self.rng.getrandbits(64):016x}"

    def content(self, mail: _Mail) -> Message:
        if mail.kind == "html":
            return _text_part(mail.html, "html", mail.charset, mail.cte)
        if mail.kind == "alternative":
            alt = MIMEMultipart("alternative", boundary=self.boundary())
            alt.attach(_text_part(mail.body, "plain", "utf-8", "quoted-printable"))
            alt.attach(_text_part(mail.html, "html", "utf-8", "quoted-printable"))
            return alt
        if mail.kind == "bounce":
            return self.report(mail)
        text = _text_part(mail.body, "plain", mail.charset, mail.cte)
        if not mail.attachments:
            return text
        mixed = MIMEMultipart("mixed", boundary=self.boundary())
        mixed.attach(text)
        for content_type, name, data in mail.attachments:
            maintype, subtype = content_type.split("/")
            part = MIMEBase(maintype, subtype)
            del part["MIME-Version"]
            part.set_payload(data)
            encoders.encode_base64(part)
            if name.isascii():
                part.set_param("name", name)
                part.add_header("Content-Disposition", "attachment", filename=name)
            else:  # RFC 2231, as standards-following clients send it
                part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", name))
            mixed.attach(part)
        return mixed

    def report(self, mail: _Mail) -> Message:
        assert mail.bounced is not None
        original = mail.bounced
        recipient = original.to[0][1]
        report = MIMEMultipart("report", boundary=self.boundary(), report_type="delivery-status")
        notice = _text_part(mail.body, "plain", "us-ascii", "7bit")
        notice["Content-Description"] = "Notification"
        report.attach(notice)
        status = Message()
        status["Content-Description"] = "Delivery report"
        status["Content-Type"] = "message/delivery-status"
        per_message = Message()
        per_message["Reporting-MTA"] = "dns; mx.obchod.example"
        per_message["Arrival-Date"] = format_datetime(_local(original.when, 1))
        per_recipient = Message()
        per_recipient["Final-Recipient"] = f"rfc822; {recipient}"
        per_recipient["Original-Recipient"] = f"rfc822;{recipient}"
        per_recipient["Action"] = "failed"
        per_recipient["Status"] = "5.2.2"
        per_recipient["Remote-MTA"] = f"dns; mx.{recipient.rpartition('@')[2]}"
        per_recipient["Diagnostic-Code"] = (
            f"smtp; 552 5.2.2 <{recipient}>: mailbox full, quota exceeded"
        )
        status.set_payload([per_message, per_recipient])
        report.attach(status)
        headers = _text_part(self.header_blocks[id(original)], "rfc822-headers", "us-ascii", "7bit")
        headers["Content-Description"] = "Undelivered Message Headers"
        report.attach(headers)
        return report

    def to_bytes(self, mail: _Mail) -> bytes:
        # The top-level header lines are assembled here from values that email.header and
        # email.utils already encoded: letting the generator re-fold them costs more than
        # building the whole rest of the message.
        content = self.content(mail)
        del content["MIME-Version"]  # it belongs in the top-level lines below
        cs = mail.charset if mail.charset != "us-ascii" else "utf-8"
        lines = [
            _fold("From: " + _address(mail.sender, cs)),
            _fold("To: " + ", ".join(_address(a, cs) for a in mail.to)),
        ]
        if mail.cc:
            lines.append(_fold("Cc: " + ", ".join(_address(a, cs) for a in mail.cc)))
        lines.append("Subject: " + _header_text(mail.subject, cs, "Subject"))
        lines.append("Date: " + format_datetime(_local(mail.when, mail.tz_base)))
        if mail.message_id:
            lines.append("Message-ID: " + mail.message_id)
        if mail.in_reply_to:
            lines.append("In-Reply-To: " + mail.in_reply_to)
        if mail.references:
            lines.append(_fold("References: " + " ".join(mail.references)))
        lines += [_fold(f"{key}: {value}") for key, value in mail.headers]
        lines.append("MIME-Version: 1.0")
        head = "\r\n".join(lines) + "\r\n"
        self.header_blocks[id(mail)] = head
        return head.encode("ascii") + content.as_bytes(policy=_POLICY)


def _fold(line: str) -> str:
    """Fold a header line of ASCII words at spaces, keeping lines within 78 characters."""
    if len(line) <= 78:
        return line
    out: list[str] = []
    current = ""
    for word in line.split(" "):
        if current and len(current) + 1 + len(word) > 78:
            out.append(current)
            current = " " + word
        else:
            current = f"{current} {word}" if current else word
    out.append(current)
    return "\r\n".join(out)


# --- the plan -----------------------------------------------------------------------------------


def _plans(b: _Builder, people: dict[str, list[_Customer]]) -> list[_Plan]:
    rng = b.rng
    cs, pl, en, b2b = people["cs"], people["pl"], people["en"], people["b2b"]
    # Scripted conversations carry the special cases; they start early enough to finish.
    early_hi = b.end - timedelta(days=13)

    def scripted(cust: _Customer, topic: str, length: int, *flags: str, variant: int = 0) -> _Plan:
        start = _pick_start(rng, b.begin, early_hi, cust.tz_base)
        return _Plan(cust, topic, length, start, variant, frozenset(flags))

    plans = [
        scripted(cs[0], "order_status", 3),  # iso-8859-2
        scripted(cs[1], "delivery_delay", 2, variant=1),  # windows-1250, 8bit
        scripted(pl[0], "complaint", 4),  # iso-8859-2, Polish
        scripted(cs[2], "complaint", 4, "cc_info"),  # the photo of the parcel
        scripted(cs[3], "payment_failed", 4),  # a screenshot in the follow-up
        scripted(cs[4], "invoice", 3),  # the invoice PDF in the reply
        scripted(b2b[0], "b2b_quote", 4, "auto_reply"),
        scripted(cs[5], "order_status", 2, "bounce", variant=1),
        scripted(cs[6], "return", 4, "unthreaded_re"),
        scripted(cs[7], "delivery_delay", 3, "irt_only"),
        scripted(en[0], "order_status", 4, "irt_only"),
        scripted(cs[8], "order_status", 3, "duplicate", variant=2),
        scripted(pl[1], "delivery_delay", 3, "duplicate"),
        scripted(cs[9], "complaint", 2, "long", variant=1),
        scripted(cs[10], "product_question", 2, "html"),
        scripted(cs[11], "product_question", 3, "emoji"),
        scripted(en[1], "invoice", 3, "auto_reply"),
    ]
    scripted_people = {p.customer.email for p in plans}
    # Everyone else writes at least once; a few regulars write again and again.
    everyone = [
        c
        for group in (cs, pl, en, b2b)
        for c in group
        if c.email not in scripted_people and c is not cs[12]
    ]
    regulars = cs[13:17] + pl[2:4] + en[2:3] + b2b[1:3]
    weights = [6 if c in regulars else 1 for c in everyone]
    extra = rng.choices(everyone, weights=weights, k=_RANDOM_THREADS - len(everyone))
    lengths, length_weights = zip(*_LENGTH_WEIGHTS, strict=True)
    for cust in everyone + extra:
        if cust.domain == tx.B2B_DOMAIN:
            pool = tx.B2B_TOPIC_WEIGHTS
        else:
            pool = {k: w for k, w in tx.TOPIC_WEIGHTS.items() if cust.lang in tx.TOPICS[k]}
        topic = rng.choices(list(pool), weights=list(pool.values()))[0]
        length = rng.choices(lengths, weights=length_weights)[0]
        start = _pick_start(rng, b.begin, b.end - timedelta(minutes=5), cust.tz_base)
        flags = frozenset({"cc_info"}) if rng.random() < 0.1 else frozenset()
        plans.append(_Plan(cust, topic, length, start, rng.randrange(6), flags))
    return plans


def generate(now: datetime, *, seed: int = 7) -> list[bytes]:
    """About 300 support messages dated in the 30 days before ``now``, sorted by date.

    ``now`` must be timezone-aware. The same ``now`` and ``seed`` always give the same bytes.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    b = _Builder(now, seed)
    people = _make_customers(b.rng)
    for plan in _plans(b, people):
        b.conversation(plan)

    # Mail that is not a conversation with a customer.
    for week, (subject, teaser) in enumerate(tx.NEWSLETTERS):
        day = b.end - timedelta(days=27 - 7 * week)
        local = _local(day, 1)
        sent = local.replace(hour=9, minute=30 + b.rng.randrange(20), second=b.rng.randrange(60))
        if b.begin <= sent.astimezone(_UTC) <= b.end:
            b.mails.append(b.newsletter(sent.astimezone(_UTC), subject, teaser))
    form_customer = people["cs"][12]
    b.mails.append(
        b.web_form(form_customer, _pick_start(b.rng, b.begin, b.end - timedelta(days=2), 1))
    )

    order = sorted(range(len(b.mails)), key=lambda i: (b.mails[i].when, i))
    serializer = _Serializer(seed)
    return [serializer.to_bytes(b.mails[i]) for i in order]
