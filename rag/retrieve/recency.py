"""When a question is asked: which articles it may use, and the prior toward those published near
its moment (news: "which embassy was attacked?" means this week's attack)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import numpy as np

from rag.dates import question_window, window_error
from rag.errors import ConfigError
from rag.store.vectors import DayRange

PRIOR = Path(__file__).resolve().parent / "recency.json"


@dataclass(frozen=True)
class Prior:
    """The recency prior: a dated candidate published `days` further from the question's moment
    than the nearest dated candidate loses strength * (1 - exp(-days / scale_days)) of its hybrid
    score (whose units are z-scores over the candidates). Kept in recency.json; fitted on the
    earlier half of the news set by date (python -m rag.fit --only recency)."""

    strength: float
    scale_days: float
    notes: dict

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1) + "\n"


@cache
def prior(path: Path = PRIOR) -> Prior:
    """The packaged prior, read and checked once."""
    try:
        data = json.loads(path.read_bytes())
        found = Prior(
            float(data["strength"]), float(data["scale_days"]), dict(data.get("notes", {}))
        )
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise ConfigError(
            f"{path} is missing or not a valid recency prior ({error.__class__.__name__}); "
            "reinstall the package or refit with: python -m rag.fit --only recency."
        ) from None
    if not (found.strength >= 0 and found.scale_days > 0):
        raise ConfigError(
            f"{path} holds strength {found.strength} and scale_days {found.scale_days}; both must "
            "be positive. Refit with: python -m rag.fit --only recency."
        )
    return found


@dataclass(frozen=True)
class When:
    """The moment a question is asked and the window it may search.

    as_of: articles published after this day are not used, and the recency prior favours this
    day (and the time the question names, "in 2021"); None ignores publication dates altogether
    (no prior, no as-of cut; only since/until filter). since/until: an inclusive window of
    publication days; with either, undated articles are left out too.
    """

    as_of: dt.date | None = None
    since: dt.date | None = None
    until: dt.date | None = None

    @classmethod
    def asked(cls, as_of: dt.date | None, since: dt.date | None, until: dt.date | None) -> When:
        """A question asked as of a day (None: today) in a window; ConfigError for a window
        that ends before it starts."""
        if error := window_error(since, until):
            raise ConfigError(error)
        return cls(as_of or dt.date.today(), since, until)

    @property
    def filters(self) -> bool:
        """Whether any article may be left out."""
        return self.as_of is not None or self.since is not None or self.until is not None

    def day_range(self) -> DayRange:
        """The publication days a question may use: none after the as-of day, those of the
        window, undated ones unless a window is set."""
        highest = [d.toordinal() for d in (self.as_of, self.until) if d is not None]
        windowed = self.since is not None or self.until is not None
        return DayRange(
            lowest=self.since.toordinal() if self.since is not None else None,
            highest=min(highest) if highest else None,
            undated=not windowed,
        )

    def allowed(self, days: np.ndarray) -> np.ndarray:
        """Which paragraphs may answer, given each one's publication day (NaN: undated)."""
        return self.day_range().mask(days)

    def centre(self, question: str) -> Centre | None:
        """The spans of days the prior favours: the as-of day, and the time the question names
        for itself ("in 2019", "last March") up to the as-of day; None when dates are ignored.

        Both, because news reports an event on its day and for weeks after, and a question
        names the event's time, not the report's: on the news set, centring on the named time
        alone lost 3 points of R@1 that keeping the as-of day as well does not (README "Dates").
        """
        if self.as_of is None:
            return None
        day = self.as_of.toordinal()
        window = question_window(question, self.as_of)
        if window is None or window.start > self.as_of:
            return ((day, day),)
        return (day, day), (window.start.toordinal(), min(window.end.toordinal(), day))


# Spans of days (first, last ordinal, inclusive) a question is about.
Centre = tuple[tuple[int, int], ...]


def distance(days: np.ndarray, centre: Centre) -> np.ndarray:
    """Days between each publication day and the nearest span of the centre (0 inside one; NaN:
    undated)."""
    away = np.full(len(days), np.inf)
    for first, last in centre:
        here = np.where(days < first, first - days, np.where(days > last, days - last, 0.0))
        away = np.minimum(away, here)
    return np.where(np.isnan(days), np.nan, away)


def penalty(days: np.ndarray, centre: Centre | None, using: Prior | None = None) -> np.ndarray:
    """What the recency prior takes off each candidate's score; 0 for undated ones and for the
    dated one nearest the centre, so a library of old news ranks its newest first and undated
    paragraphs neither gain nor lose against it."""
    if centre is None or not len(days):
        return np.zeros(len(days), dtype=np.float32)
    away = distance(days, centre)
    dated = ~np.isnan(away)
    if not dated.any():
        return np.zeros(len(days), dtype=np.float32)
    using = using or prior()
    extra = np.where(dated, away - away[dated].min(), 0.0)
    return (using.strength * (1.0 - np.exp(-extra / using.scale_days))).astype(np.float32)
