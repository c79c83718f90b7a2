"""What a question asks for, and the things of each kind a paragraph names.

A question asks for a person, an organisation, a place, a date or time, a number or amount, a
reason, or something else (`asked_type`). A paragraph's entity tags (`tag`) are found once, when
it is indexed, by rules: dates and times, numbers and amounts, and capitalised names, typed by
the words in and around them. A name the rules cannot type is a NAME, which a question about a
person, an organisation or a place accepts at a lower weight (rag.answer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Bump when the tags would come out differently: stored tags would no longer match.
TAGGER_VERSION = "rules-1"

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


# ---------------------------------------------------------------------------------------------
# Tagging paragraphs.

_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December"
    r"|Jan\.|Feb\.|Mar\.|Apr\.|Jun\.|Jul\.|Aug\.|Sept?\.|Oct\.|Nov\.|Dec\.)"
)
_WEEKDAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_YEAR = r"(?:1[0-9]\d\d|20\d\d)"
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
            rf"(?:spring|summer|autumn|fall|winter)\s+(?:of\s+)?{_YEAR}\b",
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
# A unit after a number belongs to the amount ("55 mph", "182 million tons", "10 years").
_UNIT = (
    r"(?:\s*(?:%|percent\b|per\s+cent\b)|\s+(?:years?|months?|weeks?|days?|hours?|minutes?"
    r"|seconds?|decades?|centuries|miles?|mph|km|kilometres?|kilometers?|metres?|meters?|feet"
    r"|foot|inches?|acres?|hectares?|tons?|tonnes?|pounds?|kg|kilograms?|degrees?|dollars?"
    r"|euros?|barrels?|people|square\s+(?:miles?|kilometres?|kilometers?|km|feet|metres?))\b)?"
)
_DIGIT_NUMBERS = re.compile(
    r"[$£€¥]?\s?\d+(?:,\d{3})*(?:\.\d+)?" + _SCALE + _UNIT,
    re.IGNORECASE,
)
_WORD_NUMBERS = re.compile(
    rf"{_NUMBER_WORD}(?:[\s-]+(?:and\s+)?{_NUMBER_WORD})*\b" + _UNIT,
    re.IGNORECASE,
)
# Where a date or number can start: digits or a capitalised word, or one of the lower-case words
# that open one (found among all lower-case words: faster than scanning for the list).
_STARTS = re.compile(r"[$£€¥]?\d+|[A-Z][A-Za-z]*")
_LOWER = re.compile(r"[a-z]+")
_LOWER_STARTS = (_DATE_STARTS | _NUMBER_WORDS) - _MONTH_WORDS
_SPACED = re.compile(r"\S+")
_CONNECT_WORDS = frozenset("of de da del der di du la le van von bin al the y for on".split())
_OF = re.compile(r"\s+of\s+(?:the\s+)?")
# A capitalised word (letters, inner apostrophes, dots of initials and hyphens), or an acronym.
_CAP = r"(?:[A-Z][a-z]{0,2}\.(?=\s)|[A-Z][\w’'\-]*)"
_CONNECT = r"(?:of|de|da|del|der|di|du|la|le|van|von|bin|al|the|y|for|on)"
_NAMES = re.compile(rf"{_CAP}(?:\s+(?:{_CONNECT}\s+)*{_CAP})*")

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
    something everything none neither either whether
    """.split()
)
_TITLES = frozenset(
    """
    mr mrs ms dr sir lord lady president king queen prince princess pope saint general gen
    emperor empress bishop archbishop professor prof senator governor captain judge rev
    reverend chancellor minister secretary spokesman spokeswoman envoy ambassador colonel
    lieutenant sergeant admiral cardinal father brother sister uncle aunt sultan tsar czar
    duke duchess count countess baron chairman ceo director coach dame rabbi imam sheikh
    """.split()
)
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
_PERSON_AFTER = re.compile(
    r"^,?\s+(?:said|says|told|wrote|who|added|argued|explained|insisted|acknowledged|admitted)\b"
)


def tag(text: str) -> tuple[Entity, ...]:
    """The entities in a text, in order, without overlaps; deterministic and model-free.

    >>> [(text[e.start:e.end], e.type) for e in tag(text := "Price said on May 3, 2021 that 40%")]
    [('Price', 'person'), ('May 3, 2021', 'date'), ('40%', 'number')]
    """
    taken = bytearray(len(text))
    found: list[Entity] = []

    def claim(start: int, end: int, kind: str) -> None:
        if start < end and not any(taken[start:end]):
            taken[start:end] = b"\x01" * (end - start)
            found.append(Entity(start, end, kind))

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
            if match is None and lowered in _NUMBER_WORDS and lowered not in ("one", "half"):
                # Not "one of the", "half of": a pronoun or a share far more often than a count.
                match, kind = _WORD_NUMBERS.match(text, start), NUMBER
        if match is not None:
            claim(start, match.end(), kind)
    names = [
        (s, e)
        for m in _NAMES.finditer(text)
        for part in _split_of(text, m.start(), m.end())
        for s, e in [_trim(text, *part)]
        if s < e
    ]
    # A person's surname alone names them too: "Nikola Tesla ... Tesla".
    surnames: set[str] = set()
    typed: list[tuple[int, int, str]] = []
    for start, end in names:
        kind = _name_type(text, start, end)
        typed.append((start, end, kind))
        words = text[start:end].split()
        if kind == PERSON and len(words) > 1:
            surnames.add(words[-1])
    for start, end, kind in typed:
        if kind == NAME and text[start:end] in surnames:
            kind = PERSON
        claim(start, end, kind)
    return tuple(sorted(found, key=lambda e: e.start))


def _split_of(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """A person "of" an organisation is two names ("Bill Roggio of the Foundation for ..."),
    where "University of Chicago" is one: split when the words before "of" are two or more
    names with no organisation or place word among them."""
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
    # "President Lincoln": the title is a cue to the type (_name_type), not part of the name.
    while len(words) > 1 and text[words[0][0] : words[0][1]].lower().strip(".") in _TITLES:
        words.pop(0)
    while words and (
        text[words[-1][0] : words[-1][1]] in _CONNECT_WORDS
        or text[words[-1][0] : words[-1][1]].lower().strip(".") in _STARTERS
    ):
        words.pop()
    if not words:
        return start, start
    start, end = words[0][0], words[-1][1]
    # A trailing possessive or sentence-final dot is not part of the name ("Ltd." keeps its dot).
    for suffix in ("’s", "'s"):
        if text.endswith(suffix, start, end):
            end -= len(suffix)
    if end - start > 2 and text[end - 1] == "." and text[end - 3] != ".":
        end -= 1
    return start, end


def _name_type(text: str, start: int, end: int) -> str:
    name = text[start:end]
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
    previous = before.split()
    if previous and previous[-1].lower().strip(".,") in _TITLES:
        return PERSON
    if _PERSON_AFTER.match(text[end : end + 20]):
        return PERSON
    if _PLACE_BEFORE.search(before):
        return PLACE
    if 2 <= len(words) <= 4 and all(w[:1].isupper() for w in name.split()):
        return PERSON  # "Bill Roggio", "P. Michael McKinley": a run of bare capitalised words
    return NAME
