"""TLS, mutual TLS and bearer tokens end to end; reflection off; logs without patient data; the audit trail."""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from washout.v1 import washout_service_pb2 as pb

from client import ServiceUnavailableError, TlsOptions, UnauthenticatedError, WashoutClient
from server.app import build_server
from server.config import ServerConfig

pytestmark = pytest.mark.e2e


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write(path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> tuple[Path, Path]:
    key_path, cert_path = path.with_suffix(".key"), path.with_suffix(".crt")
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def _cert(subject: str, key, issuer_key, issuer_name: x509.Name | None, *, ca: bool, dns: str | None = None):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if dns:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pki")
    ca_key = _key()
    ca_cert = _cert("washout test CA", ca_key, ca_key, None, ca=True)
    _, ca_path = _write(root / "ca", ca_key, ca_cert)
    paths = {"ca": ca_path}
    for who, dns in (("server", "localhost"), ("client", None)):
        key = _key()
        cert = _cert(f"washout {who}", key, ca_key, ca_cert.subject, ca=False, dns=dns)
        paths[f"{who}_key"], paths[f"{who}_cert"] = _write(root / who, key, cert)
    return paths


@pytest.fixture
def serve(server_config) -> Iterator[Callable[..., str]]:
    services = []

    def start(**changes) -> str:
        server, port = build_server(dataclasses.replace(server_config, **changes))
        server.start()
        services.append(server)
        return f"localhost:{port}"

    yield start
    for service in services:
        service.stop()


def _meds() -> list[pb.Medication]:
    return [pb.Medication(name="Nizoral 200mg", last_dose_date="2026-12-08")]


def test_tls(serve, pki):
    target = serve(tls_cert=pki["server_cert"], tls_key=pki["server_key"])
    with WashoutClient(target, timeout=5, tls=TlsOptions(pki["ca"])) as client:
        assert client.check("2026-12-10", _meds()).verdict == pb.VERDICT_BLOCKED
    with WashoutClient(target, timeout=2) as plaintext, pytest.raises(ServiceUnavailableError):
        plaintext.check("2026-12-10", _meds())


def test_mutual_tls_requires_a_client_certificate(serve, pki):
    target = serve(tls_cert=pki["server_cert"], tls_key=pki["server_key"], tls_client_ca=pki["ca"])
    with WashoutClient(target, timeout=5, tls=TlsOptions(pki["ca"], pki["client_cert"], pki["client_key"])) as client:
        assert client.check("2026-12-10", _meds()).verdict == pb.VERDICT_BLOCKED
    anonymous = WashoutClient(target, timeout=2, tls=TlsOptions(pki["ca"]))
    with anonymous, pytest.raises(ServiceUnavailableError):
        anonymous.check("2026-12-10", _meds())


def test_bearer_token(serve):
    target = serve(auth_token="s3cret-token")
    with WashoutClient(target, timeout=5, token="s3cret-token") as client:
        assert client.check("2026-12-10", _meds()).verdict == pb.VERDICT_BLOCKED
    for token in (None, "wrong", "s3cret-token "):
        with WashoutClient(target, timeout=5, token=token) as client, pytest.raises(UnauthenticatedError):
            client.check("2026-12-10", _meds())
    with WashoutClient(target, timeout=5) as client:
        assert client.health() == "SERVING"  # probes need no token


def test_reflection_can_be_switched_off(serve):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    target = serve(reflection=False)
    with grpc.insecure_channel(target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            list(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5))
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


@pytest.mark.parametrize("log_patient_data", [False, True])
def test_logs_hold_no_medication_names_unless_asked(serve, caplog, log_patient_data):
    target = serve(log_patient_data=log_patient_data)
    with caplog.at_level(logging.DEBUG, logger="washout"), WashoutClient(target, timeout=5) as client:
        client.check("2026-12-10", [pb.Medication(name="Zyxoprazolamycin", ongoing=True)], request_id="log-1")
        client.resolve(["Zyxoprazolamycin"])
    assert "log-1" in caplog.text and "verdict=" in caplog.text
    assert ("Zyxoprazolamycin" in caplog.text) is log_patient_data


def test_info_logs_summarise_calls_without_names(serve, caplog):
    target = serve(log_summary_seconds=0.2)
    with caplog.at_level(logging.INFO, logger="washout"), WashoutClient(target, timeout=5) as client:
        for index in range(3):
            client.check("2026-12-10", _meds(), request_id=f"sum-{index}")
        client.check("2026-12-10", [pb.Medication(name="paracetamol", ongoing=True)], request_id="sum-ok")
        deadline = time.monotonic() + 5
        while "answered in the last" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
    [summary] = [record.getMessage() for record in caplog.records if "answered in the last" in record.getMessage()]
    assert "Check=4" in summary and "BLOCKED=3" in summary and "ELIGIBLE=1" in summary
    assert "p99=" in summary
    assert "Nizoral" not in caplog.text and "sum-0" not in caplog.text  # per-call lines are DEBUG


def test_audit_log_traces_each_decision(serve, tmp_path):
    audit = tmp_path / "audit.jsonl"
    target = serve(audit_log=audit)
    with WashoutClient(target, timeout=5) as client:
        reply = client.check("2026-12-10", _meds(), request_id="audit-1")
    [line] = audit.read_text(encoding="utf-8").splitlines()
    entry = json.loads(line)
    assert entry["request_id"] == "audit-1"
    assert entry["verdict"] == "BLOCKED"
    assert entry["rule_ids"] == ["EXC20_STRONG_CYP3A4_INHIBITOR"]
    assert entry["knowledge_version"] == reply.knowledge_version
    assert "Nizoral" not in line


def test_config_defaults_are_private(server_config: ServerConfig):
    assert ServerConfig().log_patient_data is False
    assert ServerConfig().audit_log is None
