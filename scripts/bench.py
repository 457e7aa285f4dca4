"""Benchmark the washout service: the engine in process, then a real server over gRPC on loopback.

``make bench`` runs this script. It prints one markdown table on stdout (progress goes to stderr)
and finishes in about two minutes on the project's 2-core machine. Everything is bounded: fixed
durations, fixed call counts, 127.0.0.1 only, and every server subprocess it starts is stopped in a
``finally`` (SIGTERM, then SIGKILL of its process group after 10 s).

What it measures (issue 4, "Fast under load"):

1. Engine in process: a realistic 20-item ``CheckRequest`` (brands, typos, doses, Chinese names,
   the combination Paxlovid, look-alikes, a nitrosourea and an explicit-category radiotherapy):
   requests/s with p50/p99 from per-call ``perf_counter``; resolutions/s over ~200 distinct strings
   with a cold and a warm reading cache; resident memory; wall time from ``Popen`` to health SERVING.
2. gRPC unary: ``Check`` against the no-op ``grpc.health.v1.Health/Check`` of the same server in the
   same run, at 1 and 16 calls in flight (``grpc.aio`` closed loop, fixed duration after a warm-up).
3. ``CheckStream``: patients/s for 10,000 requests of 5-10 items over one stream.
4. ``--workers 1`` against ``--workers 2`` (SO_REUSEPORT) on a fixed port, several connections.

Absolute numbers on a shared 2-vCPU VM vary by up to +-30% between runs (see
``/work/shared/notes/performance.md``), so the gRPC targets are ratios against a baseline measured in
the same run. The load client is this Python process, on the same two cores as the server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import os
import platform
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import typing
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from washout.v1 import washout_service_pb2 as pb
from washout.v1 import washout_service_pb2_grpc as pb_grpc

from server.config import DEFAULT_DATA_DIR
from server.engine import CheckRequest, Engine, Medication, PriorTherapy

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
SERVICE = "washout.v1.WashoutService"
FIRST_DOSE = "2026-12-10"
CLK_TCK = os.sysconf("SC_CLK_TCK")
CALL_TIMEOUT = 30.0
# CPUs for server subprocesses (via taskset); empty = share every CPU with the load client. See ``pin_cpus``.
SERVER_CPUS: list[int] = []

# -- targets (issue 4) ------------------------------------------------------------------------------

TARGET_CHECK_VS_HEALTH = 0.80
TARGET_ENGINE_P99_MS = 1.0
TARGET_STREAM_PATIENTS_PER_S = 5_000.0
TARGET_SERVING_S = 1.5
TARGET_WORKERS_RATIO = 1.6

# -- workload ---------------------------------------------------------------------------------------

# (name as typed, last dose date, ongoing): what a pharmacy export of a heavily treated child looks like.
REQUEST_MEDICATIONS: tuple[tuple[str, str, bool], ...] = (
    ("Biaxin XL 500mg", "2026-12-03", False),  # brand + release modifier -> clarithromycin, blocks
    ("克拉霉素缓释片 0.5g", "2026-11-28", False),  # Chinese name + formulation suffix + dose
    ("Paxlovid 300mg/100mg", "2026-11-20", False),  # combination product -> nirmatrelvir + ritonavir
    ("itraconazol 200mg daily", "2026-11-25", False),  # INN spelling / typo
    ("carbamezapine 200 mg BID", "2026-11-30", False),  # typo of carbamazepine (inducer)
    ("Norvasc 5mg", "", True),  # brand, antihypertensive, ongoing
    ("lisinopril 10 mg PO daily", "", True),  # second antihypertensive
    ("metformin 500mg", "", True),
    ("omeprazole 20mg", "2026-12-01", False),
    ("paracetamol 1g prn", "2026-12-05", False),
    ("ondansetron 8mg", "2026-11-15", False),
    ("dexamethasone 4 mg", "2026-11-15", False),
    ("filgrastim 300mcg SC", "2026-11-30", False),  # short-acting growth factor
    ("Neulasta 6mg", "2026-11-01", False),  # long-acting growth factor (brand)
    ("enoxaparin 40mg SC", "2026-12-08", False),  # anticoagulant
    ("ketoconazole 2% cream", "2026-12-06", False),  # non-systemic form of a strong inhibitor
    ("rifaximin 550mg", "2026-12-01", False),  # look-alike of rifampin
    ("hydroxyzine 25mg", "2026-12-02", False),  # look-alike of hydralazine
    ("clotrimazole troche", "2026-12-04", False),  # look-alike of clarithromycin
    ("vorikonazol 200 mg", "2026-10-01", False),  # typo of voriconazole, long ago
)
# (description, end date, explicit category)
REQUEST_THERAPIES: tuple[tuple[str, str, str], ...] = (
    ("carmustine", "2026-10-15", ""),
    ("palliative radiotherapy to the femur", "2026-11-20", "radiotherapy_palliative"),
)

# Base names for the resolution benchmark and the stream; each gets four spellings below (~200 strings).
BASE_NAMES: tuple[str, ...] = (
    "clarithromycin", "Biaxin", "itraconazole", "Sporanox", "ketoconazole", "voriconazole", "Vfend",
    "posaconazole", "Noxafil", "ritonavir", "Norvir", "Paxlovid", "Kaletra", "rifampicin", "Rifadin",
    "rifabutin", "carbamazepine", "Tegretol", "phenytoin", "Dilantin", "phenobarbital", "St John's wort",
    "grapefruit juice", "enzalutamide", "amlodipine", "Norvasc", "lisinopril", "losartan", "metoprolol",
    "warfarin", "enoxaparin", "apixaban", "filgrastim", "pegfilgrastim", "Neulasta", "ondansetron",
    "dexamethasone", "omeprazole", "paracetamol", "ibuprofen", "metformin", "fluconazole", "azithromycin",
    "erythromycin", "cyclophosphamide", "vincristine", "carmustine", "nivolumab", "pembrolizumab",
    "克拉霉素", "伊曲康唑", "利福平", "卡马西平", "伏立康唑", "氨氯地平", "华法林",
)  # fmt: skip
DOSES: tuple[str, ...] = ("500mg", "200 mg", "0.5g", "5 mg", "40mg", "100mg", "1 g", "20 mg")
ROUTES: tuple[str, ...] = ("PO BID", "daily", "tablet", "IV q12h", "x7d", "capsules", "SC", "oral solution")
CHINESE_FORMS: tuple[str, ...] = ("片", "缓释片", "胶囊", "注射液", "分散片")


def _typo(name: str, rng: random.Random) -> str:
    """A plausible one-edit typo (swap, drop or double a letter) of a Latin name."""
    if len(name) < 6 or not name.isascii():
        return name + "e"
    index = rng.randrange(2, len(name) - 2)
    edit = rng.choice(("swap", "drop", "double"))
    if edit == "swap":
        return name[:index] + name[index + 1] + name[index] + name[index + 2 :]
    if edit == "drop":
        return name[:index] + name[index + 1 :]
    return name[:index] + name[index] + name[index:]


def resolution_strings(seed: int = 4) -> list[str]:
    """About 200 distinct, realistic medication strings: plain, dosed, typo'd and shouted spellings."""
    rng = random.Random(seed)
    out: list[str] = []
    for name in BASE_NAMES:
        if name.isascii():
            variants = (
                name,
                f"{name} {rng.choice(DOSES)}",
                f"{_typo(name.lower(), rng)} {rng.choice(DOSES)} {rng.choice(ROUTES)}",
                f"{name.upper()} {rng.choice(DOSES)} {rng.choice(ROUTES)}",
            )
        else:
            forms = rng.sample(CHINESE_FORMS, 3)
            variants = (
                name,
                f"{name}{forms[0]}",
                f"{name}{forms[1]} {rng.choice(DOSES)}",
                f"{name}{forms[2]} 每日两次",
            )
        out.extend(variants)
    return list(dict.fromkeys(out))


