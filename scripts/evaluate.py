"""Measure how well medication strings are read: this engine against two comparators, on one dev set.

Run with ``make eval`` (installs the optional ``eval`` extra first) or ``python scripts/evaluate.py``.

The labelled development set is ``tests/devset.csv`` (columns ``group,text,expected,category``).
Three methods read the same strings in the same run:

* ``engine``: the washout engine's resolver (``Engine.resolver.read``).
* ``naive``: ``rapidfuzz.process.extractOne`` with ``fuzz.WRatio`` (score cutoff 80) over the
  names, synonyms and brands of the blocking rows of ``cyp3a4_lists.csv`` (products included).
  Case and punctuation are folded with ``rapidfuzz.utils.default_process``, which only helps it.
* ``ner``: the ``drug-named-entity-recognition`` package (``find_drugs`` on ``str.split()``
  tokens), its drug names mapped to our canonical names through the aliases of our data.
  Twice: as it comes (exact dictionary look-ups) and with its own fuzzy matching
  (``is_fuzzy_match=True``), the like-for-like mode for typos. The fuzzy mode reads a few dozen
  strings per second, so it is timed over one pass; ``--no-ner-fuzzy`` leaves it out.

A string "blocks" when the method reads it as a screened ingredient: for the engine, a confident
(not review-band) match in a form that reaches the blood stream; review-band candidates do not
block, they make the string "need review". For every method and dev-set group the report gives
sensitivity (blocking strings blocked),
specificity (non-blocking strings not blocked), accuracy (the set of ingredients read equals
the expected set exactly), the engine's needs-review rate and the throughput. It then lists
the engine's failures and checks the targets. The exit code is always 0: this is a report.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, process, utils

from server.engine import Engine, MatchMethod, ResolutionStatus, normalise
from server.engine.matcher import Reading

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
DEVSET = ROOT / "tests" / "devset.csv"
COLUMNS = ("group", "text", "expected", "category")
GROUPS = ("generic", "typo", "brand", "combination", "international", "noise", "lookalike", "class")
NOT_BLOCKING = "none"
CYP3A4_TABLE = "cyp3a4_lists.csv"
NAIVE_CUTOFF = 80.0
TIMED_PASSES = 3

# Targets the report is judged against.
MAX_MISSED_BLOCKING = 0
MIN_LOOKALIKE_SPECIFICITY = 0.99
MAX_REVIEW_RATE = 0.03


@dataclass(frozen=True, slots=True)
class Row:
    """One labelled string of the dev set."""

    line: int
    group: str
    text: str
    expected: frozenset[str]
    category: str

    @property
    def blocking(self) -> bool:
        """True when the string must block under the protocol."""
        return self.category != NOT_BLOCKING


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one method read one string."""

    read_as: frozenset[str]
    blocks: bool
    review: bool = False
    detail: str = ""
    error: bool = False


@dataclass(frozen=True, slots=True)
class Reader:
    """A method under test: ``read`` is what is timed, ``interpret`` turns its answer into an Outcome."""

    read: Callable[[str], Any]
    interpret: Callable[[Any], Outcome]


@dataclass(frozen=True, slots=True)
class Scores:
    """Sensitivity, specificity, accuracy and review rate over some rows (``None`` when undefined)."""

    rows: int
    blocking: int
    sensitivity: float | None
    specificity: float | None
    accuracy: float | None
    review_rate: float | None


@dataclass(frozen=True, slots=True)
class MethodRun:
    """One method's outcomes on the whole dev set and its timed throughput."""

    name: str
    outcomes: tuple[Outcome, ...]
    seconds: float

    @property
    def per_second(self) -> float:
        """Strings read per second in the timed pass."""
        return len(self.outcomes) / self.seconds if self.seconds > 0 else float("inf")


def load_devset(path: Path = DEVSET) -> list[Row]:
    """Read and check the dev set; a malformed row stops the script with its line number."""
    rows: list[Row] = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or tuple(header) != COLUMNS:
            raise SystemExit(f"{path}: header must be {','.join(COLUMNS)}; got {header}")
        for cells in reader:
            line = reader.line_num
            if not cells:
                continue
            if len(cells) != len(COLUMNS):
                raise SystemExit(f"{path}:{line}: expected {len(COLUMNS)} fields, got {len(cells)}")
            group, text, expected, category = cells
            if group not in GROUPS:
                raise SystemExit(f"{path}:{line}: unknown group {group!r}")
            names = frozenset(name.strip() for name in expected.split(";") if name.strip())
            if not text or not names or not category:
                raise SystemExit(f"{path}:{line}: text, expected and category are required")
            rows.append(Row(line, group, text, names, category.strip()))
    return rows


