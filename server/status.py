"""The one mapping from exceptions to rich gRPC statuses (``google.rpc.Status`` with details).

``InvalidRequestError`` becomes INVALID_ARGUMENT with one ``google.rpc.BadRequest`` naming every
bad field and a ``google.rpc.ErrorInfo``; ``ProtocolNotFoundError`` becomes NOT_FOUND; anything
unexpected becomes INTERNAL with a generic message and the request id.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from server.engine import InvalidRequestError, ProtocolNotFoundError

ERROR_DOMAIN = "washout"


def status_for(error: BaseException, request_id: str) -> status_pb2.Status:
    """The rich ``google.rpc.Status`` for an exception raised while serving a call."""
    if isinstance(error, InvalidRequestError):
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                for v in error.violations
            ]
        )
        info = _error_info(error.reason, {"violations": str(len(error.violations)), "requestId": request_id})
        return _status(code_pb2.INVALID_ARGUMENT, str(error), bad_request, info)
    if isinstance(error, ProtocolNotFoundError):
        info = _error_info(error.reason, {"protocolId": error.protocol_id, "knownProtocols": ",".join(error.known)})
        return _status(code_pb2.NOT_FOUND, str(error), info)
    info = _error_info("INTERNAL_ERROR", {"requestId": request_id})
    return _status(code_pb2.INTERNAL, f"internal error (request id {request_id})", info)


def _error_info(reason: str, metadata: dict[str, str]) -> error_details_pb2.ErrorInfo:
    return error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN, metadata=metadata)


def _status(code: int, message: str, *details: Any) -> status_pb2.Status:
    packed = []
    for detail in details:
        holder = any_pb2.Any()
        holder.Pack(detail)
        packed.append(holder)
    return status_pb2.Status(code=code, message=message, details=packed)