def engine_request(request_id: str = "bench-engine") -> CheckRequest:
    """The 20-medication, 2-therapy request as the engine's own value type."""
    return CheckRequest(
        first_dose_date=FIRST_DOSE,
        medications=tuple(Medication(name, last, ongoing) for name, last, ongoing in REQUEST_MEDICATIONS),
        prior_therapies=tuple(PriorTherapy(text, end, category) for text, end, category in REQUEST_THERAPIES),
        request_id=request_id,
    )


def wire_request(request_id: str = "bench-grpc") -> pb.CheckRequest:
    """The same request as a wire message."""
    return pb.CheckRequest(
        request_id=request_id,
        first_dose_date=FIRST_DOSE,
        medications=[pb.Medication(name=n, last_dose_date=d, ongoing=o) for n, d, o in REQUEST_MEDICATIONS],
        prior_therapies=[pb.PriorTherapy(description=t, end_date=e, category=c) for t, e, c in REQUEST_THERAPIES],
    )


def stream_requests(count: int, seed: int = 10) -> list[pb.CheckStreamRequest]:
    """``count`` stream items drawn from 64 distinct patients of 5-10 medications, dates varied a little."""
    rng = random.Random(seed)
    names = resolution_strings()
    patients: list[list[tuple[str, int, bool]]] = []
    for _ in range(64):
        size = rng.randint(5, 10)
        patients.append([(rng.choice(names), rng.randint(1, 60), rng.random() < 0.2) for _ in range(size)])
    requests: list[pb.CheckStreamRequest] = []
    for index in range(count):
        patient = patients[index % len(patients)]
        day = 1 + index % 28
        medications = [
            pb.Medication(
                name=name, last_dose_date="" if ongoing else f"2026-11-{1 + (day + ago) % 28:02d}", ongoing=ongoing
            )
            for name, ago, ongoing in patient
        ]
        therapies = [pb.PriorTherapy(description="carmustine", end_date="2026-10-15")] if index % 7 == 0 else []
        check = pb.CheckRequest(
            request_id=f"stream-{index}",
            first_dose_date=f"2026-12-{day:02d}",
            medications=medications,
            prior_therapies=therapies,
        )
        requests.append(pb.CheckStreamRequest(check=check))
    return requests


# -- small utilities --------------------------------------------------------------------------------


