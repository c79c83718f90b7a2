"""What a question asks for, and the things of each kind a paragraph names.

A question asks for a person, an organisation, a place, a date or time, a number or amount, a
reason, or something else (`asked_type`). A paragraph's entity tags (`tag`) are found once, when
it is indexed, by rules: dates and times, numbers and amounts, and capitalised names, typed by
the words in and around them. A name the rules cannot type is a NAME, which a question about a
person, an organisation or a place accepts at a lower weight (rag.answer).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Bump when the tags would come out differently: stored tags would no longer match.
TAGGER_VERSION = "rules-3"

PERSON = "person"
ORG = "org"
PLACE = "place"
DATE = "date"
NUMBER = "number"
NAME = "name"  # a proper name of no clear kind
REASON = "reason"
OTHER = "other"
ENTITY_TYPES = (PERSON, ORG, PLACE, DATE, NUMBER, NAME)


@dataclass(frozen=True)
class Entity:
    """A tagged span [start, end) of a paragraph's text and its type (one of ENTITY_TYPES)."""

    start: int
    end: int
    type: str


# ---------------------------------------------------------------------------------------------
# What a question asks for. The first rule that matches decides; the wh-word's own phrase
# ("which city", "how many") is more specific than the bare wh-word, so those come first.

_ORG_NOUNS = (
    "company companies organization organisation organizations organisations team teams group "
    "groups party parties university universities college colleges band agency agencies "
    "newspaper newspapers network networks club clubs school schools institution institutions "
    "corporation corporations firm firms airline airlines church churches business businesses "
    "station stations channel channels publisher publishers manufacturer manufacturers brand "
    "label government governments army armies league leagues bank banks union unions "
    "magazine magazines store stores court courts council committee department ministry"
).split()
_PLACE_NOUNS = (
    "country countries city cities state states town towns place places region regions continent "
    "capitals "
    "continents county counties island islands river rivers location locations province "
    "provinces area areas nation nations mountain mountains lake lakes ocean oceans sea seas "
    "street streets village villages district districts capital neighborhood neighbourhood "
    "territory territories borough park building buildings venue stadium airport port"
).split()
_PERSON_NOUNS = (
    "person people man men woman women king kings queen queens president presidents emperor "
    "author authors scientist scientists actor actress singer player players leader leaders "
    "minister ministers pope general composer composers artist artists architect writer writers "
    "philosopher inventor explorer ruler rulers coach director founder chancellor governor "
    "senator mayor prince princess duke saint son daughter father mother wife husband brother "
    "sister individual physicist chemist mathematician economist poet painter officer "
    "commander judge bishop spokesman spokeswoman envoy ambassador"
).split()
_DATE_NOUNS = (
    "year years date dates day days month months century centuries decade decades time era "
    "period season week weeks"
).split()
_NUMBER_NOUNS = (
    "number percentage percent proportion amount population size cost price temperature "
    "rate total count sum fraction share distance length height weight depth area value speed "
    "age"
).split()

_AUXILIARIES = frozenset(
    "did does do was were is are has had have can could will would should may might".split()
)
_WH_NOUN = re.compile(
    r"\b(?:which|what|whose)\s+(?:(?:is|was|are|were)\s+the\s+(?:name\s+of\s+the\s+)?)?"
    r"(\w+)(?:\s+(\w+))?"
)
_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), kind)
    for pattern, kind in (
        (r"\bhow\s+(?:many|much)\b", NUMBER),
        (r"\bhow\s+(?:long|far|old|big|large|tall|high|deep|wide|heavy|fast|often)\b", NUMBER),
        (r"\bwhat\s+(?:percentage|percent|proportion|fraction|amount|number)\b", NUMBER),
        (r"\b(?:what|which)\s+(?:year|years|date|day|month|century|decade|era|time)\b", DATE),
        (r"\bin\s+what\s+(?:year|period|century|decade|month)\b", DATE),
        (r"^\s*when\b|\bwhen\s+(?:did|was|were|is|does|do|will|had|has)\b", DATE),
        (
            r"\bwhy\b|\bwhat\s+(?:caused|causes|led\s+to)\b|\bfor\s+what\s+(?:reason|purpose)\b"
            r"|\bwhat\s+(?:was|is|were|are)\s+the\s+(?:reason|cause)s?\b",
            REASON,
        ),
        (r"\bwhere\b", PLACE),
        (r"\bwho(?:m|se)?\b", PERSON),
    )
)


def asked_type(question: str) -> str:
    """The kind of thing a question asks for: asked_type("Who is Bill Roggio?") == "person".

    One of PERSON, ORG, PLACE, DATE, NUMBER, REASON or OTHER, read from the wording only.
    """
    q = question.lower()
    # "Which city ...", "What company ...": the noun after the wh-word says it best.
    for match in _WH_NOUN.finditer(q):
        first, second = match.groups()
        # "Which former president": the noun may come second, but not after a verb.
        for noun in (first,) if first in _AUXILIARIES else (first, second):
            if noun in _ORG_NOUNS:
                return ORG
            if noun in _PLACE_NOUNS:
                return PLACE
            if noun in _PERSON_NOUNS:
                return PERSON
            if noun in _DATE_NOUNS:
                return DATE
            if noun in _NUMBER_NOUNS:
                return NUMBER
        break  # only the first wh-phrase: "What did the man who ..." is not about a person
    for pattern, kind in _RULES:
        if pattern.search(q):
            return kind
    return OTHER


