"""A typed Python client for ``washout.v1.WashoutService`` that owns its channel and sets deadlines."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from washout.v1 import washout_service_pb2 as pb
from washout.v1 import washout_service_pb2_grpc as pb_grpc

from client.errors import from_rpc_error


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """Certificates for TLS; give a client certificate and key for mutual TLS."""

    ca_cert: Path
    client_cert: Path | None = None
    client_key: Path | None = None
    server_name: str | None = None


class WashoutClient:
    """Calls the washout service. Use it as a context manager so the channel is closed.

    Examples:
        >>> with WashoutClient("localhost:50051") as client:
        ...     reply = client.check("2026-12-10", [pb.Medication(name="Biaxin", last_dose_date="2026-12-03")])
        ...     print(pb.Verdict.Name(reply.verdict), reply.earliest_eligible_date)
    """

    def __init__(
        self,
        target: str = "localhost:50051",
        *,
        timeout: float = 10.0,
        token: str | None = None,
        tls: TlsOptions | None = None,
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        self.timeout = timeout
        self._metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {token}"),) if token else ()
        channel_options = list(options)
        if tls is None:
            self._channel = grpc.insecure_channel(target, options=channel_options)
        else:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=tls.ca_cert.read_bytes(),
                private_key=tls.client_key.read_bytes() if tls.client_key else None,
                certificate_chain=tls.client_cert.read_bytes() if tls.client_cert else None,
            )
            if tls.server_name:
                channel_options.append(("grpc.ssl_target_name_override", tls.server_name))
            self._channel = grpc.secure_channel(target, credentials, options=channel_options)
        self._stub = pb_grpc.WashoutServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def __enter__(self) -> WashoutClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    def check(
        self,
        first_dose_date: str,
        medications: Iterable[pb.Medication] = (),
        prior_therapies: Iterable[pb.PriorTherapy] = (),
        *,
        protocol_id: str = "",
        request_id: str | None = None,
    ) -> pb.CheckResponse:
        """Screen one patient; a blocked patient is a normal answer, not an exception."""
        request = pb.CheckRequest(
            request_id=request_id or uuid.uuid4().hex[:12],
            first_dose_date=first_dose_date,
            medications=list(medications),
            prior_therapies=list(prior_therapies),
            protocol_id=protocol_id,
        )
        return self._call(self._stub.Check, request)  # type: ignore[no-any-return]

    def check_stream(
        self, requests: Iterable[pb.CheckRequest], *, timeout: float | None = None
    ) -> Iterator[pb.CheckStreamResponse]:
        """Screen a batch over one stream; yields one answer per request, in order."""
        stream = self._stub.CheckStream(
            (pb.CheckStreamRequest(check=request) for request in requests),
            timeout=timeout if timeout is not None else self.timeout * 60,
            metadata=self._metadata,
        )
        try:
            yield from stream
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None

    def check_batch_stream(
        self, requests: Iterable[pb.CheckRequest], *, per_message: int = 100, timeout: float | None = None
    ) -> Iterator[pb.CheckStreamResponse]:
        """Screen a large batch, ``per_message`` patients per message; yields one answer per request, in order."""

        def batches() -> Iterator[pb.CheckBatchStreamRequest]:
            batch: list[pb.CheckRequest] = []
            for request in requests:
                batch.append(request)
                if len(batch) == per_message:
                    yield pb.CheckBatchStreamRequest(checks=batch)
                    batch = []
            if batch:
                yield pb.CheckBatchStreamRequest(checks=batch)

        stream = self._stub.CheckBatchStream(
            batches(), timeout=timeout if timeout is not None else self.timeout * 60, metadata=self._metadata
        )
        try:
            for reply in stream:
                yield from reply.results
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None

    def resolve(self, names: Sequence[str]) -> pb.ResolveResponse:
        """Read names into canonical ingredients, with candidates, scores and methods."""
        return self._call(self._stub.Resolve, pb.ResolveRequest(names=list(names)))  # type: ignore[no-any-return]

    def knowledge_base(self) -> pb.GetKnowledgeBaseResponse:
        """Describe the loaded protocols, rules, tables and version."""
        return self._call(self._stub.GetKnowledgeBase, pb.GetKnowledgeBaseRequest())  # type: ignore[no-any-return]

    def health(self, service: str = "washout.v1.WashoutService") -> str:
        """The health status name of ``service`` (SERVING, NOT_SERVING...)."""
        reply = self._call(self._health.Check, health_pb2.HealthCheckRequest(service=service))
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))

    def _call(self, method: Any, request: Any) -> Any:
        try:
            return method(request, timeout=self.timeout, metadata=self._metadata)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