def screened_categories(engine: Engine) -> frozenset[str]:
    """The categories the default protocol has rules for."""
    protocol = engine.knowledge.protocol("")
    if protocol is None:
        raise SystemExit("the knowledge base has no default protocol")
    return frozenset(rule.category for rule in protocol.rules)


def engine_reader(engine: Engine, screened: frozenset[str]) -> Reader:
    """Read with the engine: confident matches are the reading; a systemic screened match blocks."""

    def interpret(reading: Reading) -> Outcome:
        confident = [m for m in reading.matches if m.method is not MatchMethod.REVIEW_BAND]
        blocks = any(m.systemic and screened.intersection(m.categories) for m in confident)
        candidates = sorted(m.ingredient for m in reading.matches if m.method is MatchMethod.REVIEW_BAND)
        detail = reading.status.value
        if candidates:
            detail += f"; candidates {', '.join(candidates)}"
        if reading.unread:
            detail += f"; unread {', '.join(repr(text) for text in reading.unread)}"
        if any(not m.systemic for m in confident):
            detail += "; non-systemic"
        return Outcome(
            read_as=frozenset(m.ingredient for m in confident),
            blocks=blocks,
            review=reading.status is not ResolutionStatus.RESOLVED,
            detail=detail,
        )

    return Reader(engine.resolver.read, interpret)


def blocking_ingredients(engine: Engine, screened: frozenset[str]) -> frozenset[str]:
    """Every ingredient whose categories include a screened one."""
    return frozenset(
        name for name, categories in engine.knowledge.ingredient_categories.items() if screened.intersection(categories)
    )


def naive_reader(engine: Engine, screened: frozenset[str]) -> Reader:
    """The naive baseline: WRatio over the blocking rows of the CYP3A4 table, nothing else."""
    blockers = blocking_ingredients(engine, screened)
    choices: list[str] = []
    readings: list[frozenset[str]] = []
    for entry in engine.knowledge.entries:
        if entry.table != CYP3A4_TABLE or not blockers.intersection(entry.ingredients):
            continue
        for alias in (entry.name, *entry.synonyms, *entry.brands):
            choices.append(alias)
            readings.append(frozenset(entry.ingredients))

    def read(text: str) -> tuple[str, float, int] | None:
        found: tuple[str, float, int] | None = process.extractOne(
            text, choices, scorer=fuzz.WRatio, processor=utils.default_process, score_cutoff=NAIVE_CUTOFF
        )
        return found

    def interpret(found: tuple[str, float, int] | None) -> Outcome:
        if found is None:
            return Outcome(read_as=frozenset(), blocks=False, detail="no match")
        alias, score, index = found
        return Outcome(read_as=readings[index], blocks=True, detail=f"{alias} ({score:.0f})")

    return Reader(read, interpret)


def alias_map(engine: Engine) -> dict[str, frozenset[str]]:
    """Every name, synonym, brand and Chinese name of our data, lower-cased, to the ingredients it stands for."""
    aliases: dict[str, set[str]] = {}
    for entry in engine.knowledge.entries:
        for alias in (entry.name, *entry.synonyms, *entry.brands, *entry.chinese_names):
            aliases.setdefault(alias.lower(), set()).update(entry.ingredients)
    return {alias: frozenset(ingredients) for alias, ingredients in aliases.items()}


def ner_reader(engine: Engine, screened: frozenset[str], fuzzy: bool = False) -> Reader | None:
    """The drug-named-entity-recognition comparator (with its fuzzy matching when ``fuzzy``),
    or ``None`` when the package is not installed."""
    try:
        from drug_named_entity_recognition import find_drugs
    except Exception as exc:  # an import error or a broken install: go on without it
        print(f"drug-named-entity-recognition is not available ({type(exc).__name__}: {exc}); skipping it")
        return None
    aliases = alias_map(engine)
    blockers = blocking_ingredients(engine, screened)

    def read(text: str) -> list[tuple[dict[str, Any], int, int]] | Exception:
        try:
            found: list[tuple[dict[str, Any], int, int]] = find_drugs(
                text.split(), is_ignore_case=True, is_fuzzy_match=fuzzy
            )
        except Exception as exc:  # one bad string is a miss, not a crash
            return exc
        return found

    def interpret(found: list[tuple[dict[str, Any], int, int]] | Exception) -> Outcome:
        if isinstance(found, Exception):
            return Outcome(read_as=frozenset(), blocks=False, detail=f"error {type(found).__name__}", error=True)
        names: set[str] = set()
        for data, _start, _end in found:
            name = str(data.get("name") or data.get("matching_string") or "").lower()
            if name:
                names.update(aliases.get(name, frozenset({name})))
        return Outcome(read_as=frozenset(names), blocks=bool(blockers.intersection(names)), detail=", ".join(names))

    return Reader(read, interpret)


