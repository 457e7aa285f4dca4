"""Plain, immutable value types of the engine: inputs, readings, reasons and verdicts."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date


class Verdict(enum.IntEnum):
    """The outcome of a check; a higher value wins when reasons are combined."""

    ELIGIBLE = 1
    NEEDS_REVIEW = 2
    BLOCKED = 3


class InputKind(enum.StrEnum):
    """Which list of the request an input came from."""

    MEDICATION = "medication"
    PRIOR_THERAPY = "prior_therapy"
    NAME = "name"


class ResolutionStatus(enum.StrEnum):
    """How confidently an input was read."""

    RESOLVED = "resolved"
    AMBIGUOUS = "ambiguous"
    UNRESOLVED = "unresolved"


class MatchMethod(enum.StrEnum):
    """How a name was matched to an ingredient."""

    EXACT = "exact"
    BRAND = "brand"
    COMBINATION = "combination"
    CHINESE = "chinese"
    FUZZY = "fuzzy"
    REVIEW_BAND = "review_band"
    EXPLICIT_CATEGORY = "explicit_category"


class Counting(enum.StrEnum):
    """How a protocol rule counts days or uses."""

    WITHIN = "within"
    AT_LEAST = "at_least"
    CURRENT_USE = "current_use"
    CONCURRENT_COUNT = "concurrent_count"


@dataclass(frozen=True, slots=True)
class Medication:
    """One medication as the request gives it."""

    name: str
    last_dose_date: str = ""
    ongoing: bool = False


@dataclass(frozen=True, slots=True)
class PriorTherapy:
    """One prior therapy as the request gives it."""

    description: str
    end_date: str = ""
    category: str = ""


@dataclass(frozen=True, slots=True)
class CheckRequest:
    """A patient to screen: the planned first dose and everything taken before it."""

    first_dose_date: str
    medications: tuple[Medication, ...] = ()
    prior_therapies: tuple[PriorTherapy, ...] = ()
    protocol_id: str = ""
    request_id: str = ""


@dataclass(frozen=True, slots=True)
class Match:
    """One ingredient an input was read as, with the evidence for it."""

    ingredient: str
    categories: tuple[str, ...]
    score: float
    method: MatchMethod
    matched_alias: str
    matched_text: str
    systemic: bool = True


@dataclass(frozen=True, slots=True)
class Resolution:
    """How one input was read: the matches (or candidates) and remarks for the pharmacist."""

    input_kind: InputKind
    input_index: int
    input: str
    status: ResolutionStatus
    matches: tuple[Match, ...]
    notes: tuple[str, ...] = ()
    unread: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Rule:
    """One eligibility rule of a protocol, as loaded from its data file."""

    rule_id: str
    category: str
    counting: Counting
    window_days: int
    review_days: int
    min_distinct: int
    replaces: tuple[str, ...]
    criterion: str
    source: str


@dataclass(frozen=True, slots=True)
class Protocol:
    """One trial's rules, keyed by category."""

    protocol_id: str
    title: str
    registry_id: str
    source: str
    rules: tuple[Rule, ...]

    def rules_for(self, category: str) -> tuple[Rule, ...]:
        """The rules that screen for ``category``."""
        return tuple(rule for rule in self.rules if rule.category == category)


@dataclass(frozen=True, slots=True)
class Reason:
    """One thing that blocks the patient or needs review."""

    rule_id: str
    category: str
    input: str
    matched_name: str
    match_score: float
    window_days: int
    eligible_from: date | None
    message: str
    severity: Verdict
    input_kind: InputKind
    input_index: int
    criterion: str = ""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The verdict for one patient, its reasons and how every input was read."""

    request_id: str
    protocol_id: str
    verdict: Verdict
    reasons: tuple[Reason, ...]
    earliest_eligible_date: date | None
    knowledge_version: str
    resolutions: tuple[Resolution, ...] = field(default=())
