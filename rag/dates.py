"""Dates: an article's publication day as ISO text, and the time span a question names.

Standard library only, so retrieval, answering and the UI can import it cheaply.

    parse_date("Updated 0412 GMT (1212 HKT) July 28, 2021")   -> "2021-07-28"
    dateline("Taliban talks\\nPublished July 28, 2021\\n...")   -> "2021-07-28"
    format_day("2021-07-28")                                    -> "28 Jul 2021"
    question_window("What happened in March 2021?", date(2022, 1, 5))
        -> Window(start=date(2021, 3, 1), end=date(2021, 3, 31))

A date needs a day: "July 2021" or "2021-07" alone is no publication date (None), since any
day chosen for it would claim a precision the source does not have.
"""

from __future__ import annotations

import calendar
import datetime
import re
from dataclasses import dataclass

MIN_YEAR, MAX_YEAR = 1900, 2100

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        1,
    )
    for name in names
}
_SHORT_MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\b\.?"
_WEEKDAY = r"(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)(?:day|sday|nesday|rsday|urday)?\.?"
_ORDINAL = r"(?:st|nd|rd|th)?"
# A time of day and zone as written after an ISO date; the day is kept as written, never shifted.
_ISO_TIME = r"(?:[T ]\d\d:?\d\d(?::?\d\d(?:[.,]\d+)?)?(?: ?(?:Z|[+-]\d\d(?::?\d\d)?))?)?"

_PDF = re.compile(r"D:(\d{4})(\d\d)(\d\d)(?:\d{0,6})(?:Z|[+-]\d\d'?\d\d'?)?.*", re.IGNORECASE)
_ISO_BASIC = re.compile(r"(\d{4})(\d\d)(\d\d)" + _ISO_TIME, re.IGNORECASE)
_YMD = re.compile(r"(?<![\d/.-])(\d{4})([-/.])(\d\d?)\2(\d\d?)(?![\d/])" + _ISO_TIME, re.IGNORECASE)
_DMY_NUMERIC = re.compile(r"(?<![\d/.-])(\d\d?)([-/.])(\d\d?)\2(\d{4})(?![\d/.-]?\d)")
_MDY_TEXT = re.compile(
    rf"\b{_MONTH}\s+(?P<day>\d\d?){_ORDINAL},?\s+(?P<year>\d{{4}})(?!\d)", re.IGNORECASE
)
_DMY_TEXT = re.compile(
    rf"(?<!\d)(?P<day>\d\d?){_ORDINAL}\s+(?:of\s+)?{_MONTH},?\s+(?P<year>\d{{4}})(?!\d)",
    re.IGNORECASE,
)


def _day(year: int, month: int, day: int) -> datetime.date | None:
    """The date, or None when it does not exist or its year is out of range."""
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return None


def _find_date(text: str) -> tuple[datetime.date, int, int] | None:
    """The first date written in text, with the span it covers; None if there is none."""
    found: list[tuple[int, int, datetime.date | None]] = []
    for pattern in (_MDY_TEXT, _DMY_TEXT):
        if match := pattern.search(text):
            month = _MONTHS[match["month"].lower()]
            day = _day(int(match["year"]), month, int(match["day"]))
            found.append((match.start(), match.end(), day))
    if match := _YMD.search(text):
        day = _day(int(match[1]), int(match[3]), int(match[4]))
        found.append((match.start(), match.end(), day))
    if match := _DMY_NUMERIC.search(text):
        first, second, year = int(match[1]), int(match[3]), int(match[4])
        readings = {d for d in (_day(year, second, first), _day(year, first, second)) if d}
        # 07/08/2021 reads both ways: guessing would be wrong half the time
        found.append((match.start(), match.end(), readings.pop() if len(readings) == 1 else None))
    if not found:
        return None
    start, end, day = min(found, key=lambda f: (f[0], -f[1]))
    return (day, start, end) if day else None


def parse_date(value: str | None) -> str | None:
    """The ISO day (YYYY-MM-DD) of a date written in any common form, or None.

    "2021-07-28T04:12:00+08:00", "Wed, 28 Jul 2021 04:12:00 GMT", "D:20210728041200+00'00'" and
    "Published 10:15 AM EDT, Wed July 28, 2021" all give "2021-07-28". None for no date, an
    impossible one (Feb 30), a year outside 1900..2100, a month without a day, and numeric dates
    that read two ways (07/08/2021).
    """
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())[:200]
    for pattern in (_PDF, _ISO_BASIC):
        if match := pattern.fullmatch(text):
            day = _day(int(match[1]), int(match[2]), int(match[3]))
            return day.isoformat() if day else None
    found = _find_date(text)
    return found[0].isoformat() if found else None