def _empty_caches(engine: Engine) -> Callable[[], None]:
    """Empty the reading cache and the token memo, so that a timed pass reads every string afresh."""

    def empty() -> None:
        engine.resolver.read.cache_clear()
        normalise.is_noise.cache_clear()

    return empty


def run_method(
    name: str,
    reader: Reader,
    rows: Sequence[Row],
    warm_up: bool = True,
    before_pass: Callable[[], object] | None = None,
    passes: int = TIMED_PASSES,
) -> MethodRun:
    """Time whole passes of ``reader`` over every row and keep the fastest of ``passes``.

    One untimed warm-up pass comes first when ``warm_up``; ``before_pass`` runs (untimed) before
    every timed pass, e.g. to empty a cache. The outcomes are those of the first timed pass.
    """
    texts = [row.text for row in rows]
    if warm_up:
        for text in texts:
            reader.read(text)
    raw: tuple[Any, ...] = ()
    best = float("inf")
    for index in range(passes):
        if before_pass is not None:
            before_pass()
        start = time.perf_counter()
        passed = tuple(map(reader.read, texts))
        best = min(best, time.perf_counter() - start)
        if index == 0:
            raw = passed
    # Only the readers are timed; turning their answers into comparable outcomes is not.
    return MethodRun(name, tuple(map(reader.interpret, raw)), best)


def _fraction(hits: int, total: int) -> float | None:
    return hits / total if total else None


def score(rows: Sequence[Row], outcomes: Sequence[Outcome]) -> Scores:
    """The scores of one method over the given rows (outcomes aligned with rows)."""
    blocking = [(r, o) for r, o in zip(rows, outcomes, strict=True) if r.blocking]
    clear = [(r, o) for r, o in zip(rows, outcomes, strict=True) if not r.blocking]
    return Scores(
        rows=len(rows),
        blocking=len(blocking),
        sensitivity=_fraction(sum(o.blocks for _, o in blocking), len(blocking)),
        specificity=_fraction(sum(not o.blocks for _, o in clear), len(clear)),
        accuracy=_fraction(sum(o.read_as == r.expected for r, o in zip(rows, outcomes, strict=True)), len(rows)),
        review_rate=_fraction(sum(o.review for o in outcomes), len(outcomes)),
    )


def scores_by_group(rows: Sequence[Row], outcomes: Sequence[Outcome]) -> dict[str, Scores]:
    """Scores per dev-set group, then ``overall``."""
    table: dict[str, Scores] = {}
    for group in GROUPS:
        picked = [i for i, row in enumerate(rows) if row.group == group]
        if picked:
            table[group] = score([rows[i] for i in picked], [outcomes[i] for i in picked])
    table["overall"] = score(rows, outcomes)
    return table


def _percent(value: float | None) -> str:
    return "     -" if value is None else f"{100 * value:5.1f}%"


def print_scores(run: MethodRun, rows: Sequence[Row], with_review: bool) -> dict[str, Scores]:
    """Print one method's table of scores per group and return it."""
    table = scores_by_group(rows, run.outcomes)
    print(f"\n== {run.name} ==")
    header = f"{'group':<14}{'rows':>5}{'block':>6}  {'sens':>6}  {'spec':>6}  {'acc':>6}"
    print(header + (f"  {'review':>6}" if with_review else ""))
    for group, s in table.items():
        line = f"{group:<14}{s.rows:>5}{s.blocking:>6}  {_percent(s.sensitivity)}  {_percent(s.specificity)}"
        line += f"  {_percent(s.accuracy)}"
        print(line + (f"  {_percent(s.review_rate)}" if with_review else ""))
    errors = sum(o.error for o in run.outcomes)
    if errors:
        print(f"({errors} strings raised an exception and count as misses)")
    return table


def _show(outcome: Outcome) -> str:
    return "{" + ", ".join(sorted(outcome.read_as)) + "}"


def print_failures(rows: Sequence[Row], outcomes: Sequence[Outcome]) -> None:
    """List the engine's missed blocking strings, false blocks, reviews and wrong readings."""
    pairs = list(zip(rows, outcomes, strict=True))
    sections: list[tuple[str, list[tuple[Row, Outcome]]]] = [
        ("missed blocking strings", [(r, o) for r, o in pairs if r.blocking and not o.blocks]),
        ("false blocks", [(r, o) for r, o in pairs if not r.blocking and o.blocks]),
        ("needs review", [(r, o) for r, o in pairs if o.review]),
        ("wrong readings (read-as != expected)", [(r, o) for r, o in pairs if o.read_as != r.expected]),
    ]
    for title, items in sections:
        print(f"\nengine {title}: {len(items)}")
        for row, outcome in items:
            expected = "{" + ", ".join(sorted(row.expected)) + "}"
            print(
                f"  line {row.line} [{row.group}] {row.text!r} ({row.category}): read as {_show(outcome)}, "
                f"expected {expected} [{outcome.detail}]"
            )


