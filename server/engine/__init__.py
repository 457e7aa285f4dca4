"""The washout engine: a pure-Python library (no gRPC) that screens medications against trial rules.

Embed it in another service::

    from server.engine import CheckRequest, Engine, Medication

    engine = Engine.from_directory("data")
    result = engine.check(CheckRequest(first_dose_date="2026-12-10",
                                       medications=(Medication("Biaxin XL", "2026-12-03"),)))
    print(result.verdict, result.earliest_eligible_date, [r.message for r in result.reasons])
"""

from .engine import Engine, RequestLimits
from .errors import FieldViolation, InvalidRequestError, KnowledgeError, ProtocolNotFoundError, WashoutError
from .knowledge import KnowledgeBase, load_knowledge_base
from .matcher import MatchSettings
from .model import (
    CheckRequest,
    CheckResult,
    Counting,
    InputKind,
    Match,
    MatchMethod,
    Medication,
    PriorTherapy,
    Protocol,
    Reason,
    Resolution,
    ResolutionStatus,
    Rule,
    Verdict,
)

__all__ = [
    "CheckRequest",
    "CheckResult",
    "Counting",
    "Engine",
    "FieldViolation",
    "InputKind",
    "InvalidRequestError",
    "KnowledgeBase",
    "KnowledgeError",
    "Match",
    "MatchMethod",
    "MatchSettings",
    "Medication",
    "PriorTherapy",
    "Protocol",
    "ProtocolNotFoundError",
    "Reason",
    "RequestLimits",
    "Resolution",
    "ResolutionStatus",
    "Rule",
    "Verdict",
    "WashoutError",
    "load_knowledge_base",
]
