"""The soak script runs clean on a short budget (the full 60 s run is `make soak`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_short_soak_has_zero_errors_and_flat_memory():
    script = Path(__file__).resolve().parent.parent / "scripts" / "soak.py"
    run = subprocess.run(
        [sys.executable, str(script), "--clients", "8", "--seconds", "3", "--max-growth-mib", "40"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SOAK PASSED" in run.stdout