_PLURALS = frozenset(
    n
    for nouns in (_ORG_NOUNS, _PLACE_NOUNS, _PERSON_NOUNS)
    for n in nouns
    if n.endswith("s") or n in ("people", "men", "women")
)
_KIND_NOUNS = frozenset(_ORG_NOUNS + _PLACE_NOUNS + _PERSON_NOUNS)


_JOINING = frozenset({"of", "and", "for", "de", "del", "la", "von", "van", "bin", "al", "the", "&"})
_WHO_OR_WHAT = re.compile(r"\s*(?:who|what)(?:'s|\s+(?:is|are|was|were)\b)", re.IGNORECASE)


def asks_about_a_name(question: str, *, bare: bool = False) -> bool:
    """Whether the question asks who or what a name is and nothing else ("Who is Bill Roggio?",
    "What was the Long War Journal?"): what the articles say about the name answers it. bare:
    only a name with no article before it ("Who is Ned Price?", where another person is no
    answer, but not "Who was the Super Bowl 50 MVP?", which asks for a person)."""
    asked = _WHO_OR_WHAT.match(question)
    if not asked:
        return False
    words = re.findall(r"[\w'’.-]+", question[asked.end() :])
    if words and words[0].lower() in {"the", "a", "an"}:
        if bare:
            return False
        words = words[1:]
    # Nothing but the name: capitalised words or numbers, joined by "of", "and", "for", "de"…
    if not words or not all(w[0].isupper() or w[0].isdigit() for w in (words[0], words[-1])):
        return False
    return all(w[0].isupper() or w[0].isdigit() or w in _JOINING for w in words)


def one_asked(question: str) -> str | None:
    """The singular noun a question asks for one of: "country" for "Which country ...", "ruler"
    for "What German ruler ..."; None for "Which countries ..." or "Who ..."."""
    match = _WH_NOUN.search(question.lower())
    if match is None:
        return None
    first, second = match.groups()
    nouns = (first,) if first in _AUXILIARIES else (first, second)
    noun = next((n for n in nouns if n in _KIND_NOUNS), None)
    return None if noun is None or noun in _PLURALS else noun


_ASKS_YEAR = re.compile(r"\b(?:what|which)\s+year\b")
_HOW_MANY = re.compile(r"\bhow\s+many\s+(?:more\s+|fewer\s+|other\s+|different\s+)?(\w+)")


def asked_unit(question: str) -> str | None:
    """The unit a question counts in, which its answer need not repeat: "year" for "In what
    year ...", "miles" for "How many miles ...", else None."""
    q = question.lower()
    if _ASKS_YEAR.search(q):
        return "year"
    match = _HOW_MANY.search(q)
    return match.group(1) if match else None


def narrow(entity: Entity, text: str, unit: str | None) -> Entity:
    """The part of an entity that answers a question counting in `unit` (asked_unit): the year
    of "November 3, 1975" for "In what year ...", "21,000" of "21,000 years" for "How many
    years ..."; the entity itself otherwise."""
    if unit is None:
        return entity
    span = text[entity.start : entity.end]
    if entity.type == DATE and unit == "year":
        years = list(re.finditer(rf"{_YEAR}s?\b", span))
        if len(years) == 1 and years[0].group() != span:
            return Entity(entity.start + years[0].start(), entity.start + years[0].end(), DATE)
    elif entity.type == NUMBER:
        last = span.rsplit(None, 1)
        if len(last) == 2 and last[1].lower().rstrip("s") == unit.rstrip("s"):
            return Entity(entity.start, entity.start + len(last[0]), NUMBER)
    return entity


# ---------------------------------------------------------------------------------------------
# Tagging paragraphs.

