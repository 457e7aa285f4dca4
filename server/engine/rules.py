"""Applying a protocol's rules to what a patient has taken: windows, current use and counts.

Day arithmetic, relative to the first dose:

* ``within N``: blocks when the last dose is N days or fewer before; eligible from last + N + 1.
* ``at_least N``: blocks when fewer than N days have passed; eligible from last + N.
* ``current_use``: blocks when ongoing or dosed on or after the first-dose date; a stop within
  ``review_days`` before needs review.
* ``concurrent_count``: blocks when ``min_distinct`` or more distinct ingredients are in current use.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from .dates import ParsedDate
from .model import (
    Counting,
    InputKind,
    Match,
    MatchMethod,
    Protocol,
    Reason,
    Resolution,
    Rule,
    Verdict,
    hash_once,
    hash_slot,
)

UNRECOGNISED_RULE = "UNRECOGNISED_INPUT"
AMBIGUOUS_RULE = "AMBIGUOUS_INPUT"


@hash_once
@dataclass(frozen=True, slots=True)
class Exposure:
    """One input of the request, read and dated: what the patient took and when it stopped."""

    resolution: Resolution
    last: ParsedDate | None
    ongoing: bool
    category_given: bool = False
    _hash: int = hash_slot()

    @property
    def text(self) -> str:
        """The input as given."""
        return self.resolution.input


# What one input says on its own under one protocol and first dose: its reasons, and its uses for
# the rules that count across inputs.
Assessment = tuple[tuple[Reason, ...], tuple[tuple[Rule, Match], ...]]


class RuleBook:
    """A protocol's rules indexed by category, with the carve-outs (``replaces``) applied."""

    def __init__(self, protocol: Protocol, labels: dict[str, str]) -> None:
        self.protocol = protocol
        self._labels = labels
        self._by_category: dict[str, tuple[Rule, ...]] = {}
        self._rules_for: dict[tuple[str, ...], tuple[Rule, ...]] = {}
        for rule in protocol.rules:
            self._by_category[rule.category] = (*self._by_category.get(rule.category, ()), rule)
        # A count depends only on the inputs counted: lists repeat, so it is cached (its keys hash
        # once). An input's own outcome is cached by the engine, with the item it was read from.
        self.count = functools.lru_cache(maxsize=16384)(self._count_uncached)

    def assessment(self, exposure: Exposure, first_dose: date) -> Assessment:
        """One input's reasons, and its uses for the rules that count across inputs."""
        return _assess_exposure(self, exposure, first_dose)

    def _count_uncached(
        self, rule: Rule, uses: tuple[tuple[Exposure, Match], ...], first_dose: date
    ) -> tuple[Reason, ...]:
        """The reasons of a rule that counts distinct agents in use together."""
        return tuple(_count(self, rule, uses, first_dose))

    def screens(self, categories: Iterable[str]) -> bool:
        """True when any of the categories has a rule in this protocol."""
        return any(category in self._by_category for category in categories)

    def rules_for(self, categories: tuple[str, ...]) -> tuple[Rule, ...]:
        """The rules that apply to an agent in these categories; a specific rule drops the general one it replaces."""
        cached = self._rules_for.get(categories)
        if cached is None:
            rules = [rule for category in categories for rule in self._by_category.get(category, ())]
            replaced = {category for rule in rules for category in rule.replaces}
            cached = self._rules_for[categories] = tuple(rule for rule in rules if rule.category not in replaced)
        return cached

    def label(self, category: str) -> str:
        """The human-readable label of a category."""
        return self._labels.get(category, category)


def combine(book: RuleBook, first_dose: date, assessed: Iterable[tuple[Exposure, Assessment]]) -> list[Reason]:
    """Every reason that blocks or needs review, from inputs already assessed one by one
    (``RuleBook.assessment``): their own reasons, then the counts across inputs, one reason per
    rule and ingredient (the latest dose counts)."""
    reasons: list[Reason] = []
    counted: dict[str, tuple[Rule, list[tuple[Exposure, Match]]]] = {}
    for exposure, (own, counting) in assessed:
        if own:
            reasons += own
        for rule, match in counting:
            counted.setdefault(rule.rule_id, (rule, []))[1].append((exposure, match))
    for rule, uses in counted.values():
        reasons += book.count(rule, tuple(uses), first_dose)
    return _latest_per_ingredient(reasons)


