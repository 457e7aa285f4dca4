"""Property-based: the engine answers or refuses cleanly on any text and any date, never crashes."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.engine import CheckRequest, InvalidRequestError, Medication, PriorTherapy, Verdict

_text = st.text(max_size=80)
_dateish = st.one_of(
    st.dates().map(lambda d: d.isoformat()),
    st.from_regex(r"\d{4}-\d{2}(-\d{2})?", fullmatch=True),
    st.text(max_size=12),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    names=st.lists(_text, max_size=6),
    dates=st.lists(_dateish, min_size=6, max_size=6),
    ongoing=st.lists(st.booleans(), min_size=6, max_size=6),
    therapies=st.lists(st.tuples(_text, _dateish), max_size=3),
    first_dose=_dateish,
)
def test_check_never_raises_unexpectedly(engine, names, dates, ongoing, therapies, first_dose):
    request = CheckRequest(
        first_dose_date=first_dose,
        medications=tuple(Medication(n, d, o) for n, d, o in zip(names, dates, ongoing, strict=False)),
        prior_therapies=tuple(PriorTherapy(description, end) for description, end in therapies),
    )
    try:
        result = engine.check(request)
    except InvalidRequestError as error:
        assert error.violations
        return
    assert result.verdict in set(Verdict)
    assert len(result.resolutions) == len(request.medications) + len(request.prior_therapies)
    for reason in result.reasons:
        assert reason.message


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=120))
def test_reading_any_text_never_raises(engine, text):
    reading = engine.resolver.read(text)
    assert all(0 <= match.score <= 100 for match in reading.matches)
