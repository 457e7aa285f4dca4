"""Server interceptors (asyncio): exception mapping with privacy-safe call logs, bearer-token auth, and
call tracking so that SIGTERM drains the calls already accepted while new ones get UNAVAILABLE."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc_status import rpc_status

from server.engine import WashoutError
from server.status import status_for

_LOGGER = logging.getLogger("washout.calls")
_OPEN_METHOD_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")

Unary = Callable[[Any, Any], Awaitable[Any]]
Streaming = Callable[[AsyncIterator[Any], Any], AsyncIterator[Any]]
Continuation = Callable[[Any], Awaitable[Any]]


def _wrap(handler: Any, unary: Callable[[Unary], Unary], streaming: Callable[[Streaming], Streaming]) -> Any:
    """A copy of ``handler`` whose behaviour is wrapped (unary-unary and stream-stream, what this service uses)."""
    if handler is None:
        return None
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            unary(handler.unary_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.stream_stream is not None:
        return grpc.stream_stream_rpc_method_handler(
            streaming(handler.stream_stream),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    return handler


def _refusal(code: grpc.StatusCode, message: str) -> tuple[Any, Any]:
    """Unary and streaming handlers that end a call at once with ``code``."""

    async def refuse(request: Any, context: Any) -> Any:
        await context.abort(code, message)

    return grpc.unary_unary_rpc_method_handler(refuse), grpc.stream_stream_rpc_method_handler(refuse)


def _request_id(request: Any) -> str:
    check = getattr(request, "check", None)
    value = getattr(check if check is not None else request, "request_id", "")
    return str(value) or uuid.uuid4().hex[:12]


def _summary(request: Any, response: Any) -> str:
    """Counts and verdicts only: names are patient data and stay out of the log."""
    parts = []
    for field in ("medications", "prior_therapies", "names"):
        items = getattr(request, field, None)
        if items is not None:
            parts.append(f"{field}={len(items)}")
    verdict = getattr(response, "verdict", None)
    if verdict is not None:
        parts.append(f"verdict={verdict}")
    return " ".join(parts)


class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Maps every exception to a status in one place and logs each call: method, request id, counts,
    verdict and latency; names only when the operator asked for patient data in the logs."""

    def __init__(self, log_patient_data: bool = False) -> None:
        self._log_patient_data = log_patient_data

    async def intercept_service(self, continuation: Continuation, handler_call_details: Any) -> Any:
        """Wrap the method's handler so that its exceptions are mapped here."""
        handler = await continuation(handler_call_details)
        if handler_call_details.method.startswith(_OPEN_METHOD_PREFIXES):
            # Health probes and reflection arrive every few seconds and hold no decisions: not logged.
            return handler
        method = handler_call_details.method.rsplit("/", 1)[-1]
        return _wrap(
            handler,
            lambda behaviour: self._unary(method, behaviour),
            lambda behaviour: self._streaming(method, behaviour),
        )

    def _unary(self, method: str, behaviour: Unary) -> Unary:
        async def call(request: Any, context: Any) -> Any:
            started = time.perf_counter()
            request_id = _request_id(request)
            try:
                response = await behaviour(request, context)
            except Exception as error:
                await self._abort(context, method, request_id, error, started)
                raise  # abort raises; this line is never reached
            _LOGGER.info(
                "%s request_id=%s %s latency_ms=%.2f",
                method,
                request_id,
                _summary(request, response),
                (time.perf_counter() - started) * 1000,
            )
            if self._log_patient_data:
                _LOGGER.info("%s request_id=%s request=%s", method, request_id, _one_line(request))
            return response

        return call

    def _streaming(self, method: str, behaviour: Streaming) -> Streaming:
        async def call(requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
            started = time.perf_counter()
            answers = 0
            try:
                async for response in behaviour(requests, context):
                    answers += 1
                    yield response
            except Exception as error:
                await self._abort(context, method, "stream", error, started)
                raise
            _LOGGER.info("%s answers=%d latency_ms=%.2f", method, answers, (time.perf_counter() - started) * 1000)

        return call

    async def _abort(self, context: Any, method: str, request_id: str, error: Exception, started: float) -> None:
        elapsed = (time.perf_counter() - started) * 1000
        if isinstance(error, WashoutError):
            _LOGGER.info(
                "%s request_id=%s rejected=%s latency_ms=%.2f", method, request_id, type(error).__name__, elapsed
            )
        else:
            _LOGGER.error("%s request_id=%s failed latency_ms=%.2f", method, request_id, elapsed, exc_info=error)
        status = rpc_status.to_status(status_for(error, request_id))
        await context.abort(status.code, status.details, status.trailing_metadata)


def _one_line(message: Any) -> str:
    return " ".join(str(message).split())


class BearerTokenInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Requires ``authorization: Bearer <token>`` on every call but health and reflection,
    compared in constant time; anything else is UNAUTHENTICATED."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()
        self._deny_unary, self._deny_stream = _refusal(
            grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token"
        )

    async def intercept_service(self, continuation: Continuation, handler_call_details: Any) -> Any:
        """Let the call through only with the right token."""
        if handler_call_details.method.startswith(_OPEN_METHOD_PREFIXES):
            return await continuation(handler_call_details)
        presented = b""
        for key, value in handler_call_details.invocation_metadata or ():
            if key == "authorization":
                presented = value.encode() if isinstance(value, str) else value
        if hmac.compare_digest(presented, self._expected):
            return await continuation(handler_call_details)
        return self._deny_stream if handler_call_details.method.endswith("Stream") else self._deny_unary


class CallTracker(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Counts calls from the moment gRPC hands them to us until they end, so a drain can wait
    for exactly the calls accepted before it began; during a drain new calls get UNAVAILABLE."""

    def __init__(self) -> None:
        self._active = 0
        self._draining = False
        self._refuse_unary, self._refuse_stream = _refusal(
            grpc.StatusCode.UNAVAILABLE, "server is shutting down; retry on another replica"
        )

    @property
    def active(self) -> int:
        """The number of calls in progress."""
        return self._active

    def begin_drain(self) -> None:
        """Refuse new calls from now on."""
        self._draining = True

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until no call is in progress; False if ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        while self._active and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return self._active == 0

    async def intercept_service(self, continuation: Continuation, handler_call_details: Any) -> Any:
        """Count the call, or refuse it while draining (health stays answerable)."""
        if self._draining and not handler_call_details.method.startswith(_OPEN_METHOD_PREFIXES):
            return self._refuse_stream if handler_call_details.method.endswith("Stream") else self._refuse_unary
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        return _wrap(handler, self._unary, self._streaming)

    def _unary(self, behaviour: Unary) -> Unary:
        async def call(request: Any, context: Any) -> Any:
            self._active += 1
            try:
                return await behaviour(request, context)
            finally:
                self._active -= 1

        return call

    def _streaming(self, behaviour: Streaming) -> Streaming:
        async def call(requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
            self._active += 1
            try:
                async for response in behaviour(requests, context):
                    yield response
            finally:
                self._active -= 1

        return call
