"""End-to-end: a real server on port 0, called over gRPC."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status
from washout.v1 import washout_service_pb2 as pb
from washout.v1 import washout_service_pb2_grpc as pb_grpc

pytestmark = pytest.mark.e2e


def test_blocked_patient_is_a_successful_answer(channel):
    stub = pb_grpc.WashoutServiceStub(channel)
    reply = stub.Check(
        pb.CheckRequest(
            request_id="e2e-1",
            first_dose_date="2026-12-10",
            medications=[
                pb.Medication(name="Biaxin XL 500mg", last_dose_date="2026-12-03"),
                pb.Medication(name="Norvasc", ongoing=True),
            ],
            prior_therapies=[pb.PriorTherapy(description="cyclophosphamide", end_date="2026-11-19")],
        ),
        timeout=5,
    )
    assert reply.request_id == "e2e-1"
    assert reply.verdict == pb.VERDICT_BLOCKED
    assert reply.earliest_eligible_date == "2026-12-11"
    [reason] = reply.reasons
    assert (reason.rule_id, reason.matched_name, reason.eligible_from) == (
        "EXC20_STRONG_CYP3A4_INHIBITOR",
        "clarithromycin",
        "2026-12-11",
    )
    assert reason.input == "Biaxin XL 500mg"
    read_as = {r.input: [m.ingredient for m in r.matches] for r in reply.resolutions}
    assert read_as["Norvasc"] == ["amlodipine"]
    assert len(reply.resolutions) == 3
    assert reply.knowledge_version


def test_malformed_request_names_every_field(channel):
    stub = pb_grpc.WashoutServiceStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.Check(
            pb.CheckRequest(
                first_dose_date="2026-02-30",
                medications=[
                    pb.Medication(name="ok"),
                    pb.Medication(name=""),
                    pb.Medication(name="x", last_dose_date="yesterday"),
                ],
            ),
            timeout=5,
        )
    error = caught.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(error)
    bad, info = error_details_pb2.BadRequest(), error_details_pb2.ErrorInfo()
    kinds = []
    for detail in status.details:
        if detail.Unpack(bad):
            kinds.append("bad")
        elif detail.Unpack(info):
            kinds.append("info")
    assert sorted(kinds) == ["bad", "info"]
    assert {v.field for v in bad.field_violations} == {
        "first_dose_date",
        "medications[1].name",
        "medications[2].last_dose_date",
    }
    assert info.reason == "INVALID_REQUEST"


def test_unknown_protocol_is_not_found(channel):
    stub = pb_grpc.WashoutServiceStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.Check(pb.CheckRequest(first_dose_date="2026-12-10", protocol_id="NOPE"), timeout=5)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_stream_answers_in_order_and_survives_a_bad_item(channel):
    stub = pb_grpc.WashoutServiceStub(channel)
    requests = [
        pb.CheckStreamRequest(
            check=pb.CheckRequest(
                request_id=f"p{i}",
                first_dose_date="2026-12-10",
                medications=[pb.Medication(name="rifampicin", last_dose_date=f"2026-12-0{1 + i % 9}")],
            )
        )
        for i in range(30)
    ]
    requests[7] = pb.CheckStreamRequest(check=pb.CheckRequest(request_id="bad", first_dose_date="nope"))
    replies = list(stub.CheckStream(iter(requests), timeout=10))
    assert len(replies) == len(requests)
    assert replies[7].WhichOneof("result") == "error"
    assert replies[7].error.field_violations[0].field == "first_dose_date"
    ids = [r.check.request_id for i, r in enumerate(replies) if i != 7]
    assert ids == [f"p{i}" for i in range(30) if i != 7]


def test_resolve_and_knowledge_base(channel):
    stub = pb_grpc.WashoutServiceStub(channel)
    resolved = stub.Resolve(pb.ResolveRequest(names=["Paxlovid", "azithromycin"]), timeout=5)
    assert {m.ingredient for m in resolved.resolutions[0].matches} == {"nirmatrelvir", "ritonavir"}
    assert resolved.resolutions[0].matches[0].method == pb.MATCH_METHOD_COMBINATION
    kb = stub.GetKnowledgeBase(pb.GetKnowledgeBaseRequest(), timeout=5)
    assert kb.version == resolved.knowledge_version
    [protocol] = [p for p in kb.protocols if p.id == "ALTER-02"]
    assert protocol.registry_id == "NCT07137884"
    windows = {r.category: r.window_days for r in protocol.rules}
    assert windows["strong_cyp3a4_inhibitor"] == 7 and windows["stem_cell_infusion"] == 56
    assert all(t.row_count > 0 and t.sources for t in kb.tables)


def test_health_and_reflection(channel):
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "washout.v1.WashoutService"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
    names = {s.name for r in responses for s in r.list_services_response.service}
    assert "washout.v1.WashoutService" in names


def test_batch_stream_answers_every_patient_in_order(server_target):
    from client import WashoutClient

    requests = [
        pb.CheckRequest(
            request_id=f"b{i}",
            first_dose_date="2026-12-10",
            medications=[pb.Medication(name="Sporanox", ongoing=i % 2 == 0, last_dose_date="2026-11-01")],
        )
        for i in range(250)
    ]
    requests[100] = pb.CheckRequest(request_id="bad", first_dose_date="12/10/2026")
    with WashoutClient(server_target, timeout=10) as client:
        answers = list(client.check_batch_stream(requests, per_message=40))
    assert len(answers) == 250
    assert answers[100].error.field_violations[0].field == "first_dose_date"
    assert [a.check.request_id for i, a in enumerate(answers) if i != 100] == [f"b{i}" for i in range(250) if i != 100]
    assert {a.check.verdict for i, a in enumerate(answers) if i != 100} == {pb.VERDICT_BLOCKED, pb.VERDICT_ELIGIBLE}


def test_response_encoding_matches_field_by_field_construction(engine):
    from server import convert
    from server.engine import CheckRequest, Medication, PriorTherapy

    result = engine.check(
        CheckRequest(
            "2026-12-10",
            (Medication("Paxlovid", "2026-12-08"), Medication("Norvasc", ongoing=True), Medication("xyzzy")),
            (PriorTherapy("BCNU", "2026-11"),),
        )
    )
    expected = pb.CheckResponse(
        request_id=result.request_id,
        verdict=convert._VERDICTS[result.verdict],
        reasons=[convert._reason(r) for r in result.reasons],
        earliest_eligible_date="",
        knowledge_version=result.knowledge_version,
        resolutions=[convert.resolution_message(r) for r in result.resolutions],
        protocol_id=result.protocol_id,
    )
    assert convert.check_response(result) == expected
    assert len(expected.reasons) >= 3


def test_a_refusal_naming_hundreds_of_fields_still_reaches_the_client(channel):
    # 200 bad dates with long echoed values made a trailer over the client's 16 KiB metadata limit:
    # the client saw RESOURCE_EXHAUSTED instead of the refusal.
    stub = pb_grpc.WashoutServiceStub(channel)
    medications = [pb.Medication(name=f"drug {i}", last_dose_date="12/01/2026" + "x" * 300) for i in range(200)]
    with pytest.raises(grpc.RpcError) as caught:
        stub.Check(pb.CheckRequest(first_dose_date="x" * 50_000, medications=medications), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(caught.value)
    bad = error_details_pb2.BadRequest()
    assert any(detail.Unpack(bad) for detail in status.details)
    assert bad.field_violations[0].field == "first_dose_date"
    assert bad.field_violations[-1].field == "..."  # the rest summed up in one entry


def test_a_batch_message_over_the_limit_is_refused(channel):
    stub = pb_grpc.WashoutServiceStub(channel)
    batch = pb.CheckBatchStreamRequest(checks=[pb.CheckRequest(first_dose_date="2026-12-10")] * 1001)
    with pytest.raises(grpc.RpcError) as caught:
        list(stub.CheckBatchStream(iter([batch]), timeout=10))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
