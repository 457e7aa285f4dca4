"""Helpers to run the real server as a subprocess, as an operator would."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from scripts.soak import free_port, wait_serving


@contextlib.contextmanager
def running_server(*args: str, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Start ``python -m server`` on a free port with ``args``; stop it (SIGKILL if needed) at the end."""
    port = free_port()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", str(port), *args],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    target = f"127.0.0.1:{port}"
    try:
        wait_serving(target)
        yield process, target
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