def _verdict(label: str, met: bool, detail: str) -> bool:
    print(f"  [{'MET' if met else 'MISSED'}] {label}: {detail}")
    return met


def check_targets(
    rows: Sequence[Row], engine_cold: MethodRun, comparators: Iterable[MethodRun], tables: dict[str, dict[str, Scores]]
) -> bool:
    """Print every target with its status; True when all are met."""
    outcomes = engine_cold.outcomes
    engine_table = tables[engine_cold.name]
    missed = sum(r.blocking and not o.blocks for r, o in zip(rows, outcomes, strict=True))
    lookalike = engine_table.get("lookalike")
    specificity = lookalike.specificity if lookalike and lookalike.specificity is not None else 1.0
    review = engine_table["overall"].review_rate or 0.0
    accuracy = engine_table["overall"].accuracy or 0.0
    print("\ntargets:")
    results = [
        _verdict("missed blocking agents", missed <= MAX_MISSED_BLOCKING, f"{missed} (target {MAX_MISSED_BLOCKING})"),
        _verdict(
            "lookalike specificity",
            specificity >= MIN_LOOKALIKE_SPECIFICITY,
            f"{_percent(specificity).strip()} (target >= {100 * MIN_LOOKALIKE_SPECIFICITY:.0f}%)",
        ),
        _verdict(
            "needs-review rate",
            review < MAX_REVIEW_RATE,
            f"{_percent(review).strip()} (target < {100 * MAX_REVIEW_RATE:.0f}%)",
        ),
    ]
    for other in comparators:
        theirs = tables[other.name]["overall"].accuracy or 0.0
        results.append(
            _verdict(
                f"accuracy ahead of {other.name}",
                accuracy > theirs,
                f"engine {_percent(accuracy).strip()} vs {_percent(theirs).strip()}",
            )
        )
        results.append(
            _verdict(
                f"speed ahead of {other.name} (engine cold cache)",
                engine_cold.per_second > other.per_second,
                f"engine {engine_cold.per_second:,.0f}/s vs {other.per_second:,.0f}/s",
            )
        )
    return all(results)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the evaluation and print the report; always returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DATA, help="knowledge base folder (default: %(default)s)")
    parser.add_argument("--devset", type=Path, default=DEVSET, help="labelled dev set (default: %(default)s)")
    parser.add_argument(
        "--no-ner-fuzzy", action="store_true", help="leave out the slow fuzzy mode of the NER comparator"
    )
    args = parser.parse_args(argv)
    rows = load_devset(args.devset)
    counts = {group: sum(row.group == group for row in rows) for group in GROUPS}
    print(f"dev set: {len(rows)} strings ({', '.join(f'{g} {n}' for g, n in counts.items())})")
    print(f"blocking: {sum(row.blocking for row in rows)}, not blocking: {sum(not row.blocking for row in rows)}")

    # Cold: a fresh engine whose reading cache and token memo are emptied before every timed pass
    # (loading is not timed); warm: the same engine after a warm-up pass, every string cached.
    engine = Engine.from_directory(args.data)
    screened = screened_categories(engine)
    print(f"knowledge {engine.version}; screened categories: {', '.join(sorted(screened))}")
    read_engine = engine_reader(engine, screened)
    engine.resolver.read("warm-up")  # fill lazy module tables, not the cache of dev-set strings
    engine_cold = run_method("engine", read_engine, rows, warm_up=False, before_pass=_empty_caches(engine))
    engine_warm = run_method("engine (warm cache)", read_engine, rows, warm_up=True)

    comparators = [run_method("naive (rapidfuzz WRatio >= 80)", naive_reader(engine, screened), rows)]
    ner = ner_reader(engine, screened)
    if ner is not None:
        comparators.append(run_method("ner (drug-named-entity-recognition)", ner, rows))
        ner_fuzzy = None if args.no_ner_fuzzy else ner_reader(engine, screened, fuzzy=True)
        if ner_fuzzy is not None:
            comparators.append(run_method("ner, is_fuzzy_match=True", ner_fuzzy, rows, warm_up=False, passes=1))

    tables = {engine_cold.name: print_scores(engine_cold, rows, with_review=True)}
    for run in comparators:
        tables[run.name] = print_scores(run, rows, with_review=False)

    print(f"\nthroughput (strings per second over the whole set, fastest of {TIMED_PASSES} passes; NER fuzzy: one):")
    for run in (engine_cold, engine_warm, *comparators):
        print(f"  {run.name:<40}{run.per_second:>12,.0f}/s  ({1000 * run.seconds:.1f} ms)")

    print_failures(rows, engine_cold.outcomes)
    met = check_targets(rows, engine_cold, comparators, tables)
    print("\nTARGETS MET" if met else "\nTARGETS MISSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