_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December"
    r"|Jan\.|Feb\.|Mar\.|Apr\.|Jun\.|Jul\.|Aug\.|Sept?\.|Oct\.|Nov\.|Dec\.)"
)
_WEEKDAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_YEAR = r"(?:1[0-9]\d\d|20\d\d)"
# A year or a span of years: "1973", "1973–74", "1914-1918".
_YEARS = rf"{_YEAR}(?:\s*(?:–|—|-)\s*(?:{_YEAR}|\d\d)\b)?"
_ORDINAL_WORD = (
    r"(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth"
    r"|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth"
    r"|twenty-first)"
)
# Python's regex engine scans fast only for a pattern that opens with a literal or a character
# class, so the scan finds candidate tokens (a run of digits or currency, a word) and these
# patterns are tried anchored at each one: dates first, then numbers.
_DIGIT_DATES = re.compile(
    "|".join(
        (
            r"\d{1,2}(?:st|nd|rd|th)\s+(?:and|to|through|or)\s+\d{1,2}(?:st|nd|rd|th)[\s-]+centuries\b",
            r"\d{1,2}(?:st|nd|rd|th)[\s-]+centur(?:y|ies)\b",
            r"\d{1,4}\s*(?:BC|BCE|AD|CE)\b",
            rf"\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?:\s*,?\s*{_YEAR})?\b",
            r"\d{1,2}(?::\d\d)?\s*(?:a\.m\.|p\.m\.|am\b|pm\b)",
            r"\d{1,2}:\d\d\b",
            rf"{_YEAR}(?:\s*(?:–|—|-|to)\s*(?:{_YEAR}|\d\d))?s?\b(?![,.]\d)",
        )
    )
)
_WORD_DATES = re.compile(
    "|".join(
        (
            rf"{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:\s*,\s*{_YEAR})?\b",
            rf"{_MONTH}\s*,?\s+{_YEAR}\b",
            rf"(?:{_MONTH}|{_WEEKDAY})\b",
            rf"(?:early|mid|late)[\s-]+{_YEAR}s?\b",
            rf"{_ORDINAL_WORD}[\s-]+centur(?:y|ies)\b",
            rf"(?:spring|summer|autumn|fall|winter)\s+(?:of\s+)?{_YEARS}\b",
            rf"{_ORDINAL_WORD}\s+(?:and|to|through|or)\s+{_ORDINAL_WORD}[\s-]+centuries\b",
        )
    ),
    re.IGNORECASE,
)
_MONTH_WORDS = frozenset(
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
_DATE_STARTS = _MONTH_WORDS | frozenset(
    "monday tuesday wednesday thursday friday saturday sunday early mid late spring summer "
    "autumn fall winter first second third fourth fifth sixth seventh eighth ninth tenth eleventh "
    "twelfth thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth "
    "twentieth twenty".split()
)
_NUMBER_WORD = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen"
    r"|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy"
    r"|eighty|ninety|hundred|thousand|million|billion|trillion|dozen|hundreds|thousands"
    r"|millions|billions|dozens|half)"
)
_NUMBER_WORDS = frozenset(_NUMBER_WORD[3:-1].split("|"))
_SCALE = r"(?:\s+(?:hundred|thousand|million|billion|trillion))?"
# A unit after a number belongs to the amount ("55 mph", "182 million tons", "10 years"), and so
# does a rate's "per year". A conversion in brackets after it ("1.6 km (1 mi)") is read with it,
# so that it is not an amount of its own, but left out of its span (_CONVERSION).
_UNIT_WORDS = (
    r"years?|months?|weeks?|days?|hours?|minutes?|seconds?|decades?|centuries|times|people"
    r"|miles?|mph|km|kilometres?|kilometers?|metres?|meters?|m|cm|mm|nm|μm|µm|nanometres?"
    r"|nanometers?|micrometres?|micrometers?|millimetres?|millimeters?|centimetres?|centimeters?"
    r"|feet|foot|ft|inches?|yards?|light[\s-]years?|acres?|hectares?|km2|km²|m2|m²|mi2|mi²"
    r"|square\s+(?:miles?|kilometres?|kilometers?|km|feet|foot|metres?|meters?|mi|ft|m)"
    r"|sq\.?\s*(?:mi|km|ft|m)|cubic\s+(?:feet|foot|metres?|meters?|yards?|inches?)"
    r"|tons?|tonnes?|gigatons?|gigatonnes?|megatons?|pounds?|lbs?|kg|kilograms?|grams?|ounces?"
    r"|oz|degrees?|dollars?|euros?|barrels?|gallons?|litres?|liters?|calories|kilocalories|kcal"
    r"|watts?|kilowatts?|megawatts?|gigawatts?|kW|MW|GW|kWh|volts?|GB|MB|TB|Hz|kHz|MHz|GHz"
)
_RATE = (
    r"(?:\s+per\s+(?:year|month|week|day|hour|minute|second|barrel|person|capita|head|kg|ton"
    r"|tonne|gallon|litre|liter|mile|km)\b)?"
)
_UNIT = (
    r"(?:\s*(?:%|percent\b|per\s+cent\b)|\s*°\s*[CF]?|\s+(?:"
    + _UNIT_WORDS
    + r")\b)?"
    + _RATE
    + r"(?:\s*\((?:about\s+|approximately\s+|c\.\s*|~)?[$£€¥]?\d[^()\n]{0,30}\))?"
)
_CONVERSION = re.compile(r"\s*\([^()]*\)$")
_FRACTION = r"(?:-(?:thirds?|quarters?|fifths?|sixths?|sevenths?|eighths?|ninths?|tenths?|halves))"
_DIGIT_NUMBERS = re.compile(
    r"[$£€¥]?\s?\d+(?:,\d{3})*(?:\.\d+)?" + _SCALE + _UNIT,
    re.IGNORECASE,
)
_WORD_NUMBERS = re.compile(
    rf"{_NUMBER_WORD}{_FRACTION}?(?:[\s-]+(?:and\s+)?{_NUMBER_WORD})*\b" + _UNIT,
    re.IGNORECASE,
)
# "one" opens a count only as a share: "one in five", "one out of every six", "one-third".
_ONE = re.compile(
    rf"one(?:{_FRACTION}|\s+(?:in|out\s+of)\s+(?:every\s+)?(?:\d+|{_NUMBER_WORD})\b)",
    re.IGNORECASE,
)
# Joined into one span: a range or alternative of two amounts or two dates ("5–10 million years",
# "90 to 95 percent", "356 ± 47 tonnes", "24 August – 3 October 1572"), and, after "between" (or
# for dates), two joined by "and" ("between 1500 and 1850", "the 1960s and 1970s").
_RANGE = re.compile(r"\s*(?:–|—|-|−|±|to|through|until|or)\s*(?:the\s+)?$|\s+and\s+(?:the\s+)?$")
_BETWEEN = re.compile(r"\b[Bb]etween\s+(?:the\s+)?$")
# Words before an amount that bound it are part of it ("fewer than 10", "nearly $40"), and so
# is the "a" of "a million"; a hedge ("about", "an estimated") is not: measured on SQuAD, its
# answers leave hedges out and keep bounds (README "Evaluation").
_QUALIFIER = re.compile(
    r"(?<![\w-])(?:nearly|almost|over|under|more\s+than|less\s+than|fewer\s+than|up\s+to"
    r"|as\s+(?:many|much|few|little)\s+as)\s+$",
    re.IGNORECASE,
)
_ARTICLE_SCALE = re.compile(r"(?<![\w-])(?:half\s+)?an?\s+$", re.IGNORECASE)
_SCALE_WORDS = frozenset("hundred thousand million billion trillion dozen".split())
_CIRCA = re.compile(r"(?<![\w-])(?:circa|c\.)\s*$", re.IGNORECASE)

