"""The gRPC servicer (asyncio): wire messages in, engine calls, wire messages out; nothing else.

The engine is pure CPU work of a fraction of a millisecond, so it runs on the event loop itself:
no thread pool, no hand-off between threads for every call. Check answers leave as bytes written
by ``convert`` (``Encoded``), so ``add_to_server`` registers serializers that pass them through."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import message_factory
from google.rpc import code_pb2, error_details_pb2
from washout.v1 import washout_service_pb2 as pb
from washout.v1 import washout_service_pb2_grpc as pb_grpc

from server import convert
from server.engine import CheckResult, Engine, FieldViolation, InvalidRequestError, WashoutError
from server.interceptors import log_safe
from server.status import status_for

_LOGGER = logging.getLogger("washout.calls")


class WashoutServicer(pb_grpc.WashoutServiceServicer):  # type: ignore[misc]
    """Implements ``washout.v1.WashoutService`` over the current engine.

    ``current_engine`` is called once per call, so a reload swaps the knowledge base
    atomically: a call sees either the old engine or the new one, never a mix.
    """

    def __init__(
        self, current_engine: Callable[[], Engine], record: Callable[[CheckResult], None] | None = None
    ) -> None:
        self._engine = current_engine
        self._record = record or (lambda result: None)

    async def Check(self, request: pb.CheckRequest, context: Any) -> convert.Encoded:
        """Screen one patient."""
        # The wire message has every attribute the engine reads (``CheckInput``): no copy is made.
        engine = self._engine()
        if _is_heavy(request):
            result = await asyncio.to_thread(engine.check, request)
        else:
            result = engine.check(request)
        self._record(result)
        return convert.encoded_check_response(result)

    async def CheckStream(
        self, request_iterator: AsyncIterator[pb.CheckStreamRequest], context: Any
    ) -> AsyncIterator[convert.Encoded]:
        """Screen a batch, one answer per request in order; a bad request gets an error entry, not a dead stream.

        A passed deadline or a gone client cancels this coroutine: no work is done for nobody.
        """
        engine = self._engine()
        answers = _answered_ahead(
            request_iterator, lambda item: self._answer(engine, item.check), lambda item: _is_heavy(item.check)
        )
        async for answer in answers:
            yield answer

    async def CheckBatchStream(
        self, request_iterator: AsyncIterator[pb.CheckBatchStreamRequest], context: Any
    ) -> AsyncIterator[convert.Encoded]:
        """Screen a batch, many patients per message; answers keep the order of the requests."""
        engine = self._engine()

        def answer_batch(batch: pb.CheckBatchStreamRequest) -> convert.Encoded:
            limit = engine.limits.max_batch_checks
            if len(batch.checks) > limit:
                raise InvalidRequestError([FieldViolation("checks", f"at most {limit} checks per message")])
            return convert.encoded_batch_answer([self._answer(engine, check) for check in batch.checks])

        async for answer in _answered_ahead(request_iterator, answer_batch, _is_heavy_batch):
            yield answer

    def _answer(self, engine: Engine, check: pb.CheckRequest) -> convert.Encoded:
        try:
            result = engine.check(check)
        except Exception as error:  # one patient's failure is that patient's answer, not the end of the batch
            if not isinstance(error, WashoutError):
                _LOGGER.error("check in a stream failed request_id=%s", log_safe(check.request_id), exc_info=error)
            return convert.encoded(pb.CheckStreamResponse(error=_check_error(check.request_id, error)))
        self._record(result)
        return convert.encoded_stream_answer(result)

    async def Resolve(self, request: pb.ResolveRequest, context: Any) -> pb.ResolveResponse:
        """Read names into ingredients."""
        engine = self._engine()
        resolutions = engine.resolve(list(request.names))
        return pb.ResolveResponse(
            resolutions=[convert.resolution_message(r) for r in resolutions], knowledge_version=engine.version
        )

    async def GetKnowledgeBase(self, request: pb.GetKnowledgeBaseRequest, context: Any) -> pb.GetKnowledgeBaseResponse:
        """Describe the loaded knowledge."""
        return convert.knowledge_message(self._engine().knowledge)


_HANDLER_KINDS: dict[tuple[bool, bool], Callable[..., grpc.RpcMethodHandler]] = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


def add_to_server(servicer: WashoutServicer, server: grpc.aio.Server) -> None:
    """Register ``servicer`` as the generated ``add_WashoutServiceServicer_to_server`` would, with
    response serializers that also take answers already in wire form (``convert.Encoded``)."""
    service = pb.DESCRIPTOR.services_by_name["WashoutService"]
    handlers = {}
    for method in service.methods:
        request_type = message_factory.GetMessageClass(method.input_type)
        response_type = message_factory.GetMessageClass(method.output_type)
        make = _HANDLER_KINDS[(method.client_streaming, method.server_streaming)]
        handlers[method.name] = make(
            getattr(servicer, method.name),
            request_deserializer=request_type.FromString,
            response_serializer=convert.serializer(response_type),
        )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))
    server.add_registered_method_handlers(service.full_name, handlers)


# Items beyond which a request is answered on a thread: one this large, read cold, can take tens of
# milliseconds or more, and on the event loop it would hold up every other call, health checks
# included. The engine is thread-safe; small requests, nearly all of them, skip the hand-off.
_HEAVY_ITEMS = 64


def _is_heavy(check: pb.CheckRequest) -> bool:
    return len(check.medications) + len(check.prior_therapies) > _HEAVY_ITEMS


def _is_heavy_batch(batch: pb.CheckBatchStreamRequest) -> bool:
    return sum(len(check.medications) + len(check.prior_therapies) for check in batch.checks) > _HEAVY_ITEMS


_T = TypeVar("_T")
_A = TypeVar("_A")
_READ_AHEAD = 64  # answers made before they are sent: bounded, so a fast client cannot flood memory
_END = object()


async def _answered_ahead(
    messages: AsyncIterator[_T], answer: Callable[[_T], _A], heavy: Callable[[_T], bool] = lambda message: False
) -> AsyncGenerator[_A, None]:
    """The answers to the messages of a stream, in order, made by a task of their own while earlier
    answers are being sent; a ``heavy`` message is answered on a thread, so the loop serves other calls.

    Each read and each write of a stream waits for gRPC's completion queue, and a stream has one
    write in flight at a time: answering ahead lets the next messages arrive and be answered while
    the last answer is on its way, instead of one step after the other.
    """
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=_READ_AHEAD)

    async def pump() -> None:
        try:
            async for message in messages:
                await queue.put(await asyncio.to_thread(answer, message) if heavy(message) else answer(message))
            await queue.put(_END)
        except Exception as error:  # handed to the reader below, which raises it; a cancellation is not caught
            await queue.put(error)

    reader = asyncio.create_task(pump())
    try:
        while True:
            item = await queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        reader.cancel()


def _check_error(request_id: str, error: Exception) -> pb.CheckError:
    status = status_for(error, request_id)
    violations: list[pb.FieldViolation] = []
    reason = ""
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations = [pb.FieldViolation(field=v.field, description=v.description) for v in bad.field_violations]
        elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
    return pb.CheckError(
        request_id=request_id,
        code=code_pb2.Code.Name(status.code),
        reason=reason,
        message=status.message,
        field_violations=violations,
    )
