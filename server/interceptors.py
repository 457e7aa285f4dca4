"""Server interceptors: exception mapping with privacy-safe call logs, bearer-token auth, and call tracking
so that SIGTERM drains the calls already accepted while new ones get UNAVAILABLE."""

from __future__ import annotations

import hmac
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from grpc_status import rpc_status

from server.engine import WashoutError
from server.status import status_for

_LOGGER = logging.getLogger("washout.calls")
_OPEN_METHOD_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")

Unary = Callable[[Any, Any], Any]
Streaming = Callable[[Iterator[Any], Any], Iterator[Any]]


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


class ErrorMappingInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Maps every exception to a status in one place and logs each call: method, request id, counts,
    verdict and latency; names only when the operator asked for patient data in the logs."""

    def __init__(self, log_patient_data: bool = False) -> None:
        self._log_patient_data = log_patient_data

    def intercept_service(self, continuation: Callable[[Any], Any], handler_call_details: Any) -> Any:
        """Wrap the method's handler so that its exceptions are mapped here."""
        if handler_call_details.method.startswith(_OPEN_METHOD_PREFIXES):
            # Health probes and reflection arrive every few seconds and hold no decisions: not logged.
            return continuation(handler_call_details)
        method = handler_call_details.method.rsplit("/", 1)[-1]
        return _wrap(
            continuation(handler_call_details),
            lambda behaviour: self._unary(method, behaviour),
            lambda behaviour: self._streaming(method, behaviour),
        )

    def _unary(self, method: str, behaviour: Unary) -> Unary:
        def call(request: Any, context: Any) -> Any:
            started = time.perf_counter()
            request_id = _request_id(request)
            try:
                response = behaviour(request, context)
            except Exception as error:
                self._abort(context, method, request_id, error, started)
                raise  # abort_with_status raises; this line is never reached
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
        def call(requests: Iterator[Any], context: Any) -> Iterator[Any]:
            started = time.perf_counter()
            answers = 0
            try:
                for response in behaviour(requests, context):
                    answers += 1
                    yield response
            except Exception as error:
                self._abort(context, method, "stream", error, started)
                raise
            _LOGGER.info("%s answers=%d latency_ms=%.2f", method, answers, (time.perf_counter() - started) * 1000)

        return call

    def _abort(self, context: Any, method: str, request_id: str, error: Exception, started: float) -> None:
        elapsed = (time.perf_counter() - started) * 1000
        if isinstance(error, WashoutError):
            _LOGGER.info(
                "%s request_id=%s rejected=%s latency_ms=%.2f", method, request_id, type(error).__name__, elapsed
            )
        else:
            _LOGGER.error("%s request_id=%s failed latency_ms=%.2f", method, request_id, elapsed, exc_info=error)
        context.abort_with_status(rpc_status.to_status(status_for(error, request_id)))


def _one_line(message: Any) -> str:
    return " ".join(str(message).split())


class BearerTokenInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Requires ``authorization: Bearer <token>`` on every call but health and reflection,
    compared in constant time; anything else is UNAUTHENTICATED."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

        def deny(request: Any, context: Any) -> Any:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")

        self._deny_unary = grpc.unary_unary_rpc_method_handler(deny)
        self._deny_stream = grpc.stream_stream_rpc_method_handler(deny)

    def intercept_service(self, continuation: Callable[[Any], Any], handler_call_details: Any) -> Any:
        """Let the call through only with the right token."""
        if handler_call_details.method.startswith(_OPEN_METHOD_PREFIXES):
            return continuation(handler_call_details)
        presented = b""
        for key, value in handler_call_details.invocation_metadata or ():
            if key == "authorization":
                presented = value.encode() if isinstance(value, str) else value
        if hmac.compare_digest(presented, self._expected):
            return continuation(handler_call_details)
        return self._deny_stream if handler_call_details.method.endswith("Stream") else self._deny_unary


class CallTracker(grpc.ServerInterceptor):  # type: ignore[misc]
    """Counts calls from the moment gRPC hands them to us until they end, so a drain can wait
    for exactly the calls accepted before it began; during a drain new calls get UNAVAILABLE."""

    def __init__(self) -> None:
        self._active = 0
        self._draining = False
        self._idle = threading.Condition()

        def refuse(request: Any, context: Any) -> Any:
            context.abort(grpc.StatusCode.UNAVAILABLE, "server is shutting down; retry on another replica")

        self._refuse_unary = grpc.unary_unary_rpc_method_handler(refuse)
        self._refuse_stream = grpc.stream_stream_rpc_method_handler(refuse)

    @property
    def active(self) -> int:
        """The number of calls in progress."""
        return self._active

    def begin_drain(self) -> None:
        """Refuse new calls from now on."""
        with self._idle:
            self._draining = True

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no call is in progress; False if ``timeout`` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._active == 0, timeout)

    def intercept_service(self, continuation: Callable[[Any], Any], handler_call_details: Any) -> Any:
        """Count the call, or refuse it while draining (health stays answerable)."""
        with self._idle:
            draining = self._draining
        if draining and not handler_call_details.method.startswith(_OPEN_METHOD_PREFIXES):
            return self._refuse_stream if handler_call_details.method.endswith("Stream") else self._refuse_unary
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        self._enter()
        return _wrap(handler, self._unary, self._streaming)

    def _enter(self) -> None:
        with self._idle:
            self._active += 1

    def _leave(self) -> None:
        with self._idle:
            self._active -= 1
            if self._active == 0:
                self._idle.notify_all()

    def _unary(self, behaviour: Unary) -> Unary:
        def call(request: Any, context: Any) -> Any:
            try:
                return behaviour(request, context)
            finally:
                self._leave()

        return call

    def _streaming(self, behaviour: Streaming) -> Streaming:
        def call(requests: Iterator[Any], context: Any) -> Iterator[Any]:
            try:
                yield from behaviour(requests, context)
            finally:
                self._leave()

        return call