def log(message: str) -> None:
    """Progress on stderr, so stdout holds only the table."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(fraction * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def rss_mib(pid: int | str = "self") -> float:
    """Resident set size (VmRSS) of a process, in MiB; 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, in seconds (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of proc(5), after "pid (comm)"


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (scans /proc: no dependency on CONFIG_PROC_CHILDREN)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def connections_by_pid(pids: Sequence[int], port: int) -> dict[int, int]:
    """Established TCP connections on local ``port`` held by each pid (from /proc/net/tcp* and fd links)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 01 = ESTABLISHED
                    inodes.add(fields[9])
    counts: dict[int, int] = {}
    for pid in pids:
        held = 0
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    link = os.readlink(fd)
                    if link.startswith("socket:[") and link[8:-1] in inodes:
                        held += 1
        counts[pid] = held
    return counts


def client_cpu_seconds() -> float:
    """CPU time used by this process (the load client) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def fmt_int(value: float) -> str:
    """A rate with thousands separators."""
    return f"{value:,.0f}"


# -- a compiled load generator (optional) -----------------------------------------------------------

# h2load (Debian's nghttp2-client) speaks HTTP/2, so it can send pre-encoded gRPC frames. It costs
# a fraction of the CPU per call of a Python client, which on 2 shared cores otherwise takes most of
# a core itself: with it, the figures describe the server rather than the client.
H2LOAD = shutil.which("h2load")


def grpc_frame(message: bytes) -> bytes:
    """One length-prefixed gRPC message (uncompressed), as it travels in an HTTP/2 body."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


@dataclasses.dataclass(slots=True)
class H2loadResult:
    """One h2load run: calls, rate and the CPU both sides spent."""

    calls: int
    failed: int
    elapsed: float
    mean_ms: float
    server_cpu: dict[int, float]
    client_cpu: float

    @property
    def qps(self) -> float:
        """Completed calls per second."""
        return self.calls / self.elapsed if self.elapsed else 0.0

    def describe(self) -> str:
        """A compact one-cell summary."""
        server_share = sum(self.server_cpu.values()) / self.elapsed * 100
        return (
            f"{fmt_int(self.qps)} calls/s; mean {self.mean_ms:.2f} ms; server {server_share:.0f}% of a core, "
            f"h2load {self.client_cpu / self.elapsed * 100:.0f}%" + (f"; {self.failed} FAILED" if self.failed else "")
        )


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _h2load_ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def h2load(
    server: ServerProcess,
    path: str,
    body: bytes,
    connections: int,
    streams: int,
    warmup: float,
    duration: float,
    calls: int = 0,
) -> H2loadResult:
    """Call ``path`` with the framed ``body`` for ``duration`` s after ``warmup`` s (or exactly ``calls``
    times), over ``connections`` connections with ``streams`` calls in flight on each.

    h2load judges only the HTTP status, so a unary call's bytes are first sent once through gRPC and
    must come back OK (a gRPC error would also travel as HTTP 200); streams are checked by the caller.
    """
    assert H2LOAD is not None
    if not calls:
        with grpc.insecure_channel(server.target) as channel:
            channel.unary_unary(path)(body[5:], timeout=CALL_TIMEOUT)  # raises unless OK
    with tempfile.NamedTemporaryFile(prefix="washout-h2load-", suffix=".bin") as payload:
        payload.write(body)
        payload.flush()
        argv = [H2LOAD, "-n", str(calls)] if calls else [H2LOAD, "-D", f"{duration:g}", f"--warm-up-time={warmup:g}"]
        argv += ["-c", str(connections), "-m", str(streams)]
        argv += ["-H", "content-type: application/grpc", "-H", "te: trailers"]
        argv += ["-d", payload.name, f"http://{server.target}{path}"]
        cpu_before, client_before = server.cpu_by_pid(), _children_cpu_seconds()
        started = time.perf_counter()
        limit = warmup + duration + 300
        output = subprocess.run(argv, capture_output=True, text=True, timeout=limit, check=True).stdout
        wall = time.perf_counter() - started
        cpu_after, client_after = server.cpu_by_pid(), _children_cpu_seconds()
    finished = re.search(r"finished in ([\d.]+)s, ([\d.]+) req/s", output)
    counts = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed", output)
    timing = re.search(r"time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)\b", output)
    if not finished or not counts:
        raise RuntimeError(f"unexpected h2load output:\n{output}")
    elapsed = float(finished.group(1))
    server_cpu = {pid: (cpu_after[pid] - cpu_before.get(pid, 0.0)) * elapsed / wall for pid in cpu_after}
    return H2loadResult(
        calls=int(counts.group(2)),
        failed=int(counts.group(3)),
        elapsed=elapsed,
        mean_ms=_h2load_ms(timing.group(1), timing.group(2)) if timing else float("nan"),
        server_cpu=server_cpu,
        client_cpu=(client_after - client_before) * elapsed / wall,
    )


# -- server subprocess ------------------------------------------------------------------------------


class ServerProcess:
    """One ``python -m server`` subprocess on a fixed loopback port, in its own process group."""

    def __init__(
        self,
        port: int,
        workers: int | None = None,
        log_dir: Path | None = None,
        data_dir: Path = DEFAULT_DATA_DIR,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.port = port
        self.workers = workers
        self.data_dir = data_dir
        self.extra_args = tuple(extra_args)
        self.target = f"{HOST}:{port}"
        self._log_dir = Path(log_dir or tempfile.gettempdir())
        self._log: IO[bytes] | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self) -> None:
        """Spawn the server; returns at once (see ``wait_serving``)."""
        argv = [sys.executable, "-m", "server", "--host", HOST, "--port", str(self.port), "--data", str(self.data_dir)]
        if self.workers is not None:
            argv += ["--workers", str(self.workers)]
        argv += self.extra_args
        if SERVER_CPUS and shutil.which("taskset"):
            argv = ["taskset", "-c", ",".join(map(str, SERVER_CPUS)), *argv]
        self._log = (self._log_dir / f"server-{self.port}-{self.workers or 0}-{time.monotonic_ns()}.log").open("wb")
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        """The pid of the process we spawned."""
        assert self.proc is not None, "not started"
        return self.proc.pid

    def pids(self) -> list[int]:
        """The server process and its worker children, if any."""
        return [self.pid, *children_of(self.pid)] if self.proc is not None else []

    def cpu_by_pid(self) -> dict[int, float]:
        """CPU seconds used so far by each process of the server."""
        return {pid: cpu_seconds(pid) for pid in self.pids()}

    def rss_mib(self) -> float:
        """Total resident memory of the server's processes (shared pages of forked workers counted twice)."""
        return sum(rss_mib(pid) for pid in self.pids())

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server's output, for error messages."""
        if self._log is None:
            return ""
        self._log.flush()
        text = Path(self._log.name).read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def wait_serving(self, timeout: float = 30.0) -> float:
        """Block until health says SERVING for the service; return seconds since ``Popen``."""
        assert self.proc is not None, "not started"
        deadline = time.perf_counter() + timeout
        while True:  # 1. the port accepts TCP (cheap to poll; a gRPC channel would back off for ~1 s)
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), timeout=0.05):
                break
            if time.perf_counter() > deadline:
                raise TimeoutError(f"server did not open port {self.port}:\n{self.log_tail()}")
            time.sleep(0.005)
        while True:  # 2. the health service answers SERVING
            remaining = max(0.1, deadline - time.perf_counter())
            with grpc.insecure_channel(self.target) as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                try:
                    reply = stub.Check(
                        health_pb2.HealthCheckRequest(service=SERVICE), timeout=remaining, wait_for_ready=True
                    )
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return time.perf_counter() - self.started_at
                except grpc.RpcError as error:
                    if time.perf_counter() > deadline:
                        raise TimeoutError(f"no SERVING from {self.target}: {error}\n{self.log_tail()}") from None
            time.sleep(0.005)

    def wait_workers(self, count: int, timeout: float = 15.0) -> None:
        """Wait until ``count`` worker children exist, then give them a moment to bind."""
        deadline = time.perf_counter() + timeout
        while len(children_of(self.pid)) < count:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"only {len(children_of(self.pid))} of {count} workers started")
            time.sleep(0.02)
        time.sleep(1.0)

    def stop(self) -> None:
        """SIGTERM the server (it drains and forwards to its workers); SIGKILL its group after 10 s."""
        proc = self.proc
        if proc is None:
            return
        workers = children_of(proc.pid) if proc.poll() is None else []
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                log(f"server pid {proc.pid} ignored SIGTERM for 10 s: SIGKILL to its process group")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # the group start_new_session created; its leader is alive
                proc.wait(timeout=10)
        for pid in workers:  # a worker that outlived its parent: still in our group, so still ours
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if os.getpgid(pid) == proc.pid:
                    os.kill(pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()


# -- results ----------------------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class Row:
    """One line of the output table."""

    section: str
    measurement: str
    result: str
    target: str = ""
    met: bool | None = None

    def cells(self) -> list[str]:
        """The row's cells, with the verdict spelled out."""
        verdict = "info" if self.met is None else ("**MET**" if self.met else "**MISSED**")
        return [self.section, self.measurement, self.result, self.target or "-", verdict]


@dataclasses.dataclass(slots=True)
class LoadResult:
    """A closed-loop run: calls, their latencies, and the CPU both sides spent."""

    calls: int
    elapsed: float
    latencies: list[float]
    server_cpu: dict[int, float]
    client_cpu: float

    @property
    def qps(self) -> float:
        """Completed calls per second."""
        return self.calls / self.elapsed if self.elapsed else 0.0

    @property
    def p50_ms(self) -> float:
        """Median latency, in ms."""
        return percentile(self.latencies, 0.50) * 1000

    @property
    def p99_ms(self) -> float:
        """99th percentile latency, in ms."""
        return percentile(self.latencies, 0.99) * 1000

    @property
    def server_cpu_per_call_us(self) -> float:
        """Server CPU (all its processes) per completed call, in microseconds."""
        return sum(self.server_cpu.values()) / self.calls * 1e6 if self.calls else float("nan")

    def describe(self) -> str:
        """A compact one-cell summary."""
        server_share = sum(self.server_cpu.values()) / self.elapsed * 100
        return (
            f"{fmt_int(self.qps)} calls/s; p50 {self.p50_ms:.2f} ms, p99 {self.p99_ms:.2f} ms; "
            f"server CPU {self.server_cpu_per_call_us:,.0f} µs/call ({server_share:.0f}% of a core), "
            f"client {self.client_cpu / self.elapsed * 100:.0f}%"
        )


def print_table(rows: Sequence[Row], machine: str) -> None:
    """Print the one markdown table (with the machine description above it) on stdout."""
    header = ["section", "measurement", "result", "target", "status"]
    lines = [f"washout bench — {machine}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row.cells()) + " |" for row in rows]
    print("\n".join(lines), flush=True)


def machine_description() -> str:
    """nproc, CPU model, Python and the versions of the packages that matter."""
    model, load = "", "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "?"

    with contextlib.suppress(OSError):
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return (
        f"nproc {len(os.sched_getaffinity(0))} ({model or platform.machine()}), load average at start {load}, "
        f"Python {platform.python_version()}, grpcio {grpc.__version__}, protobuf {version('protobuf')}, "
        f"rapidfuzz {version('rapidfuzz')}, Linux {platform.release()}"
    )


# -- 1. engine in process ---------------------------------------------------------------------------


def timed_calls(call: Callable[[], object], count: int, before: Callable[[], object] | None = None) -> list[float]:
    """Per-call ``perf_counter`` durations (seconds) of ``count`` calls, sorted; ``before`` runs untimed."""
    durations: list[float] = []
    for _ in range(count):
        if before is not None:
            before()
        started = time.perf_counter()
        call()
        durations.append(time.perf_counter() - started)
    durations.sort()
    return durations


def bench_engine(rows: list[Row], calls: int, data_dir: Path) -> None:
    """Section 1: the engine without gRPC."""
    rss_before = rss_mib()
    started = time.perf_counter()
    engine = Engine.from_directory(data_dir)
    load_s = time.perf_counter() - started
    rss_loaded = rss_mib()
    request = engine_request()
    result = engine.check(request)
    log(
        f"engine: loaded in {load_s * 1000:.0f} ms, vocabulary {engine.resolver.vocabulary_size}; sample verdict "
        f"{result.verdict.name}, {len(result.reasons)} reasons, earliest {result.earliest_eligible_date}"
    )

    def check() -> object:
        return engine.check(request)

    for _ in range(300):  # warm-up
        check()
    warm = timed_calls(check, calls)
    warm_total = sum(warm)
    p99 = percentile(warm, 0.99) * 1000
    rows.append(
        Row(
            "1 engine",
            f"Check, 20 meds + 2 therapies, warm cache ({calls:,} calls)",
            f"{fmt_int(calls / warm_total)} req/s; p50 {percentile(warm, 0.5) * 1000:.3f} ms, p99 {p99:.3f} ms, "
            f"max {warm[-1] * 1000:.2f} ms",
            f"p99 < {TARGET_ENGINE_P99_MS:g} ms",
            p99 < TARGET_ENGINE_P99_MS,
        )
    )

    cold_calls = max(200, calls // 5)
    cold = timed_calls(check, cold_calls, before=engine.resolver.read.cache_clear)
    rows.append(
        Row(
            "1 engine",
            f"Check, same request, reading cache cleared before each call ({cold_calls:,} calls)",
            f"{fmt_int(cold_calls / sum(cold))} req/s; p50 {percentile(cold, 0.5) * 1000:.3f} ms, "
            f"p99 {percentile(cold, 0.99) * 1000:.3f} ms (worst case: 22 new names per patient)",
        )
    )

    strings = resolution_strings()
    read = engine.resolver.read
    cold_total, cold_reads = 0.0, 0
    while cold_total < 1.5 or cold_reads < 3 * len(strings):
        read.cache_clear()
        started = time.perf_counter()
        for text in strings:
            read(text)
        cold_total += time.perf_counter() - started
        cold_reads += len(strings)
    warm_total, warm_reads = 0.0, 0
    while warm_total < 0.5:
        started = time.perf_counter()
        for text in strings:
            read(text)
        warm_total += time.perf_counter() - started
        warm_reads += len(strings)
    cold_rate, warm_rate = cold_reads / cold_total, warm_reads / warm_total
    rows.append(
        Row(
            "1 engine",
            f"resolutions/s, {len(strings)} distinct strings, cold cache (cleared before each pass)",
            f"{fmt_int(cold_rate)} /s ({1e6 / cold_rate:.0f} µs per name)",
        )
    )
    rows.append(
        Row(
            "1 engine",
            f"resolutions/s, {len(strings)} distinct strings, warm cache",
            f"{fmt_int(warm_rate)} /s ({1e6 / warm_rate:.2f} µs per name)",
        )
    )
    maxrss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append(
        Row(
            "1 engine",
            "memory of this process after the load (VmRSS; engine = delta of from_directory)",
            f"{rss_mib():.0f} MiB RSS, max {maxrss_mib:.0f} MiB; engine {rss_loaded - rss_before:.1f} MiB; "
            f"load {load_s * 1000:.0f} ms",
        )
    )


def bench_startup(rows: list[Row], runs: int, log_dir: Path, data_dir: Path) -> None:
    """Section 1: wall time from ``Popen`` to health SERVING, median of ``runs`` starts."""
    times: list[float] = []
    for _ in range(runs):
        server = ServerProcess(free_port(), log_dir=log_dir, data_dir=data_dir)
        try:
            server.start()
            times.append(server.wait_serving())
        finally:
            server.stop()
    median = statistics.median(times)
    rows.append(
        Row(
            "1 engine",
            f"start-up: Popen(python -m server) to health SERVING (median of {runs})",
            f"{median:.2f} s (min {min(times):.2f}, max {max(times):.2f})",
            f"<= {TARGET_SERVING_S:g} s",
            median <= TARGET_SERVING_S,
        )
    )


# -- 2-4. over gRPC ---------------------------------------------------------------------------------


async def closed_loop(
    calls: Sequence[Callable[[], Awaitable[object]]],
    in_flight: int,
    warmup: float,
    duration: float,
    server: ServerProcess,
) -> LoadResult:
    """``in_flight`` coroutines each await one call at a time (coroutine i uses ``calls[i % len]``)."""
    latencies: list[float] = []
    state = {"recording": False, "stop": False}

    async def worker(call: Callable[[], Awaitable[object]]) -> None:
        while not state["stop"]:
            started = time.perf_counter()
            await call()
            if state["recording"]:
                latencies.append(time.perf_counter() - started)

    tasks = [asyncio.create_task(worker(calls[i % len(calls)])) for i in range(in_flight)]
    try:
        await asyncio.sleep(warmup)
        cpu_before, client_before = server.cpu_by_pid(), client_cpu_seconds()
        state["recording"] = True
        started = time.perf_counter()
        await asyncio.sleep(duration)
        state["recording"] = False
        elapsed = time.perf_counter() - started
        cpu_after, client_after = server.cpu_by_pid(), client_cpu_seconds()
        count = len(latencies)
    finally:
        state["stop"] = True
        await asyncio.gather(*tasks)
    latencies.sort()
    server_cpu = {pid: cpu_after[pid] - cpu_before.get(pid, 0.0) for pid in cpu_after}
    return LoadResult(count, elapsed, latencies, server_cpu, client_after - client_before)


def _channel(target: str, own_connection: bool = False) -> Any:
    options = [("grpc.use_local_subchannel_pool", 1)] if own_connection else []
    return grpc.aio.insecure_channel(target, options=options)


@dataclasses.dataclass(slots=True)
class Repeated:
    """Several runs of one configuration; the run with the median throughput represents them."""

    runs: list[LoadResult] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def median(self) -> LoadResult:
        """The run with the median calls/s."""
        return _median_run(self.runs)

    def describe(self) -> str:
        """The median run, with the range over runs when there were several."""
        text = self.median.describe()
        if len(self.runs) > 1:
            rates = [run.qps for run in self.runs]
            text += f" [median of {len(rates)}: {fmt_int(min(rates))}-{fmt_int(max(rates))} calls/s]"
        return text


def median_ratio(numerators: Sequence[Any], denominators: Sequence[Any]) -> tuple[float, str]:
    """The median of pairwise throughput ratios (runs paired in the order they ran), and its range."""
    ratios = sorted(top.qps / bottom.qps for top, bottom in zip(numerators, denominators, strict=True))
    spread = f" (pairs: {', '.join(f'{ratio:.2f}' for ratio in ratios)})" if len(ratios) > 1 else ""
    return statistics.median(ratios), spread


async def bench_unary(
    server: ServerProcess, warmup: float, duration: float, repeats: int
) -> dict[tuple[str, int], Repeated]:
    """Check against health on one channel: once at 1 in flight, ``repeats`` alternating pairs at 16."""
    request = wire_request()
    ping = health_pb2.HealthCheckRequest(service="")
    results: dict[tuple[str, int], Repeated] = {}
    async with _channel(server.target) as channel:
        check_stub = pb_grpc.WashoutServiceStub(channel)
        health_stub = health_pb2_grpc.HealthStub(channel)

        async def check() -> object:
            return await check_stub.Check(request, timeout=CALL_TIMEOUT)

        async def health() -> object:
            return await health_stub.Check(ping, timeout=CALL_TIMEOUT)

        reply = await check()
        assert isinstance(reply, pb.CheckResponse)
        log(
            f"grpc: Check answered {pb.Verdict.Name(reply.verdict)} with {len(reply.reasons)} reasons, "
            f"{reply.ByteSize():,} bytes (request {request.ByteSize():,} bytes)"
        )
        for in_flight, rounds in ((1, 1), (16, repeats)):
            for _ in range(rounds):
                for name, call in (("health", health), ("check", check)):
                    result = await closed_loop([call], in_flight, warmup, duration, server)
                    results.setdefault((name, in_flight), Repeated()).runs.append(result)
                    log(f"grpc: {name} @{in_flight}: {result.describe()}")
    return results


def bench_unary_h2load(
    server: ServerProcess, warmup: float, duration: float, repeats: int
) -> tuple[list[H2loadResult], list[H2loadResult]]:
    """Health and Check from h2load, one connection with 16 streams, ``repeats`` alternating pairs."""
    bodies = {
        "health": ("/grpc.health.v1.Health/Check", grpc_frame(health_pb2.HealthCheckRequest().SerializeToString())),
        "check": (f"/{SERVICE}/Check", grpc_frame(wire_request("bench-h2load").SerializeToString())),
    }
    runs: dict[str, list[H2loadResult]] = {"health": [], "check": []}
    for _ in range(repeats):
        for name, (path, body) in bodies.items():
            result = h2load(server, path, body, 1, 16, warmup, duration)
            runs[name].append(result)
            log(f"h2load: {name} @16: {result.describe()}")
    return runs["health"], runs["check"]


_Run = typing.TypeVar("_Run", "LoadResult", "H2loadResult")


def _median_run(runs: Sequence[_Run]) -> _Run:
    """The run with the median calls/s."""
    ordered = sorted(runs, key=lambda run: run.qps)
    return ordered[(len(ordered) - 1) // 2]


@dataclasses.dataclass(slots=True)
class StreamResult:
    """One CheckStream batch."""

    patients: int
    elapsed: float
    errors: int
    server_cpu: float
    client_cpu: float

    @property
    def rate(self) -> float:
        """Patients answered per second."""
        return self.patients / self.elapsed

    def describe(self) -> str:
        """A compact one-cell summary."""
        return (
            f"{fmt_int(self.rate)} patients/s ({self.elapsed:.2f} s, {self.errors} error entries); "
            f"server CPU {self.server_cpu / self.patients * 1e6:,.0f} µs/patient "
            f"({self.server_cpu / self.elapsed * 100:.0f}% of a core), "
            f"client {self.client_cpu / self.elapsed * 100:.0f}%"
        )


async def _timed_stream(
    server: ServerProcess, count: int, name: str, answers: Callable[[], AsyncIterator[pb.CheckStreamResponse]]
) -> StreamResult:
    """Time one stream whose answers ``answers()`` yields; count the error entries."""
    errors = answered = 0
    gc.collect()
    cpu_before, client_before = sum(server.cpu_by_pid().values()), client_cpu_seconds()
    started = time.perf_counter()
    async for result in answers():
        answered += 1
        if result.WhichOneof("result") != "check":
            errors += 1
    elapsed = time.perf_counter() - started
    server_cpu = sum(server.cpu_by_pid().values()) - cpu_before
    client_cpu = client_cpu_seconds() - client_before
    if answered != count:
        raise RuntimeError(f"{name} answered {answered} of {count}")
    return StreamResult(count, elapsed, errors, server_cpu, client_cpu)


async def _bench_a_stream(
    server: ServerProcess,
    name: str,
    warm_up: Sequence[Any],
    messages: Sequence[Any],
    patients: int,
    results_of: Callable[[Any], Iterable[pb.CheckStreamResponse]],
) -> StreamResult:
    """Send ``warm_up`` over one stream of method ``name``, then time ``messages`` over another."""
    async with _channel(server.target) as channel:
        method = getattr(pb_grpc.WashoutServiceStub(channel), name)
        async for _ in method(iter(warm_up), timeout=120):
            pass

        async def answers() -> AsyncIterator[pb.CheckStreamResponse]:
            async for reply in method(iter(messages), timeout=300):
                for result in results_of(reply):
                    yield result

        return await _timed_stream(server, patients, name, answers)


async def bench_stream(server: ServerProcess, count: int) -> StreamResult:
    """One CheckStream of ``count`` requests, one patient per message, after a small warm-up stream."""
    requests = stream_requests(count)
    return await _bench_a_stream(server, "CheckStream", requests[:500], requests, count, lambda reply: (reply,))


def bench_stream_h2load(server: ServerProcess, count: int, repeats: int) -> tuple[float, H2loadResult, str]:
    """The same CheckStream from h2load, ``repeats`` times: one HTTP/2 request whose body holds every message.

    Returns the median run's patients/s, the run and the spread. The Python run before it checked
    that these requests are answered in full, one answer each.
    """
    body = b"".join(grpc_frame(request.SerializeToString()) for request in stream_requests(count))
    runs = sorted(
        (h2load(server, f"/{SERVICE}/CheckStream", body, 1, 1, 0.0, 0.0, calls=1) for _ in range(max(1, repeats))),
        key=lambda run: run.elapsed,
    )
    median = runs[len(runs) // 2]
    spread = f" [median of {len(runs)}: {fmt_int(count / runs[-1].elapsed)}-{fmt_int(count / runs[0].elapsed)}]"
    return count / median.elapsed, median, spread if len(runs) > 1 else ""


async def bench_batch_stream(server: ServerProcess, count: int, per_message: int) -> StreamResult:
    """The same patients over CheckBatchStream, ``per_message`` patients per stream message."""
    checks = [request.check for request in stream_requests(count)]
    batches = [
        pb.CheckBatchStreamRequest(checks=checks[start : start + per_message]) for start in range(0, count, per_message)
    ]
    return await _bench_a_stream(server, "CheckBatchStream", batches[:5], batches, count, lambda reply: reply.results)


async def bench_workers_load(
    server: ServerProcess, workers: int, channels: int, in_flight: int, warmup: float, duration: float
) -> tuple[LoadResult, str]:
    """Check at ``in_flight`` over ``channels`` connections (SO_REUSEPORT balances per connection).

    The kernel hashes each new connection to a worker; when one worker gets none, the channels are
    reopened (up to 5 times) so the run measures both. Returns the run and the connections per worker.
    """
    request = wire_request()
    opened: list[Any] = []
    spread = ""
    try:
        for attempt in range(5):
            opened = [_channel(server.target, own_connection=True) for _ in range(channels)]
            stubs = [pb_grpc.WashoutServiceStub(channel) for channel in opened]
            await asyncio.gather(*(stub.Check(request, timeout=CALL_TIMEOUT) for stub in stubs))
            worker_pids = [pid for pid in server.pids() if pid != server.pid] if workers > 1 else [server.pid]
            held = connections_by_pid(worker_pids, server.port)
            spread = "/".join(str(count) for count in sorted(held.values()))
            if workers == 1 or min(held.values(), default=0) > 0:
                break
            log(f"workers {workers}: connections per worker {spread}; reopening (attempt {attempt + 1})")
            for channel in opened:
                await channel.close()

        def caller(stub: Any) -> Callable[[], Awaitable[object]]:
            async def call() -> object:
                return await stub.Check(request, timeout=CALL_TIMEOUT)

            return call

        result = await closed_loop([caller(stub) for stub in stubs], in_flight, warmup, duration, server)
        return result, spread
    finally:
        for channel in opened:
            await channel.close()


def split_of(result: LoadResult | H2loadResult, parent: int) -> str:
    """How the server CPU divided between worker processes."""
    workers = {pid: cpu for pid, cpu in result.server_cpu.items() if pid != parent}
    total = sum(workers.values())
    if len(workers) < 2 or total <= 0:
        return ""
    return "; worker CPU split " + "/".join(f"{cpu / total * 100:.0f}%" for cpu in sorted(workers.values()))


@contextlib.contextmanager
def running(server: ServerProcess, workers: int = 1) -> Iterator[ServerProcess]:
    """Start ``server``, wait for SERVING (and for its workers), and always stop it."""
    try:
        server.start()
        server.wait_serving()
        if workers > 1:
            server.wait_workers(workers)
        yield server
    finally:
        server.stop()


def section_grpc(rows: list[Row], args: argparse.Namespace, log_dir: Path) -> None:
    """Sections 2 and 3: one server process, unary Check against health, then CheckStream."""
    server_args = tuple(args.server_arg)
    with running(ServerProcess(free_port(), log_dir=log_dir, data_dir=args.data, extra_args=server_args)) as server:
        unary = asyncio.run(bench_unary(server, args.warmup, args.duration, args.repeats))
        compiled = bench_unary_h2load(server, args.warmup, args.duration, args.repeats) if H2LOAD else None
        rss_after_unary = server.rss_mib()
        stream = asyncio.run(bench_stream(server, args.stream))
        log(f"stream: {stream.describe()}")
        batched = asyncio.run(bench_batch_stream(server, args.stream, 100))
        log(f"batch stream: {batched.describe()}")
        stream_compiled = bench_stream_h2load(server, args.stream, args.repeats) if H2LOAD else None
        if stream_compiled is not None:
            log(f"h2load stream: {fmt_int(stream_compiled[0])} patients/s ({stream_compiled[1].elapsed:.2f} s)")
        rss_after_stream = server.rss_mib()
    for in_flight in (1, 16):
        for name, label in (("health", "grpc.health.v1 Check (no-op)"), ("check", "Check, 20 meds + 2 therapies")):
            rows.append(Row("2 gRPC", f"{label}, {in_flight} in flight", unary[(name, in_flight)].describe()))
    for in_flight in (1, 16):
        ratio, spread = median_ratio(unary[("check", in_flight)].runs, unary[("health", in_flight)].runs)
        targeted = in_flight == 16
        check_cpu = unary[("check", in_flight)].median.server_cpu_per_call_us
        health_cpu = unary[("health", in_flight)].median.server_cpu_per_call_us
        rows.append(
            Row(
                "2 gRPC",
                f"Check / health throughput, {in_flight} in flight",
                f"{ratio:.3f}x{spread}; server CPU per call {check_cpu / health_cpu:.1f}x health's",
                f">= {TARGET_CHECK_VS_HEALTH:.2f}x" if targeted else "",
                ratio >= TARGET_CHECK_VS_HEALTH if targeted else None,
            )
        )
    if compiled is not None:
        health_runs, check_runs = compiled
        ratio, spread = median_ratio(check_runs, health_runs)
        for label, runs in (
            ("grpc.health.v1 Check (no-op)", health_runs),
            ("Check, 20 meds + 2 therapies", check_runs),
        ):
            rows.append(Row("2 gRPC", f"{label}, 16 in flight, load from h2load", _median_run(runs).describe()))
        rows.append(
            Row(
                "2 gRPC",
                "Check / health throughput, 16 in flight, load from h2load (the server's own cost)",
                f"{ratio:.2f}x{spread}",
            )
        )
    else:
        rows.append(Row("2 gRPC", "load from h2load", "skipped: h2load not installed (apt-get install nghttp2-client)"))
    rows.append(
        Row(
            "2 gRPC",
            "server memory (VmRSS) after the unary runs / after the stream",
            f"{rss_after_unary:.0f} MiB / {rss_after_stream:.0f} MiB",
        )
    )
    rows.append(
        Row(
            "3 stream",
            f"CheckStream, {args.stream:,} patients of 5-10 meds over one stream, one per message",
            stream.describe(),
            f">= {fmt_int(TARGET_STREAM_PATIENTS_PER_S)} patients/s",
            stream.rate >= TARGET_STREAM_PATIENTS_PER_S,
        )
    )
    if stream_compiled is not None:
        rate, run, spread = stream_compiled
        server_share = sum(run.server_cpu.values()) / run.elapsed * 100
        rows.append(
            Row(
                "3 stream",
                f"CheckStream, the same {args.stream:,} patients, one per message, sent by h2load",
                f"{fmt_int(rate)} patients/s ({run.elapsed:.2f} s); server {server_share:.0f}% of a core{spread}"
                + (f"; {run.failed} FAILED" if run.failed else ""),
                f">= {fmt_int(TARGET_STREAM_PATIENTS_PER_S)} patients/s",
                rate >= TARGET_STREAM_PATIENTS_PER_S and not run.failed,
            )
        )
    rows.append(
        Row(
            "3 stream",
            f"CheckBatchStream, the same {args.stream:,} patients, 100 per message",
            batched.describe(),
            f">= {fmt_int(TARGET_STREAM_PATIENTS_PER_S)} patients/s",
            batched.rate >= TARGET_STREAM_PATIENTS_PER_S,
        )
    )


def bench_workers_h2load(
    server: ServerProcess, workers: int, connections: int, in_flight: int, warmup: float, duration: float
) -> tuple[H2loadResult, str]:
    """Check from h2load over ``connections`` connections; rerun (up to 3 times) if a worker got no calls."""
    body = grpc_frame(wire_request("bench-workers").SerializeToString())
    streams = max(1, in_flight // connections)
    for attempt in range(3):
        result = h2load(server, f"/{SERVICE}/Check", body, connections, streams, warmup, duration)
        shares = [cpu for pid, cpu in result.server_cpu.items() if pid != server.pid or workers == 1]
        if workers == 1 or min(shares, default=0.0) > 0.1 * sum(shares):
            break
        log(f"workers {workers}: one worker got almost no calls; running again (attempt {attempt + 2})")
    return result, split_of(result, server.pid)


def section_workers(rows: list[Row], args: argparse.Namespace, log_dir: Path) -> None:
    """Section 4: ``--workers 1`` against ``--workers 2`` on one fixed port, alternating, ``repeats`` pairs.

    The load comes from this Python process and, when installed, from h2load. The Python client
    spends most of a core itself, so on 2 shared cores it leaves a second worker little to use.
    """
    port = free_port()
    runs: dict[int, Repeated] = {1: Repeated(), 2: Repeated()}
    compiled: dict[int, list[H2loadResult]] = {1: [], 2: []}
    compiled_notes: dict[int, list[str]] = {1: [], 2: []}
    for _ in range(args.repeats):
        for workers in (1, 2):
            process = ServerProcess(
                port, workers=workers, log_dir=log_dir, data_dir=args.data, extra_args=tuple(args.server_arg)
            )
            with running(process, workers) as server:
                result, spread = asyncio.run(
                    bench_workers_load(server, workers, args.channels, args.in_flight, args.warmup, args.duration)
                )
                note = f"; connections per worker {spread}" if workers > 1 else ""
                note += split_of(result, server.pid) + f"; RSS {server.rss_mib():.0f} MiB"
                runs[workers].runs.append(result)
                runs[workers].notes.append(note)
                log(f"workers {workers}: {result.describe()}{note}")
                if H2LOAD:
                    fast, split = bench_workers_h2load(
                        server, workers, args.channels, args.in_flight, args.warmup, args.duration
                    )
                    compiled[workers].append(fast)
                    compiled_notes[workers].append(split)
                    log(f"workers {workers}, h2load: {fast.describe()}{split}")
    for workers in (1, 2):
        repeated = runs[workers]
        note = repeated.notes[repeated.runs.index(repeated.median)]
        rows.append(
            Row(
                "4 workers",
                f"Check, --workers {workers}, {args.in_flight} in flight over {args.channels} connections, Python load",
                repeated.describe() + note,
            )
        )
    ratio, spread = median_ratio(runs[2].runs, runs[1].runs)
    used = {
        workers: (sum(runs[workers].median.server_cpu.values()) + runs[workers].median.client_cpu)
        / runs[workers].median.elapsed
        * 100
        for workers in (1, 2)
    }
    targeted = not H2LOAD
    rows.append(
        Row(
            "4 workers",
            "throughput --workers 2 / --workers 1, Python load client on the same 2 cores",
            f"{ratio:.2f}x{spread}; server + client CPU used: {used[1]:.0f}% with 1 worker, "
            f"{used[2]:.0f}% with 2, of 200%",
            f">= {TARGET_WORKERS_RATIO:g}x" if targeted else "",
            ratio >= TARGET_WORKERS_RATIO if targeted else None,
        )
    )
    if not H2LOAD:
        return
    for workers in (1, 2):
        median = _median_run(compiled[workers])
        note = compiled_notes[workers][compiled[workers].index(median)]
        rows.append(
            Row(
                "4 workers",
                f"Check, --workers {workers}, {args.in_flight} in flight over {args.channels} connections, h2load",
                median.describe() + note + f" [median of {len(compiled[workers])}]",
            )
        )
    ratio, spread = median_ratio(compiled[2], compiled[1])
    # One worker uses more than a core (gRPC's own threads beside the event loop), so the CPUs left
    # beside the load generator limit what a second worker can add: shown beside the ratio.
    single = _median_run(compiled[1])
    one_worker = sum(single.server_cpu.values()) / single.elapsed
    cores_left = (
        float(len(SERVER_CPUS)) if SERVER_CPUS else len(os.sched_getaffinity(0)) - single.client_cpu / single.elapsed
    )
    rows.append(
        Row(
            "4 workers",
            "throughput --workers 2 / --workers 1, load from h2load",
            f"{ratio:.2f}x{spread}; one worker uses {one_worker:.2f} cores, {cores_left:.2f} are left beside h2load",
            f">= {TARGET_WORKERS_RATIO:g}x",
            ratio >= TARGET_WORKERS_RATIO,
        )
    )


def pin_cpus(mode: str) -> str:
    """With 4+ CPUs (or ``--pin on``), give servers 2 CPUs and this load client the rest; describe the layout."""
    cpus = sorted(os.sched_getaffinity(0))
    if mode == "off" or (mode == "auto" and len(cpus) < 4) or len(cpus) < 3 or not shutil.which("taskset"):
        return "server and load client share all CPUs"
    SERVER_CPUS[:] = cpus[:2]
    os.sched_setaffinity(0, cpus[2:])  # before any gRPC thread exists in this process
    return f"servers pinned to CPUs {cpus[0]},{cpus[1]}; load client on {','.join(map(str, cpus[2:]))}"


def main(argv: list[str] | None = None) -> int:
    """Run every section and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, help="knowledge base folder (default: data/)")
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per closed-loop run")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds before each measured run")
    parser.add_argument("--repeats", type=int, default=3, help="alternating pairs for the targeted ratios")
    parser.add_argument("--engine-calls", type=int, default=3000, help="timed in-process Check calls (>= 2000)")
    parser.add_argument("--stream", type=int, default=10_000, help="requests in the CheckStream batch")
    parser.add_argument("--startups", type=int, default=3, help="server starts timed for start-up")
    parser.add_argument("--channels", type=int, default=8, help="connections for the workers comparison")
    parser.add_argument("--in-flight", type=int, default=32, help="calls in flight for the workers comparison")
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        metavar="FLAG",
        help="extra flag for every benchmarked server, e.g. --server-arg=--log-level=WARNING (repeatable)",
    )
    parser.add_argument(
        "--pin", choices=["auto", "on", "off"], default="auto", help="pin servers to 2 CPUs (auto: with 4+ CPUs)"
    )
    parser.add_argument("--skip", action="append", default=[], choices=["engine", "grpc", "workers"])
    args = parser.parse_args(argv)

    began = time.perf_counter()
    layout = pin_cpus(args.pin)
    machine = f"{machine_description()}; {layout}"
    if os.getloadavg()[0] > 0.5:
        log("warning: other processes are using the CPU (load average above 0.5); absolute figures will be noisy")
    if args.server_arg:
        machine += f"; server flags {' '.join(args.server_arg)}"
    log(machine)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="washout-bench-") as scratch:
        log_dir = Path(scratch)
        if "engine" not in args.skip:
            log("1. engine in process")
            bench_engine(rows, args.engine_calls, args.data)
            bench_startup(rows, args.startups, log_dir, args.data)
        if "grpc" not in args.skip:
            log("2./3. one server process over gRPC")
            section_grpc(rows, args, log_dir)
        if "workers" not in args.skip:
            log("4. --workers 1 against --workers 2 on a fixed port")
            section_workers(rows, args, log_dir)
    log(f"done in {time.perf_counter() - began:.0f} s")
    print_table(rows, machine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