def window_error(since: datetime.date | None, until: datetime.date | None) -> str | None:
    """The one sentence refusing a publication window that ends before it starts; else None."""
    if since is not None and until is not None and since > until:
        return (
            f"Published since ({since}) is after until ({until}); no article can be in between, "
            "so widen the window."
        )
    return None


def format_day(iso: str | None) -> str:
    """A day for display: "2021-07-28" -> "28 Jul 2021"; "" for None or no date."""
    parsed = parse_date(iso)
    if parsed is None:
        return ""
    day = datetime.date.fromisoformat(parsed)
    return f"{day.day} {_SHORT_MONTHS[day.month - 1]} {day.year}"


# --- datelines -------------------------------------------------------------------------------

_DATELINE_LINES = 8  # how far down the body a dateline may sit
_DATELINE_MAX_CHARS = 120
_DATELINE_PREFIX = re.compile(
    r"(?:(?:originally |first )?(?:published|updated|posted|created|dated?)"
    r"|last (?:updated|modified|edited))\b(?:\s+(?:on|at))?\s*:?\s*",
    re.IGNORECASE,
)
# Words that may stand beside the date in a dateline: times, zones, weekdays, little words.
_DATELINE_WORD = re.compile(
    rf"(?:\d\d?[:.]\d\d(?::\d\d)?|\d{{1,4}}{_ORDINAL}|[ap]\.?m\.?|{_WEEKDAY}|{_MONTH}"
    r"|on|at|and|updated|published|modified"
    r"|(?:utc|gmt)(?:[+-]\d\d?(?::?\d\d)?)?|[+-]\d\d(?::?\d\d)?)",
    re.IGNORECASE,
)
_ZONE = re.compile(r"[A-Z]{1,4}T|Z")
_DATELINE_EDGES = " \t*_#>|•·–—-:"


def _dateline_in(segment: str) -> str | None:
    """The ISO day of a segment that is a dateline and nothing else, or None."""
    segment = segment.strip(_DATELINE_EDGES)
    if prefix := _DATELINE_PREFIX.match(segment):
        segment = segment[prefix.end() :]
    found = _find_date(segment)
    if found is None:
        return None
    day, start, end = found
    rest = segment[:start] + " " + segment[end:]
    for word in re.split(r"[\s,()\[\]]+", rest):
        if word and not (_DATELINE_WORD.fullmatch(word) or _ZONE.fullmatch(word)):
            return None  # prose around the date: a sentence, not a dateline
    return day.isoformat()


def dateline(text: str) -> str | None:
    """The ISO day of a dateline in the first lines of an article body, or None.

    A dateline is a short line that holds a date and nothing but dateline words:
    "Updated 0412 GMT (1212 HKT) July 28, 2021", "Posted on 28 July 2021", "Last updated: Wed,
    28 Jul 2021 04:12 GMT", "By Ana Lopez | Published July 28, 2021", or a date alone. A date in
    a sentence of prose ("The talks resumed on July 28, 2021.") is not one.
    """
    lines = [line.strip() for line in text.split("\n", 64)[:64] if line.strip()]
    for line in lines[:_DATELINE_LINES]:
        if len(line) > _DATELINE_MAX_CHARS:
            continue
        # "By Ana Lopez, CNN | Updated ..." : the byline and the dateline are separate segments
        for segment in re.split(r"\s+[|•·–—]\s+|\s+-\s+", line):
            if (day := _dateline_in(segment)) is not None:
                return day
    return None


# --- the time a question names ---------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """A span of days, both ends included."""

    start: datetime.date
    end: datetime.date

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ValueError(f"Window starts {self.start} after it ends {self.end}.")

    def contains(self, day: str | datetime.date | None) -> bool:
        """Whether a day (a date or ISO text) falls inside the window; False for None."""
        if isinstance(day, str):
            parsed = parse_date(day)
            day = datetime.date.fromisoformat(parsed) if parsed else None
        return day is not None and self.start <= day <= self.end


