"""ISO 8601 calendar dates as FHIR allows them: full dates, or partial ones read on the safe side."""

from __future__ import annotations

import calendar
import functools
import re
from dataclasses import dataclass
from datetime import date

from .model import hash_once, hash_slot

# ASCII digits only, as ISO 8601 and FHIR write them (``\d`` would also take fullwidth digits).
_FULL = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
_YEAR = re.compile(r"([0-9]{4})")
# Dates a screening can mean: a window added to the latest of them still fits in a ``date``.
_FIRST_YEAR, _LAST_YEAR = 1900, 2199


@hash_once
@dataclass(frozen=True, slots=True)
class ParsedDate:
    """A calendar date and how precisely the input gave it."""

    value: date
    precision: str  # "day", "month" or "year"
    _hash: int = hash_slot()

    @property
    def partial(self) -> bool:
        """True when the input gave only a month or a year."""
        return self.precision != "day"


def parse_first_dose_date(text: str) -> date:
    """Parse a full ``YYYY-MM-DD`` date; raise ``ValueError`` on anything else."""
    match = _FULL.fullmatch(text.strip())
    if not match:
        raise ValueError("must be an ISO 8601 date YYYY-MM-DD")
    return _build(*(int(g) for g in match.groups()))


@functools.lru_cache(maxsize=4096)  # lists repeat dates; ParsedDate is immutable
def parse_event_date(text: str) -> ParsedDate | None:
    """Parse a last-dose or end date; ``None`` for empty (unknown).

    ``YYYY-MM`` and ``YYYY`` are read as the last day of the month or year: the
    latest the event can have happened, so a washout is never cleared too early.

    Examples:
        >>> parse_event_date("2026-11")
        ParsedDate(value=datetime.date(2026, 11, 30), precision='month')
    """
    text = text.strip()
    if not text:
        return None
    if match := _FULL.fullmatch(text):
        return ParsedDate(_build(*(int(g) for g in match.groups())), "day")
    if match := _MONTH.fullmatch(text):
        year, month = (int(g) for g in match.groups())
        if not 1 <= month <= 12:
            raise ValueError(f"month {month} does not exist")
        return ParsedDate(date(_year(year), month, calendar.monthrange(year, month)[1]), "month")
    if match := _YEAR.fullmatch(text):
        return ParsedDate(date(_year(int(match.group(1))), 12, 31), "year")
    raise ValueError("must be an ISO 8601 date YYYY-MM-DD (or YYYY-MM, YYYY when only the month or year is known)")


def _year(year: int) -> int:
    if not _FIRST_YEAR <= year <= _LAST_YEAR:
        raise ValueError(f"year {year} is out of range ({_FIRST_YEAR}-{_LAST_YEAR})")
    return year


def _build(year: int, month: int, day: int) -> date:
    try:
        return date(_year(year), month, day)
    except ValueError as exc:
        raise ValueError(f"{year:04d}-{month:02d}-{day:02d} is not a calendar date ({exc})") from None