# Where a date or number can start: digits or a capitalised word, or one of the lower-case words
# that open one (found among all lower-case words: faster than scanning for the list).
_STARTS = re.compile(r"[$£€¥]?\d+|[A-Z][A-Za-z]*")
_LOWER = re.compile(r"[a-z]+")
_LOWER_STARTS = (_DATE_STARTS | _NUMBER_WORDS) - _MONTH_WORDS
_SPACED = re.compile(r"\S+")
_CONNECT_WORDS = frozenset("of de da del der di du la le van von bin al the y for on".split())
_OF = re.compile(r"\s+(?:of|for)\s+(?:the\s+)?")
_POSSESSIVE = re.compile(r"[’']s\s+")
# A capitalised word (letters, inner apostrophes, dots of initials and hyphens), or an acronym.
_CAP = r"(?:[A-Z][a-z]{0,2}\.(?=\s)|[A-Z][\w’'\-]*(?:/[A-Z][\w’'\-]*)*)"
_CONNECT = r"(?:of|de|da|del|der|di|du|la|le|van|von|bin|al|the|y|for|on)"
# Inside a name: an Arabic particle ("Muhammad Abd al-Salaam Farag", "Shah Ala ad-Din").
_PARTICLE = r"(?:al|ad|ar|as|at|an|el|ud|ul|ibn|bin|bint|abu)-[A-Z][\w’'\-]*"
_IS_PARTICLE = re.compile(_PARTICLE)
_NAMES = re.compile(
    rf"{_CAP}(?:\s+(?:{_CONNECT}\s+)*(?:{_CAP}|{_PARTICLE}))*"
    r"(?:,?\s+(?:Inc|Ltd|LLC|Corp|PLC|GmbH)\b\.?)?"  # "Capital Cities/ABC, Inc."
)

