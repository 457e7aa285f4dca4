"""Typed server configuration, built from command-line flags in ``__main__`` and passed down."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True)
class ServerConfig:
    """Everything the server needs to start; nothing is read from the environment later."""

    host: str = "0.0.0.0"
    port: int = 50051
    data_dir: Path = DEFAULT_DATA_DIR
    workers: int = 1
    grace_seconds: float = 10.0
    reflection: bool = True
    max_items: int = 200
    max_name_length: int = 300
    max_message_bytes: int = 1024 * 1024
    log_level: str = "INFO"
    log_patient_data: bool = False
    log_summary_seconds: float = 10.0
    audit_log: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    auth_token: str | None = None

    @property
    def address(self) -> str:
        """The address to bind, ``host:port``."""
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{host}:{self.port}"


def parse_args(argv: list[str] | None = None) -> ServerConfig:
    """Build a ``ServerConfig`` from command-line flags (see ``--help``)."""
    parser = argparse.ArgumentParser(prog="python -m server", description="Run the washout gRPC service.")
    add = parser.add_argument
    add("--host", default=ServerConfig.host, help="address to bind (default %(default)s)")
    add("--port", type=int, default=ServerConfig.port, help="port to bind; 0 picks a free one (default %(default)s)")
    add("--data", type=Path, default=DEFAULT_DATA_DIR, help="knowledge base folder (default: the embedded data/)")
    add("--workers", type=int, default=ServerConfig.workers, help="serving processes sharing the port (SO_REUSEPORT)")
    add("--grace", type=float, default=ServerConfig.grace_seconds, help="seconds to drain calls on SIGTERM")
    add("--no-reflection", action="store_true", help="switch server reflection off")
    add("--max-items", type=int, default=ServerConfig.max_items, help="most medications (or therapies) per request")
    add("--max-name-length", type=int, default=ServerConfig.max_name_length, help="longest name, in characters")
    add("--max-message-bytes", type=int, default=ServerConfig.max_message_bytes, help="largest request message")
    add("--log-level", default=ServerConfig.log_level, help="DEBUG, INFO, WARNING... (default %(default)s)")
    add(
        "--log-summary-seconds",
        type=float,
        default=ServerConfig.log_summary_seconds,
        help="seconds per INFO summary of calls answered (every call is logged at DEBUG; default %(default)s)",
    )
    add("--log-patient-data", action="store_true", help="log medication names (off: logs hold no patient data)")
    add("--audit-log", type=Path, help="append one JSON line per decision to this file")
    add("--tls-cert", type=Path, help="server certificate chain (PEM); enables TLS")
    add("--tls-key", type=Path, help="server private key (PEM)")
    add("--tls-client-ca", type=Path, help="CA bundle (PEM) to require and verify client certificates (mutual TLS)")
    add("--auth-token-file", type=Path, help="file holding the bearer token clients must send (or WASHOUT_AUTH_TOKEN)")
    args = parser.parse_args(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    if args.log_summary_seconds <= 0:
        parser.error("--log-summary-seconds must be positive")
    if args.tls_client_ca is not None and args.tls_cert is None:
        parser.error("--tls-client-ca needs --tls-cert and --tls-key")
    token = os.environ.get("WASHOUT_AUTH_TOKEN") or None
    if args.auth_token_file is not None:
        token = args.auth_token_file.read_text(encoding="utf-8").strip() or None
    return ServerConfig(
        host=args.host,
        port=args.port,
        data_dir=args.data,
        workers=max(1, args.workers),
        grace_seconds=args.grace,
        reflection=not args.no_reflection,
        max_items=args.max_items,
        max_name_length=args.max_name_length,
        max_message_bytes=args.max_message_bytes,
        log_level=args.log_level.upper(),
        log_patient_data=args.log_patient_data,
        log_summary_seconds=args.log_summary_seconds,
        audit_log=args.audit_log,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_client_ca=args.tls_client_ca,
        auth_token=token,
    )
