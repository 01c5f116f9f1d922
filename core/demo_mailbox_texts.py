"""Words for the demo mailbox: invented people, places, products and support conversations.

Kept apart from :mod:`helpdesk.core.demo_mailbox` so that the generator stays readable. Every
text is a ``str.format`` template; the placeholders are filled per conversation:

``{order} {product} {product2} {price} {unit_price} {tracking} {tracking2} {invoice} {rma}
{days} {date} {street} {zip} {city} {company} {email} {domain} {qty} {carrier} {first}``
and the grammatical-gender endings ``{a}`` (Czech: "" or "a") and ``{em}`` (Polish: "em" or
"am"). A trailing ``[[pdf]]``, ``[[png]]`` or ``[[jpg]]`` asks for an attachment of that kind.
Czech bodies start in lower case after the greeting (the Czech letter convention); the
generator capitalises the first letter for the other languages.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- people -----------------------------------------------------------------------------

CS_MALE_FIRST = (
    "Jan",
    "Petr",
    "Martin",
    "Jiří",
    "Pavel",
    "Jakub",
    "Ondřej",
    "Michal",
    "Vojtěch",
    "Radek",
    "Zdeněk",
    "Filip",
    "Marek",
    "Stanislav",
    "Václav",
    "Aleš",
)
CS_FEMALE_FIRST = (
    "Eva",
    "Hana",
    "Lenka",
    "Kateřina",
    "Lucie",
    "Petra",
    "Veronika",
    "Tereza",
    "Markéta",
    "Zuzana",
    "Alena",
    "Martina",
    "Šárka",
    "Michaela",
    "Jitka",
    "Božena",
)
# (masculine, feminine) forms of one surname
CS_SURNAMES = (
    ("Novák", "Nováková"),
    ("Svoboda", "Svobodová"),
    ("Novotný", "Novotná"),
    ("Černý", "Černá"),
    ("Procházka", "Procházková"),
    ("Kučera", "Kučerová"),
    ("Veselý", "Veselá"),
    ("Němec", "Němcová"),
    ("Pokorný", "Pokorná"),
    ("Pospíšil", "Pospíšilová"),
    ("Hájek", "Hájková"),
    ("Jelínek", "Jelínková"),
    ("Růžička", "Růžičková"),
    ("Fiala", "Fialová"),
    ("Sedláček", "Sedláčková"),
    ("Zeman", "Zemanová"),
    ("Kolář", "Kolářová"),
    ("Navrátil", "Navrátilová"),
    ("Čermák", "Čermáková"),
    ("Vaněk", "Vaňková"),
    ("Blažek", "Blažková"),
    ("Kříž", "Křížová"),
    ("Bartoš", "Bartošová"),
    ("Vlček", "Vlčková"),
    ("Šimek", "Šimková"),
    ("Štěpánek", "Štěpánková"),
    ("Doležal", "Doležalová"),
    ("Řezníček", "Řezníčková"),
)
PL_MALE_FIRST = (
    "Piotr",
    "Krzysztof",
    "Tomasz",
    "Paweł",
    "Michał",
    "Łukasz",
    "Grzegorz",
    "Marcin",
    "Wojciech",
    "Bartłomiej",
)
PL_FEMALE_FIRST = (
    "Anna",
    "Katarzyna",
    "Małgorzata",
    "Agnieszka",
    "Magdalena",
    "Joanna",
    "Ewa",
    "Żaneta",
    "Zofia",
    "Jolanta",
)
PL_SURNAMES = (
    ("Kowalski", "Kowalska"),
    ("Wiśniewski", "Wiśniewska"),
    ("Wójcik", "Wójcik"),
    ("Kamiński", "Kamińska"),
    ("Lewandowski", "Lewandowska"),
    ("Zieliński", "Zielińska"),
    ("Szymański", "Szymańska"),
    ("Woźniak", "Woźniak"),
    ("Dąbrowski", "Dąbrowska"),
    ("Kozłowski", "Kozłowska"),
    ("Jankowski", "Jankowska"),
    ("Mazur", "Mazur"),
    ("Krawczyk", "Krawczyk"),
    ("Żuraw", "Żuraw"),
    ("Głowacki", "Głowacka"),
)
EN_MALE_FIRST = ("Oliver", "James", "Harry", "George", "Daniel", "Liam", "Thomas", "Jonas")
EN_FEMALE_FIRST = ("Emma", "Sophie", "Charlotte", "Amelia", "Hannah", "Megan", "Chloe", "Grace")
EN_SURNAMES = (
    "Smith",
    "Taylor",
    "Brown",
    "Wilson",
    "Evans",
    "Walker",
    "Wright",
    "Robinson",
    "Hughes",
    "Clarke",
    "Murphy",
    "Kelly",
    "Fischer",
    "Müller",
    "Jansen",
    "Rossi",
    "Lindqvist",
)

CS_DOMAINS = (
    "seznam.example",
    "email.example",
    "centrum.example",
    "post.example",
    "volny.example",
    "quick.example",
)
PL_DOMAINS = ("wp.example", "onet.example", "interia.example", "o2.example", "poczta.example")
EN_DOMAINS = ("example.com", "example.org", "example.net", "web.example", "mail.example")

# The business customer: a catering company with several people writing in.
B2B_DOMAIN = "firma.example"
B2B_COMPANY = "Gastro Horák s.r.o."
B2B_PEOPLE = (
    ("Petr Horák", "Petr", False, "petr.horak"),
    ("Lenka Malá", "Lenka", True, "nakup"),
    ("Iveta Šťastná", "Iveta", True, "fakturace"),
    ("Ondřej Beran", "Ondřej", False, "ondrej.beran"),
)

SMALL_COMPANIES = {
    "cs": (
        "Truhlářství Vrba",
        "Kavárna U Mostu s.r.o.",
        "Pekárna Klas s.r.o.",
        "Účetnictví Hora",
        "Penzion Na Skále",
    ),
    "pl": ("Usługi Remontowe Kos", "Kawiarnia Pod Lipą", "Biuro Rachunkowe Sowa"),
    "en": ("Greenway Cafe Ltd", "Hollis & Reed Interiors", "Little Acorn B&B"),
}

# (city, postcode, street)
PLACES = {
    "cs": (
        ("Brno", "602 00", "Údolní 14"),
        ("Olomouc", "779 00", "Hálkova 3"),
        ("Plzeň", "301 00", "Klatovská 112"),
        ("Ostrava", "702 00", "Nádražní 45"),
        ("České Budějovice", "370 01", "Lannova 8"),
        ("Liberec", "460 01", "Husova 21"),
        ("Praha 4", "140 00", "Na Pankráci 17"),
        ("Hradec Králové", "500 02", "Gočárova 9"),
        ("Třebíč", "674 01", "Žižkova 31"),
        ("Kroměříž", "767 01", "Vejvanovského 6"),
    ),
    "pl": (
        ("Kraków", "30-001", "ul. Długa 12"),
        ("Wrocław", "50-001", "ul. Ogrodowa 5"),
        ("Katowice", "40-001", "ul. Polna 3"),
        ("Warszawa", "00-001", "ul. Lipowa 7"),
        ("Poznań", "60-001", "ul. Kwiatowa 9"),
        ("Łódź", "90-001", "ul. Źródlana 4"),
    ),
    "en": (
        ("Manchester", "M1 1AA", "12 Station Road"),
        ("Dublin", "D02 X285", "4 Harbour Street"),
        ("Berlin", "10115", "Gartenstraße 15"),
        ("Vienna", "1050", "Margaretenstraße 20"),
        ("Amsterdam", "1011 AB", "Prinsengracht 100"),
        ("Bristol", "BS1 4DJ", "7 Quay Lane"),
    ),
}

CARRIERS = {
    "cs": ("BalíkExpres", "PaketPlus"),
    "pl": ("PaketPlus", "EuroParcel"),
    "en": ("EuroParcel",),
}

# (Czech, Polish, English name, price in CZK)
PRODUCTS = (
    (
        "elektrická konvice Tepla 1,7 l",
        "czajnik elektryczny Tepla 1,7 l",
        "Tepla electric kettle 1.7 l",
        1290,
    ),
    (
        "ruční mlýnek na kávu Zrnko",
        "ręczny młynek do kawy Zrnko",
        "Zrnko manual coffee grinder",
        890,
    ),
    ("litinová pánev Hrom 28 cm", "żeliwna patelnia Hrom 28 cm", "Hrom cast-iron pan 28 cm", 1690),
    ("sada nožů Ostří (5 ks)", "zestaw noży Ostří (5 szt.)", "Ostří knife set (5 pcs)", 2490),
    ("french press Ráno 1 l", "zaparzacz french press Ráno 1 l", "Ráno French press 1 l", 690),
    (
        "keramický hrnek Pohoda 350 ml",
        "kubek ceramiczny Pohoda 350 ml",
        "Pohoda ceramic mug 350 ml",
        249,
    ),
    ("tyčový mixér Vír 800 W", "blender ręczny Vír 800 W", "Vír hand blender 800 W", 1490),
    (
        "dřevěné prkénko Dub 40 × 25 cm",
        "deska do krojenia Dub 40 × 25 cm",
        "Dub oak chopping board 40 × 25 cm",
        790,
    ),
    (
        "skleněná dóza na těstoviny 2 l",
        "szklany pojemnik na makaron 2 l",
        "glass pasta jar 2 l",
        359,
    ),
    (
        "smaltovaný hrnec Babička 5 l",
        "garnek emaliowany Babička 5 l",
        "Babička enamel pot 5 l",
        1190,
    ),
    ("váha do kuchyně Přesná 5 kg", "waga kuchenna Přesná 5 kg", "Přesná kitchen scale 5 kg", 549),
    (
        "silikonové formy na muffiny (6 ks)",
        "silikonowe foremki do muffinek (6 szt.)",
        "silicone muffin moulds (6 pcs)",
        299,
    ),
)


# --- per-language framing ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LangText:
    greetings: tuple[str, ...]
    signoffs: tuple[str, ...]  # {name} {first} {phone}
    thanks: tuple[str, ...]
    agent_greeting: str  # {first}
    agent_close: tuple[str, ...]
    agent_signoff: str  # {agent}
    attribution: str  # {day} {month} {month2} {year} {hour} {minute} {wday} {mon} {name} {email}
    reply_prefixes: tuple[str, ...]
    duplicate: tuple[str, ...]  # a customer writing again, unthreaded, about the same thing
    duplicate_prefix: str


LANGS: dict[str, LangText] = {
    "cs": LangText(
        greetings=(
            "Dobrý den,",
            "Dobrý den,",
            "Dobrý den,",
            "Zdravím,",
            "Dobrý den, prosím o pomoc.",
        ),
        signoffs=(
            "S pozdravem\n{name}",
            "Děkuji\n{name}",
            "S pozdravem\n\n{name}\n{phone}",
            "{first}",
            "Díky a hezký den\n{first}",
            "S pozdravem {name}\n\nOdesláno z mobilu",
        ),
        thanks=(
            "Děkuji, vše v pořádku.",
            "Super, moc děkuji za rychlé vyřízení!",
            "Dorazilo, děkuji. Můžete to uzavřít.",
            "Děkuji za pomoc, tím je to vyřešené.",
        ),
        agent_greeting="Dobrý den,",
        agent_close=(
            "děkujeme za potvrzení. Kdybyste cokoliv potřeboval{a}, stačí odpovědět na tento "
            "e-mail.",
            "rádi jsme pomohli. Přejeme hezký den!",
            "děkujeme, požadavek tímto uzavíráme.",
        ),
        agent_signoff=(
            "S pozdravem\n\n{agent}\nzákaznická podpora obchod.example\n"
            "+420 555 100 200 | po–pá 8–16 h"
        ),
        attribution="Dne {day}. {month}. {year} v {hour}:{minute} {name} napsal(a):",
        reply_prefixes=("Re: ", "Re: ", "Re: ", "RE: ", "Odp: "),
        duplicate=(
            "píšu znovu, protože jsem na svůj e-mail z předevčírka nedostal{a} žádnou odpověď. "
            "Jde pořád o objednávku č. {order}. Prosím o co nejrychlejší reakci.",
            "posílám ještě jednou, nevím, jestli Vám můj předchozí e-mail došel. "
            "Týká se objednávky {order}.",
        ),
        duplicate_prefix="URGENCE: ",
    ),
    "pl": LangText(
        greetings=("Dzień dobry,", "Dzień dobry,", "Witam,", "Szanowni Państwo,"),
        signoffs=(
            "Pozdrawiam\n{name}",
            "Z poważaniem\n{name}",
            "Pozdrawiam serdecznie,\n{first}",
            "Dziękuję i pozdrawiam\n{name}\n{phone}",
        ),
        thanks=(
            "Dziękuję, wszystko w porządku.",
            "Dotarło, bardzo dziękuję za szybką pomoc!",
            "Dziękuję, sprawa załatwiona.",
        ),
        agent_greeting="Dzień dobry,",
        agent_close=(
            "dziękujemy za potwierdzenie. W razie pytań wystarczy odpowiedzieć na tę wiadomość.",
            "cieszymy się, że mogliśmy pomóc. Miłego dnia!",
        ),
        agent_signoff=(
            "Pozdrawiam serdecznie\n\n{agent}\nObsługa klienta obchod.example\n"
            "+420 555 100 200 (pon.–pt. 8–16)"
        ),
        attribution="W dniu {day}.{month2}.{year} o {hour}:{minute}, {name} pisze:",
        reply_prefixes=("Re: ", "Odp: ", "RE: "),
        duplicate=(
            "piszę ponownie, ponieważ nie otrzymał{em} odpowiedzi na poprzednią wiadomość. "
            "Chodzi o zamówienie nr {order}. Proszę o pilny kontakt.",
        ),
        duplicate_prefix="PILNE: ",
    ),
    "en": LangText(
        greetings=("Hello,", "Hi,", "Hi there,", "Dear Sir or Madam,", "Good morning,"),
        signoffs=(
            "Best regards,\n{name}",
            "Thanks,\n{first}",
            "Kind regards\n{name}",
            "Cheers,\n{first}",
            "Many thanks,\n{name}\n{phone}",
        ),
        thanks=(
            "Thanks, all sorted.",
            "Received it today, thank you for your help!",
            "Perfect, thank you.",
        ),
        agent_greeting="Hello {first},",
        agent_close=(
            "thanks for letting us know. If you need anything else, just reply to this email.",
            "glad we could help. Have a nice day!",
        ),
        agent_signoff=(
            "Kind regards,\n\n{agent}\nCustomer support | obchod.example\n"
            "+420 555 100 200 (Mon–Fri 8:00–16:00 CET)"
        ),
        attribution="On {wday}, {day} {mon} {year} at {hour}:{minute}, {name} <{email}> wrote:",
        reply_prefixes=("Re: ", "RE: "),
        duplicate=(
            "I'm writing again as I haven't heard back about order {order}. "
            "Could someone please get back to me?",
        ),
        duplicate_prefix="Second request: ",
    ),
}


# --- conversations ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopicText:
    subjects: tuple[str, ...]
    opening: tuple[str, ...]
    agent: tuple[str, ...]
    follow: tuple[str, ...]
    agent_follow: tuple[str, ...]


TOPICS: dict[str, dict[str, TopicText]] = {
    "order_status": {
        "cs": TopicText(
            subjects=(
                "Objednávka č. {order}",
                "Dotaz na stav objednávky {order}",
                "Kdy odešlete moji objednávku?",
            ),
            opening=(
                "před {days} dny jsem objednal{a} zboží „{product}“ (objednávka č. {order}), "
                "platba kartou proběhla hned. V zákaznickém účtu ale pořád svítí stav „Přijato“. "
                "Můžete mi prosím napsat, kdy objednávku odešlete?",
                "chtěl{a} bych se zeptat na stav objednávky č. {order}. Potřebuji zboží "
                "nejpozději do {date}, protože jde o dárek. Stihnete to?",
                "objednávka {order} je pořád ve stavu „Vyřizuje se“. Je všechno v pořádku? "
                "Zatím jsem od vás nic nedostal{a}.",
            ),
            agent=(
                "děkujeme za trpělivost. Objednávka č. {order} byla dnes předána dopravci "
                "{carrier}, číslo zásilky je {tracking}. Doručení očekáváme během 1–2 pracovních "
                "dnů. Zásilku můžete sledovat na https://sledovani.obchod.example/{tracking}.",
                "omlouváme se za zdržení. Zboží „{product}“ nám dorazilo od dodavatele až včera, "
                "objednávku č. {order} proto expedujeme dnes odpoledne. Jakmile ji převezme "
                "dopravce, přijde Vám e-mail s číslem zásilky.",
            ),
            follow=(
                "Děkuji za odpověď. Ještě dotaz – dá se zásilka přesměrovat na výdejní místo? "
                "Přes den nejsem doma.",
                "Díky. Zásilka {tracking} ale podle sledování stojí už druhý den na depu. "
                "Víte, co se děje?",
            ),
            agent_follow=(
                "přesměrování je možné přímo v aplikaci dopravce {carrier} po zadání čísla "
                "zásilky {tracking}. Pokud by to nešlo, napište nám a změnu zadáme za Vás.",
                "ověřili jsme to u dopravce {carrier}: zásilka byla kvůli velkému objemu balíků "
                "převezena na jiné depo a doručena bude zítra. Za komplikace se omlouváme.",
            ),
        ),
        "pl": TopicText(
            subjects=("Zamówienie nr {order}", "Status zamówienia {order}"),
            opening=(
                "zamówił{em} {days} dni temu „{product}” (zamówienie nr {order}) i od razu "
                "zapłacił{em} kartą. Status w panelu klienta nadal pokazuje „Przyjęte”. "
                "Kiedy paczka zostanie wysłana?",
                "chciał{em} zapytać o status zamówienia nr {order}. Potrzebuję towaru do {date}, "
                "to prezent. Czy zdążycie?",
            ),
            agent=(
                "dziękujemy za cierpliwość. Zamówienie nr {order} zostało dziś przekazane "
                "przewoźnikowi {carrier}, numer przesyłki to {tracking}. Dostawa do Polski trwa "
                "zwykle 2–3 dni robocze. Przesyłkę można śledzić na "
                "https://sledovani.obchod.example/{tracking}.",
                "przepraszamy za opóźnienie. Towar „{product}” dotarł do nas od dostawcy dopiero "
                "wczoraj, dlatego zamówienie nr {order} wyślemy dziś po południu.",
            ),
            follow=(
                "Dziękuję. Czy mogę zmienić dostawę na paczkomat? W ciągu dnia nie ma mnie w domu.",
                "Dzięki. Ale według śledzenia przesyłka {tracking} od dwóch dni stoi w sortowni. "
                "Co się dzieje?",
            ),
            agent_follow=(
                "miejsce doręczenia można zmienić w aplikacji przewoźnika {carrier} po wpisaniu "
                "numeru przesyłki {tracking}. Jeśli się nie uda, prosimy o wiadomość – "
                "zmienimy to za Państwa.",
                "sprawdziliśmy to u przewoźnika {carrier}: przesyłka trafiła do innej sortowni "
                "i zostanie doręczona jutro. Przepraszamy za kłopot.",
            ),
        ),
        "en": TopicText(
            subjects=("Order {order}", "Order status - {order}", "When will my order ship?"),
            opening=(
                "I placed order {order} ({product}) {days} days ago and paid by card straight "
                'away, but my account still says "Received". Could you let me know when it '
                "will be shipped? It's going to {city}.",
                "Could you tell me the status of order {order}? I need it by {date} as it's a "
                "birthday present.",
            ),
            agent=(
                "thank you for your patience. Order {order} was handed over to {carrier} today, "
                "tracking number {tracking}. Delivery abroad usually takes 3–5 working days. "
                "You can track it at https://sledovani.obchod.example/{tracking}.",
                "sorry for the delay. The {product} only arrived from our supplier yesterday, "
                "so order {order} will ship this afternoon. You will get an email with the "
                "tracking number once the carrier picks it up.",
            ),
            follow=(
                'Thanks. Tracking has shown "in transit" for three days now with no update. '
                "Is that normal for international parcels?",
            ),
            agent_follow=(
                "we checked with {carrier}: the parcel has passed their hub in Germany and is "
                "now with the local delivery partner. It should arrive within two days.",
            ),
        ),
    },
    "delivery_delay": {
        "cs": TopicText(
            subjects=(
                "Zásilka stále nedorazila – objednávka {order}",
                "Nedoručený balík",
                "Kde je můj balík? Obj. {order}",
            ),
            opening=(
                "objednávku č. {order} jsem zaplatil{a} už před {days} dny a podle e-mailu byla "
                "odeslána, ale balík pořád nemám. Sledování zásilky {tracking} ukazuje jen "
                "„Data přijata“. Prosím o prověření.",
                "dnes mi měl přijít balík s objednávkou {order}, kurýr ale nepřijel a v aplikaci "
                "je stav „Doručení odloženo“. Nikdo mi nevolal. Co mám dělat?",
            ),
            agent=(
                "omlouváme se, zásilka se u dopravce {carrier} zdržela kvůli vysokému počtu "
                "balíků. Podali jsme reklamaci přepravy a dopravce slíbil doručení do {date}. "
                "Pokud by balík ani potom nedorazil, pošleme Vám zboží znovu na naše náklady.",
                "zásilku {tracking} jsme u dopravce urgovali. Podle jeho informací bude doručena "
                "zítra mezi 8. a 16. hodinou, ráno Vám přijde SMS s přesnějším časem.",
            ),
            follow=(
                "Balík pořád nic. Opravdu potřebuji zboží tento týden, jinak od objednávky "
                "odstoupím.",
                "Tak balík dorazil, ale krabice byla dost pomačkaná. Zboží se snad nepoškodilo, "
                "zkontroluji to večer.",
            ),
            agent_follow=(
                "rozumíme. Dnes jsme Vám odeslali náhradní zásilku jiným dopravcem s doručením "
                "do druhého dne, číslo je {tracking2}. Původní balík dopravce vrátí k nám.",
                "děkujeme za informaci. Kdyby bylo cokoliv poškozené, pošlete nám prosím "
                "fotografii a vyřídíme to jako reklamaci.",
            ),
        ),
        "pl": TopicText(
            subjects=("Paczka nie dotarła – zamówienie {order}", "Opóźnienie dostawy"),
            opening=(
                "zapłacił{em} za zamówienie nr {order} już {days} dni temu, dostał{em} e-mail, "
                "że zostało wysłane, ale paczki nadal nie ma. Śledzenie przesyłki {tracking} "
                "pokazuje tylko „Dane przesyłki przekazane”. Proszę o sprawdzenie.",
            ),
            agent=(
                "przepraszamy, przesyłka utknęła u przewoźnika {carrier} w sortowni. Złożyliśmy "
                "reklamację przewozu, przewoźnik obiecał doręczenie do {date}. Jeśli paczka nie "
                "dotrze, wyślemy towar ponownie na nasz koszt.",
            ),
            follow=(
                "Paczki nadal nie ma. Potrzebuję towaru w tym tygodniu, w przeciwnym razie "
                "odstąpię od umowy.",
            ),
            agent_follow=(
                "rozumiemy. Dziś wysłaliśmy przesyłkę zastępczą innym przewoźnikiem z dostawą "
                "na następny dzień roboczy, numer {tracking2}.",
            ),
        ),
        "en": TopicText(
            subjects=("Parcel still not delivered - order {order}", "Missing parcel"),
            opening=(
                "My order {order} was dispatched {days} days ago according to your email, but "
                "nothing has arrived and the tracking for {tracking} hasn't changed since. "
                "Can you look into it please?",
            ),
            agent=(
                "we're sorry about this. The parcel was delayed at {carrier}'s international hub. "
                "We have opened an investigation and they promised delivery by {date}. If it "
                "doesn't arrive by then, we will send a replacement at our cost.",
            ),
            follow=("Still nothing, I'm afraid. I'd rather have a refund at this point.",),
            agent_follow=(
                "understood. We have refunded {price} to your card today; it usually shows up "
                "within 3–5 working days. If the original parcel turns up, just refuse it and "
                "it will come back to us.",
            ),
        ),
    },
    "complaint": {
        "cs": TopicText(
            subjects=(
                "Reklamace – objednávka {order}",
                "Reklamace zboží",
                "Poškozené zboží v zásilce {order}",
            ),
            opening=(
                "dnes mi přišla objednávka č. {order} a zboží „{product}“ je poškozené – "
                "prasklina na boku a odštípnutý roh. Krabice byla zvenku v pořádku. Fotku "
                "posílám v příloze. Chtěl{a} bych zboží reklamovat a dostat nový kus.[[jpg]]",
                "reklamuji zboží „{product}“ z objednávky {order}. Po třech týdnech používání "
                "přestalo fungovat – nejde zapnout, kontrolka nesvítí. Používal{a} jsem ho podle "
                "návodu. Jak mám postupovat?",
            ),
            agent=(
                "mrzí nás to. Reklamaci jsme založili pod číslem R-{rma}. Poškozené zboží si "
                "nemusíte posílat zpět, podle fotografie je poškození zřejmé. Nový kus odešleme "
                "do dvou pracovních dnů.",
                "reklamaci jsme přijali pod číslem R-{rma}. Zboží nám prosím pošlete na adresu "
                "skladu: obchod.example, Skladová 12, 190 00 Praha 9, s kopií dokladu nebo "
                "číslem objednávky. Štítek pro dopravce {carrier} Vám pošleme zvlášť, přeprava "
                "je zdarma. Reklamaci vyřídíme nejpozději do 30 dnů, obvykle do týdne.",
            ),
            follow=(
                "Děkuji. Můžete mi místo nového kusu rovnou vrátit peníze? Mezitím jsem ho "
                "koupil{a} jinde.",
                "Zboží jsem dnes odeslal{a}, podací číslo je {tracking}. Dejte prosím vědět, "
                "až dorazí.",
            ),
            agent_follow=(
                "samozřejmě. Peníze ve výši {price} jsme dnes vrátili na účet, ze kterého přišla "
                "platba. Na Vašem účtu by měly být do 3 pracovních dnů.",
                "zásilka k nám dorazila, technik zjistil vadu motoru. Reklamaci uznáváme a dnes "
                "Vám posíláme nový kus, číslo zásilky je {tracking2}.",
            ),
        ),
        "pl": TopicText(
            subjects=("Reklamacja – zamówienie {order}", "Uszkodzony towar"),
            opening=(
                "dziś dotarło zamówienie nr {order}, ale towar „{product}” jest uszkodzony – "
                "pęknięcie z boku. Karton z zewnątrz był w porządku. Proszę o wymianę na nowy "
                "egzemplarz.",
                "reklamuję towar „{product}” z zamówienia {order}. Po dwóch tygodniach używania "
                "przestał działać – nie da się go włączyć.",
            ),
            agent=(
                "bardzo nam przykro. Reklamację zarejestrowaliśmy pod numerem R-{rma}. Prosimy "
                "jeszcze o zdjęcie uszkodzenia i opakowania. Uszkodzonego towaru nie trzeba "
                "odsyłać, nowy egzemplarz wyślemy zaraz po otrzymaniu zdjęć.",
                "reklamację przyjęliśmy pod numerem R-{rma}. Prosimy odesłać towar na adres "
                "magazynu: obchod.example, Skladová 12, 190 00 Praha 9, Czechy. Etykietę "
                "przewoźnika {carrier} wyślemy osobno, przesyłka jest bezpłatna.",
            ),
            follow=(
                "Dziękuję. Czy zamiast nowego egzemplarza mogę dostać zwrot pieniędzy?",
                "Dziś nadał{em} paczkę, numer przesyłki {tracking}. Proszę o informację, kiedy "
                "dotrze.",
            ),
            agent_follow=(
                "oczywiście. Kwotę {price} zwróciliśmy dziś na konto, z którego przyszła "
                "płatność. Środki powinny być na koncie w ciągu 3 dni roboczych.",
                "paczka do nas dotarła, reklamację uznajemy. Dziś wysłaliśmy nowy egzemplarz, "
                "numer przesyłki {tracking2}.",
            ),
        ),
        "en": TopicText(
            subjects=("Damaged item - order {order}", "Complaint: broken {product}"),
            opening=(
                "My order {order} arrived today but the {product} is damaged: there is a crack "
                "along the side. The box looked fine from the outside. Could you send a "
                "replacement?",
            ),
            agent=(
                "we're sorry to hear that. We have logged a complaint under R-{rma}. Could you "
                "send the item back to us? We'll email you a prepaid {carrier} label and ship "
                "a replacement as soon as it arrives.",
            ),
            follow=(
                "Sent the item back today, tracking {tracking}. Please let me know when you "
                "receive it.",
            ),
            agent_follow=(
                "the parcel arrived and we've confirmed the fault. A replacement went out today, "
                "tracking number {tracking2}.",
            ),
        ),
    },
    "return": {
        "cs": TopicText(
            subjects=("Vrácení zboží – obj. {order}", "Odstoupení od smlouvy", "Chci vrátit zboží"),
            opening=(
                "chtěl{a} bych v zákonné lhůtě 14 dnů odstoupit od kupní smlouvy a vrátit zboží "
                "„{product}“ z objednávky č. {order}. Zboží je nepoužité, v původním obalu. Kam "
                "ho mám poslat a jak dlouho trvá vrácení peněz?",
                "objednal{a} jsem omylem dva kusy zboží „{product}“ (obj. {order}), potřebuji "
                "jen jeden. Můžu jeden vrátit?",
            ),
            agent=(
                "děkujeme za zprávu. Zboží nám pošlete na adresu obchod.example, Skladová 12, "
                "190 00 Praha 9 a do balíku přiložte číslo objednávky {order}. Peníze vrátíme do "
                "14 dnů od doručení zásilky na účet, ze kterého jste platil{a}.",
                "jistě, přebytečný kus můžete vrátit. Formulář pro vrácení najdete na "
                "https://obchod.example/vraceni, po jeho vyplnění Vám přijde štítek pro "
                "dopravce {carrier}.",
            ),
            follow=(
                "Zboží je odeslané, číslo zásilky {tracking}. Číslo účtu jsem uvedl{a} ve "
                "formuláři.",
                "Je to už 10 dní, co jste balík převzali, a peníze pořád nemám. Můžete to prosím "
                "zkontrolovat?",
            ),
            agent_follow=(
                "balík jsme převzali a zboží je v pořádku. Částku {price} jsme dnes odeslali "
                "zpět, na účtu ji uvidíte do 2–3 pracovních dnů.",
                "omlouváme se, vrácení peněz se zdrželo v účtárně. Částku {price} jsme odeslali "
                "dnes ráno.",
            ),
        ),
        "pl": TopicText(
            subjects=("Zwrot towaru – zamówienie {order}", "Odstąpienie od umowy"),
            opening=(
                "chciał{em} odstąpić od umowy w ustawowym terminie 14 dni i zwrócić „{product}” "
                "z zamówienia nr {order}. Towar jest nieużywany, w oryginalnym opakowaniu. "
                "Gdzie mam go odesłać?",
            ),
            agent=(
                "dziękujemy za wiadomość. Towar prosimy odesłać na adres: obchod.example, "
                "Skladová 12, 190 00 Praha 9, Czechy, z numerem zamówienia {order} w paczce. "
                "Pieniądze zwrócimy w ciągu 14 dni od otrzymania przesyłki.",
            ),
            follow=(
                "Minęło już 10 dni od odbioru paczki, a pieniędzy nadal nie ma. Czy mogą "
                "Państwo to sprawdzić?",
            ),
            agent_follow=(
                "przepraszamy, zwrot utknął w księgowości. Dziś wysłaliśmy kwotę {price}, na "
                "koncie pojawi się w ciągu 2–3 dni roboczych.",
            ),
        ),
        "en": TopicText(
            subjects=("Return - order {order}", "Returning an item"),
            opening=(
                "I'd like to return the {product} from order {order}; it's unused and still in "
                "the original packaging. It's just not what I expected. How do I go about it?",
            ),
            agent=(
                "no problem. Please send it to obchod.example, Skladová 12, 190 00 Praha 9, "
                "Czech Republic, with your order number {order} inside the parcel. We'll refund "
                "you within 14 days of receiving it. Return postage from abroad is unfortunately "
                "at your cost.",
            ),
            follow=(
                "Sent it back last week and tracking says it was delivered on Monday. Any news "
                "on the refund?",
            ),
            agent_follow=(
                "we received the parcel and the refund of {price} was sent today. Depending on "
                "your bank it may take a few days to appear.",
            ),
        ),
    },
    "invoice": {
        "cs": TopicText(
            subjects=(
                "Faktura k objednávce {order}",
                "Faktura na firmu",
                "Oprava faktury {invoice}",
            ),
            opening=(
                "prosím o zaslání faktury k objednávce č. {order}, v e-mailu s potvrzením žádná "
                "nebyla.",
                "potřebuji fakturu k objednávce {order} vystavit na firmu: {company}, "
                "IČO 12345678, DIČ CZ12345678. Při objednávce jsem to zapomněl{a} vyplnit. "
                "Můžete ji prosím vystavit znovu?",
            ),
            agent=(
                "fakturu {invoice} k objednávce č. {order} Vám posíláme v příloze. Najdete ji "
                "také ve svém zákaznickém účtu v sekci Objednávky.[[pdf]]",
                "opravenou fakturu jsme vystavili pod číslem {invoice}, původní doklad jsme "
                "stornovali. Nová faktura je v příloze.[[pdf]]",
            ),
            follow=(
                "Děkuji, faktura dorazila. Ještě prosím o potvrzení, že je zaplacená – potřebuji "
                "to pro účetní.",
                "Na faktuře je špatně ulice, správně je {street}. Prosím o opravu.",
            ),
            agent_follow=(
                "faktura {invoice} je uhrazená, platba byla přijata v den objednávky. Na dokladu "
                "je to vyznačeno poznámkou „Neplaťte, uhrazeno“.",
                "adresu jsme opravili, opravená faktura je ve Vašem zákaznickém účtu.",
            ),
        ),
        "pl": TopicText(
            subjects=("Faktura VAT do zamówienia {order}", "Prośba o fakturę"),
            opening=(
                "proszę o przesłanie faktury VAT do zamówienia nr {order}. W potwierdzeniu "
                "zamówienia nie było faktury, a potrzebuję jej do rozliczenia.",
            ),
            agent=(
                "fakturę {invoice} do zamówienia nr {order} przesyłamy w załączniku. Jest również "
                "dostępna w panelu klienta w zakładce Zamówienia.[[pdf]]",
            ),
            follow=("Dziękuję, faktura dotarła. Czy mogą Państwo potwierdzić, że jest opłacona?",),
            agent_follow=(
                "faktura {invoice} jest opłacona, płatność wpłynęła w dniu złożenia zamówienia.",
            ),
        ),
        "en": TopicText(
            subjects=("Invoice for order {order}", "VAT invoice needed"),
            opening=(
                "Could you send me an invoice for order {order}? I need one with my company "
                "name on it: {company}.",
            ),
            agent=(
                "please find invoice {invoice} for order {order} attached. You can also download "
                "it from your account under Orders.[[pdf]]",
            ),
            follow=(
                "Thanks. Could you add our VAT number to it? It's in our company profile, I must "
                "have missed the field at checkout.",
            ),
            agent_follow=(
                "we've reissued the invoice with your VAT number; the corrected copy is in your "
                "account.",
            ),
        ),
    },
    "product_question": {
        "cs": TopicText(
            subjects=("Dotaz na produkt", "Dotaz k produktu: {product}", "Dotaz – {product}"),
            opening=(
                "zajímá mě zboží „{product}“. Dá se použít na indukční desce a je možné ho mýt "
                "v myčce? V popisu to není uvedeno.",
                "kdy budete mít znovu skladem zboží „{product}“? Na webu je už dlouho "
                "„Momentálně nedostupné“. Chtěl{a} bych objednat dva kusy.",
                "jaká je přesně velikost balení u zboží „{product}“? Potřebuji vědět, jestli se "
                "vejde do skříňky hluboké 30 cm.",
            ),
            agent=(
                "ano, na indukci ho použít můžete. Mytí v myčce výrobce nedoporučuje, vydrží "
                "déle, když ho umyjete ručně a hned vysušíte.",
                "další dodávka je objednaná a naskladnění čekáme do {date}. Můžete si na webu "
                "nastavit hlídacího psa, pošleme Vám e-mail hned, jak bude zboží skladem.",
                "rozměry balení jsou 32 × 24 × 18 cm, samotný výrobek je hluboký 26 cm, takže "
                "by se do skříňky měl vejít.",
            ),
            follow=(
                "Děkuji. A máte k němu i náhradní víko? Původní se mi rozbilo.",
                "Super, díky. A pokud objednám tři kusy, dáte nějakou slevu?",
            ),
            agent_follow=(
                "náhradní víko samostatně bohužel neprodáváme, ale zeptáme se dodavatele a dáme "
                "Vám vědět.",
                "při nákupu tří a více kusů Vám můžeme dát slevu 10 %. Stačí při objednávce "
                "zadat kód TRI10.",
            ),
        ),
        "pl": TopicText(
            subjects=("Pytanie o produkt", "Pytanie – {product}"),
            opening=(
                "interesuje mnie „{product}”. Czy można go używać na płycie indukcyjnej i myć "
                "w zmywarce? Nie znalazł{em} tego w opisie.",
                "kiedy „{product}” będzie znowu dostępny? Chciał{em} zamówić dwie sztuki. Czy "
                "wysyłacie do Polski?",
            ),
            agent=(
                "tak, na płycie indukcyjnej można go używać. Producent nie zaleca mycia "
                "w zmywarce – posłuży dłużej, jeśli będzie myty ręcznie.",
                "kolejna dostawa jest zamówiona, spodziewamy się jej do {date}. Do Polski "
                "wysyłamy codziennie, dostawa trwa 2–3 dni robocze.",
            ),
            follow=("Dziękuję. A czy przy zamówieniu trzech sztuk jest jakiś rabat?",),
            agent_follow=(
                "przy zakupie trzech i więcej sztuk możemy zaoferować rabat 10 %. Wystarczy przy "
                "zamówieniu wpisać kod TRI10.",
            ),
        ),
        "en": TopicText(
            subjects=("Question about the {product}", "Do you ship to Ireland?"),
            opening=(
                "Is the {product} suitable for an induction hob, and is it dishwasher safe? "
                "I couldn't find it in the description.",
                "Do you ship to Ireland? I'd like to order the {product} but I can't tell from "
                "the checkout whether Ireland is included. Also, what would postage cost?",
            ),
            agent=(
                "yes, it works on induction hobs. The manufacturer doesn't recommend the "
                "dishwasher; it will last longer if washed by hand.",
                'yes, we ship to Ireland; it\'s in the list as "Irsko" (sorry, our translation '
                "is not finished yet). Postage is 14 EUR and delivery takes 4–6 working days.",
            ),
            follow=("Great, thanks. If I order three, is there any discount?",),
            agent_follow=(
                "for three or more pieces we can offer 10 % off, just enter the code TRI10 at "
                "checkout.",
            ),
        ),
    },
    "address_change": {
        "cs": TopicText(
            subjects=(
                "Změna adresy doručení – obj. {order}",
                "Změna adresy",
                "Prosím o změnu dodací adresy",
            ),
            opening=(
                "v objednávce č. {order} jsem zadal{a} špatnou adresu. Správně je {street}, "
                "{zip} {city}. Dá se to ještě změnit, než zásilku odešlete?",
                "prosím o změnu doručovací adresy u objednávky {order} – od příštího týdne budu "
                "na chalupě. Nová adresa: {street}, {zip} {city}.",
            ),
            agent=(
                "adresu jsme v objednávce č. {order} opravili na {street}, {zip} {city}. Zásilka "
                "zatím nebyla odeslána, takže se změna určitě projeví.",
                "bohužel, objednávka už byla předána dopravci {carrier}. Adresu můžete změnit "
                "přímo u dopravce po zadání čísla zásilky {tracking}, případně si balík "
                "vyzvedněte na výdejním místě.",
            ),
            follow=(
                "Moc děkuji. A můžete mi k objednávce ještě přidat zboží „{product2}“?",
                "U dopravce to nejde, web hlásí chybu. Můžete to prosím zkusit za mě?",
            ),
            agent_follow=(
                "přidali jsme. Doplatek můžete uhradit převodem, údaje pro platbu Vám přišly "
                "e-mailem.",
                "změnu jsme u dopravce zadali za Vás, balík bude doručen na novou adresu.",
            ),
        ),
        "pl": TopicText(
            subjects=("Zmiana adresu dostawy – zamówienie {order}",),
            opening=(
                "w zamówieniu nr {order} podał{em} zły adres. Prawidłowy to {street}, {zip} "
                "{city}. Czy można to jeszcze zmienić przed wysyłką?",
            ),
            agent=(
                "adres w zamówieniu nr {order} poprawiliśmy na {street}, {zip} {city}. Przesyłka "
                "nie została jeszcze wysłana, więc zmiana na pewno zostanie uwzględniona.",
            ),
            follow=("Bardzo dziękuję. Czy mogę jeszcze dodać do zamówienia „{product2}”?",),
            agent_follow=(
                "dodaliśmy. Dopłatę można uregulować przelewem, dane do płatności wysłaliśmy "
                "e-mailem.",
            ),
        ),
        "en": TopicText(
            subjects=("Change of delivery address - order {order}",),
            opening=(
                "I made a mistake in the delivery address for order {order}. It should be "
                "{street}, {zip} {city}. Can you still change it before it ships?",
            ),
            agent=(
                "we've updated the address on order {order} to {street}, {zip} {city}. The "
                "parcel hasn't shipped yet, so the change will definitely apply.",
            ),
            follow=("Brilliant, thank you. Could you also add the {product2} to the same order?",),
            agent_follow=(
                "done. You can pay the difference by bank transfer; the payment details are in "
                "the email we've just sent.",
            ),
        ),
    },
    "payment_failed": {
        "cs": TopicText(
            subjects=(
                "Platba neprošla",
                "Nefunguje platba kartou",
                "Problém s platbou – obj. {order}",
            ),
            opening=(
                "snažím se zaplatit objednávku č. {order} kartou, ale platební brána vždy napíše "
                "„Platba byla zamítnuta“. Karta je v pořádku, jinde s ní platím normálně. Peníze "
                "se mi ale z účtu strhly! Co s tím?",
                "při platbě objednávky {order} mi spadla stránka a nevím, jestli platba "
                "proběhla. V bance vidím blokaci {price}. Nechci platit dvakrát.",
            ),
            agent=(
                "platba k objednávce č. {order} k nám nedorazila, částka na Vašem účtu je jen "
                "blokace, kterou banka do několika dnů uvolní. Objednávku můžete zaplatit znovu "
                "přes odkaz https://obchod.example/platba/{order}, nebo převodem na náš účet "
                "(údaje jsou v potvrzení objednávky).",
                "platbu jsme dohledali, proběhla v pořádku a objednávka č. {order} je zaplacená. "
                "Druhou platbu proto nedělejte.",
            ),
            follow=(
                "Zkusil{a} jsem to znovu přes odkaz a zase chyba. Posílám snímek obrazovky.[[png]]",
                "Díky. Blokace se mi ale pořád nezrušila, je to už pátý den.",
            ),
            agent_follow=(
                "děkujeme za snímek. Chyba byla na straně platební brány a už je opravená. "
                "Zkuste prosím platbu znovu, případně objednávku necháme čekat a zaplatíte ji "
                "převodem.",
                "blokaci uvolňuje Vaše banka, my ji bohužel zrušit nemůžeme. Obvykle to trvá do "
                "7 pracovních dnů, případně se obraťte přímo na banku.",
            ),
        ),
        "pl": TopicText(
            subjects=("Płatność nie przeszła", "Problem z płatnością – zamówienie {order}"),
            opening=(
                "próbuję zapłacić za zamówienie nr {order} kartą, ale bramka płatnicza ciągle "
                "pokazuje „Płatność odrzucona”. Karta jest w porządku, a pieniądze zostały "
                "zablokowane na koncie! Co mam zrobić?",
            ),
            agent=(
                "płatność za zamówienie nr {order} do nas nie dotarła, kwota na koncie to tylko "
                "blokada, którą bank zwolni w ciągu kilku dni. Zamówienie można opłacić ponownie "
                "przez link https://obchod.example/platba/{order} albo przelewem.",
            ),
            follow=(
                "Spróbował{em} jeszcze raz przez link i znowu błąd. Załączam zrzut ekranu.[[png]]",
            ),
            agent_follow=(
                "dziękujemy za zrzut ekranu. Błąd był po stronie bramki płatniczej i został już "
                "naprawiony. Prosimy spróbować ponownie.",
            ),
        ),
        "en": TopicText(
            subjects=("Payment failed", "Card payment declined - order {order}"),
            opening=(
                'I tried to pay for order {order} by card and the payment page says "Payment '
                "declined\", but my bank app shows {price} reserved. I don't want to pay twice. "
                "What should I do?",
            ),
            agent=(
                "the payment for order {order} did not reach us; the amount on your account is "
                "only a hold that your bank will release within a few days. You can pay again "
                "at https://obchod.example/platba/{order} or by bank transfer.",
            ),
            follow=("Tried the link again and got another error. Screenshot attached.[[png]]",),
            agent_follow=(
                "thanks for the screenshot. The error was on the payment gateway side and has "
                "been fixed. Please try again.",
            ),
        ),
    },
    "account": {
        "cs": TopicText(
            subjects=("Nejde mi přihlásit", "Zapomenuté heslo", "Zrušení účtu"),
            opening=(
                "nemůžu se přihlásit do svého účtu. Heslo jsem si nechal{a} obnovit, ale e-mail "
                "s odkazem mi nepřišel, a to ani do spamu.",
                "prosím o zrušení mého zákaznického účtu a smazání osobních údajů.",
                "po změně hesla mi web pořád píše „Neplatné přihlašovací údaje“. Zkoušel{a} "
                "jsem to v prohlížeči i v mobilu.",
            ),
            agent=(
                "odkaz pro obnovení hesla jsme Vám poslali znovu ručně, platí 24 hodin. Pokud "
                "nepřijde ani ten, zkontrolujte prosím adresu v účtu – registrace je vedená na "
                "{email}.",
                "účet jsme zrušili a osobní údaje smazali. Údaje z dokladů musíme ze zákona "
                "uchovat 10 let, k ničemu jinému je ale nepoužijeme.",
                "po několika neúspěšných pokusech se účet na 30 minut zablokuje. Odblokovali "
                "jsme ho, zkuste se prosím přihlásit znovu.",
            ),
            follow=(
                "Odkaz přišel, ale po kliknutí píše, že vypršel. Klikal{a} jsem hned.",
                "A dostanu potvrzení, že jsou údaje smazané?",
            ),
            agent_follow=(
                "omlouváme se, některé poštovní programy odkaz otevřou předem a tím ho "
                "zneplatní. Nastavili jsme Vám dočasné heslo a poslali ho SMS, po přihlášení si "
                "ho prosím změňte.",
                "ano, tímto potvrzujeme, že Váš účet i osobní údaje jsme smazali. Zůstávají jen "
                "údaje z dokladů, které musíme archivovat.",
            ),
        ),
        "pl": TopicText(
            subjects=("Nie mogę się zalogować",),
            opening=(
                "nie mogę zalogować się na swoje konto. Dwa razy prosił{em} o reset hasła, ale "
                "e-mail z linkiem nie przyszedł, nawet do spamu.",
            ),
            agent=(
                "wysłaliśmy ręcznie nowy link do zmiany hasła, jest ważny 24 godziny. Konto jest "
                "zarejestrowane na adres {email}.",
            ),
            follow=("Link przyszedł, ale po kliknięciu pisze, że wygasł.",),
            agent_follow=(
                "przepraszamy, niektóre programy pocztowe otwierają link wcześniej. Ustawiliśmy "
                "hasło tymczasowe i wysłaliśmy je SMS-em.",
            ),
        ),
        "en": TopicText(
            subjects=("Can't log in", "Password reset email not arriving"),
            opening=(
                "I can't log in to my account. I requested a password reset twice but no email "
                "has arrived, not even in spam.",
            ),
            agent=(
                "we've sent you a new reset link manually; it's valid for 24 hours. If it still "
                "doesn't arrive, please check the address on your account: it is registered to "
                "{email}.",
            ),
            follow=(
                "Got it now, but the link says it has expired, and I clicked it straight away.",
            ),
            agent_follow=(
                "sorry about that: some mail programs open links in advance and use them up. "
                "We have set a temporary password and sent it by text message; please change "
                "it after logging in.",
            ),
        ),
    },
    "b2b_quote": {
        "cs": TopicText(
            subjects=(
                "Poptávka – velkoodběr",
                "Cenová nabídka pro {company}",
                "Poptávka: {qty} ks {product}",
            ),
            opening=(
                "jsme {company} a provozujeme tři restaurace v Brně. Měli bychom zájem o {qty} ks "
                "zboží „{product}“. Můžete nám poslat cenovou nabídku včetně dopravy? "
                "Fakturovat prosím na firmu, splatnost ideálně 30 dní.",
                "poptáváme pro {company} {qty} ks zboží „{product}“ a přibližně 20 ks zboží "
                "„{product2}“. Jaké jsou velkoobchodní ceny a termín dodání?",
            ),
            agent=(
                "děkujeme za poptávku. Při odběru {qty} ks Vám můžeme nabídnout cenu "
                "{unit_price} bez DPH za kus, doprava je při této objednávce zdarma. Termín "
                "dodání je do 5 pracovních dnů. U první objednávky je splatnost 14 dní, od "
                "druhé můžeme jít na 30 dní.",
                "v příloze posíláme cenovou nabídku. Ceny platí 14 dní, zboží „{product}“ máme "
                "skladem, zbytek naskladníme do {date}.[[pdf]]",
            ),
            follow=(
                "Děkujeme, nabídka je zajímavá. Šlo by to ještě o 5 % níž, pokud budeme "
                "objednávat pravidelně každé čtvrtletí?",
                "Objednáváme podle nabídky. Dodací adresa: {company}, {street}, {zip} {city}. "
                "Fakturu prosím na fakturace@{domain}.",
            ),
            agent_follow=(
                "při pravidelném čtvrtletním odběru Vám můžeme dát další slevu 4 %. Upravenou "
                "nabídku posíláme v příloze, stačí ji potvrdit odpovědí na tento e-mail.[[pdf]]",
                "děkujeme za objednávku, evidujeme ji pod číslem {order}. Expedice proběhne do "
                "3 pracovních dnů, faktura přijde na uvedený e-mail.",
            ),
        ),
    },
}

# Share of each topic per language, for customers who are not the business customer.
TOPIC_WEIGHTS = {
    "order_status": 18,
    "delivery_delay": 14,
    "complaint": 12,
    "return": 9,
    "invoice": 8,
    "product_question": 14,
    "address_change": 7,
    "payment_failed": 8,
    "account": 7,
}
B2B_TOPIC_WEIGHTS = {"b2b_quote": 5, "invoice": 3, "order_status": 2, "delivery_delay": 1}


# --- special messages -----------------------------------------------------------------------

# The long one: a customer who writes everything down. {order} {product} {a} {date} {name}
LONG_COMPLAINT_SUBJECT = (
    "Stížnost – opakované problémy s objednávkou {order} (prosím předat vedení)"
)
LONG_COMPLAINT_PARAGRAPHS = (
    "obracím se na Vás s žádostí o vyřešení situace, která se táhne už skoro tři týdny a která "
    "mě, upřímně řečeno, stála víc času a nervů, než by jeden nákup kuchyňských potřeb měl. "
    "Snažím se popsat všechno popořadě, aby se to dalo dohledat i bez dalšího dopisování.",
    "Objednávku č. {order} jsem vytvořil{a} v pondělí večer přes Váš web. V košíku bylo "
    "celkem dvanáct položek (seznam přikládám níže, jak mi přišel v potvrzení). Zaplatil{a} "
    "jsem hned kartou a do hodiny mi přišel e-mail, že objednávka byla přijata. Na webu bylo u "
    "všech položek uvedeno „skladem“ a odeslání do dvou pracovních dnů.",
    "Ve čtvrtek jsem nic neměl{a}, tak jsem Vám volal{a} na zákaznickou linku. Paní, se kterou "
    "jsem mluvil{a}, byla milá a řekla mi, že jedna položka chybí a čeká se na ni, ale že zbytek "
    "pošlete hned. Nic takového se nestalo: balík odešel až o šest dní později a neobsahoval "
    "všechno. Chyběly silikonové formy a jedna ze dvou dóz na těstoviny.",
    "Když balík konečně přišel, byl zjevně poškozený – roh krabice promáčknutý, lepicí páska "
    "přelepená jinou páskou. Kurýr nechtěl čekat, až ho otevřu, a tvrdil, že poškození musím "
    "reklamovat u odesílatele, tedy u Vás. Uvnitř bylo zboží „{product}“ s prasklinou a "
    "skleněná dóza byla rozbitá na kusy, střepy byly všude v krabici.",
    "Ten samý den jsem Vám napsal{a} přes kontaktní formulář a přiložil{a} fotografie. Dostal{a} "
    "jsem automatickou odpověď s číslem požadavku, ale od té doby se nikdo neozval. Volal{a} "
    "jsem ještě dvakrát; jednou mi nikdo nezvedl telefon, podruhé mi bylo řečeno, že reklamace "
    "je „v řešení“ a že mi někdo zavolá. Nezavolal.",
    "Chápu, že se v e-shopu může stát chyba, a nechci dělat zbytečné problémy. Na Váš obchod "
    "jsem měl{a} doposud dobré zkušenosti, nakupoval{a} jsem u Vás několikrát a vždy bylo vše "
    "v pořádku, proto mě to mrzí o to víc. Jde mi hlavně o to, aby se to vyřešilo a abych "
    "věděl{a}, na čem jsem.",
    "Konkrétně prosím o následující: 1) zaslat chybějící silikonové formy a druhou dózu, "
    "2) vyměnit poškozené zboží „{product}“ a rozbitou dózu, případně mi za ně vrátit peníze, "
    "3) vrátit mi poštovné, protože zásilka nepřišla v termínu, který jste uváděli, a "
    "4) potvrdit mi e-mailem, do kdy to bude vyřízeno.",
    "Poškozené zboží mám doma a samozřejmě ho mohu vrátit, pokud to bude potřeba; v takovém "
    "případě mi prosím pošlete štítek pro dopravce, protože nemám čas chodit na poštu a řešit "
    "balení. Střepy z dózy jsem musel{a} vyhodit, fotografie ale mám.",
    "Pokud nebude reklamace vyřízena do {date}, budu se muset obrátit na Českou obchodní "
    "inspekci a také napíšu recenzi, což bych opravdu nerad{a} dělal{a}. Věřím ale, že to "
    "nebude potřeba.",
    "Děkuji předem za vyřízení a prosím o odpověď e-mailem, telefonicky jsem k zastižení "
    "hůře, protože pracuji na směny.",
)
LONG_COMPLAINT_TABLE_HEAD = "---------- Potvrzení objednávky č. {order} ----------"

HTML_ONLY_SUBJECT = "Návod k použití"
HTML_ONLY_BODY = (
    '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
    "<style>p{{margin:0}}</style></head>\n"
    '<body dir="auto"><div>Dobrý den,</div><div><br></div>\n'
    "<div>objednávka č. {order} mi dorazila <b>bez návodu</b>. Zboží je „{product}“, "
    "na krabici je jen anglický text.</div>\n"
    "<div>Máte prosím návod v češtině? Stačí PDF.</div><div><br></div>\n"
    '<div><img src="https://cdn.obchod.example/produkty/{order}.jpg" width="320" '
    'alt="foto"></div><div><br></div>\n'
    "<div>Děkuji</div><div>{name}</div><div><br></div>\n"
    "<div><i>Odesláno z mobilního telefonu</i></div></body></html>\n"
)

EMOJI_SUBJECT = "🎁 Dárek pro maminku – stihnete to do pátku? 🙏"
EMOJI_BODY = (
    "chtěl{a} bych objednat zboží „{product}“ jako dárek k narozeninám. Stihnete ho doručit do "
    "pátku, když objednám dnes? A dá se k objednávce přidat dárkové balení a přání? 😊"
)

AUTO_REPLY_SUBJECT_PREFIX = "Automatická odpověď: "
AUTO_REPLY_BODY = (
    "Dobrý den,\n\ndo {date} čerpám dovolenou a k e-mailu nemám přístup. V naléhavých "
    "případech se prosím obraťte na kolegyni Lenku Malou, nakup@firma.example.\n\n"
    "Váš e-mail si přečtu po návratu.\n\n{name}\n{company}\n"
)
EN_AUTO_REPLY_SUBJECT_PREFIX = "Automatic reply: "
EN_AUTO_REPLY_BODY = (
    "Thank you for your email. I am out of the office until {date} with limited access to "
    "email. I will reply as soon as possible after my return.\n\n{name}\n"
)

BOUNCE_TEXT = (
    "This is the mail system at host mx.obchod.example.\n\n"
    "I'm sorry to have to inform you that your message could not\n"
    "be delivered to one or more recipients. It's attached below.\n\n"
    "For further assistance, please send mail to postmaster.\n\n"
    "If you do so, please include this problem report. You can\n"
    "delete your own text from the attached returned message.\n\n"
    "                   The mail system\n\n"
    "<{email}>: host mx.{domain}[192.0.2.25] said: 552 5.2.2\n"
    "    <{email}>: mailbox full, quota exceeded (in reply to RCPT TO command)\n"
)

WEBFORM_SUBJECT = "Dotaz z kontaktního formuláře"
WEBFORM_BODY = (
    "Nová zpráva z kontaktního formuláře na https://obchod.example/kontakt\n\n"
    "Jméno: {name}\nE-mail: {email}\nTelefon: {phone}\nČíslo objednávky: {order}\n\n"
    "Zpráva:\n"
    "Dobrý den, lze u vás platit i na fakturu se splatností? Nakupuji pro školní jídelnu "
    "a potřebovali bychom hrnce a pánve. Děkuji, {first}\n\n"
    "--\nOdesláno: {sent}\nIP: 192.0.2.44\n"
)

NEWSLETTERS = (
    (
        "Jarní novinky ve velkoobchodě Kuchyně a stůl",
        "Nové řady litinového nádobí, keramika z Bechyně a slevy až 30 % pro partnery.",
    ),
    (
        "Akce týdne: nože a prkénka -20 %",
        "Pro registrované obchodní partnery platí do neděle sleva 20 % na nože a prkénka.",
    ),
    (
        "Pozvánka na veletrh Domov a kuchyně",
        "Přijďte nás navštívit na stánek C-14, ukážeme novou kolekci smaltovaného nádobí.",
    ),
    (
        "Změna dodacích podmínek od příštího měsíce",
        "Upozorňujeme partnery na novou minimální hodnotu objednávky a nové svozové dny.",
    ),
)
NEWSLETTER_SENDER = ("Velkoobchod Kuchyně a stůl", "novinky@velkoobchod.example")

# Replies to the special openings above ({a}, {order}, {product}, {date} as elsewhere).
LONG_AGENT = (
    "velice se omlouváme, tohle se stát nemělo. Vaši stížnost jsme předali vedoucí skladu "
    "a zákaznické podpory. Chybějící formy a dózu odešleme zítra ráno spolu s novým kusem "
    "zboží „{product}“ a novou dózou, poškozené zboží si nechte, nemusíte nic vracet. "
    "Poštovné {price} Vám vracíme na účet a jako omluvu Vám posíláme dárkový poukaz na "
    "300 Kč, kód najdete v samostatném e-mailu. Vše bude vyřízeno nejpozději do {date}."
)
HTML_AGENT = (
    "návod v češtině Vám posíláme v příloze. Najdete ho také na stránce produktu v záložce "
    "Ke stažení.[[pdf]]"
)
EMOJI_AGENT = (
    "stihneme to: pokud objednáte dnes do 14 hodin, odešleme zboží ještě dnes a doručení je "
    "následující pracovní den. Dárkové balení za 49 Kč vyberete v košíku v kroku Doprava "
    "a platba, text přání napište do poznámky k objednávce."
)
ORDER_CONFIRMATION_FOOTER = (
    "Děkujeme za Váš nákup. Zboží expedujeme zpravidla do dvou pracovních dnů od přijetí "
    "platby. Stav objednávky můžete kdykoli sledovat ve svém zákaznickém účtu. Pokud zboží "
    "dorazí poškozené, sepište prosím s dopravcem protokol o poškození zásilky a kontaktujte "
    "nás do 3 dnů. Od kupní smlouvy můžete odstoupit do 14 dnů od převzetí zboží bez udání "
    "důvodu; zboží nám v takovém případě zašlete nepoužité a pokud možno v původním obalu. "
    "Reklamace vyřizujeme bez zbytečného odkladu, nejpozději do 30 dnů. Obchodní podmínky "
    "a informace o zpracování osobních údajů najdete na https://obchod.example/podminky. "
    "Tento e-mail byl vygenerován automaticky, neodpovídejte na něj prosím."
)

# What the long complaint forwards below its order list: the carrier's notices.
LONG_FORWARDED = (
    "-------- Přeposlaná zpráva --------\n"
    "Předmět: Vaše zásilka {tracking} – změna termínu doručení\n"
    "Od: {carrier} <info@dopravce.example>\n\n"
    "Vážená zákaznice, vážený zákazníku,\n\n"
    "Vaši zásilku {tracking} od odesílatele obchod.example se nám dnes nepodařilo doručit "
    "z provozních důvodů. Nový předpokládaný termín doručení je následující pracovní den "
    "mezi 8:00 a 18:00. Pokud Vám termín nevyhovuje, můžete si zvolit jiný den doručení "
    "nebo doručení na výdejní místo na adrese https://dopravce.example/zasilka/{tracking}.\n\n"
    "Zásilka byla převzata od odesílatele a je na cestě do depa ve Vašem regionu. Při "
    "převzetí zásilky prosím zkontrolujte neporušenost obalu. Pokud je obal poškozený, máte "
    "právo zásilku nepřevzít nebo sepsat s řidičem protokol o poškození.\n\n"
    "Toto je automaticky generovaná zpráva, prosíme, neodpovídejte na ni.\n\n"
    "-------- Přeposlaná zpráva --------\n"
    "Předmět: Zásilka {tracking} byla doručena\n"
    "Od: {carrier} <info@dopravce.example>\n\n"
    "Zásilka {tracking} byla doručena a převzata. Děkujeme, že využíváte našich služeb. "
    "Ohodnoťte prosím doručení na https://dopravce.example/hodnoceni.\n"
)
