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
from washout.v1 import washout_service_pb2 as pb

from server.engine import WashoutError
from server.engine.errors import clipped
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


class _WrapCache:
    """Each method's handler wrapped once, not on every call (the server hands out the same handler)."""

    def __init__(self, wrap: Callable[[str, Any], Any]) -> None:
        self._wrap = wrap
        self._wrapped: dict[str, tuple[Any, Any]] = {}

    def get(self, method: str, handler: Any) -> Any:
        """The wrapped ``handler`` of ``method``, wrapping it the first time it is seen."""
        cached = self._wrapped.get(method)
        if cached is None or cached[0] is not handler:
            cached = self._wrapped[method] = (handler, self._wrap(method, handler))
        return cached[1]


def _refusal(code: grpc.StatusCode, message: str) -> tuple[Any, Any]:
    """Unary and streaming handlers that end a call at once with ``code``."""

    async def refuse(request: Any, context: Any) -> Any:
        await context.abort(code, message)

    return grpc.unary_unary_rpc_method_handler(refuse), grpc.stream_stream_rpc_method_handler(refuse)


def _request_id(request: Any) -> str:
    check = getattr(request, "check", None)
    value = getattr(check if check is not None else request, "request_id", "")
    return log_safe(str(value)) or uuid.uuid4().hex[:12]


def log_safe(text: str, limit: int = 64) -> str:
    """``text`` fit for one log line: control characters escaped (no forged lines), at most ``limit`` kept."""
    return "".join(char if char.isprintable() else f"\\x{ord(char):02x}" for char in clipped(text, limit))


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


class CallSummary:
    """Counts of the calls answered, by method and verdict, with latency percentiles, logged at INFO
    once per window (``interval`` seconds after the first call of the window).

    A line per call costs about as much as screening a patient, so per-call lines are DEBUG.
    """

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self._calls: dict[str, int] = {}
        self._verdicts: dict[int, int] = {}
        self._latencies: list[float] = []
        self._window_started = 0.0

    def add(self, method: str, response: Any, latency: float) -> None:
        """Count one answered call (its verdict, when the answer has one)."""
        if not self._window_started:
            self._window_started = time.monotonic()
            asyncio.get_running_loop().call_later(self.interval, self.flush)
        self._calls[method] = self._calls.get(method, 0) + 1
        verdict = getattr(response, "verdict", None)
        if verdict is not None:
            self._verdicts[verdict] = self._verdicts.get(verdict, 0) + 1
        if len(self._latencies) < 1_000_000:
            self._latencies.append(latency)

    def flush(self) -> None:
        """Log the window's counts (nothing when there were no calls) and start a new window."""
        if not self._window_started:
            return
        elapsed = time.monotonic() - self._window_started
        latencies = sorted(self._latencies)
        calls = " ".join(f"{method}={count}" for method, count in sorted(self._calls.items()))
        verdicts = " ".join(
            f"{pb.Verdict.Name(verdict).removeprefix('VERDICT_')}={count}"
            for verdict, count in sorted(self._verdicts.items())
        )
        _LOGGER.info(
            "answered in the last %.1fs: %s; verdicts %s; latency_ms p50=%.2f p99=%.2f max=%.2f",
            elapsed,
            calls,
            verdicts or "-",
            latencies[len(latencies) // 2] * 1000,
            latencies[int(len(latencies) * 0.99)] * 1000,
            latencies[-1] * 1000,
        )
        self._calls, self._verdicts, self._latencies, self._window_started = {}, {}, [], 0.0


class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Maps every exception to a status in one place and logs calls: method, request id, counts,
    verdict and latency (a summary at INFO, every call at DEBUG); names only when the operator asked
    for patient data in the logs."""

    def __init__(self, log_patient_data: bool = False, summary: CallSummary | None = None) -> None:
        self._log_patient_data = log_patient_data
        self._handlers = _WrapCache(self._wrap_method)
        self.summary = summary or CallSummary()

    async def intercept_service(self, continuation: Continuation, handler_call_details: Any) -> Any:
        """Wrap the method's handler so that its exceptions are mapped here."""
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(_OPEN_METHOD_PREFIXES):
            # Health probes and reflection arrive every few seconds and hold no decisions: not logged.
            return handler
        return self._handlers.get(method, handler)

    def _wrap_method(self, method: str, handler: Any) -> Any:
        name = method.rsplit("/", 1)[-1]
        return _wrap(
            handler,
            lambda behaviour: self._unary(name, behaviour),
            lambda behaviour: self._streaming(name, behaviour),
        )

    def _unary(self, method: str, behaviour: Unary) -> Unary:
        async def call(request: Any, context: Any) -> Any:
            started = time.perf_counter()
            try:
                response = await behaviour(request, context)
            except Exception as error:
                await self._abort(context, method, _request_id(request), error, started)
                raise  # abort raises; this line is never reached
            latency = time.perf_counter() - started
            self.summary.add(method, response, latency)
            if _LOGGER.isEnabledFor(logging.DEBUG):
                _LOGGER.debug(
                    "%s request_id=%s %s latency_ms=%.2f",
                    method,
                    _request_id(request),
                    _summary(request, response),
                    latency * 1000,
                )
            if self._log_patient_data:
                _LOGGER.info("%s request_id=%s request=%s", method, _request_id(request), _one_line(request))
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
        self._handlers = _WrapCache(lambda method, handler: _wrap(handler, self._unary, self._streaming))

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
        return self._handlers.get(handler_call_details.method, handler)

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