_STARTERS = frozenset(
    """
    a an the this that these those it its in on at of for to from by with as after before during
    but and or if when while where which who whom whose what why how however although though
    because since he she they we i you his her their our my your there here then thus also
    many some most several each every all both no not one two three according despite under
    over between among meanwhile later earlier today yesterday other another such following
    following upon into unlike like although once until unless about above below other it's
    yet still so though throughout within without toward towards along around across against
    mr mrs ms dr st prof sir saint former late anyone everyone someone nobody nothing
    something everything none neither either whether nearly almost approximately roughly
    around more less fewer circa up
    """.split()
)
_TITLES = frozenset(
    """
    mr mrs ms dr sir lord lady president king queen prince princess pope saint general gen
    emperor empress bishop archbishop professor prof senator governor captain judge rev
    reverend chancellor minister secretary spokesman spokeswoman envoy ambassador colonel
    lieutenant sergeant admiral cardinal father brother sister uncle aunt sultan tsar czar
    duke duchess count countess baron chairman ceo director coach dame rabbi imam sheikh
    chair chairwoman chairperson developer producer editor host founder commissioner deputy
    premier chief vice prime mayor sen rep gov president-elect congressman congresswoman attorney
    leader speaker secretary-general spokesperson
    """.split()
)
_NATIONALITY = ("an", "ese", "ish", "i", "ch")
_ORG_WORDS = frozenset(
    """
    company corporation corp inc ltd llc co plc university college institute institution
    association council party church army navy force forces bank group agency department
    ministry committee commission union league club foundation society museum school court
    parliament congress senate assembly times news post journal records airlines airways
    network organization organisation fc united board office bureau service services tribunal
    academy laboratory laboratories labs center centre hospital trust fund federation alliance
    press studios pictures motors industries systems technologies entertainment broadcasting
    orchestra band council party coalition administration authority guard police fleet corps
    forum institute
    """.split()
)
_PLACE_WORDS = frozenset(
    """
    city county river mountain mountains mount mt lake ocean sea island islands street avenue
    road square park bay valley desert province state kingdom republic peninsula coast gulf
    strait canal region district territory village town borough harbor harbour falls basin
    plateau forest cape hill hills heights beach bridge palace castle cathedral abbey tower
    airport station stadium plaza boulevard channel sound
    """.split()
)
# Country, continent and much-named place names the cues above cannot recognise.
_PLACES = frozenset(
    """
    afghanistan albania algeria america americas angola argentina armenia asia australia austria
    azerbaijan bahrain bangladesh belarus belgium bolivia bosnia brazil britain bulgaria burma
    cambodia cameroon canada chile china colombia congo croatia cuba cyprus czechia denmark
    egypt england estonia ethiopia europe finland france georgia germany ghana greece guatemala
    haiti honduras hungary iceland india indonesia iran iraq ireland israel italy jamaica japan
    jordan kazakhstan kenya korea kosovo kuwait laos latvia lebanon libya lithuania luxembourg
    madagascar malaysia mali malta mexico moldova mongolia morocco mozambique myanmar nepal
    netherlands nicaragua niger nigeria norway oman pakistan palestine panama paraguay peru
    philippines poland portugal qatar romania russia rwanda scotland senegal serbia singapore
    slovakia slovenia somalia spain sudan sweden switzerland syria taiwan tajikistan tanzania
    thailand tunisia turkey uganda ukraine uruguay uzbekistan venezuela vietnam wales yemen
    zambia zimbabwe africa antarctica arctic atlantic pacific mediterranean caribbean
    alabama alaska arizona arkansas california colorado connecticut delaware florida hawaii
    idaho illinois indiana iowa kansas kentucky louisiana maine maryland massachusetts michigan
    minnesota mississippi missouri montana nebraska nevada ohio oklahoma oregon pennsylvania
    tennessee texas utah vermont virginia washington wisconsin wyoming london paris berlin rome
    madrid moscow tokyo beijing shanghai delhi mumbai cairo istanbul sydney melbourne toronto
    chicago boston houston seattle atlanta dallas miami philadelphia detroit denver brooklyn
    manhattan hollywood jerusalem baghdad kabul tehran doha dubai geneva vienna prague warsaw
    budapest athens lisbon dublin edinburgh amsterdam brussels stockholm oslo copenhagen
    helsinki hamburg munich milan venice florence naples barcelona hong kong seoul bangkok
    jakarta manila singapore nairobi lagos johannesburg rio janeiro mexico lima bogota
    havana montreal vancouver quebec ontario victoria kandahar herat helmand normandy bavaria
    prussia saxony siberia tibet kashmir punjab bengal gaza sinai balkans scandinavia
    us usa uk uae ussr eu
    """.split()
) | {
    "united states",
    "united kingdom",
    "new york",
    "los angeles",
    "san francisco",
    "new zealand",
    "south africa",
    "soviet union",
    "new jersey",
    "new orleans",
    "saudi arabia",
    "north korea",
    "south korea",
    "sri lanka",
    "hong kong",
    "new delhi",
    "las vegas",
    "san diego",
    "el salvador",
    "costa rica",
    "puerto rico",
    "north carolina",
    "south carolina",
    "west virginia",
    "north dakota",
    "south dakota",
    "new mexico",
    "new hampshire",
    "rhode island",
    "middle east",
    "latin america",
    "north america",
    "south america",
    "east asia",
    "southeast asia",
    "central asia",
    "eastern europe",
    "western europe",
}
_PLACE_BEFORE = re.compile(r"\b(?:in|at|near|from|to|into|across|outside|inside)\s+(?:the\s+)?$")
# "Lashkar Gah, the capital of Helmand province": a place in apposition.
_PLACE_AFTER = re.compile(
    r"^,\s+(?:the|a)\s+(?:\w+\s+)?(?:capital|city|town|village|province|state|country|region"
    r"|district|island|port)\b"
)
_COMMA_NAME = re.compile(r",\s+([A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)\b")
_SAYING = r"said|says|told|wrote|added|argued|explained|insisted|acknowledged|admitted"
_PERSON_AFTER = re.compile(rf"^,?\s+(?:{_SAYING}|who)\b")
_SAYING_AFTER = re.compile(rf"^,?\s+(?:{_SAYING})\b")


def tag(text: str, people: frozenset[str] = frozenset()) -> tuple[Entity, ...]:
    """The entities in a text, in order, without overlaps; deterministic and model-free. people:
    surnames that name a person elsewhere in the article (tag_article).

    >>> text = "Price said on May 3, 2021 that 40%"
    >>> [(text[e.start : e.end], e.type) for e in tag(text)]
    [('Price', 'person'), ('May 3, 2021', 'date'), ('40%', 'number')]
    """
    return _tag(text, people)[0]


