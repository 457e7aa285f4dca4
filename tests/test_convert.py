"""Answers written straight to wire bytes parse to exactly the messages built field by field."""

from __future__ import annotations

import pytest
from washout.v1 import washout_service_pb2 as pb

from server import convert
from server.engine import CheckRequest, CheckResult, Engine, Medication, PriorTherapy

_REQUESTS = {
    "blocked, no eligible date": CheckRequest(
        "2026-12-10",
        (Medication("Paxlovid", "2026-12-08"), Medication("Norvasc", ongoing=True), Medication("xyzzy")),
        (PriorTherapy("BCNU", "2026-11"),),
        request_id="r-1",
    ),
    "blocked until a date": CheckRequest("2026-12-10", (Medication("克拉霉素缓释片 0.5g", "2026-12-05"),)),
    "eligible": CheckRequest("2026-12-10", (Medication("azithromycin", "2026-12-01"),), request_id="r-3"),
    "needs review": CheckRequest("2026-12-10", (Medication("ritanovir"), Medication("enoxaparin", "2026-12-08"))),
    "nothing taken": CheckRequest("2026-12-10"),
    # A request id of 300 bytes (100 characters) takes a two-byte length; 150 medications make an answer
    # over 16 KiB.
    "long id": CheckRequest("2026-12-10", (Medication("fluconazole", "2026-12-01"),), request_id="患者" * 50),
    "long answer": CheckRequest(
        "2026-12-10", tuple(Medication(f"itraconazole {n} mg", f"2026-12-0{1 + n % 9}") for n in range(150))
    ),
}


@pytest.fixture(scope="module", params=sorted(_REQUESTS))
def result(request: pytest.FixtureRequest, engine: Engine) -> CheckResult:
    return engine.check(_REQUESTS[request.param])


def test_encoded_check_response_parses_to_the_built_message(result: CheckResult):
    encoded = convert.encoded_check_response(result)
    assert pb.CheckResponse.FromString(encoded.data) == convert.check_response(result)
    assert encoded.verdict == convert.check_response(result).verdict


def test_encoded_stream_answer_holds_the_check_response(result: CheckResult):
    answer = pb.CheckStreamResponse.FromString(convert.encoded_stream_answer(result).data)
    assert answer.WhichOneof("result") == "check"
    assert answer.check == convert.check_response(result)


def test_encoded_batch_answer_keeps_every_answer_in_order(engine: Engine):
    results = [engine.check(request) for _, request in sorted(_REQUESTS.items())]
    error = pb.CheckStreamResponse(error=pb.CheckError(request_id="bad", code="INVALID_ARGUMENT"))
    answers = [convert.encoded_stream_answer(r) for r in results]
    answers.insert(2, convert.encoded(error))
    batch = pb.CheckBatchStreamResponse.FromString(convert.encoded_batch_answer(answers).data)
    expected = [pb.CheckStreamResponse(check=convert.check_response(r)) for r in results]
    expected.insert(2, error)
    assert list(batch.results) == expected


@pytest.mark.parametrize("size", [0, 1, 127, 128, 16_383, 16_384, 2_097_152])
def test_length_prefix_matches_protobuf_at_every_varint_width(size: int):
    text = "a" * size
    assert convert._string_field(1, text) == pb.CheckResponse(request_id=text).SerializeToString()


def test_serializer_passes_encoded_answers_through_and_serializes_messages():
    to_bytes = convert.serializer(pb.CheckResponse)
    message = pb.CheckResponse(request_id="m", verdict=pb.VERDICT_ELIGIBLE)
    assert to_bytes(convert.Encoded(b"\x0a\x01e", pb.VERDICT_BLOCKED)) == b"\x0a\x01e"
    assert to_bytes(message) == message.SerializeToString()
