"""Conversions between the wire messages of ``washout.v1`` and the engine's value types.

Check answers are the hot path, so they are also written straight to wire bytes: protobuf's
encoding of a message is the concatenation of its fields' encodings, so the header of an answer
is encoded per call and each reason and resolution once (cached), and the bytes are joined.
``encoded_check_response`` parses to exactly what ``check_response`` builds (a test holds it).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import cast

from google.protobuf.message import Message
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


@dataclass(frozen=True, slots=True)
class Encoded:
    """An answer already in wire form, with its verdict (``pb.Verdict``, 0 when it has none) for the call log."""

    data: bytes
    verdict: int = 0


def serializer(message_type: type[Message]) -> Callable[[Message | Encoded], bytes]:
    """A gRPC response serializer for ``message_type`` that also passes ``Encoded`` answers through."""
    serialize = message_type.SerializeToString

    def to_bytes(answer: Message | Encoded) -> bytes:
        return answer.data if isinstance(answer, Encoded) else bytes(serialize(answer))

    return to_bytes


def encoded_check_response(result: CheckResult) -> Encoded:
    """The wire bytes of ``check_response(result)``."""
    verdict = _VERDICTS[result.verdict]
    header = _encoded_header(verdict, result.earliest_eligible_date, result.knowledge_version, result.protocol_id)
    return Encoded(
        b"".join(
            [
                _string_field(_REQUEST_ID_FIELD, result.request_id),
                header,
                *map(_encoded_reason, result.reasons),
                *map(_encoded_resolution, result.resolutions),
            ]
        ),
        verdict,
    )


def encoded_stream_answer(result: CheckResult) -> Encoded:
    """The wire bytes of a ``CheckStreamResponse`` holding ``check_response(result)``."""
    check = encoded_check_response(result)
    return Encoded(_length_delimited(_STREAM_CHECK_FIELD, check.data), check.verdict)


def encoded_batch_answer(answers: list[Encoded]) -> Encoded:
    """The wire bytes of a ``CheckBatchStreamResponse`` holding ``answers`` (encoded stream answers) in order."""
    return Encoded(b"".join([_length_delimited(_BATCH_RESULTS_FIELD, answer.data) for answer in answers]))


def encoded(message: pb.CheckStreamResponse) -> Encoded:
    """A message built the ordinary way (an error answer), in wire form."""
    return Encoded(bytes(message.SerializeToString()))


# Field numbers written by hand above, read from the generated descriptors.
_REQUEST_ID_FIELD = pb.CheckResponse.DESCRIPTOR.fields_by_name["request_id"].number
_STREAM_CHECK_FIELD = pb.CheckStreamResponse.DESCRIPTOR.fields_by_name["check"].number
_BATCH_RESULTS_FIELD = pb.CheckBatchStreamResponse.DESCRIPTOR.fields_by_name["results"].number
_LENGTH_DELIMITED = 2  # protobuf wire type of strings, bytes and sub-messages


def _length_delimited(field_number: int, payload: bytes) -> bytes:
    """One length-delimited field: key, length as a base-128 varint, payload."""
    head = bytearray()
    for value in ((field_number << 3) | _LENGTH_DELIMITED, len(payload)):
        while value > 0x7F:
            head.append(0x80 | (value & 0x7F))
            value >>= 7
        head.append(value)
    return bytes(head) + payload


def _string_field(field_number: int, text: str) -> bytes:
    # proto3 leaves a default (empty) value off the wire.
    return _length_delimited(field_number, text.encode()) if text else b""


@functools.lru_cache(maxsize=4096)  # a handful of verdicts, dates and versions at a time
def _encoded_header(verdict: int, earliest: date | None, knowledge_version: str, protocol_id: str) -> bytes:
    header = pb.CheckResponse(
        verdict=cast(pb.Verdict, verdict), knowledge_version=knowledge_version, protocol_id=protocol_id
    )
    if earliest is not None:
        header.earliest_eligible_date = earliest.isoformat()
    return bytes(header.SerializeToString())


def check_response(result: CheckResult) -> pb.CheckResponse:
    """The wire ``CheckResponse`` for an engine result."""
    response = pb.CheckResponse()
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
    return response


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