def _assess_exposure(book: RuleBook, exposure: Exposure, first_dose: date) -> Assessment:
    """What one input says on its own: its reasons, and its uses for the rules that count across inputs."""
    reasons = _reading_reasons(book, exposure, first_dose)
    counting: list[tuple[Rule, Match]] = []
    for match in exposure.resolution.matches:
        if match.method is MatchMethod.REVIEW_BAND or not match.systemic:
            continue
        for rule in book.rules_for(match.categories):
            if rule.counting is Counting.CONCURRENT_COUNT:
                counting.append((rule, match))
                continue
            reason = _apply(book, rule, exposure, match, first_dose)
            if reason is not None:
                reasons.append(reason)
    return tuple(reasons), tuple(counting)


def verdict_of(reasons: list[Reason]) -> Verdict:
    """BLOCKED over NEEDS_REVIEW over ELIGIBLE."""
    return max((reason.severity for reason in reasons), default=Verdict.ELIGIBLE)


def earliest_eligible(reasons: list[Reason], first_dose: date) -> date | None:
    """The first date every reason has cleared; ``None`` when some reason has no end."""
    if not reasons:
        return first_dose
    ends = [reason.eligible_from for reason in reasons]
    if any(end is None for end in ends):
        return None
    return max(end for end in ends if end is not None)


def _reading_reasons(book: RuleBook, exposure: Exposure, first_dose: date) -> list[Reason]:
    resolution = exposure.resolution
    reasons: list[Reason] = []
    if exposure.category_given:
        return reasons
    candidates = [m for m in resolution.matches if m.method is MatchMethod.REVIEW_BAND]
    latest, by_candidate = _what_each_reading_says(book, exposure, candidates, first_dose) if candidates else (None, "")
    # A known name in doubt needs no review once whichever it is has cleared (bare "radiotherapy" long ago).
    if candidates and (latest is None or latest > first_dose):
        # Even when no candidate is restricted, the input may be a name we do not know that only looks
        # like them ("Difenin", phenytoin, against Differin): an unsure reading is never "eligible".
        screened = [m for m in candidates if book.screens(m.categories)]
        top = max(screened or candidates, key=lambda m: m.score)
        shown = "; ".join(f"{m.ingredient} ({_labels(book, m.categories)}, score {m.score:.0f})" for m in candidates)
        confirm = (
            "Confirm which it is before dosing."
            if screened
            else "None of them is restricted by the protocol: confirm it is one of them before dosing."
        )
        reasons.append(
            _reason(
                AMBIGUOUS_RULE,
                top.categories[0] if top.categories else "",
                exposure,
                top,
                0,
                latest,
                f"'{exposure.text}' could not be read with confidence. Candidates: {shown}. {confirm}{by_candidate}",
                Verdict.NEEDS_REVIEW,
            )
        )
    if resolution.unread or not resolution.matches:
        unread = ", ".join(f"'{text}'" for text in resolution.unread)
        message = (
            f"'{exposure.text}' contains text not recognised as any known drug or therapy ({unread}). "
            "Confirm it is not a strong CYP3A4 inhibitor or inducer or another restricted agent."
            if resolution.unread
            else f"'{exposure.text}' names no recognised drug or therapy. Confirm what it is."
        )
        reasons.append(_reason(UNRECOGNISED_RULE, "", exposure, None, 0, None, message, Verdict.NEEDS_REVIEW))
    return reasons


def _what_each_reading_says(
    book: RuleBook, exposure: Exposure, candidates: list[Match], first_dose: date
) -> tuple[date | None, str]:
    """For a known name in doubt (candidates at 100, such as bare "radiotherapy"): the latest date by
    which whichever it is has cleared, and what each reading would mean. A fuzzy candidate may be a
    name we do not know, so then no date is given."""
    if any(match.score < 100 for match in candidates) or exposure.ongoing or exposure.last is None:
        return None, ""
    latest = first_dose
    said: list[str] = []
    for match in candidates:
        clears = first_dose
        for rule in book.rules_for(match.categories):
            if rule.counting is Counting.CONCURRENT_COUNT:
                return None, ""
            reason = _apply(book, rule, exposure, match, first_dose)
            if reason is not None:
                if reason.eligible_from is None:
                    return None, ""
                clears = max(clears, reason.eligible_from)
        latest = max(latest, clears)
        said.append(f"{match.ingredient}: {'clear' if clears <= first_dose else f'eligible from {clears.isoformat()}'}")
    return latest, " If it is " + "; ".join(said) + "."


