"""The one mapping from exceptions to rich gRPC statuses (``google.rpc.Status`` with details).

``InvalidRequestError`` becomes INVALID_ARGUMENT with one ``google.rpc.BadRequest`` naming every
bad field and a ``google.rpc.ErrorInfo``; ``ProtocolNotFoundError`` becomes NOT_FOUND; anything
unexpected becomes INTERNAL with a generic message and the request id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from server.engine import FieldViolation, InvalidRequestError, ProtocolNotFoundError
from server.engine.errors import clipped

ERROR_DOMAIN = "washout"


def status_for(error: BaseException, request_id: str) -> status_pb2.Status:
    """The rich ``google.rpc.Status`` for an exception raised while serving a call."""
    if isinstance(error, InvalidRequestError):
        bad_request = error_details_pb2.BadRequest(field_violations=_within_budget(error.violations))
        info = _error_info(error.reason, {"violations": str(len(error.violations)), "requestId": request_id})
        return _status(code_pb2.INVALID_ARGUMENT, clipped(str(error), _MESSAGE_BUDGET), bad_request, info)
    if isinstance(error, ProtocolNotFoundError):
        info = _error_info(error.reason, {"protocolId": error.protocol_id, "knownProtocols": ",".join(error.known)})
        return _status(code_pb2.NOT_FOUND, str(error), info)
    info = _error_info("INTERNAL_ERROR", {"requestId": request_id})
    return _status(code_pb2.INTERNAL, f"internal error (request id {request_id})", info)


# The status travels in a trailer (message and base64 details), and gRPC clients refuse metadata over
# 16 KiB by default (8 KiB soft): a refusal naming 400 bad fields must still reach the client as
# INVALID_ARGUMENT, so the details keep to a few KiB and the message to one line.
_MESSAGE_BUDGET = 200
_DETAIL_BUDGET = 2500
_SHORT_DESCRIPTION = 60


def _within_budget(violations: Sequence[FieldViolation]) -> list[error_details_pb2.BadRequest.FieldViolation]:
    """Every bad field by path, descriptions shortened when there are many, and only when even the
    paths overflow the budget the rest summed up in one last entry."""
    full = sum(len(v.field) + len(v.description) for v in violations) <= _DETAIL_BUDGET
    kept: list[error_details_pb2.BadRequest.FieldViolation] = []
    used = 0
    for index, violation in enumerate(violations):
        description = violation.description if full else clipped(violation.description, _SHORT_DESCRIPTION)
        used += len(violation.field) + len(description)
        if used > _DETAIL_BUDGET:
            rest = len(violations) - index
            kept.append(
                error_details_pb2.BadRequest.FieldViolation(
                    field="...", description=f"and {rest} more invalid fields; fix these first"
                )
            )
            break
        kept.append(error_details_pb2.BadRequest.FieldViolation(field=violation.field, description=description))
    return kept


def _error_info(reason: str, metadata: dict[str, str]) -> error_details_pb2.ErrorInfo:
    return error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN, metadata=metadata)


def _status(code: int, message: str, *details: Any) -> status_pb2.Status:
    packed = []
    for detail in details:
        holder = any_pb2.Any()
        holder.Pack(detail)
        packed.append(holder)
    return status_pb2.Status(code=code, message=message, details=packed)