def tag_article(texts: Sequence[str]) -> list[tuple[Entity, ...]]:
    """The entities of each text of one article (its title, its paragraphs): a surname alone is
    a person wherever in the article the person is named in full with a title before the name or
    a verb of saying after it (_person_cue). A news story names a person once ("Zalmay Khalilzad
    told an event") and by surname after ("negotiated by Khalilzad"), where the rules alone
    cannot type the surname.

    >>> texts = ["Zalmay Khalilzad said so.", "It was led by Khalilzad."]
    >>> [[t[e.start : e.end] for e in found] for t, found in zip(texts, tag_article(texts))]
    [['Zalmay Khalilzad'], ['Khalilzad']]
    """
    first = [_tag(text, frozenset()) for text in texts]
    people = frozenset().union(*(surnames for _, surnames in first))
    return [
        _tag(text, people)[0]
        if any(e.type == NAME and text[e.start : e.end] in people for e in found)
        else found
        for text, (found, _) in zip(texts, first, strict=True)
    ]


def _tag(text: str, people: frozenset[str]) -> tuple[tuple[Entity, ...], frozenset[str]]:
    """tag(text, people) and the surnames of the people the text names in full."""
    taken = bytearray(len(text))
    found: list[Entity] = []

    def claim(start: int, end: int, kind: str, span_end: int | None = None) -> None:
        """Take text[start:end] for an entity spanning text[start:span_end or end]."""
        if start < end and not any(taken[start:end]):
            taken[start:end] = b"\x01" * (end - start)
            found.append(Entity(start, span_end or end, kind))

    starts = list(_STARTS.finditer(text))
    starts += [m for m in _LOWER.finditer(text) if m.group() in _LOWER_STARTS]
    starts.sort(key=lambda m: m.start())
    for token in starts:
        start = token.start()
        if taken[start] or (start and (text[start - 1].isalnum() or text[start - 1] in ",.")):
            continue  # inside a claimed span, a word or a number ("1,200" is one number)
        first = token.group()
        if first[-1].isdigit():
            match = _DIGIT_DATES.match(text, start)
            kind = DATE
            if match is None:
                match, kind = _DIGIT_NUMBERS.match(text, start), NUMBER
        else:
            lowered = first.lower()
            match, kind = None, DATE
            if lowered in _DATE_STARTS and (first[0].isupper() or lowered not in _MONTH_WORDS):
                match = _WORD_DATES.match(text, start)
            if match is None and lowered == "one":
                match, kind = _ONE.match(text, start), NUMBER
            elif match is None and lowered in _NUMBER_WORDS and lowered != "half":
                # Not "one of the", "half of": a pronoun or a share far more often than a count.
                match, kind = _WORD_NUMBERS.match(text, start), NUMBER
        if match is not None:
            bracket = _CONVERSION.search(match.group()) if kind == NUMBER else None
            claim(start, match.end(), kind, bracket and match.end() - len(bracket.group()))
    names = [
        (s, e)
        for m in _NAMES.finditer(text)
        for owner in _split_possessive(text, m.start(), m.end())
        for titled in _split_title(text, *owner)
        for office in _split_office(text, *titled)
        for part in _split_of(text, *office)
        for s, e in [_trim(text, *part)]
        if s < e
    ]
    # A person's surname alone names them too: "Nikola Tesla ... Tesla". In other texts of the
    # article only where the words around the full name say it is a person (a title before it,
    # "said" or "told" after it): a run of bare capitalised words is taken for a person too
    # ("Denver Broncos"), and so is one followed by "who" ("a Han Chinese who lived ..."); on
    # SQuAD v1.1's check half spreading those made "Broncos" and "Chinese" the marked answer to
    # the articles' who-questions.
    surnames: set[str] = set()
    cued: set[str] = set()
    typed: list[tuple[int, int, str]] = []
    for start, end in names:
        kind = _name_type(text, start, end)
        typed.append((start, end, kind))
        words = text[start:end].split()
        if kind == PERSON and len(words) > 1:
            surnames.add(words[-1])
            if _person_cue(text, start, end, strict=True):
                cued.add(words[-1])
    for start, end, kind in typed:
        if kind == NAME and (text[start:end] in surnames or text[start:end] in people):
            kind = PERSON
        claim(start, end, kind)
    return _joined(text, sorted(found, key=lambda e: e.start)), frozenset(cued)


def _person_cue(text: str, start: int, end: int, *, strict: bool = False) -> bool:
    """Whether the words around a name say it is a person: a title or a department's office just
    before it ("President Lincoln", "spokesman Ned Price", "Secretary of State Blinken"), a verb
    of saying after it ("Zalmay Khalilzad, told") or, unless strict, "who" after it."""
    before = text[max(0, start - 60) : start]
    previous = before.split()
    after = _SAYING_AFTER if strict else _PERSON_AFTER
    titled = bool(previous) and previous[-1].lower().strip(".,") in _TITLES
    office = bool(previous) and previous[-1].lower() in _DEPARTMENT_ENDS
    return (
        titled
        or bool(office and _OFFICE_BEFORE.search(before))
        or bool(after.match(text[end : end + 20]))
    )


