"""Conversions between the wire messages of ``washout.v1`` and the engine's value types."""

from __future__ import annotations

import functools
from typing import cast

from washout.v1 import washout_service_pb2 as pb

from server.engine import (
    CheckResult,
    Counting,
    InputKind,
    KnowledgeBase,
    Match,
    MatchMethod,
    Reason,
    Resolution,
    ResolutionStatus,
    Verdict,
)

_VERDICTS = {
    Verdict.ELIGIBLE: pb.VERDICT_ELIGIBLE,
    Verdict.BLOCKED: pb.VERDICT_BLOCKED,
    Verdict.NEEDS_REVIEW: pb.VERDICT_NEEDS_REVIEW,
}
_KINDS = {
    InputKind.MEDICATION: pb.INPUT_KIND_MEDICATION,
    InputKind.PRIOR_THERAPY: pb.INPUT_KIND_PRIOR_THERAPY,
    InputKind.NAME: pb.INPUT_KIND_NAME,
}
_STATUSES = {
    ResolutionStatus.RESOLVED: pb.RESOLUTION_STATUS_RESOLVED,
    ResolutionStatus.AMBIGUOUS: pb.RESOLUTION_STATUS_AMBIGUOUS,
    ResolutionStatus.UNRESOLVED: pb.RESOLUTION_STATUS_UNRESOLVED,
}
_METHODS: dict[MatchMethod, pb.MatchMethod] = {
    method: cast(pb.MatchMethod, pb.MatchMethod.Value(f"MATCH_METHOD_{method.name}")) for method in MatchMethod
}
_COUNTINGS: dict[Counting, pb.Counting] = {
    counting: cast(pb.Counting, pb.Counting.Value(f"COUNTING_{counting.name}")) for counting in Counting
}


def check_response(result: CheckResult) -> pb.CheckResponse:
    """The wire ``CheckResponse`` for an engine result."""
    response = pb.CheckResponse()
    fill_check_response(response, result)
    return response


def fill_check_response(response: pb.CheckResponse, result: CheckResult) -> None:
    """Write an engine result into an empty ``CheckResponse`` (one inside a stream answer: no copy)."""
    response.request_id = result.request_id
    response.verdict = _VERDICTS[result.verdict]
    if result.earliest_eligible_date is not None:
        response.earliest_eligible_date = result.earliest_eligible_date.isoformat()
    response.knowledge_version = result.knowledge_version
    response.protocol_id = result.protocol_id
    # Repeated fields merge by concatenation on the wire, so each reason and resolution is encoded
    # once (cached) and the list is parsed in C, instead of copying sub-messages one by one.
    response.MergeFromString(
        b"".join([*map(_encoded_reason, result.reasons), *map(_encoded_resolution, result.resolutions)])
    )


@functools.lru_cache(maxsize=32768)
def _encoded_reason(reason: Reason) -> bytes:
    return bytes(pb.CheckResponse(reasons=[_reason(reason)]).SerializeToString())


@functools.lru_cache(maxsize=32768)
def _encoded_resolution(resolution: Resolution) -> bytes:
    return bytes(pb.CheckResponse(resolutions=[resolution_message(resolution)]).SerializeToString())


# The engine's results are immutable and pharmacy lists repeat, so the messages built for them
# are cached; protobuf copies a message into a repeated field, so the cached one is never shared.
@functools.lru_cache(maxsize=32768)
def resolution_message(resolution: Resolution) -> pb.InputResolution:
    """The wire ``InputResolution`` for an engine resolution."""
    return pb.InputResolution(
        input_kind=_KINDS[resolution.input_kind],
        input_index=resolution.input_index,
        input=resolution.input,
        status=_STATUSES[resolution.status],
        matches=[_match(match) for match in resolution.matches],
        notes=resolution.notes,
    )


def knowledge_message(knowledge: KnowledgeBase) -> pb.GetKnowledgeBaseResponse:
    """The wire description of a knowledge base."""
    return pb.GetKnowledgeBaseResponse(
        version=knowledge.version,
        default_protocol_id=knowledge.default_protocol_id,
        protocols=[
            pb.Protocol(
                id=protocol.protocol_id,
                title=protocol.title,
                registry_id=protocol.registry_id,
                source=protocol.source,
                rules=[
                    pb.Rule(
                        rule_id=rule.rule_id,
                        category=rule.category,
                        counting=_COUNTINGS[rule.counting],
                        window_days=rule.window_days,
                        review_days=rule.review_days,
                        min_distinct=rule.min_distinct,
                        replaces=rule.replaces,
                        criterion=rule.criterion,
                        source=rule.source,
                    )
                    for rule in protocol.rules
                ],
            )
            for protocol in knowledge.protocols.values()
        ],
        tables=[pb.KnowledgeTable(name=t.name, row_count=t.row_count, sources=t.sources) for t in knowledge.tables],
        categories=[pb.Category(id=c.category_id, label=c.label) for c in knowledge.categories.values()],
    )


def _reason(reason: Reason) -> pb.Reason:
    return pb.Reason(
        rule_id=reason.rule_id,
        category=reason.category,
        input=reason.input,
        matched_name=reason.matched_name,
        match_score=reason.match_score,
        window_days=reason.window_days,
        eligible_from=reason.eligible_from.isoformat() if reason.eligible_from else "",
        message=reason.message,
        severity=_VERDICTS[reason.severity],
        input_kind=_KINDS[reason.input_kind],
        input_index=reason.input_index,
        criterion=reason.criterion,
    )


@functools.lru_cache(maxsize=32768)
def _match(match: Match) -> pb.Match:
    return pb.Match(
        ingredient=match.ingredient,
        categories=match.categories,
        score=match.score,
        method=_METHODS[match.method],
        matched_alias=match.matched_alias,
        matched_text=match.matched_text,
        systemic=match.systemic,
    )