def _apply(book: RuleBook, rule: Rule, exposure: Exposure, match: Match, first_dose: date) -> Reason | None:
    outcome = _assess(
        rule,
        book.label(rule.category),
        match.ingredient,
        exposure.text,
        exposure.resolution.input_kind is InputKind.PRIOR_THERAPY,
        exposure.last,
        exposure.ongoing,
        first_dose,
    )
    if outcome is None:
        return None
    severity, window, clears, message = outcome
    return _reason(rule.rule_id, rule.category, exposure, match, window, clears, message, severity, rule)


@functools.lru_cache(maxsize=65536)  # a pure function of its arguments; lists and dates repeat
def _assess(
    rule: Rule,
    label: str,
    ingredient: str,
    text: str,
    therapy: bool,
    last: ParsedDate | None,
    ongoing: bool,
    first_dose: date,
) -> tuple[Verdict, int, date | None, str] | None:
    """What one rule says of one agent taken as described: severity, window, clearing date, message."""
    what = f"{ingredient} ({label})"
    if ingredient.casefold() != text.strip().casefold():
        what = f"'{text}' read as {what}"
    requirement = _requirement(rule)
    if ongoing:
        message = f"{what} is ongoing. {requirement} It must be stopped first; no eligible date until it is."
        return Verdict.BLOCKED, rule.window_days, None, message
    if last is None:
        message = (
            f"{what} has no last-dose date and is not marked ongoing, so the washout cannot be verified. "
            f"{requirement} Confirm the date of the last dose."
        )
        return Verdict.NEEDS_REVIEW, rule.window_days, None, message
    days = (first_dose - last.value).days
    if rule.counting is Counting.CURRENT_USE:
        if days > rule.review_days:
            return None
        clears = last.value + timedelta(days=rule.review_days + 1)
        when = _when(last, therapy, days, first_dose)
        if days <= 0:
            return Verdict.BLOCKED, 0, clears, f"{what} is in current use ({when}). {requirement}"
        message = (
            f"{what}: {when}; its effect may persist. "
            f"Review coagulation before dosing (clear from {clears.isoformat()})."
        )
        return Verdict.NEEDS_REVIEW, rule.review_days, clears, message
    window = rule.window_days
    within = window + 1 if rule.counting is Counting.WITHIN else window  # days after a dose it still blocks
    if days >= within:
        return None
    clears = last.value + timedelta(days=within)
    earliest_day = _first_possible_day(last)
    if (first_dose - earliest_day).days >= within:
        # Known only to the month (or year), and the answer turns on the day: a pharmacist asks.
        cleared_if = first_dose - timedelta(days=within)
        message = (
            f"{what}: {'ended' if therapy else 'last taken'} in {_period(last)}, known only to the {last.precision}. "
            f"{requirement} Clear if it was on or before {cleared_if.isoformat()}; if it was as late as "
            f"{last.value.isoformat()}, eligible from {clears.isoformat()}. Confirm the date."
        )
        return Verdict.NEEDS_REVIEW, window, clears, message
    concurrent = " This is concurrent use." if days <= 0 else ""
    message = (
        f"{what}: {_when(last, therapy, days, first_dose)}.{concurrent} {requirement} "
        f"Eligible from {clears.isoformat()}."
    )
    return Verdict.BLOCKED, window, clears, message


def _first_possible_day(last: ParsedDate) -> date:
    """The earliest day a partial date can stand for (its value is the latest, the safe side)."""
    if last.precision == "month":
        return last.value.replace(day=1)
    if last.precision == "year":
        return last.value.replace(month=1, day=1)
    return last.value


def _period(last: ParsedDate) -> str:
    return last.value.strftime("%Y-%m") if last.precision == "month" else str(last.value.year)


