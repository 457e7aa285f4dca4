"""The engine's entry point: validate a request, read every input, apply the protocol, decide."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from . import normalise
from .dates import ParsedDate, parse_event_date, parse_first_dose_date
from .errors import FieldViolation, InvalidRequestError, ProtocolNotFoundError
from .knowledge import KnowledgeBase, load_knowledge_base
from .matcher import MatchSettings, Resolver
from .model import (
    CheckRequest,
    CheckResult,
    InputKind,
    Match,
    MatchMethod,
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
        self._resolution = functools.lru_cache(maxsize=self.resolver.settings.cache_size)(self._resolve_input)
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

    def check(self, request: CheckRequest) -> CheckResult:
        """Screen one patient.

        Raises:
            InvalidRequestError: the request is malformed; every bad field is named.
            ProtocolNotFoundError: ``protocol_id`` names no loaded protocol.
        """
        first_dose, medication_dates, therapy_dates = self._validate(request)
        book = self._books.get(request.protocol_id or self.knowledge.default_protocol_id)
        if book is None:
            raise ProtocolNotFoundError(request.protocol_id, tuple(sorted(self._books)))
        resolve = self._resolution
        exposures = [
            Exposure(resolve(InputKind.MEDICATION, index, medication.name, last), last, medication.ongoing)
            for index, (medication, last) in enumerate(zip(request.medications, medication_dates, strict=True))
        ]
        for index, (therapy, ended) in enumerate(zip(request.prior_therapies, therapy_dates, strict=True)):
            exposures.append(self._therapy_exposure(index, therapy.description, therapy.category, ended))
        reasons = evaluate(book, first_dose, exposures)
        reasons.sort(key=lambda r: (-r.severity, r.input_kind.value, r.input_index, r.rule_id))
        return CheckResult(
            request_id=request.request_id,
            protocol_id=book.protocol.protocol_id,
            verdict=verdict_of(reasons),
            reasons=tuple(reasons),
            earliest_eligible_date=earliest_eligible(reasons, first_dose),
            knowledge_version=self.version,
            resolutions=tuple(exposure.resolution for exposure in exposures),
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
        if not category:  # validation guarantees a description then
            return Exposure(self._resolution(InputKind.PRIOR_THERAPY, index, description, ended), ended, False)
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

    def _validate(self, request: CheckRequest) -> tuple[date, list[ParsedDate | None], list[ParsedDate | None]]:
        """Check every field (paths are built only for the bad ones); return the parsed dates."""
        violations: list[FieldViolation] = []
        limits = self.limits
        first_dose = date.min
        try:
            first_dose = parse_first_dose_date(request.first_dose_date)
        except ValueError as exc:
            reason = "is required" if not request.first_dose_date.strip() else str(exc)
            violations.append(FieldViolation("first_dose_date", f"{reason}: {request.first_dose_date!r}"))
        for field, items in (("medications", request.medications), ("prior_therapies", request.prior_therapies)):
            if len(items) > limits.max_items:
                violations.append(FieldViolation(field, f"at most {limits.max_items} {field} per request"))
        medication_dates: list[ParsedDate | None] = []
        for index, medication in enumerate(request.medications[: limits.max_items]):
            problem = self._name_problem(medication.name)
            if problem:
                violations.append(FieldViolation(f"medications[{index}].name", problem))
            medication_dates.append(
                _event_date(medication.last_dose_date, "medications", index, "last_dose_date", violations)
            )
        categories = self.knowledge.categories
        therapy_dates: list[ParsedDate | None] = []
        for index, therapy in enumerate(request.prior_therapies[: limits.max_items]):
            if therapy.category and therapy.category not in categories:
                valid = ", ".join(sorted(categories))
                violations.append(
                    FieldViolation(
                        f"prior_therapies[{index}].category", f"unknown category {therapy.category!r}; valid: {valid}"
                    )
                )
            # A description may be left blank only when an explicit category says what the therapy was.
            problem = self._name_problem(therapy.description)
            if problem and not (therapy.category and normalise.is_blank(therapy.description)):
                violations.append(FieldViolation(f"prior_therapies[{index}].description", problem))
            therapy_dates.append(_event_date(therapy.end_date, "prior_therapies", index, "end_date", violations))
        if violations:
            raise InvalidRequestError(violations)
        return first_dose, medication_dates, therapy_dates

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
