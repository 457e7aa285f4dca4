"""The engine's entry point: validate a request, read every input, apply the protocol, decide."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from . import normalise
from .dates import ParsedDate, parse_event_date, parse_first_dose_date
from .errors import FieldViolation, InvalidRequestError, ProtocolNotFoundError, shown
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
from .rules import Assessment, Exposure, RuleBook, combine, earliest_eligible, verdict_of

# One item of a request: its field problems, or what it says the patient took and when, with what
# the protocol says of it on the planned first dose (``None`` when there is no valid one to assess).
_Item = tuple[tuple[FieldViolation, ...], Exposure | None, Assessment | None]


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """Bounds checked before the inputs they bound are read, so one request cannot monopolise a worker."""

    max_items: int = 200
    max_name_length: int = 300
    max_request_id_length: int = 128
    # Patients per CheckBatchStream message: about 1.7 KB of answer each, so a full message stays well
    # under the 4 MiB a gRPC client accepts by default.
    max_batch_checks: int = 1000


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
        # Pharmacy lists repeat: the resolution of (list, position, text, date notes) is built once.
        cache_size = self.resolver.settings.cache_size
        self._resolution = functools.lru_cache(maxsize=cache_size)(self._resolve_input)
        # One look-up per item and planned first dose: its field problems, or its exposure and what
        # the protocol says of it. The key is the item's own fields, so it hashes in C.
        self._medication = functools.lru_cache(maxsize=cache_size)(self._medication_item)
        self._therapy = functools.lru_cache(maxsize=cache_size)(self._therapy_item)
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
        book = self._books.get(request.protocol_id or self.knowledge.default_protocol_id)
        first_dose, assessed = self._read_request(request, book)
        if book is None:
            raise ProtocolNotFoundError(request.protocol_id, tuple(sorted(self._books)))
        reasons = combine(book, first_dose, assessed)
        reasons.sort(key=_reason_order)
        return CheckResult(
            request_id=request.request_id,
            protocol_id=book.protocol.protocol_id,
            verdict=verdict_of(reasons),
            reasons=tuple(reasons),
            earliest_eligible_date=earliest_eligible(reasons, first_dose),
            knowledge_version=self.version,
            resolutions=tuple([exposure.resolution for exposure, _ in assessed]),
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
        return tuple(self._resolution(InputKind.NAME, index, name, ()) for index, name in enumerate(names))

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

    def _read_request(
        self, request: CheckInput, book: RuleBook | None
    ) -> tuple[date, list[tuple[Exposure, Assessment]]]:
        """The first dose and every item read and assessed, or ``InvalidRequestError`` naming every bad field.

        Lists over the size limit are refused before any item is looked at. Each item is checked,
        read and assessed in one cached step keyed on its own fields and the first dose (a wire
        message builds a new string per read, so each field is read once); an item with a bad
        field is never read. Nothing is assessed without a protocol and a valid first dose.
        """
        violations: list[FieldViolation] = []
        request_id = request.request_id
        if len(request_id) > self.limits.max_request_id_length or not request_id.isprintable():
            limit = self.limits.max_request_id_length
            violations.append(FieldViolation("request_id", f"at most {limit} printable characters"))
        first_dose = _first_dose(request.first_dose_date)
        if isinstance(first_dose, FieldViolation):
            violations.append(first_dose)
            first_dose, book = date.min, None
        medications, therapies = request.medications, request.prior_therapies
        limit = self.limits.max_items
        oversize = [
            FieldViolation(field, f"at most {limit} {field} per request")
            for field, items in (("medications", medications), ("prior_therapies", therapies))
            if len(items) > limit
        ]
        if oversize:
            raise InvalidRequestError(violations + oversize)
        medication_item, therapy_item = self._medication, self._therapy
        items = [
            medication_item(book, first_dose, i, m.name, m.last_dose_date, m.ongoing) for i, m in enumerate(medications)
        ]
        items += [
            therapy_item(book, first_dose, i, t.description, t.end_date, t.category) for i, t in enumerate(therapies)
        ]
        assessed: list[tuple[Exposure, Assessment]] = []
        for problems, exposure, assessment in items:
            if problems:
                violations.extend(problems)
            elif exposure is not None and assessment is not None:
                assessed.append((exposure, assessment))
        if violations:
            raise InvalidRequestError(violations)
        return first_dose, assessed

    def _medication_item(
        self, book: RuleBook | None, first_dose: date, index: int, name: str, last_dose_date: str, ongoing: bool
    ) -> _Item:
        violations: list[FieldViolation] = []
        problem = self._name_problem(name)
        if problem:
            violations.append(FieldViolation(f"medications[{index}].name", problem))
        last = _event_date(last_dose_date, "medications", index, "last_dose_date", violations)
        if violations:
            return tuple(violations), None, None
        exposure = Exposure(self._resolution(InputKind.MEDICATION, index, name, _date_notes(last)), last, ongoing)
        return (), exposure, _assessment(book, exposure, first_dose)

    def _therapy_item(
        self, book: RuleBook | None, first_dose: date, index: int, description: str, end_date: str, category: str
    ) -> _Item:
        violations: list[FieldViolation] = []
        categories = self.knowledge.categories
        if category and category not in categories:
            valid = ", ".join(sorted(categories))
            violations.append(
                FieldViolation(
                    f"prior_therapies[{index}].category", f"unknown category {shown(category)}; valid: {valid}"
                )
            )
        # A description may be left blank only when an explicit category says what the therapy was.
        problem = self._name_problem(description)
        if problem and not (category and normalise.is_blank(description)):
            violations.append(FieldViolation(f"prior_therapies[{index}].description", problem))
        ended = _event_date(end_date, "prior_therapies", index, "end_date", violations)
        if violations:
            return tuple(violations), None, None
        if category:
            exposure = self._therapy_exposure(index, description, category, ended)
        else:
            resolution = self._resolution(InputKind.PRIOR_THERAPY, index, description, _date_notes(ended))
            exposure = Exposure(resolution, ended, False)
        return (), exposure, _assessment(book, exposure, first_dose)

    def _resolve_input(self, kind: InputKind, index: int, text: str, date_notes: tuple[str, ...]) -> Resolution:
        # Keyed on the date's notes, not the date: a full date adds nothing to how an input reads,
        # so every dose date of the same input at the same place shares one resolution.
        reading = self.resolver.read(text)
        return Resolution(
            input_kind=kind,
            input_index=index,
            input=text,
            status=reading.status,
            matches=reading.matches,
            notes=date_notes + reading.notes,
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
        return FieldViolation("first_dose_date", f"{reason}: {shown(text)}")


def _assessment(book: RuleBook | None, exposure: Exposure, first_dose: date) -> Assessment | None:
    return book.assessment(exposure, first_dose) if book is not None else None


def _reason_order(reason: Reason) -> tuple[int, str, int, str]:
    return (-reason.severity, reason.input_kind, reason.input_index, reason.rule_id)  # a StrEnum sorts as its text


def _event_date(text: str, field: str, index: int, name: str, violations: list[FieldViolation]) -> ParsedDate | None:
    try:
        return parse_event_date(text)
    except ValueError as exc:
        violations.append(FieldViolation(f"{field}[{index}].{name}", f"{exc}: {shown(text)}"))
        return None


def _date_notes(parsed: ParsedDate | None) -> tuple[str, ...]:
    if parsed is None or not parsed.partial:
        return ()
    return (f"date known only to the {parsed.precision}: read as {parsed.value.isoformat()}, the safe side",)