def _count(book: RuleBook, rule: Rule, uses: tuple[tuple[Exposure, Match], ...], first_dose: date) -> list[Reason]:
    current: dict[str, tuple[Exposure, Match]] = {}
    unknown: dict[str, tuple[Exposure, Match]] = {}
    for exposure, match in uses:
        if exposure.ongoing or (exposure.last is not None and exposure.last.value >= first_dose):
            current[match.ingredient] = (exposure, match)
        elif exposure.last is None:
            unknown.setdefault(match.ingredient, (exposure, match))
    for ingredient in current:
        unknown.pop(ingredient, None)
    names = ", ".join(sorted(current))
    if len(current) >= rule.min_distinct:
        # The patient clears when fewer than min_distinct remain in use: the day after the
        # min_distinct-th latest last dose, not after the last of them all.
        ends = sorted(
            (
                date.max if exposure.ongoing or exposure.last is None else exposure.last.value
                for exposure, _ in current.values()
            ),
            reverse=True,
        )
        deciding = ends[rule.min_distinct - 1]
        clears = None if deciding == date.max else deciding + timedelta(days=1)
        until = (
            f" Eligible from {clears.isoformat()}, when fewer than {rule.min_distinct} are in use." if clears else ""
        )
        return [
            _reason(
                rule.rule_id,
                rule.category,
                exposure,
                match,
                0,
                clears,
                f"{len(current)} distinct drugs of the category '{book.label(rule.category)}' are in current use "
                f"together ({names}). "
                f"{_requirement(rule)}{until}",
                Verdict.BLOCKED,
                rule,
            )
            for exposure, match in current.values()
        ]
    if unknown and len(current) + len(unknown) >= rule.min_distinct:
        return [
            _reason(
                rule.rule_id,
                rule.category,
                exposure,
                match,
                0,
                None,
                f"{match.ingredient} has no date and is not marked ongoing; if it is still taken, "
                f"{len(current) + len(unknown)} drugs of the category '{book.label(rule.category)}' "
                "are in use together. "
                f"{_requirement(rule)} Confirm current use.",
                Verdict.NEEDS_REVIEW,
                rule,
            )
            for exposure, match in unknown.values()
        ]
    return []


def _latest_per_ingredient(reasons: list[Reason]) -> list[Reason]:
    """Keep one reason per rule and ingredient: the most severe, then the latest to clear."""
    kept: dict[tuple[str, str, int], Reason] = {}
    far_future = date.max
    for reason in reasons:
        # Reading reasons stay per input; rule reasons merge across inputs of the same ingredient.
        per_input = reason.rule_id in (UNRECOGNISED_RULE, AMBIGUOUS_RULE) or not reason.matched_name
        key = (reason.rule_id, reason.matched_name, reason.input_index if per_input else -1)
        current = kept.get(key)
        if current is None or (reason.severity, reason.eligible_from or far_future) > (
            current.severity,
            current.eligible_from or far_future,
        ):
            kept[key] = reason
    return list(kept.values())


def _labels(book: RuleBook, categories: tuple[str, ...]) -> str:
    return ", ".join(book.label(category) for category in categories) or "no restriction"


def _requirement(rule: Rule) -> str:
    source = rule.source.replace("NCT07137884 ", "") if rule.source else "the protocol"
    if rule.counting is Counting.WITHIN:
        return f"The protocol ({source}) forbids use within {rule.window_days} days before the first dose."
    if rule.counting is Counting.AT_LEAST:
        return f"The protocol ({source}) requires at least {rule.window_days} days before the first dose."
    if rule.counting is Counting.CURRENT_USE:
        return f"The protocol ({source}) excludes patients currently receiving it."
    return f"The protocol ({source}) excludes {rule.min_distinct} or more in current use together."


def _when(last: ParsedDate, therapy: bool, days: int, first_dose: date) -> str:
    verb = "ended" if therapy else "last taken"
    shown = last.value.isoformat()
    if last.partial:
        shown += f" (known only to the {last.precision}: read as its last day, the safe side)"
    if days > 0:
        return f"{verb} {shown}, {days} day{'s' if days != 1 else ''} before the first dose on {first_dose.isoformat()}"
    if days == 0:
        return f"{verb} {shown}, the day of the first dose"
    return f"{verb} {shown}, {-days} day{'s' if days != -1 else ''} after the first dose on {first_dose.isoformat()}"


def _reason(
    rule_id: str,
    category: str,
    exposure: Exposure,
    match: Match | None,
    window_days: int,
    eligible_from: date | None,
    message: str,
    severity: Verdict,
    rule: Rule | None = None,
) -> Reason:
    resolution = exposure.resolution
    return Reason(
        rule_id=rule_id,
        category=category,
        input=exposure.text,
        matched_name=match.ingredient if match else "",
        match_score=match.score if match else 0.0,
        window_days=window_days,
        eligible_from=eligible_from,
        message=message,
        severity=severity,
        input_kind=resolution.input_kind,
        input_index=resolution.input_index,
        criterion=rule.criterion if rule else "",
    )


__all__ = [
    "AMBIGUOUS_RULE",
    "UNRECOGNISED_RULE",
    "Assessment",
    "Exposure",
    "RuleBook",
    "combine",
    "earliest_eligible",
    "verdict_of",
]
