"""Reading names: brands, typos, combinations, Chinese, noise, routes and look-alikes."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.engine import MatchMethod, ResolutionStatus
from server.engine.normalise import fold, is_blank, is_cjk, tokens


def _read(engine, text):
    return engine.resolver.read(text)


def _assert_resolved_as(engine, text, expected):
    """Assert ``text`` reads confidently as exactly the ``expected`` ingredients; return the reading."""
    reading = _read(engine, text)
    assert reading.status is ResolutionStatus.RESOLVED
    assert {m.ingredient for m in reading.matches} == expected
    return reading


def _ingredients(engine, text):
    return {m.ingredient for m in _read(engine, text).matches if m.method is not MatchMethod.REVIEW_BAND}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CLARITHROMYCIN ER 500MG TAB", {"clarithromycin"}),
        ("Biaxin XL", {"clarithromycin"}),
        ("itraconazol", {"itraconazole"}),
        ("Sporanox 100 mg caps bid", {"itraconazole"}),
        ("克拉霉素缓释片 0.5g", {"clarithromycin"}),
        ("伊曲康唑胶囊", {"itraconazole"}),
        ("rifampicine", {"rifampin"}),
        ("claritromicina", {"clarithromycin"}),
        ("phenobarbitone", {"phenobarbital"}),
        ("nelfinafil", {"nelfinavir"}),
        ("Tegretol XR 200", {"carbamazepine"}),
        ("Dilantin 100mg po tid", {"phenytoin"}),
        ("ritonavir 100 mg q12h", {"ritonavir"}),
        ("grapefruit juice", {"grapefruit juice"}),
        ("St John's wort", {"st john's wort"}),
        ("St Johns Wort extract", {"st john's wort"}),
        ("voriconazole\u200b 200\u00admg", {"voriconazole"}),
        ("ＫＥＴＯＣＯＮＡＺＯＬＥ", {"ketoconazole"}),
    ],
)
def test_blocking_agents_are_read_through_noise_brands_and_languages(engine, text, expected):
    assert _ingredients(engine, text) >= expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Paxlovid", {"nirmatrelvir", "ritonavir"}),
        ("Kaletra 200/50", {"lopinavir", "ritonavir"}),
        ("Genvoya", {"elvitegravir", "cobicistat", "emtricitabine", "tenofovir alafenamide"}),
        ("Prezcobix", {"darunavir", "cobicistat"}),
        ("Rifater", {"isoniazid", "rifampin", "pyrazinamide"}),
        ("Rifamate", {"isoniazid", "rifampin"}),
        ("isoniazid + rifampicin", {"isoniazid", "rifampin"}),
        ("lopinavir/ritonavir", {"lopinavir", "ritonavir"}),
        ("VAC", {"vincristine", "dactinomycin", "cyclophosphamide"}),
    ],
)
def test_combinations_are_read_as_every_ingredient(engine, text, expected):
    assert _ingredients(engine, text) >= expected


@pytest.mark.parametrize(
    ("text", "expected", "not_expected"),
    [
        ("azithromycin", "azithromycin", "clarithromycin"),
        ("Zithromax 250mg", "azithromycin", "clarithromycin"),
        ("erythromycin", "erythromycin", "clarithromycin"),
        ("clindamycin", "clindamycin", "clarithromycin"),
        ("fluconazole", "fluconazole", "itraconazole"),
        ("fluconazol", "fluconazole", "itraconazole"),
        ("posaconazole", "posaconazole", "itraconazole"),
        ("econazole cream", "econazole", "ketoconazole"),
        ("rifaximin", "rifaximin", "rifampin"),
        ("oxcarbazepine", "oxcarbazepine", "carbamazepine"),
        ("Trileptal", "oxcarbazepine", "carbamazepine"),
        ("carbimazole", "carbimazole", "carbamazepine"),
        ("Claritin", "loratadine", "clarithromycin"),
        ("Norvasc", "amlodipine", "ritonavir"),
        ("Dilaudid", "hydromorphone", "phenytoin"),
        ("Toradol", "ketorolac", "carbamazepine"),
        ("Trental", "pentoxifylline", "carbamazepine"),
        ("pegfilgrastim", "pegfilgrastim", "filgrastim"),
        ("filgrastim", "filgrastim", "pegfilgrastim"),
        ("阿奇霉素", "azithromycin", "clarithromycin"),
    ],
)
def test_look_alikes_resolve_to_themselves(engine, text, expected, not_expected):
    reading = _read(engine, text)
    names = {m.ingredient for m in reading.matches}
    assert expected in names
    assert not_expected not in names
    assert reading.status is ResolutionStatus.RESOLVED


@pytest.mark.parametrize(
    ("typo", "expected"),
    [
        ("clarithromicin", "clarithromycin"),
        ("calrithromycin", "clarithromycin"),
        ("itraconazle", "itraconazole"),
        ("ketoconazol", "ketoconazole"),
        ("voriconazol", "voriconazole"),
        ("carbamazapine", "carbamazepine"),
        ("phenytion", "phenytoin"),
        ("rifampicn", "rifampin"),
        ("ritonivir", "ritonavir"),
        ("Paxlovd", "ritonavir"),
    ],
)
def test_typos_of_blockers_are_caught(engine, typo, expected):
    reading = _read(engine, typo)
    assert expected in {m.ingredient for m in reading.matches}


def test_fuzzy_readings_explain_themselves(engine):
    reading = _read(engine, "clarithromicin")
    [match] = reading.matches
    assert match.method is MatchMethod.FUZZY
    assert 0 < match.score < 100
    assert match.matched_alias == "clarithromycin"
    assert any("fuzzy" in note for note in reading.notes)


def test_truncated_name_shared_by_several_drugs_goes_to_review_with_candidates(engine):
    reading = _read(engine, "rifa")
    assert reading.status is ResolutionStatus.AMBIGUOUS
    assert "rifampin" in {m.ingredient for m in reading.matches}
    assert all(m.method is MatchMethod.REVIEW_BAND for m in reading.matches)


@pytest.mark.parametrize(("text", "expected"), [("clarithromy", "clarithromycin"), ("itracona", "itraconazole")])
def test_truncated_name_of_one_drug_only_is_read_and_says_why(engine, text, expected):
    reading = _read(engine, text)
    assert [m.ingredient for m in reading.matches] == [expected]
    assert any("beginning of" in note for note in reading.notes)


@pytest.mark.parametrize(
    ("typo", "expected"),
    [("ritanovir", "ritonavir"), ("ketaconazole", "ketoconazole"), ("carbamezapine", "carbamazepine")],
)
def test_vowel_slips_keep_the_consonants(engine, typo, expected):
    assert [m.ingredient for m in _read(engine, typo).matches] == [expected]


def test_an_unknown_drug_beside_a_known_one_is_not_dropped(engine):
    reading = _read(engine, "warfarin quxtozilimab")
    assert reading.status is ResolutionStatus.AMBIGUOUS
    assert reading.unread == ("quxtozilimab",)


def test_filler_words_beside_a_known_drug_are_shown_as_ignored(engine):
    reading = _read(engine, "clarithromycin for pneumonia")
    assert reading.status is ResolutionStatus.RESOLVED
    assert any("pneumonia" in note for note in reading.notes)


@pytest.mark.parametrize(
    "text", ["ketoconazole 2% cream", "ketoconazole shampoo", "酮康唑乳膏", "itraconazole eye drops"]
)
def test_non_systemic_forms_are_flagged(engine, text):
    reading = _read(engine, text)
    assert reading.matches and not any(m.systemic for m in reading.matches)


def test_oral_form_stays_systemic(engine):
    assert all(m.systemic for m in _read(engine, "ketoconazole 200 mg oral tablet").matches)


def test_folding_removes_invisible_characters_and_width():
    assert fold("ｃｌａ\u00adri\u200bthro") == "clarithro"
    assert is_blank("\u200b \u200d\ufeff")
    assert not is_blank("a")


@pytest.mark.parametrize(
    ("token", "ideographs"),
    [
        *[("克拉霉素", True), ("\u3400", True), ("\u4dbf", True), ("\u9fff", True), ("\ufa11", True)],
        *[("", False), ("clarithromycin", False), ("\u3007", False), ("\u4dc0", False), ("\ufb00", False)],
    ],
)
def test_ideograph_tokens_are_told_by_their_first_character(token, ideographs):
    assert is_cjk(token) is ideographs


def test_tokens_never_mix_ideographs_and_letters():
    assert [is_cjk(t) for t in tokens(fold("克拉霉素缓释片abc 0.5g 伊曲康唑"))] == [True, False, False, True]


@pytest.mark.parametrize("text", ["palliative XRT to the left femur", "cyclophosphamide for rhabdomyosarcoma relapse"])
def test_ordinary_words_beside_a_known_name_do_not_ask_for_review(engine, text):
    assert _read(engine, text).status is ResolutionStatus.RESOLVED


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("surgical resection of primary tumour", "major_surgery"),
        ("participated in another anti-tumour drug trial", "clinical_trial"),
        ("autologous stem cell transplant", "stem_cell_infusion"),
        ("131I-MIBG therapy", "radiotherapy_bone_marrow"),
        ("palliative radiotherapy to lung", "radiotherapy_palliative"),
        ("自体造血干细胞移植", "stem_cell_infusion"),
        ("VAC chemotherapy cycle 6", "myelosuppressive_chemotherapy"),
        ("PEG-rhG-CSF", "growth_factor_long_acting"),
        ("G-CSF", "growth_factor_short_acting"),
        ("tumour vaccine", "immunotherapy"),
    ],
)
def test_prior_therapy_descriptions_find_their_class(engine, text, category):
    reading = _read(engine, text)
    assert reading.status is ResolutionStatus.RESOLVED
    assert any(category in m.categories for m in reading.matches)


@pytest.mark.parametrize("text", ["surgery", "手术", "radiation therapy"])
def test_a_therapy_named_without_its_size_or_field_asks_for_review(engine, text):
    assert _read(engine, text).status is ResolutionStatus.AMBIGUOUS


def test_steroids_are_not_immunotherapy(engine):
    reading = _read(engine, "steroids")
    assert reading.status is ResolutionStatus.RESOLVED
    assert all(not m.categories for m in reading.matches)


def test_a_word_that_begins_a_longer_phrase_is_not_a_truncated_name(engine):
    assert "major surgery" not in {m.ingredient for m in _read(engine, "primary").matches}


_NOISE_SAMPLES = ["500mg", "mg", "tab", "bid", "po", "xl", "sodium", "0.5g", "片", "胶囊", "缓释片"]


def _fast_and_full(engine, text):
    from server.engine import normalise

    folded = normalise.fold(text)
    words = normalise.tokens(folded)
    return engine.resolver._read_fast(folded, words), engine.resolver._read_full(folded, words)


def test_the_fast_path_reads_every_dev_set_string_as_the_full_reader_does(engine):
    import csv
    from pathlib import Path

    with (Path(__file__).parent / "devset.csv").open(encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    disagreements = []
    for text in texts:
        fast, full = _fast_and_full(engine, text)
        if fast is not None and {m.ingredient for m in fast.matches} != {m.ingredient for m in full.matches}:
            disagreements.append((text, fast.matches, full.matches))
    assert disagreements == []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name_index=st.integers(min_value=0, max_value=10**6),
    noise=st.lists(
        st.sampled_from(["500mg", "mg", "tab", "bid", "po", "xl", "sodium", "0.5g", "片", "胶囊", "缓释片"]), max_size=3
    ),
)
def test_the_fast_path_agrees_with_the_full_reader_on_names_with_noise(engine, name_index, noise):
    entries = engine.knowledge.entries
    entry = entries[name_index % len(entries)]
    names = [entry.name, *entry.synonyms, *entry.brands, *entry.chinese_names]
    name = names[name_index % len(names)]
    text = " ".join([name, *noise]) if not noise or name_index % 2 else "".join([name, *noise])
    fast, full = _fast_and_full(engine, text)
    if fast is not None:
        assert {m.ingredient for m in fast.matches} == {m.ingredient for m in full.matches}, text


def _mutate(word: str, edits: list[tuple[int, int, str]]) -> str:
    """Apply (kind, position, letter) edits: 0 substitutes, 1 inserts, 2 deletes."""
    for kind, position, letter in edits:
        at = position % (len(word) + 1)
        if kind == 0 and word:
            at = min(at, len(word) - 1)
            word = word[:at] + letter + word[at + 1 :]
        elif kind == 1:
            word = word[:at] + letter + word[at:]
        elif word:
            at = min(at, len(word) - 1)
            word = word[:at] + word[at + 1 :]
    return word


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    key_index=st.integers(min_value=0, max_value=10**6),
    edits=st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 40), st.sampled_from("abcdefghijklmnopqrstuvwxyz 克拉霉素")),
        max_size=4,
    ),
    min_score=st.sampled_from([50.0, 70.0, 85.0]),
)
def test_the_fuzzy_prefilter_never_drops_a_key_that_reaches_the_score(engine, key_index, edits, min_score):
    from rapidfuzz import fuzz

    for vocabulary in (engine.resolver._latin_fuzzy, engine.resolver._chinese_fuzzy):
        query = _mutate(vocabulary.keys[key_index % len(vocabulary.keys)], edits)
        kept = vocabulary.candidates(query, min_score)
        reaching = [key for key in vocabulary.keys if fuzz.ratio(query, key) >= min_score]
        assert set(reaching) <= set(kept), query
        assert [key for key in kept if key in set(reaching)] == reaching  # the order of a full scan


@pytest.mark.parametrize(
    ("text", "restricted"),
    [
        ("platanol", "cisplatin"),  # Patanol (olopatadine, harmless) 93 vs Platinol (cisplatin) 88
    ],
)
def test_a_harmless_fuzzy_reading_does_not_hide_a_close_restricted_candidate(engine, text, restricted):
    reading = _read(engine, text)
    assert reading.status is ResolutionStatus.AMBIGUOUS
    assert restricted in {m.ingredient for m in reading.matches if m.method is MatchMethod.REVIEW_BAND}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tacrolimus 0.05mg/kg bd (level 8)", {"tacrolimus"}),
        ("enzyme-inducing AED: carbamazepine", {"carbamazepine"}),
        ("St. John's Wort 300 mg TID (herbal, self-medicating)", {"st john's wort"}),
        ("cotrimoxazole 480mg bd Mon/Tue (PJP prophylaxis)", {"sulfamethoxazole", "trimethoprim"}),
        ("sertraline for depression", {"sertraline"}),
    ],
)
def test_everyday_clinical_words_beside_a_name_are_ignored_not_read_as_brands(engine, text, expected):
    reading = _assert_resolved_as(engine, text, expected)
    assert any(note.startswith("ignored words") for note in reading.notes)


@pytest.mark.parametrize(
    "text", ["level", "inducing", "self-medicating", "anticonvulsant", "depression", "trough level"]
)
def test_everyday_clinical_words_alone_are_unread_never_a_drug(engine, text):
    reading = _read(engine, text)
    assert reading.status is ResolutionStatus.UNRESOLVED
    assert not reading.matches


def test_a_weak_lone_reading_beside_a_name_is_not_taken_as_a_match(engine):
    # Alone, "itxacqnazol" is read as itraconazole (the only candidate in the review band, score 82).
    assert _ingredients(engine, "itxacqnazol") == {"itraconazole"}
    # Beside a name in the same list item it is only a candidate for review (after "+" it stands alone).
    beside = _read(engine, "amlodipine 5 mg itxacqnazol")
    assert _ingredients(engine, "amlodipine 5 mg itxacqnazol") == {"amlodipine"}
    assert any(m.ingredient == "itraconazole" and m.method is MatchMethod.REVIEW_BAND for m in beside.matches)
    # A harmless weak reading beside a name is dropped, and a drug-like word left unread is shown.
    unread = _read(engine, "clarithromycin 500 mg clxndqmycin")
    assert _ingredients(engine, "clarithromycin 500 mg clxndqmycin") == {"clarithromycin"}
    assert unread.status is ResolutionStatus.AMBIGUOUS


@pytest.mark.parametrize("text", ["clxndqmycin", "erxthqocin", "omegac"])
def test_a_lone_harmless_guess_goes_to_review_never_to_eligible(engine, text):
    # "clxndqmycin" scores 82 against clindamycin only, "erxthqocin" 80 against erythromycin only, and
    # "omegac" begins only Omegacin: each could be a name we do not know ("Difenin", phenytoin sold in
    # Russia, scored 80 against Differin before it was a row).
    reading = _read(engine, text)
    assert reading.status is not ResolutionStatus.RESOLVED
    assert not _ingredients(engine, text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("paracetamol, Рифампицин 150 мг", {"acetaminophen", "rifampin"}),
        ("Тегретол", {"carbamazepine"}),
        ("Ритонавир", {"ritonavir"}),
        ("Дифенин", {"phenytoin"}),
    ],
)
def test_names_in_cyrillic_are_read_through_latin_letters(engine, text, expected):
    assert _ingredients(engine, text) == expected


def test_a_word_in_an_uncovered_script_beside_a_name_is_never_dropped(engine):
    reading = _read(engine, "paracetamol 500 mg Ωμέγα")
    assert reading.status is ResolutionStatus.AMBIGUOUS
    assert reading.unread


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("帕克洛维", {"nirmatrelvir", "ritonavir"}),
        ("long-acting G-CSF", {"long-acting growth factor"}),
        ("short-acting G-CSF 5 mcg/kg", {"short-acting growth factor"}),
        ("carbo/etoposide", {"carboplatin", "etoposide"}),
    ],
)
def test_brand_and_class_phrases_found_by_a_blind_probe(engine, text, expected):
    assert _ingredients(engine, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nivo", {"nivolumab"}),
        ("DOX", {"doxorubicin"}),
        ("IRI", {"irinotecan"}),
        ("PEG-ASP", {"pegaspargase"}),
        ("蒂清", {"temozolomide"}),
        ("Me-CCNU", {"semustine"}),
        ("anti-GD2 antibody", {"anti-gd2 antibody"}),
        ("craniospinal RT 36 Gy", {"bone marrow irradiation"}),
        ("palliative RT 20Gy/5f to L-spine", {"palliative radiotherapy"}),
        ("grape juice", {"grape juice"}),
        ("vinpocetine", {"vinpocetine"}),
        ("Neupro patch", {"rotigotine"}),
    ],
)
def test_therapy_shorthand_and_look_alikes_found_by_a_second_blind_probe(engine, text, expected):
    _assert_resolved_as(engine, text, expected)


def test_a_lone_candidate_of_another_length_is_a_fragment_not_a_slip(engine):
    # "civo" scores 80 against the brand Incivo (telaprevir) and nothing else comes close.
    assert "telaprevir" not in _ingredients(engine, "civo")


def test_a_radiotherapy_field_that_is_neither_palliative_nor_marrow_goes_to_review(engine):
    reading = _read(engine, "whole lung irradiation 15 Gy")
    assert reading.status is ResolutionStatus.AMBIGUOUS
    assert {m.ingredient for m in reading.matches} == {"palliative radiotherapy", "bone marrow irradiation"}


@pytest.mark.parametrize(
    ("text", "restricted"),
    [
        ("洛匹那韦利托纳韦片", "ritonavir"),  # 纳 for 那
        ("氟康唑 伊曲糠唑", "itraconazole"),  # 糠 for 康
        ("阿莫西林 克拉酶素", "clarithromycin"),  # 克 ("gram") begins the name
        ("地塞米松 环磷酸胺", "cyclophosphamide"),  # 磷酸 ("phosphate") inside the name
    ],
)
def test_a_misspelt_chinese_name_beside_a_known_one_goes_to_review_never_dropped(engine, text, restricted):
    reading = _read(engine, text)
    assert reading.status is ResolutionStatus.AMBIGUOUS
    assert any(m.ingredient == restricted and m.method is MatchMethod.REVIEW_BAND for m in reading.matches)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("伊曲康唑胶囊 饭后", {"itraconazole"}),
        ("注射用伏立康唑 0.2g ivgtt q12h", {"voriconazole"}),
        ("采乐", {"ketoconazole (topical)"}),
    ],
)
def test_chinese_prescription_filler_and_topical_brands(engine, text, expected):
    _assert_resolved_as(engine, text, expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("克拉黴素", {"clarithromycin"}),
        ("利托那韋片", {"ritonavir"}),
        ("氟康唑 撲米酮", {"fluconazole", "primidone"}),
        ("貫葉金絲桃", {"st john's wort"}),
    ],
)
def test_traditional_characters_are_read_as_simplified(engine, text, expected):
    _assert_resolved_as(engine, text, expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("伊曲糠唑胶囊 0.1g", {"itraconazole"}),  # 糠 for 康: the only candidate, 75
        ("利托那伟片 100mg bid", {"ritonavir"}),  # 伟 for 韦
        ("利福喷定胶囊", {"rifapentine"}),  # 定 for 丁
        ("恩扎鲁胺软胶囊", {"enzalutamide"}),  # 鲁 for 卢
    ],
)
def test_a_chinese_input_method_slip_in_a_restricted_name_is_read_as_it(engine, text, expected):
    reading = _assert_resolved_as(engine, text, expected)
    assert all(m.method is MatchMethod.FUZZY for m in reading.matches)


@pytest.mark.parametrize(
    ("text", "candidate"),
    [
        ("扑米铜片", "primidone"),  # three characters, one wrong: 67, too little to take
        ("阿奇梅素片", "azithromycin"),  # the only candidate restricts nothing: a guess at "eligible"
    ],
)
def test_a_weaker_or_harmless_chinese_slip_goes_to_review(engine, text, candidate):
    reading = _read(engine, text)
    assert reading.status is ResolutionStatus.AMBIGUOUS
    assert [m.ingredient for m in reading.matches if m.method is MatchMethod.REVIEW_BAND] == [candidate]


@pytest.mark.parametrize(
    ("text", "brand_reading"),
    [
        ("core", "carvedilol"),  # Coreg, 89
        ("Core needle biopsy of left thigh mass", "carvedilol"),
        ("completed", "emtricitabine"),  # Complera
        ("Packed red cell transfusion", "tranexamic acid"),  # Transamin
    ],
)
def test_a_common_word_close_to_a_brand_is_never_read_as_it(engine, text, brand_reading):
    assert brand_reading not in _ingredients(engine, text)


def test_a_common_word_in_a_list_item_of_its_own_is_filler(engine):
    # "relapsed" comes within 71 of reteplase; "arms" begins no restricted name.
    reading = _assert_resolved_as(engine, "Relapsed ARMS; received toripalimab 240 mg q3w x 4", {"toripalimab"})
    assert any("relapsed" in note for note in reading.notes)


def test_a_harmless_vowel_slip_goes_to_review(engine):
    # The consonants of amoxicillin, but a harmless reading is not taken: that would be a guess at "eligible".
    reading = _read(engine, "amoxacillan")
    assert reading.status is ResolutionStatus.AMBIGUOUS
    assert "amoxicillin" in {m.ingredient for m in reading.matches if m.method is MatchMethod.REVIEW_BAND}


@pytest.mark.parametrize(
    ("text", "confident"),
    [
        ("ICE x2", True),
        ("ice pack", False),
        ("BEAM conditioning", True),
        ("proton beam 50.4 Gy to orbit", False),
        ("VAC x 4", True),
        ("vac x 4", False),
        ("chop", False),
    ],
)
def test_a_regimen_that_is_also_a_word_is_taken_only_in_capitals(engine, text, confident):
    reading = _read(engine, text)
    chemotherapy = [m for m in reading.matches if "myelosuppressive_chemotherapy" in m.categories]
    assert chemotherapy or not confident
    assert all((m.method is not MatchMethod.REVIEW_BAND) is confident for m in chemotherapy)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ACITROM 2 MG TAB OD", {"acenocoumarol"}),  # an Indian brand; once read as co-trimoxazole
        ("TELMA 40 TAB OD", {"telmisartan"}),
        ("AMLONG 5 TAB OD", {"amlodipine"}),
        ("EPAMIN 100 MG CÁPSULAS 1 C/8 HRS", {"phenytoin"}),
        ("AKT-4 KIT 1 OD", {"rifampin", "isoniazid", "pyrazinamide", "ethambutol"}),
        ("FORCAN 150 TAB STAT", {"fluconazole"}),
        ("OXETOL 300 TAB 1 BD", {"oxcarbazepine"}),
        ("CROCIN 500 TAB SOS", {"acetaminophen"}),
        ("JUGO DE TORONJA 1 VASO DIARIO", {"grapefruit juice"}),
        ("CLARITROMICINA 500 MG COMPRIMIDOS 1 C/12H POR 7 DIAS", {"clarithromycin"}),
        ("FILGRASTIM 300 MCG/0.5 ML SYR 5 MCG/KG SC DAILY", {"filgrastim"}),
        ("NEUPRO 2 MG/24 HR PATCH", {"rotigotine"}),
        ("Carmofur 200 mg PO tid", {"carmofur"}),
        ("卡莫氟 200mg 口服 tid", {"carmofur"}),
        ("短效升白针 连用5天", {"filgrastim"}),
        ("长效升白针", {"pegfilgrastim"}),
        ("Topo/Cyclo x 4", {"topotecan", "cyclophosphamide"}),
        ("BAY 73-4506 82 mg/m2", {"regorafenib"}),
        ("anlotinib 12mg d1-14 q3w", {"anlotinib"}),
        ("VI x 2, C2D1 2026-08-03", {"vincristine", "irinotecan"}),
    ],
)
def test_exports_and_therapy_notes_found_by_a_seventh_blind_probe(engine, text, expected):
    _assert_resolved_as(engine, text, expected)


@pytest.mark.parametrize(
    ("text", "negated"),
    [
        (
            "No prior chemotherapy or radiotherapy",
            {"chemotherapy", "palliative radiotherapy", "bone marrow irradiation"},
        ),
        ("denies rifampin use", {"rifampin"}),
        ("no history of St John's wort", {"st john's wort"}),
        ("avoid grapefruit juice", {"grapefruit juice"}),
        ("否认服用利福平", {"rifampin"}),
        ("无利福平", {"rifampin"}),
    ],
)
def test_a_negated_name_is_only_a_candidate(engine, text, negated):
    reading = _read(engine, text)
    assert reading.status is ResolutionStatus.AMBIGUOUS
    assert {m.ingredient for m in reading.matches if m.method is MatchMethod.REVIEW_BAND} == negated
    assert any("negated" in note for note in reading.notes)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rifampin 600 mg, no further doses", {"rifampin"}),  # the negation is in another list item
        ("no rash; rifampin 600 mg", {"rifampin"}),
        ("利福平胶囊", {"rifampin"}),
    ],
)
def test_a_negation_reaches_only_the_names_it_governs(engine, text, expected):
    _assert_resolved_as(engine, text, expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("开腹腹膜后肿瘤切除术 2026-09-20", {"major surgery"}),  # laparotomy, retroperitoneal tumour resection
        ("切除活检", {"biopsy"}),  # an excisional biopsy is a minor procedure
        ("Dalmane 15 mg", {"flurazepam"}),  # not Dilantin
        ("Lotronex", {"alosetron"}),  # not Lovenox
    ],
)
def test_surgery_in_chinese_and_look_alikes_found_by_an_eighth_blind_probe(engine, text, expected):
    _assert_resolved_as(engine, text, expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Jinyouli 6 mg sc", {"pegfilgrastim"}),  # 津优力 in pinyin
        ("Ruibai 150 ug", {"filgrastim"}),  # 瑞白
        ("Tuoyi 240 mg q3w", {"toripalimab"}),  # 拓益
        ("Fukewei 12 mg d1-14", {"anlotinib"}),  # 福可维
    ],
)
def test_chinese_brands_written_in_pinyin(engine, text, expected):
    _assert_resolved_as(engine, text, expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lopinavir-r 400/100", {"lopinavir", "ritonavir"}),  # "/r": boosted with ritonavir
        ("fosamprenavir r", {"fosamprenavir", "ritonavir"}),
        ("Aptivus", {"tipranavir"}),  # never taken without ritonavir: held to its rule
        ("LPV", {"lopinavir"}),
        ("heparin infusion 18 units/kg/hr", {"heparin"}),  # "/hr" is one unit, not "/h" and "r"
    ],
)
def test_boosted_protease_inhibitors_found_by_an_api_probe(engine, text, expected):
    reading = _assert_resolved_as(engine, text, expected)
    if "heparin" not in expected:
        assert any("strong_cyp3a4_inhibitor" in m.categories for m in reading.matches)


def test_a_stray_r_beside_a_name_is_unread_never_filler(engine):
    # "r" is ritonavir's boost in HIV notation and rifampicin in TB notation: both blockers.
    reading = _read(engine, "nelfinavir + r")
    assert reading.status is ResolutionStatus.AMBIGUOUS
    assert reading.unread == ("r",)


@pytest.mark.parametrize(
    ("text", "systemic", "topical"),
    [
        # A mouthwash in one list item made everolimus in another "non-systemic": a false "eligible".
        ("everolimus 5 mg daily; chlorhexidine mouthwash BID; ondansetron 4 mg PRN", {"everolimus"}, {"chlorhexidine"}),
        # An IV in one item made a shampoo in another systemic: a false block.
        ("ketorolac 15 mg IV q6h, ketoconazole shampoo", {"ketorolac"}, {"ketoconazole"}),
        ("Nizoral 2%, shampoo", set(), {"ketoconazole"}),  # an item of route words speaks for the one before
        ("ketoconazole 200 mg tab; ketoconazole 2% cream", {"ketoconazole"}, set()),  # the tablet is exposure
    ],
)
def test_each_list_item_has_its_own_route(engine, text, systemic, topical):
    reading = _read(engine, text)
    assert {m.ingredient for m in reading.matches if m.systemic} >= systemic
    assert {m.ingredient for m in reading.matches if not m.systemic} == topical


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("INH 300 mg + RIF 600 mg + B6 25 mg daily", {"isoniazid", "rifampin", "pyridoxine"}),
        ("Bactrim DS 1 tab BID M/W/F; Noxafil 300 mg daily", {"sulfamethoxazole", "trimethoprim", "posaconazole"}),
        (
            "acyclovir, fluconazole, TMP/SMX, omeprazole",
            {"acyclovir", "fluconazole", "trimethoprim", "sulfamethoxazole", "omeprazole"},
        ),
        ("VCZ 200 mg q12h, ACV 400 mg BID", {"voriconazole", "acyclovir"}),
        ("ALK inhibitor ceritinib 450 mg daily", {"ceritinib"}),
        ("H2 blocker famotidine 20 mg BID", {"h2 receptor antagonist", "famotidine"}),
    ],
)
def test_multi_drug_lines_found_by_a_ninth_blind_probe(engine, text, expected):
    _assert_resolved_as(engine, text, expected)


@pytest.mark.parametrize(
    ("text", "unread"),
    [
        # Shorthand of a restricted agent in a list item of its own was dropped as a common word
        # ("keto" diet, "cis", Spanish "rito"): a false "eligible". It is a name we could not read.
        ("keto 200mg + paracetamol", "keto"),
        ("cis 100mg/m2 + mannitol", "cis"),
        ("paracetamol + warf 5mg", "warf"),
    ],
)
def test_shorthand_in_a_list_item_of_its_own_is_never_filler(engine, text, unread):
    reading = _read(engine, text)
    assert reading.status is ResolutionStatus.AMBIGUOUS
    assert unread in reading.unread


@pytest.mark.parametrize(
    ("text", "candidates"),
    [
        ("neupo 300mcg sc", {"rotigotine", "filgrastim"}),  # Neupro misspelt, or Neupogen cut short
        ("clarit", {"loratadine", "clarithromycin"}),  # Claritin (86), or clarithromycin cut short
        ("paxl", {"paroxetine", "nirmatrelvir", "ritonavir"}),
    ],
)
def test_a_name_cut_short_is_not_read_as_a_look_alike(engine, text, candidates):
    reading = _read(engine, text)
    assert reading.status is ResolutionStatus.AMBIGUOUS
    assert {m.ingredient for m in reading.matches if m.method is MatchMethod.REVIEW_BAND} == candidates


@pytest.mark.parametrize(
    ("text", "systemic"),
    [
        ("ketoconazole tab (not cream)", True),  # a tablet is exposure whatever else the item says
        ("伊曲康唑胶囊 外用乳膏", True),
        ("clarithromycin 500mg (take with cream cheese)", True),  # food, not a form
        ("ketoconazole 2% cream", False),
    ],
)
def test_a_systemic_form_in_the_item_wins_over_a_topical_word(engine, text, systemic):
    reading = _read(engine, text)
    assert all(m.systemic is systemic for m in reading.matches)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("total lymphoid irradiation", {"bone marrow irradiation"}),  # once read as Lymphir (denileukin)
        ("PPI triple therapy", {"clarithromycin", "amoxicillin"}),  # once read as TIL therapy (lifileucel)
        ("肝素钠封管液", {"heparin lock flush"}),
        ("外周血干细胞采集", {"stem cell harvest"}),  # a harvest, once read as a transplant (75)
        ("Packed red cell transfusion 15 mL/kg", {"blood transfusion"}),
        ("123I-MIBG diagnostic scan", {"diagnostic mibg scan"}),  # a tracer, not 131I-MIBG therapy
        ("胸椎转移灶姑息性放疗 DT 30Gy/10F，2026-10-08完成", {"palliative radiotherapy"}),
    ],
)
def test_therapies_found_by_a_second_api_probe(engine, text, expected):
    _assert_resolved_as(engine, text, expected)


@pytest.mark.parametrize("text", ["同步放化疗", "triple therapy", "transplant"])
def test_therapies_that_say_too_little_go_to_review(engine, text):
    assert _read(engine, text).status is ResolutionStatus.AMBIGUOUS


@pytest.mark.parametrize(
    ("text", "systemic", "topical"),
    [
        # A topical product of another drug in the same item made the blocker topical: a false "eligible".
        ("clarithromycin 500 mg\nhydrocortisone 1% cream", {"clarithromycin"}, {"hydrocortisone"}),  # a line is an item
        ("Paxlovid and hydrocortisone cream", {"nirmatrelvir", "ritonavir"}, {"hydrocortisone"}),
        ("克力芝 莫匹罗星软膏", {"lopinavir", "ritonavir"}, {"mupirocin"}),
        ("Voltaren gel and Paxlovid 300/100 mg PO", {"nirmatrelvir", "ritonavir"}, {"diclofenac"}),
        ("ketoconazole 2% cream and amoxicillin 500 mg tab", {"amoxicillin"}, {"ketoconazole"}),
        ("topical ketoconazole", set(), {"ketoconazole"}),  # words before the first name are its own
        ("Sporanox 200 mg daily; apply cream to rash", {"itraconazole"}, set()),  # names no drug: not a route
    ],
)
def test_each_name_has_the_route_of_its_own_words(engine, text, systemic, topical):
    reading = _read(engine, text)
    assert {m.ingredient for m in reading.matches if m.systemic} == systemic
    assert {m.ingredient for m in reading.matches if not m.systemic} == topical


@pytest.mark.parametrize(
    ("text", "candidate"),
    [
        ("Tukyass 150mg and ondansetron 8mg", "tucatinib"),  # Tukysa, two slips: not a word about ondansetron
        ("omeprazole 20 mg with Nvrir 100 mg", "ritonavir"),
    ],
)
def test_a_misspelt_name_joined_to_a_known_one_is_never_filler(engine, text, candidate):
    reading = _read(engine, text)
    assert reading.status is ResolutionStatus.AMBIGUOUS
    assert candidate in {m.ingredient for m in reading.matches if m.method is MatchMethod.REVIEW_BAND}


@pytest.mark.parametrize(
    "text", ["clarithromycin 500 mg with food", "[医保乙类] 利福平胶囊 0.15g (红旗制药) 用法:口服"]
)
def test_everyday_words_and_makers_joined_to_a_name_stay_filler(engine, text):
    assert _read(engine, text).status is ResolutionStatus.RESOLVED


def test_a_dash_between_spaces_ends_a_list_item_and_a_hyphen_in_a_name_does_not(engine):
    reading = _read(engine, "Tukyass 150mg XR daily - famotidine 20mg")
    assert "tucatinib" in {m.ingredient for m in reading.matches}  # a candidate, not dropped beside famotidine
    _assert_resolved_as(engine, "G-CSF", {"filgrastim"})
    _assert_resolved_as(engine, "Pembrolizumab (KEYTRUDA) 2mg/kg q3w - last dose 14 Jan", {"pembrolizumab"})


@pytest.mark.parametrize(
    ("text", "candidates"),
    [
        ("oviconazole", {"oxiconazole", "voriconazole"}),  # one slip from the first, 87 against the second
    ],
)
def test_a_harmless_one_slip_reading_does_not_hide_a_restricted_agent(engine, text, candidates):
    reading = _read(engine, text)
    assert reading.status is ResolutionStatus.AMBIGUOUS
    assert {m.ingredient for m in reading.matches if m.method is MatchMethod.REVIEW_BAND} == candidates


def test_columns_of_an_export_are_list_items(engine):
    # "Kira" (St John's wort) was dropped beside names read in the same double-spaced line.
    reading = _read(engine, "ibuprofen 200mg  metformin 500mg  Kira 900 mg")
    assert "st john's wort" in {m.ingredient for m in reading.matches if m.method is not MatchMethod.REVIEW_BAND}
