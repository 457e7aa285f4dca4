"""Shared fixtures: the engine on the embedded knowledge base, and a real server on port 0."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from hypothesis import settings

from server.app import build_server
from server.config import DEFAULT_DATA_DIR, ServerConfig
from server.engine import Engine

# CI runs the property-based tests on a fixed seed, so a run is repeatable; locally they explore.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

DATA_DIR = DEFAULT_DATA_DIR
FIRST_DOSE = "2026-12-10"


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine.from_directory(DATA_DIR)


@pytest.fixture(scope="session")
def server_config() -> ServerConfig:
    return ServerConfig(host="127.0.0.1", port=0, data_dir=DATA_DIR, grace_seconds=1.0)


@pytest.fixture(scope="module")
def server_target(server_config: ServerConfig) -> Iterator[str]:
    server, port = build_server(server_config)
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(None).wait()


@pytest.fixture
def channel(server_target: str) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server_target) as channel:
        yield channel


def copy_data(tmp_path: Path) -> Path:
    """A private copy of the knowledge base that a test may corrupt."""
    import shutil

    target = tmp_path / "data"
    shutil.copytree(DATA_DIR, target)
    return target


def with_data(config: ServerConfig, data_dir: Path) -> ServerConfig:
    """The same config pointing at another data folder."""
    return dataclasses.replace(config, data_dir=data_dir)
