"""Every ALTER-02 rule on the day before, on and after its boundary, and the combination rules."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from server.engine import CheckRequest, Medication, PriorTherapy, Verdict

FIRST = date(2026, 12, 10)

# The issue's table, written independently of data/protocols/ALTER-02.csv so that a wrong
# data file fails here: (category, "within" | "at_least", window in days).
WINDOWS = [
    ("strong_cyp3a4_inhibitor", "within", 7),
    ("strong_cyp3a4_inducer", "within", 12),
    ("myelosuppressive_chemotherapy", "at_least", 21),
    ("nitrosourea", "at_least", 42),
    ("anticancer_other", "within", 28),
    ("growth_factor_long_acting", "at_least", 14),
    ("growth_factor_short_acting", "at_least", 3),
    ("immunotherapy", "at_least", 14),
    ("radiotherapy_palliative", "at_least", 14),
    ("radiotherapy_bone_marrow", "at_least", 42),
    ("stem_cell_infusion", "at_least", 56),
    ("major_surgery", "within", 28),
    ("clinical_trial", "within", 28),
]


def _therapy(engine, category, ended):
    request = CheckRequest(
        first_dose_date=FIRST.isoformat(),
        prior_therapies=(PriorTherapy("therapy under test", ended.isoformat(), category),),
    )
    return engine.check(request)


def _blocks(counting, window, days_before):
    return days_before <= window if counting == "within" else days_before < window


@pytest.mark.parametrize(("category", "counting", "window"), WINDOWS)
@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_window_boundaries(engine, category, counting, window, offset):
    days_before = window + offset
    last = FIRST - timedelta(days=days_before)
    result = _therapy(engine, category, last)
    expected_clear = last + timedelta(days=window + 1 if counting == "within" else window)
    if _blocks(counting, window, days_before):
        assert result.verdict is Verdict.BLOCKED
        [reason] = [r for r in result.reasons if r.category == category]
        assert reason.eligible_from == expected_clear
        assert reason.window_days == window
        assert result.earliest_eligible_date == expected_clear
    else:
        assert result.verdict is Verdict.ELIGIBLE, [r.message for r in result.reasons]
        assert expected_clear <= FIRST


def test_protocol_windows_match_the_issue_table(engine):
    rules = {r.category: (r.counting.value, r.window_days) for r in engine.knowledge.protocol("ALTER-02").rules}
    for category, counting, window in WINDOWS:
        assert rules[category] == (counting, window)


def _meds(engine, *medications):
    return engine.check(CheckRequest(first_dose_date=FIRST.isoformat(), medications=tuple(medications)))


def test_worked_example_from_the_issue(engine):
    result = _meds(engine, Medication("clarithromycin", "2026-12-03"))
    assert result.verdict is Verdict.BLOCKED
    assert result.earliest_eligible_date == date(2026, 12, 11)
    assert _meds(engine, Medication("clarithromycin", "2026-12-02")).verdict is Verdict.ELIGIBLE
    clear = engine.check(
        CheckRequest(FIRST.isoformat(), prior_therapies=(PriorTherapy("cyclophosphamide", "2026-11-19"),))
    )
    assert clear.verdict is Verdict.ELIGIBLE


@pytest.mark.parametrize(
    ("name", "category", "window"),
    [("clarithromycin", "strong_cyp3a4_inhibitor", 7), ("rifampicin", "strong_cyp3a4_inducer", 12)],
)
@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_drug_windows_as_medications(engine, name, category, window, offset):
    last = FIRST - timedelta(days=window + offset)
    result = _meds(engine, Medication(f"{name} 500 mg", last.isoformat()))
    assert (result.verdict is Verdict.BLOCKED) == (offset <= 0)


def test_ongoing_windowed_agent_blocks_with_no_end(engine):
    result = _meds(engine, Medication("itraconazole", ongoing=True))
    assert result.verdict is Verdict.BLOCKED
    assert result.reasons[0].eligible_from is None
    assert result.earliest_eligible_date is None


def test_dose_after_first_dose_is_concurrent_use(engine):
    result = _meds(engine, Medication("voriconazole", "2026-12-15"))
    assert result.verdict is Verdict.BLOCKED
    assert "concurrent" in result.reasons[0].message


def test_matched_agent_without_a_date_needs_review(engine):
    result = _meds(engine, Medication("ketoconazole 200 mg"))
    assert result.verdict is Verdict.NEEDS_REVIEW
    assert result.reasons[0].eligible_from is None
    assert "cannot be verified" in result.reasons[0].message


def test_month_only_date_that_the_answer_turns_on_needs_review(engine):
    result = engine.check(CheckRequest("2026-12-05", medications=(Medication("clarithromycin", "2026-11"),)))
    # Clear if the last dose was on or before 2026-11-27; as late as 2026-11-30 it blocks until 2026-12-08.
    assert result.verdict is Verdict.NEEDS_REVIEW
    assert result.reasons[0].eligible_from == date(2026, 12, 8)
    assert "known only to the month" in result.reasons[0].message
    assert "2026-11-27" in result.reasons[0].message


@pytest.mark.parametrize(
    ("first_dose", "verdict"),
    [
        ("2026-12-05", Verdict.BLOCKED),  # every day of November is within 42 days of the first dose
        ("2027-01-12", Verdict.ELIGIBLE),  # none is: 43 days after November 30
    ],
)
def test_month_only_date_that_the_answer_does_not_turn_on_is_decided(engine, first_dose, verdict):
    result = engine.check(CheckRequest(first_dose, (), (PriorTherapy("lomustine", "2026-11"),)))
    assert result.verdict is verdict


def test_latest_dose_of_the_same_ingredient_counts(engine):
    result = _meds(engine, Medication("clarithromycin", "2026-11-01"), Medication("Biaxin", "2026-12-05"))
    assert [r.eligible_from for r in result.reasons] == [date(2026, 12, 13)]


def test_combination_product_gives_a_reason_per_blocking_ingredient(engine):
    result = _meds(engine, Medication("Paxlovid", "2026-12-08"))
    assert result.verdict is Verdict.BLOCKED
    assert {r.matched_name for r in result.reasons} == {"ritonavir"}
    [resolution] = result.resolutions
    assert {m.ingredient for m in resolution.matches} == {"nirmatrelvir", "ritonavir"}


def test_agent_in_two_categories_gets_both_windows(engine):
    result = engine.check(CheckRequest(FIRST.isoformat(), prior_therapies=(PriorTherapy("carmustine", "2026-11-12"),)))
    # 28 days: chemotherapy (21) has cleared, the nitrosourea window (42) has not.
    assert result.verdict is Verdict.BLOCKED
    assert {r.category for r in result.reasons} == {"nitrosourea"}
    assert result.earliest_eligible_date == date(2026, 12, 24)
    early = engine.check(CheckRequest(FIRST.isoformat(), prior_therapies=(PriorTherapy("BCNU", "2026-12-01"),)))
    assert {r.category for r in early.reasons} == {"nitrosourea", "myelosuppressive_chemotherapy"}


def test_immunotherapy_is_not_also_held_to_the_other_anticancer_window(engine):
    # 20 days ago: inside 28 (other anticancer) but past 14 (immunotherapy).
    result = engine.check(CheckRequest(FIRST.isoformat(), medications=(Medication("nivolumab", "2026-11-20"),)))
    assert result.verdict is Verdict.ELIGIBLE, [r.message for r in result.reasons]


def test_chemotherapy_typed_as_a_medication_counts(engine):
    result = _meds(engine, Medication("cyclophosphamide 50 mg", "2026-12-01"))
    assert result.verdict is Verdict.BLOCKED
    assert result.reasons[0].category == "myelosuppressive_chemotherapy"


@pytest.mark.parametrize(
    ("medication", "expected"),
    [
        (Medication("warfarin", ongoing=True), Verdict.BLOCKED),
        (Medication("warfarin", "2026-12-10"), Verdict.BLOCKED),
        (Medication("warfarin", "2026-12-03"), Verdict.NEEDS_REVIEW),
        (Medication("warfarin", "2026-12-02"), Verdict.ELIGIBLE),
        (Medication("warfarin"), Verdict.NEEDS_REVIEW),
    ],
)
def test_anticoagulant_current_use_recent_and_old(engine, medication, expected):
    assert _meds(engine, medication).verdict is expected


def test_one_antihypertensive_is_never_a_reason(engine):
    result = _meds(engine, Medication("amlodipine", ongoing=True))
    assert result.verdict is Verdict.ELIGIBLE
    assert result.reasons == ()


def test_two_distinct_antihypertensives_in_current_use_block(engine):
    result = _meds(engine, Medication("Norvasc 5 mg", ongoing=True), Medication("losartan", ongoing=True))
    assert result.verdict is Verdict.BLOCKED
    assert {r.matched_name for r in result.reasons} == {"amlodipine", "losartan"}


@pytest.mark.parametrize(
    ("first_dose", "verdict", "earliest"),
    [
        ("2026-12-10", Verdict.BLOCKED, "2026-12-16"),  # two in use until lisinopril's last dose
        ("2026-12-15", Verdict.BLOCKED, "2026-12-16"),
        ("2026-12-16", Verdict.ELIGIBLE, "2026-12-16"),  # amlodipine alone is not a reason
    ],
)
def test_two_antihypertensives_clear_when_fewer_than_two_remain(engine, first_dose, verdict, earliest):
    # Found by a blind API probe: the earliest date was amlodipine's last dose + 1 (12-21), though one
    # antihypertensive alone is allowed from the day after lisinopril's last dose.
    result = engine.check(
        CheckRequest(first_dose, (Medication("amlodipine", "2026-12-20"), Medication("lisinopril", "2026-12-15")))
    )
    assert (result.verdict, result.earliest_eligible_date) == (verdict, date.fromisoformat(earliest))


def test_the_same_antihypertensive_twice_is_one_ingredient(engine):
    result = _meds(engine, Medication("Norvasc", ongoing=True), Medication("amlodipine 10mg", ongoing=True))
    assert result.verdict is Verdict.ELIGIBLE


def test_stopped_antihypertensive_does_not_count(engine):
    result = _meds(engine, Medication("amlodipine", ongoing=True), Medication("losartan", "2026-11-01"))
    assert result.verdict is Verdict.ELIGIBLE


def test_verdict_order_blocked_over_review_over_eligible(engine):
    result = _meds(
        engine,
        Medication("ketoconazole"),
        Medication("rifampicin", ongoing=True),
        Medication("azithromycin", ongoing=True),
    )
    assert result.verdict is Verdict.BLOCKED
    assert {r.severity for r in result.reasons} == {Verdict.BLOCKED, Verdict.NEEDS_REVIEW}
    assert result.earliest_eligible_date is None


def test_non_systemic_form_of_a_blocker_does_not_block_but_is_shown(engine):
    result = _meds(engine, Medication("ketoconazole 2% cream", ongoing=True))
    assert result.verdict is Verdict.ELIGIBLE
    [resolution] = result.resolutions
    assert resolution.matches[0].ingredient == "ketoconazole"
    assert resolution.matches[0].systemic is False
    assert any("non-systemic" in note for note in resolution.notes)


def test_eligible_patient_is_eligible_on_the_planned_date(engine):
    result = _meds(engine, Medication("azithromycin", "2026-12-09"), Medication("fluconazole", ongoing=True))
    assert result.verdict is Verdict.ELIGIBLE
    assert result.earliest_eligible_date == FIRST


@pytest.mark.parametrize(
    ("description", "end_date", "verdict"),
    [
        ("radiotherapy", "2026-10-01", Verdict.ELIGIBLE),  # 70 days: past both 14 (palliative) and 42 (marrow)
        ("radiotherapy", "2026-11-20", Verdict.NEEDS_REVIEW),  # palliative would clear, marrow would not
        ("radiotherapy", "", Verdict.NEEDS_REVIEW),
        ("No prior chemotherapy", "2025-01-01", Verdict.ELIGIBLE),
        ("No prior chemotherapy", "2026-12-01", Verdict.NEEDS_REVIEW),
    ],
)
def test_a_known_name_in_doubt_needs_no_review_once_every_reading_has_cleared(engine, description, end_date, verdict):
    result = engine.check(CheckRequest("2026-12-10", (), (PriorTherapy(description, end_date=end_date),)))
    assert result.verdict is verdict


def test_a_fuzzy_candidate_needs_review_however_old(engine):
    # A name read only fuzzily may be a drug we do not know, with a window of its own.
    assert _meds(engine, Medication("clxndqmycin", "2025-01-01")).verdict is Verdict.NEEDS_REVIEW


def test_a_known_name_in_doubt_says_what_each_reading_would_mean(engine):
    result = engine.check(CheckRequest("2026-12-10", (), (PriorTherapy("radiotherapy", end_date="2026-11-20"),)))
    assert result.verdict is Verdict.NEEDS_REVIEW
    assert result.earliest_eligible_date == date(2027, 1, 1)  # if it was marrow irradiation: 42 days
    message = result.reasons[0].message
    assert "palliative radiotherapy: clear" in message
    assert "bone marrow irradiation: eligible from 2027-01-01" in message
