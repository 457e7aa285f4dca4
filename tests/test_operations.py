"""Faults an operator meets: SIGTERM drains, SIGHUP reloads atomically, bad starts fail loudly,
deadlines are honoured, garbage on the port is harmless, and surprises become INTERNAL."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import subprocess
import sys
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from washout.v1 import washout_service_pb2 as pb
from washout.v1 import washout_service_pb2_grpc as pb_grpc

from server.app import EngineHolder, build_server
from server.engine import Engine
from tests.conftest import DATA_DIR, copy_data
from tests.process_helpers import running_server


def _request(i: int) -> pb.CheckRequest:
    return pb.CheckRequest(
        request_id=f"r{i}", first_dose_date="2026-12-10", medications=[pb.Medication(name="rifampicin", ongoing=True)]
    )


def test_sigterm_drains_open_calls_refuses_new_ones_and_exits_zero(tmp_path):
    with running_server("--grace", "10", log=tmp_path / "server.log") as (process, target):
        gate = threading.Event()
        answers: list[pb.CheckStreamResponse] = []
        errors: list[BaseException] = []

        def slow_requests():
            for i in range(6):
                if i == 2:
                    gate.set()  # the stream is open and half done: now the signal comes
                    time.sleep(0.8)
                yield pb.CheckStreamRequest(check=_request(i))
                time.sleep(0.1)

        def stream():
            with grpc.insecure_channel(target) as channel:
                try:
                    answers.extend(pb_grpc.WashoutServiceStub(channel).CheckStream(slow_requests(), timeout=20))
                except grpc.RpcError as error:
                    errors.append(error)

        worker = threading.Thread(target=stream)
        worker.start()
        assert gate.wait(10)
        process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        with grpc.insecure_channel(target) as channel, pytest.raises(grpc.RpcError) as refused:
            pb_grpc.WashoutServiceStub(channel).Check(_request(99), timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        worker.join(20)
        assert errors == []
        assert [a.check.request_id for a in answers] == [f"r{i}" for i in range(6)]
        assert process.wait(timeout=20) == 0


def test_sighup_reloads_atomically_and_refuses_a_corrupt_file(tmp_path):
    data = copy_data(tmp_path)
    log = tmp_path / "server.log"
    with running_server("--data", str(data), log=log) as (process, target), grpc.insecure_channel(target) as channel:
        stub = pb_grpc.WashoutServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        before = stub.GetKnowledgeBase(pb.GetKnowledgeBaseRequest(), timeout=5).version
        lexicon = data / "lexicon.csv"
        good = lexicon.read_text(encoding="utf-8")
        lines = good.count("\n")
        lexicon.write_text(good + 'ingredient,"broken\n', encoding="utf-8")
        process.send_signal(signal.SIGHUP)
        _wait_for(lambda: "reload refused" in log.read_text(errors="replace"))
        assert f"lexicon.csv:{lines + 1}" in log.read_text(errors="replace")
        assert stub.GetKnowledgeBase(pb.GetKnowledgeBaseRequest(), timeout=5).version == before
        serving = health.Check(health_pb2.HealthCheckRequest(service="washout.v1.WashoutService"), timeout=5)
        assert serving.status == health_pb2.HealthCheckResponse.SERVING
        assert stub.Check(_request(1), timeout=5).verdict == pb.VERDICT_BLOCKED
        lexicon.write_text(good + "ingredient,zz reloadamycin,,,,,,unit test,\n", encoding="utf-8")
        process.send_signal(signal.SIGHUP)
        _wait_for(lambda: stub.GetKnowledgeBase(pb.GetKnowledgeBaseRequest(), timeout=5).version != before)
        reply = stub.Resolve(pb.ResolveRequest(names=["zz reloadamycin"]), timeout=5)
        assert reply.resolutions[0].matches[0].ingredient == "zz reloadamycin"


def _wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


@pytest.mark.parametrize("problem", ["missing", "corrupt"])
def test_bad_data_at_start_exits_non_zero_naming_the_path(tmp_path, problem):
    data = tmp_path / "nowhere" if problem == "missing" else copy_data(tmp_path)
    if problem == "corrupt":
        (data / "categories.csv").write_text("id,label,source\nBad Id,x,y\n", encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "server", "--port", "0", "--data", str(data)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode != 0
    expected = str(data) if problem == "missing" else "categories.csv:2"
    assert expected in run.stderr


def test_deadline_stops_a_slow_stream_and_the_server_carries_on(server_target):
    def trickle():
        for i in range(50):
            yield pb.CheckStreamRequest(check=_request(i))
            time.sleep(0.05)

    with grpc.insecure_channel(server_target) as channel:
        stub = pb_grpc.WashoutServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            list(stub.CheckStream(trickle(), timeout=0.5))
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert stub.Check(_request(1), timeout=5).verdict == pb.VERDICT_BLOCKED


def test_garbage_bytes_on_the_port_do_not_hurt(server_target):
    host, port = server_target.rsplit(":", 1)
    for payload in (b"\x00" * 64, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", bytes(range(256)) * 8):
        with socket.create_connection((host, int(port)), timeout=2) as raw:
            raw.sendall(payload)
            raw.settimeout(1)
            with contextlib.suppress(TimeoutError, ConnectionResetError):
                raw.recv(1024)
    with grpc.insecure_channel(server_target) as channel:
        assert pb_grpc.WashoutServiceStub(channel).Check(_request(1), timeout=5).verdict == pb.VERDICT_BLOCKED


class _BrokenEngine(Engine):
    def check(self, request):
        raise RuntimeError("secret internal detail /etc/passwd")


def test_unexpected_exception_is_internal_with_a_generic_message(server_config, caplog):
    engine = Engine.from_directory(DATA_DIR)
    broken = _BrokenEngine(engine.knowledge)
    service, port = build_server(server_config, EngineHolder(server_config, broken))
    service.start()
    try:
        with (
            caplog.at_level(logging.ERROR),
            grpc.insecure_channel(f"127.0.0.1:{port}") as channel,
            pytest.raises(grpc.RpcError) as caught,
        ):
            pb_grpc.WashoutServiceStub(channel).Check(_request(7), timeout=5)
        error = caught.value
        assert error.code() == grpc.StatusCode.INTERNAL
        assert "r7" in error.details()
        assert "secret" not in error.details() and "Traceback" not in error.details()
        assert "secret internal detail" in caplog.text  # the traceback stays on the server
    finally:
        service.stop()


def test_an_oversized_message_is_refused_before_any_work(server_config):
    import dataclasses

    service, port = build_server(dataclasses.replace(server_config, max_message_bytes=4096))
    service.start()
    try:
        huge = pb.CheckRequest(
            first_dose_date="2026-12-10", medications=[pb.Medication(name=f"drug number {i}") for i in range(500)]
        )
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.WashoutServiceStub(channel)
            with pytest.raises(grpc.RpcError) as caught:
                stub.Check(huge, timeout=5)
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert stub.Check(_request(1), timeout=5).verdict == pb.VERDICT_BLOCKED
    finally:
        service.stop()


def test_workers_share_the_port_and_all_stop_on_sigterm(tmp_path):
    with running_server("--workers", "2", "--grace", "5", log=tmp_path / "server.log") as (process, target):
        answers = set()
        for _ in range(6):  # several connections: SO_REUSEPORT balances per connection
            with grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
                answers.add(pb_grpc.WashoutServiceStub(channel).Check(_request(1), timeout=5).verdict)
        assert answers == {pb.VERDICT_BLOCKED}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    assert (tmp_path / "server.log").read_text().count("serving washout.v1") == 2
