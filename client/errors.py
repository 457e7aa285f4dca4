"""Typed exceptions of the client, built from a gRPC error and its rich status details.

Hierarchy:

* WashoutClientError
    * InvalidRequestError  -- INVALID_ARGUMENT; ``violations`` names every bad field
    * ProtocolNotFoundError -- NOT_FOUND
    * UnauthenticatedError -- UNAUTHENTICATED
    * ServiceUnavailableError -- UNAVAILABLE or DEADLINE_EXCEEDED: retry later
    * ServerError -- INTERNAL or anything else
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


@dataclass(frozen=True, slots=True)
class Violation:
    """One bad field named by the server."""

    field: str
    description: str


class WashoutClientError(Exception):
    """A call failed; ``code``, ``reason`` (ErrorInfo) and ``violations`` say why."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        reason: str = "",
        metadata: dict[str, str] | None = None,
        violations: tuple[Violation, ...] = (),
    ) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.reason = reason
        self.metadata = metadata or {}
        self.violations = violations


class InvalidRequestError(WashoutClientError):
    """The server refused the request as malformed (INVALID_ARGUMENT)."""


class ProtocolNotFoundError(WashoutClientError):
    """The request named an unknown protocol (NOT_FOUND)."""


class UnauthenticatedError(WashoutClientError):
    """The server wants a valid bearer token (UNAUTHENTICATED)."""


class ServiceUnavailableError(WashoutClientError):
    """The server could not be reached or did not answer in time (UNAVAILABLE, DEADLINE_EXCEEDED)."""


class ServerError(WashoutClientError):
    """The server failed (INTERNAL or another code)."""


_BY_CODE: dict[grpc.StatusCode, type[WashoutClientError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequestError,
    grpc.StatusCode.NOT_FOUND: ProtocolNotFoundError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.UNAVAILABLE: ServiceUnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: ServiceUnavailableError,
}


def from_rpc_error(error: grpc.RpcError) -> WashoutClientError:
    """The typed exception for a failed call, with ErrorInfo and BadRequest unpacked."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    message = error.details() if hasattr(error, "details") else str(error)
    reason, metadata = "", {}
    violations: tuple[Violation, ...] = ()
    try:
        status = rpc_status.from_call(error)
    except (ValueError, NotImplementedError, AttributeError):
        status = None
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason, metadata = info.reason, dict(info.metadata)
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations = tuple(Violation(v.field, v.description) for v in bad.field_violations)
    return _BY_CODE.get(code, ServerError)(code, message or "", reason, metadata, violations)
