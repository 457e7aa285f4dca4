"""The labelled dev set (tests/devset.csv) read by the engine: no missed blocker, few false blocks and reviews."""

from __future__ import annotations

from collections import Counter

import pytest

from scripts.evaluate import GROUPS, Row, load_devset
from server.engine import Engine, MatchMethod, ResolutionStatus
from server.engine.matcher import Reading

NOT_BLOCKING = "none"
# The same loader as `make eval` (scripts/evaluate.py), so CI and the report read one set one way.
ROWS = load_devset()


@pytest.fixture(scope="module")
def screened(engine: Engine) -> frozenset[str]:
    protocol = engine.knowledge.protocol("")
    assert protocol is not None
    return frozenset(rule.category for rule in protocol.rules)


def _reading(engine: Engine, text: str) -> Reading:
    return engine.resolver.read(text)


def _read_as(reading: Reading) -> frozenset[str]:
    return frozenset(m.ingredient for m in reading.matches if m.method is not MatchMethod.REVIEW_BAND)


def _blocks(reading: Reading, screened: frozenset[str]) -> bool:
    return any(
        m.systemic and screened.intersection(m.categories)
        for m in reading.matches
        if m.method is not MatchMethod.REVIEW_BAND
    )


def _describe(row: Row, reading: Reading) -> str:
    return (
        f"line {row.line} [{row.group}] {row.text!r}: read as {sorted(_read_as(reading))} ({reading.status.value}), "
        f"expected {sorted(row.expected)} ({row.category})"
    )


def test_devset_is_well_formed(screened: frozenset[str]) -> None:
    assert len(ROWS) >= 450
    categories = screened | {NOT_BLOCKING}
    problems = [
        f"line {row.line}: group {row.group!r}, category {row.category!r}, expected {sorted(row.expected)}"
        for row in ROWS
        if row.group not in GROUPS or row.category not in categories or not row.expected
    ]
    if problems:
        pytest.fail("malformed dev-set rows:\n" + "\n".join(problems))
    duplicates = [key for key, count in Counter((row.group, row.text) for row in ROWS).items() if count > 1]
    assert not duplicates, f"repeated (group, text) pairs: {duplicates}"


def test_every_blocking_string_is_blocked(engine: Engine, screened: frozenset[str]) -> None:
    misses = [
        _describe(row, reading)
        for row in ROWS
        if row.category != NOT_BLOCKING and not _blocks(reading := _reading(engine, row.text), screened)
    ]
    if misses:
        pytest.fail(f"{len(misses)} blocking strings not blocked:\n" + "\n".join(misses))


def test_lookalikes_are_not_blocked(engine: Engine, screened: frozenset[str]) -> None:
    lookalikes = [row for row in ROWS if row.group == "lookalike" and row.category == NOT_BLOCKING]
    assert lookalikes
    false_blocks = [
        _describe(row, reading) for row in lookalikes if _blocks(reading := _reading(engine, row.text), screened)
    ]
    specificity = 1 - len(false_blocks) / len(lookalikes)
    if specificity < 0.99:
        pytest.fail(f"specificity {specificity:.1%} on look-alikes; false blocks:\n" + "\n".join(false_blocks))


def test_few_strings_need_review(engine: Engine) -> None:
    reviews = [
        _describe(row, reading)
        for row in ROWS
        if (reading := _reading(engine, row.text)).status is not ResolutionStatus.RESOLVED
    ]
    rate = len(reviews) / len(ROWS)
    if rate >= 0.03:
        pytest.fail(f"needs-review rate {rate:.1%} ({len(reviews)} of {len(ROWS)}):\n" + "\n".join(reviews))


def test_expected_ingredients_are_read(engine: Engine) -> None:
    failures = [
        _describe(row, reading) for row in ROWS if not row.expected <= _read_as(reading := _reading(engine, row.text))
    ]
    if failures:
        pytest.fail(f"{len(failures)} strings not read as expected:\n" + "\n".join(failures))