_Q_MONTH = (
    r"(?P<month>January|February|March|April|May|June|July|August|September|October"
    r"|November|December)\b"
)
_Q_MONTH_ABBR = (
    r"(?P<month>January|February|March|April|May|June|July|August|September|October"
    r"|November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\b\.?"
)
_Q_YEAR = r"(?P<year>(?:19|20)\d\d|2100)(?!\d|s\b|[.,]\d|%|-\d)"
_Q_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?(?!\d|:|%)"
_SINCE = re.compile(r"\bsince\s+(?:the\s+)?$", re.IGNORECASE)

_Q_RANGE = re.compile(
    r"\b(?:between\s+(?P<a>(?:19|20)\d\d)\s+and|from\s+(?P<b>(?:19|20)\d\d)\s+(?:to|until|through))"
    r"\s+(?P<end>(?:19|20)\d\d)\b|(?<![\d$€£#])(?P<c>(?:19|20)\d\d)\s*[-–]\s*(?P<end2>(?:19|20)\d\d)\b"
)
_Q_FULL = [
    re.compile(rf"\b{_Q_MONTH_ABBR}\s+{_Q_DAY},?\s+{_Q_YEAR}"),
    re.compile(rf"(?<![\d$€£#]){_Q_DAY}\s+(?:of\s+)?{_Q_MONTH_ABBR},?\s+{_Q_YEAR}"),
    re.compile(r"(?<![\d-])(?P<year>\d{4})-(?P<m>\d\d)-(?P<day>\d\d)(?!\d)"),
]
_Q_MONTH_YEAR = re.compile(rf"\b{_Q_MONTH_ABBR},?\s+(?:of\s+)?{_Q_YEAR}")
_Q_DECADE = re.compile(
    r"\b(?:the\s+|in\s+)(?:early\s+|mid-?\s*|late\s+)?(?P<decade>(?:19|20)\d0)'?s\b"
)
_Q_RELATIVE = re.compile(
    r"(?:(?P<pre>\b(?:in|over|during)\s+the\s+)(?P<rolling>last|past)\s+"
    r"(?P<runit>week|month|year)(?!\s+of\b)"
    r"|(?<!the )\b(?P<which>last|past|this)\s+(?P<unit>week|month|year)(?!\s+of\b)"
    r"|\b(?P<word>yesterday|today))\b",
    re.IGNORECASE,
)
_Q_MONTH_DAY = [
    re.compile(rf"\b{_Q_MONTH_ABBR}\s+{_Q_DAY}(?!,?\s+\d)"),
    re.compile(rf"(?<![\d$€£#]){_Q_DAY}\s+(?:of\s+)?{_Q_MONTH_ABBR}(?!,?\s+\d)"),
]
_Q_NAMED_MONTH = re.compile(
    rf"\b(?P<which>[Ll]ast|[Tt]his|[Ii]n|[Dd]uring|[Ss]ince|[Ee]arly|[Ll]ate|[Mm]id-?)\s*"
    rf"(?<=\s|-){_Q_MONTH}\b(?!,?\s+\d)"
)
_Q_YEAR_AFTER_WORD = re.compile(
    rf"\b(?P<word>[Ii]n|[Oo]f|[Ss]ince|[Dd]uring|[Tt]hroughout)\s+(?:the\s+year\s+)?{_Q_YEAR}"
)
_Q_BARE_YEAR = re.compile(rf"(?<![\w$€£#/.,:-]){_Q_YEAR}")
# After such a word a bare four-digit number is a count, a time or a name, not a year.
_NOT_YEAR_BEFORE = set(
    "than about around over under nearly almost approximately roughly some least most only just "
    "exactly another additional all at by before after until till to no number flight route "
    "room page section article chapter version model code".split()
)
_NOT_YEAR_AFTER = set(
    "people persons person men women children kids troops soldiers officers police fighters "
    "civilians refugees migrants residents voters votes students workers employees jobs members "
    "dollars euros pounds yuan yen rupees usd eur gbp bn billion million thousand "
    "km kilometres kilometers miles metres meters feet ft kg kilograms tons tonnes lbs "
    "units cases deaths infections patients beds homes houses cars vehicles flights words pages "
    "points times percent per of hours hrs minutes seconds gmt utc tests doses".split()
)
# "a total of 2000", "out of 2000": here "of" introduces an amount, not a year.
_AMOUNT_OF = set(
    "total number sum out population maximum minimum average estimate count amount score "
    "record height depth length distance price cost budget toll tally capacity".split()
)


def _month_end(year: int, month: int) -> datetime.date:
    return datetime.date(year, month, calendar.monthrange(year, month)[1])