def _joined(text: str, found: list[Entity]) -> tuple[Entity, ...]:
    """Join ranges of amounts and of dates into one entity ("between" included), and take in the
    words before an amount that belong to it ("about", "fewer than", the "a" of "a million")."""
    spans: list[list] = []  # [start, end, type, joined by "and" after "between"]
    for entity in found:
        if spans and spans[-1][2] == entity.type and entity.type in (NUMBER, DATE):
            start, end, kind, _ = spans[-1]
            between = text[end : entity.start]
            lead = _BETWEEN.search(text[max(0, start - 12) : start])
            if _RANGE.match(between) and (" and " not in f" {between} " or lead or kind == DATE):
                spans[-1] = [start, entity.end, kind, lead is not None]
                continue
        spans.append([entity.start, entity.end, entity.type, False])
    joined: list[Entity] = []
    for first, end, kind, after_between in spans:
        start = first
        if after_between:
            start -= len(_BETWEEN.search(text[max(0, start - 12) : start]).group())
        elif kind == NUMBER:
            words = text[start:end].split(None, 1)
            if words[0].lower() in _SCALE_WORDS and (
                match := _ARTICLE_SCALE.search(text[max(0, start - 8) : start])
            ):
                start -= len(match.group())
            if match := _QUALIFIER.search(text[max(0, start - 24) : start]):
                start -= len(match.group())
        elif kind == DATE and (match := _CIRCA.search(text[max(0, start - 8) : start])):
            start -= len(match.group())
        if joined and joined[-1].end > start:
            start = first  # the words before belong to the entity before
        joined.append(Entity(start, end, kind))
    return tuple(joined)


