"""Plain, immutable value types of the engine: inputs, readings, reasons and verdicts."""

from __future__ import annotations

import dataclasses
import enum
import operator
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

_T = typing.TypeVar("_T")


def hash_once(cls: type[_T]) -> type[_T]:
    """Give a frozen value type a hash computed once per object.

    These objects are keys of the engine's caches and nest (a resolution holds matches), so the
    dataclass hash would rehash the whole tree on every look-up. The class must declare
    ``_hash: int = hash_slot()``.
    """
    values = operator.attrgetter(*(f.name for f in dataclasses.fields(cls) if f.compare))  # type: ignore[arg-type]

    def __hash__(self: typing.Any) -> int:
        cached: int = self._hash
        if not cached:
            cached = hash(values(self)) or 1
            object.__setattr__(self, "_hash", cached)
        return cached

    cls.__hash__ = __hash__  # type: ignore[method-assign]
    return cls


def hash_slot() -> typing.Any:
    """The field a ``hash_once`` class keeps its hash in: not set by ``__init__``, not compared, not shown."""
    return field(default=0, init=False, repr=False, compare=False)


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


class MedicationInput(typing.Protocol):
    """What the engine reads of a medication: ``Medication`` or any object with these attributes
    (the wire message ``washout.v1.Medication`` has them, so a servicer passes it straight in)."""

    @property
    def name(self) -> str: ...  # noqa: D102
    @property
    def last_dose_date(self) -> str: ...  # noqa: D102
    @property
    def ongoing(self) -> bool: ...  # noqa: D102


class PriorTherapyInput(typing.Protocol):
    """What the engine reads of a prior therapy: ``PriorTherapy`` or any object with these attributes."""

    @property
    def description(self) -> str: ...  # noqa: D102
    @property
    def end_date(self) -> str: ...  # noqa: D102
    @property
    def category(self) -> str: ...  # noqa: D102


class CheckInput(typing.Protocol):
    """What the engine reads of a request: ``CheckRequest`` or any object with these attributes."""

    @property
    def first_dose_date(self) -> str: ...  # noqa: D102
    @property
    def medications(self) -> Sequence[MedicationInput]: ...  # noqa: D102
    @property
    def prior_therapies(self) -> Sequence[PriorTherapyInput]: ...  # noqa: D102
    @property
    def protocol_id(self) -> str: ...  # noqa: D102
    @property
    def request_id(self) -> str: ...  # noqa: D102


@dataclass(frozen=True, slots=True)
class CheckRequest:
    """A patient to screen: the planned first dose and everything taken before it."""

    first_dose_date: str
    medications: tuple[Medication, ...] = ()
    prior_therapies: tuple[PriorTherapy, ...] = ()
    protocol_id: str = ""
    request_id: str = ""


@hash_once
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
    _hash: int = hash_slot()


@hash_once
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
    _hash: int = hash_slot()


@hash_once
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
    _hash: int = hash_slot()


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


@hash_once
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
    _hash: int = hash_slot()


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
