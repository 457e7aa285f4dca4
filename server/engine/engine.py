"""The engine's entry point: validate a request, read every input, apply the protocol, decide."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from itertools import islice
from pathlib import Path

from . import normalise
from .dates import ParsedDate, parse_event_date, parse_first_dose_date
from .errors import FieldViolation, InvalidRequestError, ProtocolNotFoundError
from .knowledge import KnowledgeBase, load_knowledge_base
from .matcher import MatchSettings, Resolver
from .model import (
    CheckInput,
    CheckResult,
    InputKind,
    Match,
    MatchMethod,
    Reason,
    Resolution,
    ResolutionStatus,
)
from .rules import Exposure, RuleBook, earliest_eligible, evaluate, verdict_of


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """Bounds checked before any matching work, so one request cannot monopolise a worker."""

    max_items: int = 200
    max_name_length: int = 300


class Engine:
    """Screens patients against the protocols of one knowledge base. Thread-safe and immutable.

    Examples:
        >>> engine = Engine.from_directory("data")
        >>> result = engine.check(CheckRequest(
        ...     first_dose_date="2026-12-10",
        ...     medications=(Medication("clarithromycin 500 mg", last_dose_date="2026-12-03"),)))
        >>> result.verdict.name, result.earliest_eligible_date.isoformat()
        ('BLOCKED', '2026-12-11')
    """

    def __init__(
        self,
        knowledge: KnowledgeBase,
        settings: MatchSettings | None = None,
        limits: RequestLimits | None = None,
    ) -> None:
        self.knowledge = knowledge
        self.limits = limits or RequestLimits()
        self.resolver = Resolver(knowledge, settings)
        # Pharmacy lists repeat: the resolution of (list, position, text, date) is built once.
        cache_size = self.resolver.settings.cache_size
        self._resolution = functools.lru_cache(maxsize=cache_size)(self._resolve_input)
        self._checked_medication = functools.lru_cache(maxsize=cache_size)(self._check_medication)
        self._checked_therapy = functools.lru_cache(maxsize=cache_size)(self._check_therapy)
        self._exposure = functools.lru_cache(maxsize=cache_size)(self._read_exposure)
        labels = {category.category_id: category.label for category in knowledge.categories.values()}
        self._books = {pid: RuleBook(protocol, labels) for pid, protocol in knowledge.protocols.items()}

    @classmethod
    def from_directory(
        cls, data_dir: Path | str, settings: MatchSettings | None = None, limits: RequestLimits | None = None
    ) -> Engine:
        """Load the knowledge base under ``data_dir`` and build an engine on it."""
        return cls(load_knowledge_base(data_dir), settings, limits)

    @property
    def version(self) -> str:
        """The knowledge version: a hash of every data and rule file."""
        return self.knowledge.version

    def check(self, request: CheckInput) -> CheckResult:
        """Screen one patient (a ``CheckRequest``, or any object with its attributes).

        Raises:
            InvalidRequestError: the request is malformed; every bad field is named.
            ProtocolNotFoundError: ``protocol_id`` names no loaded protocol.
        """
        first_dose, medications, therapies = self._validate(request)
        book = self._books.get(request.protocol_id or self.knowledge.default_protocol_id)
        if book is None:
            raise ProtocolNotFoundError(request.protocol_id, tuple(sorted(self._books)))
        exposure = self._exposure
        exposures = [
            exposure(InputKind.MEDICATION, index, name, last, ongoing, "")
            for index, (name, last, ongoing) in enumerate(medications)
        ]
        exposures += [
            exposure(InputKind.PRIOR_THERAPY, index, description, ended, False, category)
            for index, (description, ended, category) in enumerate(therapies)
        ]
        reasons = evaluate(book, first_dose, exposures)
        reasons.sort(key=_reason_order)
        return CheckResult(
            request_id=request.request_id,
            protocol_id=book.protocol.protocol_id,
            verdict=verdict_of(reasons),
            reasons=tuple(reasons),
            earliest_eligible_date=earliest_eligible(reasons, first_dose),
            knowledge_version=self.version,
            resolutions=tuple([exposure.resolution for exposure in exposures]),
        )

    def resolve(self, names: Sequence[str]) -> tuple[Resolution, ...]:
        """Read free-text names into canonical ingredients, with no dates and no verdict.

        Raises:
            InvalidRequestError: a name is blank or too long, or there are too many names.
        """
        violations: list[FieldViolation] = []
        if len(names) > self.limits.max_items:
            violations.append(FieldViolation("names", f"at most {self.limits.max_items} names per request"))
        for index, name in enumerate(names):
            problem = self._name_problem(name)
            if problem:
                violations.append(FieldViolation(f"names[{index}]", problem))
        if violations:
            raise InvalidRequestError(violations)
        return tuple(self._resolution(InputKind.NAME, index, name, None) for index, name in enumerate(names))

    # -- helpers -------------------------------------------------------------------

    def _therapy_exposure(self, index: int, description: str, category: str, ended: ParsedDate | None) -> Exposure:
        # An explicit category is authoritative; a confident reading of the description adds to it.
        reading = self.resolver.read(description) if not normalise.is_blank(description) else None
        confirmed = tuple(m for m in reading.matches if m.method is not MatchMethod.REVIEW_BAND) if reading else ()
        matches = confirmed
        if not any(category in m.categories for m in confirmed):
            explicit = Match(
                description.strip() or category,
                (category,),
                100.0,
                MatchMethod.EXPLICIT_CATEGORY,
                category,
                description,
            )
            matches = (explicit, *confirmed)
        notes = (f"category '{category}' given explicitly",) + (reading.notes if reading and confirmed else ())
        resolution = Resolution(
            InputKind.PRIOR_THERAPY, index, description, ResolutionStatus.RESOLVED, matches, _date_notes(ended) + notes
        )
        return Exposure(resolution, ended, False, category_given=True)

    def _validate(
        self, request: CheckInput
    ) -> tuple[date, list[tuple[str, ParsedDate | None, bool]], list[tuple[str, ParsedDate | None, str]]]:
        """Check every field before any reading (paths are built only for the bad ones).

        Returns the first dose and each item's text, parsed date and flag. Every field is read
        once (a wire message builds a new string per read), and item checks are cached on the
        item's own fields: pharmacy lists repeat.
        """
        violations: list[FieldViolation] = []
        limits = self.limits
        first_dose = _first_dose(request.first_dose_date)
        if isinstance(first_dose, FieldViolation):
            violations.append(first_dose)
            first_dose = date.min
        given_medications, given_therapies = request.medications, request.prior_therapies
        for field, items in (("medications", given_medications), ("prior_therapies", given_therapies)):
            if len(items) > limits.max_items:
                violations.append(FieldViolation(field, f"at most {limits.max_items} {field} per request"))
        checked_medication, checked_therapy = self._checked_medication, self._checked_therapy
        medications: list[tuple[str, ParsedDate | None, bool]] = []
        for index, medication in enumerate(islice(given_medications, limits.max_items)):
            name = medication.name
            problems, last = checked_medication(index, name, medication.last_dose_date)
            if problems:
                violations.extend(problems)
            medications.append((name, last, medication.ongoing))
        therapies: list[tuple[str, ParsedDate | None, str]] = []
        for index, therapy in enumerate(islice(given_therapies, limits.max_items)):
            description, category = therapy.description, therapy.category
            problems, ended = checked_therapy(index, description, therapy.end_date, category)
            if problems:
                violations.extend(problems)
            therapies.append((description, ended, category))
        if violations:
            raise InvalidRequestError(violations)
        return first_dose, medications, therapies

    def _check_medication(
        self, index: int, name: str, last_dose_date: str
    ) -> tuple[tuple[FieldViolation, ...], ParsedDate | None]:
        violations: list[FieldViolation] = []
        problem = self._name_problem(name)
        if problem:
            violations.append(FieldViolation(f"medications[{index}].name", problem))
        last = _event_date(last_dose_date, "medications", index, "last_dose_date", violations)
        return tuple(violations), last

    def _check_therapy(
        self, index: int, description: str, end_date: str, category: str
    ) -> tuple[tuple[FieldViolation, ...], ParsedDate | None]:
        violations: list[FieldViolation] = []
        categories = self.knowledge.categories
        if category and category not in categories:
            valid = ", ".join(sorted(categories))
            violations.append(
                FieldViolation(f"prior_therapies[{index}].category", f"unknown category {category!r}; valid: {valid}")
            )
        # A description may be left blank only when an explicit category says what the therapy was.
        problem = self._name_problem(description)
        if problem and not (category and normalise.is_blank(description)):
            violations.append(FieldViolation(f"prior_therapies[{index}].description", problem))
        ended = _event_date(end_date, "prior_therapies", index, "end_date", violations)
        return tuple(violations), ended

    def _read_exposure(
        self, kind: InputKind, index: int, text: str, dated: ParsedDate | None, ongoing: bool, category: str
    ) -> Exposure:
        if category:
            return self._therapy_exposure(index, text, category, dated)
        return Exposure(self._resolution(kind, index, text, dated), dated, ongoing)

    def _resolve_input(self, kind: InputKind, index: int, text: str, dated: ParsedDate | None) -> Resolution:
        reading = self.resolver.read(text)
        return Resolution(
            input_kind=kind,
            input_index=index,
            input=text,
            status=reading.status,
            matches=reading.matches,
            notes=_date_notes(dated) + reading.notes,
            unread=reading.unread,
        )

    def _name_problem(self, name: str) -> str | None:
        if len(name) > self.limits.max_name_length:
            return f"longer than {self.limits.max_name_length} characters"
        if normalise.is_blank(name):
            return "is empty or blank"
        return None


@functools.lru_cache(maxsize=1024)  # a handful of planned dates at a time
def _first_dose(text: str) -> date | FieldViolation:
    try:
        return parse_first_dose_date(text)
    except ValueError as exc:
        reason = "is required" if not text.strip() else str(exc)
        return FieldViolation("first_dose_date", f"{reason}: {text!r}")


def _reason_order(reason: Reason) -> tuple[int, str, int, str]:
    return (-reason.severity, reason.input_kind.value, reason.input_index, reason.rule_id)


def _event_date(text: str, field: str, index: int, name: str, violations: list[FieldViolation]) -> ParsedDate | None:
    try:
        return parse_event_date(text)
    except ValueError as exc:
        violations.append(FieldViolation(f"{field}[{index}].{name}", f"{exc}: {text!r}"))
        return None


def _date_notes(parsed: ParsedDate | None) -> tuple[str, ...]:
    if parsed is None or not parsed.partial:
        return ()
    return (f"date known only to the {parsed.precision}: read as {parsed.value.isoformat()}, the safe side",)
