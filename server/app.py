"""Wiring: build the gRPC server (servicer, health, reflection, interceptors, TLS) and run it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from washout.v1 import washout_service_pb2 as pb

from server.audit import AuditLog
from server.config import ServerConfig
from server.engine import Engine, KnowledgeError, RequestLimits
from server.interceptors import BearerTokenInterceptor, CallSummary, CallTracker, ErrorMappingInterceptor
from server.servicer import WashoutServicer, add_to_server

_LOGGER = logging.getLogger("washout.server")
_T = TypeVar("_T")
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["WashoutService"].full_name


class EngineHolder:
    """The engine currently serving; ``reload`` swaps in a new one only if it loads cleanly."""

    def __init__(self, config: ServerConfig, engine: Engine) -> None:
        self._config = config
        self._engine = engine
        self._lock = threading.Lock()

    def current(self) -> Engine:
        """The engine to use for one call."""
        return self._engine

    def reload(self) -> bool:
        """Load the data folder again; keep the last good engine when the new one is invalid."""
        try:
            engine = load_engine(self._config)
        except KnowledgeError as error:
            _LOGGER.error("reload refused, still serving version %s: %s", self._engine.version, error)
            return False
        with self._lock:
            previous, self._engine = self._engine.version, engine
        _LOGGER.info("knowledge reloaded: version %s -> %s", previous, engine.version)
        return True


def load_engine(config: ServerConfig) -> Engine:
    """Load the knowledge base named by the config into an engine (raises ``KnowledgeError``)."""
    return Engine.from_directory(config.data_dir, limits=RequestLimits(config.max_items, config.max_name_length))


@dataclasses.dataclass(frozen=True)
class Service:
    """A built (not started) asyncio server with the parts its lifecycle needs."""

    server: grpc.aio.Server
    port: int
    holder: EngineHolder
    health: health.aio.HealthServicer
    tracker: CallTracker
    audit: AuditLog | None
    calls: CallSummary

    async def drain(self, grace_seconds: float) -> bool:
        """Stop taking calls, let the ones already accepted finish (up to the grace period), stop.

        Returns False when calls were still running at the end of the grace period (they are cancelled).
        """
        self.tracker.begin_drain()
        await self.health.enter_graceful_shutdown()
        idle = await self.tracker.wait_idle(grace_seconds)
        # The calls have returned; a short grace lets their last messages leave.
        await self.stop(1.0 if idle else 0)
        return idle

    async def stop(self, grace: float | None = None) -> None:
        """Stop the server (cancelling calls after ``grace`` seconds) and close the audit log."""
        await self.server.stop(grace)
        self.calls.flush()
        if self.audit is not None:
            self.audit.close()


async def build_service(config: ServerConfig, holder: EngineHolder | None = None) -> Service:
    """Build (not start) a server for ``config`` with health, reflection, interceptors and TLS.

    Runs inside the event loop that will serve. Health reports SERVING only after the knowledge
    base has loaded (it is loaded before this returns).
    """
    holder = holder or EngineHolder(config, load_engine(config))
    tracker = CallTracker()
    interceptors: list[grpc.aio.ServerInterceptor] = [tracker]
    if config.auth_token:
        interceptors.append(BearerTokenInterceptor(config.auth_token))
    calls = CallSummary(config.log_summary_seconds)
    interceptors.append(ErrorMappingInterceptor(config.log_patient_data, calls))
    options = [
        ("grpc.max_receive_message_length", config.max_message_bytes),
        ("grpc.so_reuseport", 1 if config.workers > 1 else 0),
        # Clients reconnect every few minutes (calls in progress finish first), so connections
        # spread again over worker processes and over new replicas after a scale-out.
        ("grpc.max_connection_age_ms", 300_000),
        ("grpc.max_connection_age_grace_ms", 30_000),
    ]
    server = grpc.aio.server(interceptors=interceptors, options=options)
    audit = AuditLog(config.audit_log) if config.audit_log else None
    add_to_server(WashoutServicer(holder.current, audit.record if audit else None), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if config.reflection:
        reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    port = _bind(server, config)
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return Service(server, port, holder, health_servicer, tracker, audit, calls)


class ThreadedServer:
    """The asyncio server behind the familiar ``grpc.Server`` calls (``start``, ``stop``,
    ``wait_for_termination``), its event loop on a background thread: for programs and tests
    that are not themselves asyncio."""

    def __init__(self, config: ServerConfig, holder: EngineHolder | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="washout-loop", daemon=True)
        self._thread.start()
        self._stopped = threading.Event()
        try:
            self.service = self._run(build_service(config, holder))
        except BaseException:
            self._close_loop()
            raise
        self.port = self.service.port

    def _run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=60)

    def start(self) -> None:
        """Start serving."""
        self._run(self.service.server.start())

    def stop(self, grace: float | None = None) -> threading.Event:
        """Stop (cancelling calls after ``grace`` seconds); the returned event is set once stopped."""
        if not self._stopped.is_set():
            try:
                self._run(self.service.stop(grace))
            finally:
                self._close_loop()
                self._stopped.set()
        return self._stopped

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        """Block until stopped; True if it stopped within ``timeout``."""
        return self._stopped.wait(timeout)

    def _close_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


def build_server(config: ServerConfig, holder: EngineHolder | None = None) -> tuple[ThreadedServer, int]:
    """Build (not start) a server for ``config``; returns it with the port it bound.

    The server answers ``start()``, ``stop(grace)`` and ``wait_for_termination()`` like a
    ``grpc.Server``; asyncio programs use ``build_service`` instead.
    """
    server = ThreadedServer(config, holder)
    return server, server.port


def _bind(server: grpc.aio.Server, config: ServerConfig) -> int:
    if config.tls_cert is None or config.tls_key is None:
        return int(server.add_insecure_port(config.address))
    client_ca = config.tls_client_ca.read_bytes() if config.tls_client_ca else None
    credentials = grpc.ssl_server_credentials(
        [(config.tls_key.read_bytes(), config.tls_cert.read_bytes())],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )
    return int(server.add_secure_port(config.address, credentials))


def serve(config: ServerConfig) -> int:
    """Run until SIGTERM or SIGINT; returns the process exit code."""
    try:
        engine = load_engine(config)
    except KnowledgeError as error:
        _LOGGER.error("cannot start: %s", error)
        return 2
    if config.workers > 1:
        return _serve_workers(config, engine)
    return asyncio.run(_serve_one(config, engine))


async def _serve_one(config: ServerConfig, engine: Engine) -> int:
    service = await build_service(config, EngineHolder(config, engine))
    loop = asyncio.get_running_loop()
    draining: list[asyncio.Task[bool]] = []
    reloading: set[asyncio.Future[bool]] = set()

    def on_term(signum: int) -> None:
        if not draining:
            _LOGGER.info("signal %d: draining for up to %.1fs", signum, config.grace_seconds)
            draining.append(loop.create_task(service.drain(config.grace_seconds)))

    def on_hup() -> None:
        # Loading is CPU work of a fraction of a second: a thread keeps the loop serving meanwhile.
        future = loop.run_in_executor(None, service.holder.reload)
        reloading.add(future)
        future.add_done_callback(reloading.discard)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_term, signum)
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    await service.server.start()
    _LOGGER.info(
        "serving washout.v1 on %s:%d (knowledge %s, %d protocol(s))",
        config.host,
        service.port,
        engine.version,
        len(engine.knowledge.protocols),
    )
    await service.server.wait_for_termination()
    if draining:
        idle = await draining[0]
        _LOGGER.info("drained: %s", "all calls finished" if idle else "grace period over, remaining calls cancelled")
    _LOGGER.info("stopped")
    return 0


def _serve_workers(config: ServerConfig, engine: Engine) -> int:
    """Fork ``config.workers`` processes, each with its own server on the same port (SO_REUSEPORT).

    NOTE: the workers must be forked before any gRPC server exists in this process.
    See https://github.com/grpc/grpc/issues/16001 and grpc's examples/python/multiprocessing.
    """
    port = config.port or _free_port(config.host)
    worker_config = dataclasses.replace(config, port=port)
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_worker_main, args=(worker_config, engine)) for _ in range(config.workers)]
    for worker in workers:
        worker.start()
    _LOGGER.info("started %d workers on port %d", len(workers), port)

    def forward(signum: int, frame: Any) -> None:
        for worker in workers:
            if worker.pid is not None and worker.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    for worker in workers:
        worker.join()
    return max((worker.exitcode or 0) for worker in workers)


def _worker_main(config: ServerConfig, engine: Engine) -> None:
    sys.exit(asyncio.run(_serve_one(config, engine)))


def _free_port(host: str) -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        probe.bind((host if host not in ("0.0.0.0", "::", "[::]") else "", 0))
        return int(probe.getsockname()[1])