def _split_possessive(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """ "Fred Singer's Science" names Fred Singer and Science; the owner is a name of its own."""
    parts, at = [], start
    for match in _POSSESSIVE.finditer(text, start, end):
        parts.append((at, match.start()))
        at = match.end()
    return [*parts, (at, end)]


def _split_title(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """A title inside a run of names starts a person's name: "New York City Mayor Bill de
    Blasio" names New York City and (Mayor) Bill de Blasio."""
    words = [m.span() for m in _SPACED.finditer(text, start, end)]
    for i in range(1, len(words) - 1):
        word, previous = (text[a:b] for a, b in (words[i], words[i - 1]))
        following = text[words[i + 1][0] : words[i + 1][1]]
        if (
            word[:1].isupper()
            and word.lower().strip(".") in _TITLES
            and previous.lower().strip(".") not in _TITLES
            and following[:1].isupper()
            and not (i == 1 and previous.lower().endswith(_NATIONALITY))  # left to _trim
        ):
            return [(start, words[i - 1][1]), (words[i][0], end)]
    return [(start, end)]


_BASED = "-based"
# What a secretary, a minister or a chief is "of" without naming a place or a body of its own.
_DEPARTMENTS = frozenset(
    tuple(name.split())
    for name in (
        "state",
        "defense",
        "defence",
        "treasury",
        "justice",
        "commerce",
        "labor",
        "labour",
        "energy",
        "education",
        "agriculture",
        "transportation",
        "transport",
        "interior",
        "health",
        "finance",
        "war",
        "staff",
        "homeland security",
        "veterans affairs",
        "foreign affairs",
        "home affairs",
        "health and human services",
        "housing and urban development",
    )
)
_DEPARTMENT_ENDS = frozenset(d[-1] for d in _DEPARTMENTS)
# "Secretary of State Blinken": a department's office before a name says it is a person.
_OFFICE_BEFORE = re.compile(
    r"\b(?:"
    + "|".join(sorted(map(re.escape, _TITLES)))
    + r")\s+(?:of|for)\s+(?:the\s+)?(?:"
    + "|".join(r"\s+".join(map(re.escape, d)) for d in sorted(_DEPARTMENTS))
    + r")\s+$",
    re.IGNORECASE,
)
_OFFICE_OF = re.compile(r"\s+(?:to|of|for)\s+(?:the\s+)?")
_INITIAL = re.compile(r"[A-Z]\.")


def _split_office(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """An office held to or of a place or body names the place or body, then its holder: "US
    Ambassador to Afghanistan Ronald Neumann" names the US, Afghanistan and Ronald Neumann (the
    title is a cue, not a name). The holder is the last two words, with initials before them
    ("P. Michael McKinley"); split only where the words before the holder name a place or an
    organisation. A department names no place: "Secretary of State Blinken" and "Chief of Staff
    Ron Klain" name the holder alone."""
    words = [m.span() for m in _SPACED.finditer(text, start, end)]
    lowered = [text[a:b].lower().strip(".,’'") for a, b in words]
    # A run that ends in a title held to or of something: "US Ambassador" of "US Ambassador to".
    if len(words) > 1 and lowered[-1] in _TITLES and _OFFICE_OF.match(text, end):
        while len(words) > 1 and lowered[-1] in _TITLES:
            words.pop()
            lowered.pop()
        return [(start, words[-1][1])]
    held = next(  # where the place or body starts: after "Title of (the)" inside the run ...
        (
            i + 2 + (lowered[i + 2] == "the")
            for i in range(len(words) - 3)
            if lowered[i] in _TITLES and lowered[i + 1] in ("of", "for")
        ),
        None,
    )
    if held is not None:
        # A government department names no place: "Secretary of State (Antony) Blinken",
        # "Secretary of Defense Lloyd Austin", "Chief of Staff Ron Klain" name the holder alone.
        for size in (3, 2, 1):
            if tuple(lowered[held : held + size]) in _DEPARTMENTS and held + size < len(words):
                rest = words[held + size :]
                if all(text[a].isupper() for a, _ in rest) and len(rest) <= 3:
                    return [(rest[0][0], end)]
    before = re.search(rf"\b(\w+){_OFFICE_OF.pattern}$", text[max(0, start - 40) : start])
    if held is None and before and before.group(1).lower() in _TITLES:
        held = 0  # ... or at the run's start, after "Title to (the)"
    if held is None or len(words) - held < 3:
        return [(start, end)]
    first = len(words) - 2
    while first - 1 > held and _INITIAL.fullmatch(text[words[first - 1][0] : words[first - 1][1]]):
        first -= 1
    place = (words[held][0], words[first - 1][1])
    holder = (words[first][0], end)
    if first <= held or any(w in _ORG_WORDS or w in _PLACE_WORDS for w in lowered[first:]):
        return [(start, end)]
    if _name_type(text, *place) not in (PLACE, ORG):
        return [(start, end)]
    return [place, holder]


def _split_of(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """A person "of" or "for" an organisation is two names ("Bill Roggio of the Foundation for
    ...", "William Stranahan for the Pacific Improvement Company"), where "University of Chicago"
    is one: split when the words before are two or more names with no organisation or place word
    among them."""
    match = _OF.search(text, start, end)
    if match is None:
        return [(start, end)]
    left = [w.strip(".’'").lower() for w in text[start : match.start()].split()]
    if len(left) < 2 or any(w in _ORG_WORDS or w in _PLACE_WORDS for w in left):
        return [(start, end)]
    return [(start, match.start()), (match.end(), end)]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Drop sentence-opening words ("The", "However") and trailing joiners from a name span."""
    words = [m.span() for m in _SPACED.finditer(text, start, end)]
    while words and text[words[0][0] : words[0][1]].lower().strip(".’'") in _STARTERS:
        words.pop(0)
    # "President Lincoln": the title is a cue to the type (_name_type), not part of the name;
    # so is a nationality before it ("Egyptian President Anwar Sadat").
    if (
        len(words) > 2
        and text[words[0][0] : words[0][1]].lower().endswith(_NATIONALITY)
        and text[words[1][0] : words[1][1]].lower().strip(".") in _TITLES
    ):
        words.pop(0)
    # Not an office's title: "Director of Flight Crew Operations".
    while (
        len(words) > 1
        and text[words[0][0] : words[0][1]].lower().strip(".") in _TITLES
        and text[words[1][0] : words[1][1]] not in _CONNECT_WORDS
    ):
        words.pop(0)
    while words and (
        text[words[-1][0] : words[-1][1]] in _CONNECT_WORDS
        or text[words[-1][0] : words[-1][1]].lower().strip(".") in _STARTERS
    ):
        words.pop()
    if not words:
        return start, start
    start, end = words[0][0], words[-1][1]
    # A trailing possessive or sentence-final dot is not part of the name ("Ltd." keeps its dot),
    # nor is the "-based" of a place ("a Washington-based think tank").
    for suffix in ("’s", "'s", _BASED):
        if text.endswith(suffix, start, end):
            end -= len(suffix)
    if end - start > 2 and text[end - 1] == "." and text[end - 3] != ".":
        end -= 1
    return start, end


def _name_type(text: str, start: int, end: int) -> str:
    name = text[start:end]
    if text.startswith(_BASED, end):
        return PLACE
    words = [w.strip(".’'").lower() for w in name.split()]
    if name.lower() in _PLACES:
        return PLACE
    if any(w in _ORG_WORDS for w in words):
        return ORG
    if any(w in _PLACE_WORDS for w in words) or words[-1] in _PLACES:
        return PLACE
    if len(name) >= 2 and name.isupper() and name.isalpha():
        return ORG  # an acronym that is not a known place: NASA, BBC, NATO
    before = text[max(0, start - 40) : start]
    if _person_cue(text, start, end):
        return PERSON
    if _PLACE_AFTER.match(text[end : end + 40]):
        return PLACE
    # "Portland, Oregon": a name qualified by a known place is a place.
    if (match := _COMMA_NAME.match(text, end)) and match.group(1).lower() in _PLACES:
        return PLACE
    if _PLACE_BEFORE.search(before):
        return PLACE
    if 2 <= len(words) <= 4 and all(
        w[:1].isupper() or _IS_PARTICLE.fullmatch(w) for w in name.split()
    ):
        return PERSON  # "Bill Roggio", "P. Michael McKinley": a run of bare capitalised words
    return NAME
