"""The knowledge base loads, follows its content, and refuses a bad file with its line."""

from __future__ import annotations

import pytest

from server.engine import KnowledgeError, load_knowledge_base
from server.engine.knowledge import LEXICON_FILES
from tests.conftest import DATA_DIR, copy_data


def test_embedded_knowledge_loads_with_a_source_on_every_row(engine):
    knowledge = engine.knowledge
    assert knowledge.default_protocol_id == "ALTER-02"
    assert all(entry.source for entry in knowledge.entries)
    assert {t.name for t in knowledge.tables} >= {"cyp3a4_lists.csv", "protocols/ALTER-02.csv"}


def test_every_category_used_by_the_protocol_has_agents_or_is_a_therapy(engine):
    used = {c for e in engine.knowledge.entries for c in e.categories}
    for rule in engine.knowledge.protocols[engine.knowledge.default_protocol_id].rules:
        assert rule.category in used, rule.rule_id


def test_protocol_named_agents_are_all_in_the_cyp3a4_table(engine):
    listed = {e.name: e.categories for e in engine.knowledge.entries if e.table == "cyp3a4_lists.csv"}
    for name in [
        "atazanavir",
        "clarithromycin",
        "indinavir",
        "itraconazole",
        "ketoconazole",
        "nefazodone",
        "nelfinavir",
        "ritonavir",
        "saquinavir",
        "telithromycin",
        "troleandomycin",
        "voriconazole",
    ]:
        assert "strong_cyp3a4_inhibitor" in listed[name]
    for name in ["carbamazepine", "phenobarbital", "phenytoin", "rifabutin", "rifampin"]:
        assert "strong_cyp3a4_inducer" in listed[name]


def test_version_follows_content(tmp_path):
    first = load_knowledge_base(DATA_DIR).version
    assert load_knowledge_base(DATA_DIR).version == first
    data = copy_data(tmp_path)
    assert load_knowledge_base(data).version == first
    with (data / "lexicon.csv").open("a", encoding="utf-8") as handle:
        handle.write("ingredient,zzz testamycin,,,,,,unit test,\n")
    assert load_knowledge_base(data).version != first


@pytest.mark.parametrize(
    ("file", "bad_line", "problem"),
    [
        ("lexicon.csv", "ingredient,foo,,,,,,,\n", "source is empty"),
        ("lexicon.csv", "pill,foo,,,,,,src,\n", "kind"),
        ("lexicon.csv", "ingredient,foo,not_a_category,,,,,src,\n", "unknown category"),
        ("lexicon.csv", "product,FooPak,,nonexistentamine,,,,src,\n", "unknown ingredient"),
        ("lexicon.csv", "ingredient,foo,,,\n", "expected 9 fields"),
        ("therapy_classes.csv", "ingredient,clarithromycin,,,,,,src,\n", "already defined"),
        ("cyp3a4_lists.csv", "ingredient,foo,strong_cyp3a4_inhibitor,,,,,very,no,src,\n", "fda_classification"),
    ],
)
def test_a_bad_row_is_refused_with_its_line(tmp_path, file, bad_line, problem):
    data = copy_data(tmp_path)
    path = data / file
    text = path.read_text(encoding="utf-8")
    if not text.endswith("\n"):
        text += "\n"
    expected_line = text.count("\n") + 1
    path.write_text(text + bad_line, encoding="utf-8")
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge_base(data)
    assert caught.value.line == expected_line
    assert f"{file}:{expected_line}" in str(caught.value)
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    ("bad_row", "problem"),
    [
        ("X1,strong_cyp3a4_inhibitor,sometimes,7,,,,text,src", "counting"),
        ("X1,strong_cyp3a4_inhibitor,within,seven,,,,text,src", "whole number"),
        ("X1,no_such_category,within,7,,,,text,src", "unknown category"),
        ("X1,strong_cyp3a4_inhibitor,within,0,,,,text,src", "positive window_days"),
        ("EXC20_STRONG_CYP3A4_INHIBITOR,strong_cyp3a4_inhibitor,within,7,,,,text,src", "repeated"),
    ],
)
def test_a_bad_protocol_rule_is_refused_with_its_line(tmp_path, bad_row, problem):
    data = copy_data(tmp_path)
    path = data / "protocols" / "ALTER-02.csv"
    text = path.read_text(encoding="utf-8")
    line = text.count("\n") + 1
    path.write_text(text + bad_row + "\n", encoding="utf-8")
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge_base(data)
    assert caught.value.line == line
    assert problem in str(caught.value)


def test_a_second_trial_is_a_data_file_not_code(tmp_path):
    data = copy_data(tmp_path)
    (data / "protocols" / "DEMO-01.csv").write_text(
        "# id: DEMO-01\n# title: Demo\n# registry: NCT00000000\n# source: unit test\n"
        "rule_id,category,counting,window_days,review_days,min_distinct,replaces,criterion,source\n"
        "D1,strong_cyp3a4_inhibitor,within,14,,,,No strong inhibitors within 14 days,demo 1\n",
        encoding="utf-8",
    )
    knowledge = load_knowledge_base(data)
    assert set(knowledge.protocols) == {"ALTER-02", "DEMO-01"}
    assert knowledge.default_protocol_id == "ALTER-02"
    demo = knowledge.protocol("DEMO-01")
    assert demo is not None
    assert demo.rules[0].window_days == 14


def test_a_missing_data_folder_is_named(tmp_path):
    with pytest.raises(KnowledgeError, match="missing"):
        load_knowledge_base(tmp_path / "missing")


@pytest.mark.parametrize("file", LEXICON_FILES)
def test_a_missing_table_is_named(tmp_path, file):
    data = copy_data(tmp_path)
    (data / file).unlink()
    with pytest.raises(KnowledgeError, match=file):
        load_knowledge_base(data)


def test_everyday_words_are_loaded_with_their_source_and_the_file_is_optional(tmp_path):
    knowledge = load_knowledge_base(DATA_DIR)
    assert {"core", "completed", "relapsed"} <= knowledge.everyday_words
    assert any(table.name == "everyday_words.txt" and table.sources for table in knowledge.tables)
    data = copy_data(tmp_path)
    (data / "everyday_words.txt").unlink()
    assert load_knowledge_base(data).everyday_words == frozenset()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("# source: a list\nfine\nNot Lower\n", r"everyday_words.txt:3: not one lowercase word"),
        ("core\nmass\n", "source"),
    ],
)
def test_a_bad_everyday_word_list_is_refused(tmp_path, text, problem):
    data = copy_data(tmp_path)
    (data / "everyday_words.txt").write_text(text, encoding="utf-8")
    with pytest.raises(KnowledgeError, match=problem):
        load_knowledge_base(data)
