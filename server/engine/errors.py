"""Domain exceptions of the washout engine; transport-free, mapped to status codes by the server.

Hierarchy:

* WashoutError
    * InvalidRequestError   -- the request is malformed; carries every bad field by path
    * ProtocolNotFoundError -- the request names a protocol that is not loaded
    * KnowledgeError        -- a data or rule file is malformed; carries its path and line
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class WashoutError(Exception):
    """Base class of every error the engine raises on purpose."""


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One bad field of a request, named by its path (e.g. ``medications[2].last_dose_date``)."""

    field: str
    description: str


class InvalidRequestError(WashoutError):
    """The request cannot be evaluated; ``violations`` names every bad field."""

    reason = "INVALID_REQUEST"

    def __init__(self, violations: list[FieldViolation]) -> None:
        super().__init__(f"{len(violations)} invalid field(s): " + "; ".join(v.field for v in violations))
        self.violations = tuple(violations)


_SHOWN = 40


def clipped(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with "..." when it was longer."""
    return text if len(text) <= limit else text[:limit] + "..."


def shown(text: str) -> str:
    """A value echoed in an error: quoted, and cut short (a 50,000-character field must not make an
    error too large to deliver)."""
    return repr(clipped(text, _SHOWN))


class ProtocolNotFoundError(WashoutError):
    """The request names a protocol id that is not loaded."""

    reason = "PROTOCOL_NOT_FOUND"

    def __init__(self, protocol_id: str, known: tuple[str, ...]) -> None:
        super().__init__(f"unknown protocol_id {shown(protocol_id)}; loaded: {', '.join(known)}")
        self.protocol_id = clipped(protocol_id, _SHOWN)
        self.known = known


class KnowledgeError(WashoutError):
    """A knowledge file is missing or malformed; the message names the file and line."""

    def __init__(self, path: Path | str, line: int | None, problem: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")
        self.path = str(path)
        self.line = line
        self.problem = problem
