"""The gRPC servicer (asyncio): wire messages in, engine calls, wire messages out; nothing else.

The engine is pure CPU work of a fraction of a millisecond, so it runs on the event loop itself:
no thread pool, no hand-off between threads for every call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, TypeVar

from google.rpc import code_pb2, error_details_pb2
from washout.v1 import washout_service_pb2 as pb
from washout.v1 import washout_service_pb2_grpc as pb_grpc

from server import convert
from server.engine import CheckResult, Engine, WashoutError
from server.status import status_for


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

    async def Check(self, request: pb.CheckRequest, context: Any) -> pb.CheckResponse:
        """Screen one patient."""
        # The wire message has every attribute the engine reads (``CheckInput``): no copy is made.
        result = self._engine().check(request)
        self._record(result)
        return convert.check_response(result)

    async def CheckStream(
        self, request_iterator: AsyncIterator[pb.CheckStreamRequest], context: Any
    ) -> AsyncIterator[pb.CheckStreamResponse]:
        """Screen a batch, one answer per request in order; a bad request gets an error entry, not a dead stream.

        A passed deadline or a gone client cancels this coroutine: no work is done for nobody.
        """
        engine = self._engine()
        async for item in _read_ahead(request_iterator):
            yield self._answer(engine, item.check)

    async def CheckBatchStream(
        self, request_iterator: AsyncIterator[pb.CheckBatchStreamRequest], context: Any
    ) -> AsyncIterator[pb.CheckBatchStreamResponse]:
        """Screen a batch, many patients per message; answers keep the order of the requests."""
        engine = self._engine()
        async for batch in _read_ahead(request_iterator):
            yield pb.CheckBatchStreamResponse(results=[self._answer(engine, check) for check in batch.checks])

    def _answer(self, engine: Engine, check: pb.CheckRequest) -> pb.CheckStreamResponse:
        try:
            result = engine.check(check)
        except WashoutError as error:
            return pb.CheckStreamResponse(error=_check_error(check.request_id, error))
        self._record(result)
        answer = pb.CheckStreamResponse()
        convert.fill_check_response(answer.check, result)
        return answer

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


_T = TypeVar("_T")
_READ_AHEAD = 64  # messages read before they are answered: bounded, so a fast client cannot flood memory
_END = object()


async def _read_ahead(messages: AsyncIterator[_T]) -> AsyncGenerator[_T, None]:
    """The messages of a stream, read by a task of their own while earlier ones are answered.

    Each read and each write of a stream waits for gRPC's completion queue; reading ahead lets
    the next message arrive while the last answer is being sent, instead of one after the other.
    """
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=_READ_AHEAD)

    async def pump() -> None:
        try:
            async for message in messages:
                await queue.put(message)
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


def _check_error(request_id: str, error: WashoutError) -> pb.CheckError:
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
