"""The servicer's stream plumbing: reading ahead keeps order, stays bounded and passes errors on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from server.servicer import _READ_AHEAD, _read_ahead


async def _source(count: int, pulled: list[int], fail_at: int | None = None) -> AsyncIterator[int]:
    for index in range(count):
        if index == fail_at:
            raise RuntimeError("client went away")
        pulled.append(index)
        yield index


def test_read_ahead_keeps_every_message_in_order():
    async def run() -> list[int]:
        return [item async for item in _read_ahead(_source(500, []))]

    assert asyncio.run(run()) == list(range(500))


def test_read_ahead_reads_a_bounded_number_of_messages_ahead():
    async def run() -> int:
        pulled: list[int] = []
        stream = _read_ahead(_source(10_000, pulled))
        first = await anext(stream)
        await asyncio.sleep(0.05)  # the reader task runs as far as the queue lets it
        ahead = len(pulled) - first
        await stream.aclose()
        return ahead

    assert asyncio.run(run()) <= _READ_AHEAD + 2


def test_read_ahead_raises_the_source_error_after_the_messages_before_it():
    async def run() -> list[int]:
        seen: list[int] = []
        with pytest.raises(RuntimeError, match="client went away"):
            async for item in _read_ahead(_source(100, [], fail_at=30)):
                seen.append(item)
        return seen

    assert asyncio.run(run()) == list(range(30))
