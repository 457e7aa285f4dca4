"""Request validation and the engine's public API."""

from __future__ import annotations

import pytest

from server.engine import CheckRequest, InvalidRequestError, Medication, PriorTherapy, ProtocolNotFoundError, Verdict


def _violations(engine, request):
    with pytest.raises(InvalidRequestError) as caught:
        engine.check(request)
    return {v.field: v.description for v in caught.value.violations}


def test_every_bad_field_is_named_by_path(engine):
    request = CheckRequest(
        first_dose_date="10/12/2026",
        medications=(
            Medication("clarithromycin", "2026-12-01"),
            Medication("   "),
            Medication("itraconazole", "2026-02-30"),
            Medication("\u200b\u200b"),
        ),
        prior_therapies=(PriorTherapy("radiotherapy", "yesterday", "radiation_of_some_kind"),),
    )
    fields = _violations(engine, request)
    assert set(fields) == {
        "first_dose_date",
        "medications[1].name",
        "medications[2].last_dose_date",
        "medications[3].name",
        "prior_therapies[0].end_date",
        "prior_therapies[0].category",
    }
    assert "strong_cyp3a4_inhibitor" in fields["prior_therapies[0].category"]


@pytest.mark.parametrize("first_dose", ["", "2026-13-01", "2026-12", "yesterday"])
def test_first_dose_date_is_required_and_must_be_a_date(engine, first_dose):
    assert "first_dose_date" in _violations(engine, CheckRequest(first_dose))


def test_limits_are_enforced_before_matching(engine):
    too_many = tuple(Medication("paracetamol") for _ in range(engine.limits.max_items + 1))
    assert "medications" in _violations(engine, CheckRequest("2026-12-10", too_many))
    too_long = (Medication("a" * (engine.limits.max_name_length + 1)),)
    assert "medications[0].name" in _violations(engine, CheckRequest("2026-12-10", too_long))


def test_unknown_protocol_is_not_found(engine):
    with pytest.raises(ProtocolNotFoundError):
        engine.check(CheckRequest("2026-12-10", protocol_id="NOPE-99"))


def test_empty_lists_are_eligible(engine):
    result = engine.check(CheckRequest("2026-12-10", request_id="r1"))
    assert (result.verdict, result.request_id, result.protocol_id) == (Verdict.ELIGIBLE, "r1", "ALTER-02")
    assert result.knowledge_version == engine.version


def test_unrecognised_input_needs_review(engine):
    result = engine.check(CheckRequest("2026-12-10", medications=(Medication("qwxzptl", ongoing=True),)))
    assert result.verdict is Verdict.NEEDS_REVIEW
    assert result.reasons[0].rule_id == "UNRECOGNISED_INPUT"


def test_explicit_category_is_needed_for_radiotherapy_without_a_field(engine):
    vague = engine.check(CheckRequest("2026-12-10", prior_therapies=(PriorTherapy("radiotherapy", "2026-11-20"),)))
    assert vague.verdict is Verdict.NEEDS_REVIEW
    palliative = engine.check(
        CheckRequest(
            "2026-12-10", prior_therapies=(PriorTherapy("radiotherapy", "2026-11-20", "radiotherapy_palliative"),)
        )
    )
    assert palliative.verdict is Verdict.ELIGIBLE


def test_odd_but_legal_text_is_answered(engine):
    names = [
        "clarithromycin\x00",
        "💊 aspirin",
        "\u202eniciymorhtiralc",
        "'; DROP TABLE meds; --",
        "ｃｌａｒｉｔｈｒｏｍｙｃｉｎ",
    ]
    result = engine.check(CheckRequest("2026-12-10", medications=tuple(Medication(n, ongoing=True) for n in names)))
    assert result.verdict is Verdict.BLOCKED
    assert len(result.resolutions) == len(names)


def test_resolve_reports_every_name(engine):
    resolutions = engine.resolve(["Norvasc", "Paxlovid"])
    assert [r.matches[0].ingredient for r in resolutions[:1]] == ["amlodipine"]
    assert {m.ingredient for m in resolutions[1].matches} == {"nirmatrelvir", "ritonavir"}


@pytest.mark.parametrize("name", ["clxndqmycin", "erxthqocin"])
def test_an_unsure_reading_needs_review_even_when_no_candidate_is_restricted(engine, name):
    # Each reads only as one harmless candidate (clindamycin; erythromycin): a name we do not know
    # that looks like them may still be a blocker, so the patient is not passed as eligible on a guess.
    result = engine.check(CheckRequest("2026-12-10", (Medication(name, ongoing=True),)))
    assert result.verdict is Verdict.NEEDS_REVIEW
    assert [reason.rule_id for reason in result.reasons] == ["AMBIGUOUS_INPUT"]
    assert "None of them is restricted" in result.reasons[0].message


@pytest.mark.parametrize(
    ("therapy", "negated"),
    [
        ("No prior chemotherapy or radiotherapy", "chemotherapy"),
        ("初诊患儿，未行放化疗", "chemotherapy"),  # "newly diagnosed, no radio-chemotherapy given"
    ],
)
def test_a_negated_therapy_needs_review_neither_blocked_nor_passed(engine, therapy, negated):
    result = engine.check(CheckRequest("2026-12-10", (), (PriorTherapy(therapy, end_date="2026-12-01"),)))
    assert result.verdict is Verdict.NEEDS_REVIEW
    assert negated in result.reasons[0].message


@pytest.mark.parametrize("request_id", ["x" * 129, "abc\nFAKE LOG LINE"])
def test_a_request_id_too_long_or_with_control_characters_is_refused(engine, request_id):
    assert list(_violations(engine, CheckRequest("2026-12-10", request_id=request_id))) == ["request_id"]