def _whole_month(year: int, month: int) -> Window:
    return Window(datetime.date(year, month, 1), _month_end(year, month))


def _whole_year(year: int) -> Window:
    return Window(datetime.date(year, 1, 1), datetime.date(year, 12, 31))


def _since(question: str, start: int, window: Window, as_of: datetime.date) -> Window | None:
    """A window read after "since" runs up to as_of; any other stands as named."""
    if _SINCE.search(question[:start]):
        return Window(window.start, as_of) if window.start <= as_of else None
    return window


def _recent_day(month: int, day: int, as_of: datetime.date) -> datetime.date | None:
    """The most recent such day not after as_of (Feb 29 looks back to a leap year)."""
    for year in range(as_of.year, as_of.year - 9, -1):
        try:
            candidate = datetime.date(year, month, day)
        except ValueError:
            continue
        if candidate <= as_of:
            return candidate
    return None


def _month_number(name: str) -> int:
    return _MONTHS[name.lower().rstrip(".")]


def _relative(match: re.Match[str], as_of: datetime.date) -> Window:
    one_day = datetime.timedelta(days=1)
    if match["word"]:
        day = as_of if match["word"].lower() == "today" else as_of - one_day
        return Window(day, day)
    if match["rolling"]:  # "in the past month": the days up to now
        days = {"week": 7, "month": 30, "year": 365}[match["runit"].lower()]
        return Window(as_of - datetime.timedelta(days=days), as_of)
    unit, which = match["unit"].lower(), match["which"].lower()
    if which == "this":
        start = {
            "week": as_of - datetime.timedelta(days=as_of.weekday()),
            "month": as_of.replace(day=1),
            "year": as_of.replace(month=1, day=1),
        }[unit]
        return Window(start, as_of)
    if unit == "week":
        return Window(as_of - datetime.timedelta(days=7), as_of - one_day)
    if unit == "month":
        last = as_of.replace(day=1) - one_day
        return _whole_month(last.year, last.month)
    return _whole_year(as_of.year - 1)


def _starts_capitalised_midsentence(question: str, match: re.Match[str]) -> bool:
    """Whether a capitalised match sits mid-sentence, a name like "USA Today" or "This Week"."""
    text = match.group(0).lstrip()
    before = question[: match.start()].rstrip()
    return text[:1].isupper() and bool(before) and before[-1] not in ".?!:;\"'“‘("


def question_window(question: str, as_of: datetime.date) -> Window | None:
    """The span of days a question names, read relative to as_of, the day it is asked; or None.

    "in 2021", "March 2021", "last March", "in March", "July 4", "July 4, 2021", "last week"
    (the 7 days before as_of), "last month", "last year", "this week/month/year" (up to as_of),
    "yesterday", "today", "in the 1990s", "since 2020" (up to as_of). Only capitalised month
    names count, a month alone only after "in", "last", "this" and the like ("Who may ...",
    "the March on Washington" name no time), and a four-digit number is a year only where it
    reads as one ("2021 people" is a count).
    """
    for match in _Q_RANGE.finditer(question):
        first = int(match["a"] or match["b"] or match["c"])
        last = int(match["end"] or match["end2"])
        if MIN_YEAR <= first <= last <= MAX_YEAR:
            return Window(datetime.date(first, 1, 1), datetime.date(last, 12, 31))
    for pattern in _Q_FULL:
        for match in pattern.finditer(question):
            month = int(match["m"]) if "m" in match.groupdict() else _month_number(match["month"])
            day = _day(int(match["year"]), month, int(match["day"]))
            if day:
                return _since(question, match.start(), Window(day, day), as_of)
    for match in _Q_MONTH_YEAR.finditer(question):
        year = int(match["year"])
        if MIN_YEAR <= year <= MAX_YEAR:
            window = _whole_month(year, _month_number(match["month"]))
            return _since(question, match.start(), window, as_of)
    if match := _Q_DECADE.search(question):
        decade = int(match["decade"])
        return Window(datetime.date(decade, 1, 1), datetime.date(decade + 9, 12, 31))
    for match in _Q_RELATIVE.finditer(question):
        if not _starts_capitalised_midsentence(question, match):
            return _relative(match, as_of)
    for pattern in _Q_MONTH_DAY:
        for match in pattern.finditer(question):
            if 1 <= int(match["day"]) <= 31:
                day = _recent_day(_month_number(match["month"]), int(match["day"]), as_of)
                if day:
                    return Window(day, day)
    if match := _Q_NAMED_MONTH.search(question):
        month = _month_number(match["month"])
        if match["which"].lower() == "last":  # strictly before the month we are in
            year = as_of.year if month < as_of.month else as_of.year - 1
        else:
            year = as_of.year if month <= as_of.month else as_of.year - 1
        return _since(question, match.start("month"), _whole_month(year, month), as_of)
    for match in _Q_YEAR_AFTER_WORD.finditer(question):
        if not _amount_of(question, match.start("year")) and not _count_follows(
            question, match.end()
        ):
            window = _whole_year(int(match["year"]))
            return _since(question, match.start("year"), window, as_of)
    for match in _Q_BARE_YEAR.finditer(question):
        before = question[: match.start()].split()
        previous = before[-1] if before else ""
        if (
            previous.lower().strip(",;(\"'“") in _NOT_YEAR_BEFORE
            or previous[:1].isupper()
            and len(before) > 1
            and not previous.endswith((",", ":"))
            or _count_follows(question, match.end())
            or _amount_of(question, match.start())
        ):
            continue  # "more than 2000", "Agenda 2030", "2021 people"
        return _whole_year(int(match["year"]))
    return None


