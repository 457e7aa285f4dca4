"""Soak test: N concurrent clients against a real server on loopback for a bounded time.

``make soak`` runs 32 clients for 60 s against a server subprocess it starts itself, samples the
server's resident memory every few seconds, and prints the figures. It exits non-zero on any error
or when memory keeps growing after warm-up. Loopback only; every loop is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from washout.v1 import washout_service_pb2 as pb
from washout.v1 import washout_service_pb2_grpc as pb_grpc

_NAMES = [
    "clarithromycin 500 mg",
    "Biaxin XL",
    "itraconazol",
    "克拉霉素缓释片 0.5g",
    "Paxlovid",
    "azithromycin",
    "fluconazole 150mg",
    "Norvasc 5mg",
    "losartan",
    "warfarin",
    "ondansetron 4mg iv",
    "paracetamol",
    "ketoconazole 2% cream",
    "rifampicin 600mg daily",
    "pegfilgrastim",
    "carbamazepine",
    "omeprazole",
    "dexamethasone",
]


@dataclass
class Tally:
    """What the clients saw."""

    calls: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)


def _request(rng: random.Random, index: int) -> pb.CheckRequest:
    medications = [
        pb.Medication(name=name, last_dose_date=f"2026-12-{rng.randint(1, 9):02d}", ongoing=rng.random() < 0.2)
        for name in rng.sample(_NAMES, rng.randint(3, 12))
    ]
    therapies = [pb.PriorTherapy(description="cyclophosphamide", end_date="2026-11-19")]
    return pb.CheckRequest(
        request_id=f"soak-{index}", first_dose_date="2026-12-10", medications=medications, prior_therapies=therapies
    )


async def _client(target: str, deadline: float, tally: Tally, seed: int) -> None:
    rng = random.Random(seed)
    async with grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
        stub = pb_grpc.WashoutServiceStub(channel)
        index = 0
        while time.monotonic() < deadline:
            index += 1
            started = time.perf_counter()
            try:
                await stub.Check(_request(rng, seed * 1_000_000 + index), timeout=10)
                tally.latencies.append(time.perf_counter() - started)
                tally.calls += 1
            except grpc.aio.AioRpcError as error:
                tally.errors[error.code().name] = tally.errors.get(error.code().name, 0) + 1


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def _sample_memory(pid: int, deadline: float, every: float, samples: list[tuple[float, float]]) -> None:
    start = time.monotonic()
    while time.monotonic() < deadline:
        samples.append((time.monotonic() - start, _rss_mib(pid)))
        await asyncio.sleep(every)
    samples.append((time.monotonic() - start, _rss_mib(pid)))


async def soak(target: str, pid: int, clients: int, seconds: float) -> tuple[Tally, list[tuple[float, float]]]:
    """Run ``clients`` closed-loop clients for ``seconds``; sample the server's memory meanwhile."""
    tally = Tally()
    samples: list[tuple[float, float]] = []
    deadline = time.monotonic() + seconds
    await asyncio.gather(
        _sample_memory(pid, deadline, max(1.0, seconds / 12), samples),
        *(_client(target, deadline, tally, seed) for seed in range(clients)),
    )
    return tally, samples


def free_port() -> int:
    """A port free on loopback now (the server binds it a moment later)."""
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_serving(target: str, timeout: float = 30.0, service: str = "washout.v1.WashoutService") -> None:
    """Poll grpc.health.v1 until ``service`` is SERVING; TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise TimeoutError(f"{target} did not become SERVING")


def main(argv: Sequence[str] | None = None) -> int:
    """Start a server, soak it, print the figures; non-zero exit on errors or growing memory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--max-growth-mib", type=float, default=25.0, help="allowed RSS growth after warm-up")
    args = parser.parse_args(argv)
    port = free_port()
    target = f"127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", str(port), "--log-level", "WARNING"],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        wait_serving(target)
        tally, samples = asyncio.run(soak(target, server.pid, args.clients, args.seconds))
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    latencies = sorted(tally.latencies) or [0.0]
    warm = [rss for at, rss in samples if at >= args.seconds * 0.25] or [samples[-1][1]]
    growth = warm[-1] - warm[0]
    columns = "clients, seconds, calls, errors, calls/s, p50 ms, p99 ms, RSS start MiB, RSS end MiB, growth MiB"
    print("| " + " | ".join(columns.split(", ")) + " |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.clients} | {args.seconds:.0f} | {tally.calls} | {sum(tally.errors.values())} {tally.errors or ''} "
        f"| {tally.calls / args.seconds:.0f} | {statistics.median(latencies) * 1000:.2f} "
        f"| {latencies[int(len(latencies) * 0.99) - 1] * 1000:.2f} | {samples[0][1]:.1f} | {samples[-1][1]:.1f} "
        f"| {growth:+.1f} |"
    )
    print("RSS samples (s, MiB):", " ".join(f"{at:.0f}:{rss:.1f}" for at, rss in samples))
    failed = bool(tally.errors) or growth > args.max_growth_mib or tally.calls == 0
    print("SOAK FAILED" if failed else "SOAK PASSED: zero errors, flat memory")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
