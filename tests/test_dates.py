from datetime import date

import pytest

from server.engine.dates import parse_event_date, parse_first_dose_date


@pytest.mark.parametrize(
    ("text", "expected", "precision"),
    [
        ("2026-12-03", date(2026, 12, 3), "day"),
        ("2026-11", date(2026, 11, 30), "month"),
        ("2026-02", date(2026, 2, 28), "month"),
        ("2028-02", date(2028, 2, 29), "month"),
        ("2026", date(2026, 12, 31), "year"),
        (" 2026-12-03 ", date(2026, 12, 3), "day"),
    ],
)
def test_event_dates_read_partial_dates_on_the_safe_side(text, expected, precision):
    parsed = parse_event_date(text)
    assert parsed is not None
    assert (parsed.value, parsed.precision) == (expected, precision)


def test_empty_event_date_is_unknown():
    assert parse_event_date("") is None
    assert parse_event_date("   ") is None


@pytest.mark.parametrize(
    "text",
    [
        "2026-02-30",
        "2026-13-01",
        "10/12/2026",
        "yesterday",
        "2026-1-5",
        "0000-01-01",
        "2026-00",
        "9999-12",  # a window added to it would overflow the calendar
        "2200-01-01",
        "２０２６-１２-１０",  # fullwidth digits: ISO 8601 and FHIR dates are ASCII
    ],
)
def test_impossible_or_foreign_dates_are_refused(text):
    with pytest.raises(ValueError):
        parse_event_date(text)


@pytest.mark.parametrize("text", ["2026-12", "", "2026-12-32", "12/10/2026"])
def test_first_dose_needs_a_full_date(text):
    with pytest.raises(ValueError):
        parse_first_dose_date(text)