def _amount_of(question: str, start: int) -> bool:
    """Whether a number follows "a total of", "out of" and the like, which make it an amount."""
    before = question[:start].lower().split()
    return len(before) >= 2 and before[-1] == "of" and before[-2] in _AMOUNT_OF


def _count_follows(question: str, end: int) -> bool:
    """Whether the word after a number makes it a count or amount ("2021 people", "1900 GMT")."""
    following = re.match(r"[\s-]*([A-Za-z%]+)", question[end:])
    return bool(following) and (following[1].lower() in _NOT_YEAR_AFTER or following[1] == "%")


# --- the day a weekday names -----------------------------------------------------------------

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# What makes a weekday point forward from the day of publication ("will meet on Friday"), or
# leaves it unclear which week it is in ("next Friday", "last Friday", "every Friday").
_AHEAD = re.compile(
    r"\b(?:will|would|shall|going to|expected to|plans? to|planned|scheduled|set to|upcoming)\b",
    re.IGNORECASE,
)
_WHICH_WEEK = re.compile(
    r"\b(?:next|last|this|every|each|coming|following|previous|by|until|before|after)\s*$",
    re.IGNORECASE,
)
_PAST = re.compile(
    r"\b(?:said|says|told|announced|reported|confirmed|\w+ed|was|were|had|began|took|died|won|"
    r"lost|met|made|gave|came|went|held|spoke|wrote|broke|fell|rose|left|found|sent|struck)\b",
    re.IGNORECASE,
)


def day_named(text: str, start: int, end: int, published: str | None) -> str | None:
    """The calendar day (ISO) a weekday in a news text names ("the State Department said
    Wednesday", text[start:end] == "Wednesday"), read from the day the article was published:
    the latest such weekday on or before it, where the sentence tells of the past before the
    weekday. None where the text is no bare weekday, the article's day is unknown, the weekday
    is part of a name ("Super Tuesday", "Good Friday"), a date follows it ("Saturday, April 25"),
    or the sentence points forward ("will meet on Friday") or leaves the week open ("next
    Friday")."""
    word = text[start:end].strip().lower()
    day = parse_date(published)
    if word not in _WEEKDAYS or day is None:
        return None
    sentence_start = max(text.rfind(". ", 0, start), text.rfind("\n", 0, start)) + 1
    before = text[sentence_start:start]
    words_before = before.split()
    if words_before and words_before[-1][:1].isupper() and words_before[-1][-1:].isalpha():
        return None  # "Super Tuesday", "Good Friday"
    if re.match(r",?\s*(?:[A-Z][a-z]+\.?\s+\d|\d{1,2}\s+[A-Z])", text[end : end + 20]):
        return None  # a date follows: the text gives the day itself
    if re.match(r"\s+[A-Z]", text[end : end + 3]):
        return None  # "Friday Night Lights"
    if _WHICH_WEEK.search(before) or _AHEAD.search(before) or not _PAST.search(before):
        return None
    published_on = datetime.date.fromisoformat(day)
    back = (published_on.weekday() - _WEEKDAYS.index(word)) % 7
    return (published_on - datetime.timedelta(days=back)).isoformat()
