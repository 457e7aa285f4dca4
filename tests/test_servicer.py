"""The servicer's stream plumbing: answering ahead keeps order, stays bounded and passes errors on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from server.servicer import _READ_AHEAD, _answered_ahead


async def _source(count: int, pulled: list[int], fail_at: int | None = None) -> AsyncIterator[int]:
    for index in range(count):
        if index == fail_at:
            raise RuntimeError("client went away")
        pulled.append(index)
        yield index


def test_answers_keep_the_order_of_the_messages():
    async def run() -> list[int]:
        return [item async for item in _answered_ahead(_source(500, []), lambda item: item * item)]

    assert asyncio.run(run()) == [index * index for index in range(500)]


def test_a_bounded_number_of_messages_is_answered_ahead():
    async def run() -> int:
        pulled: list[int] = []
        stream = _answered_ahead(_source(10_000, pulled), lambda item: item)
        first = await anext(stream)
        await asyncio.sleep(0.05)  # the reader task runs as far as the queue lets it
        ahead = len(pulled) - first
        await stream.aclose()
        return ahead

    assert asyncio.run(run()) <= _READ_AHEAD + 2


def test_the_source_error_is_raised_after_the_answers_before_it():
    async def run() -> list[int]:
        seen: list[int] = []
        with pytest.raises(RuntimeError, match="client went away"):
            async for item in _answered_ahead(_source(100, [], fail_at=30), lambda item: item):
                seen.append(item)
        return seen

    assert asyncio.run(run()) == list(range(30))


def test_an_answer_error_is_raised_after_the_answers_before_it():
    def answer(item: int) -> int:
        if item == 7:
            raise ValueError("engine bug")
        return item

    async def run() -> list[int]:
        seen: list[int] = []
        with pytest.raises(ValueError, match="engine bug"):
            async for item in _answered_ahead(_source(100, []), answer):
                seen.append(item)
        return seen

    assert asyncio.run(run()) == list(range(7))


def test_an_unexpected_failure_for_one_patient_is_that_patients_error_entry(engine):
    from washout.v1 import washout_service_pb2 as pb

    from server.servicer import WashoutServicer

    class _Failing:
        def check(self, request):
            raise RuntimeError("a bug")

    answer = WashoutServicer(lambda: engine)._answer(_Failing(), pb.CheckRequest(request_id="p-7"))  # type: ignore[arg-type]
    entry = pb.CheckStreamResponse.FromString(answer.data)
    assert entry.WhichOneof("result") == "error"
    assert (entry.error.request_id, entry.error.code) == ("p-7", "INTERNAL")
    assert "a bug" not in entry.error.message  # a generic message; the traceback is in the server log


def test_request_ids_are_logged_on_one_line_and_clipped():
    from server.interceptors import log_safe

    assert log_safe("abc\nFAKE LOG LINE") == "abc\\x0aFAKE LOG LINE"
    assert log_safe("x" * 500) == "x" * 64 + "..."


def test_heavy_messages_are_answered_on_a_thread_so_the_loop_serves_other_calls():
    import threading

    def answer(item: int) -> tuple[int, bool]:
        return item, threading.current_thread() is threading.main_thread()

    async def run() -> list[tuple[int, bool]]:
        return [item async for item in _answered_ahead(_source(6, []), answer, lambda item: item % 2 == 1)]

    assert asyncio.run(run()) == [(index, index % 2 == 0) for index in range(6)]
