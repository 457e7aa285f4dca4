"""An optional audit trail: one JSON line per decision, so every verdict can be traced to the exact
knowledge version and rules that made it. It holds no medication names."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

from server.engine import CheckResult


class AuditLog:
    """Appends decisions to a JSON-lines file; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._file = path.open("a", encoding="utf-8", buffering=1)

    def record(self, result: CheckResult) -> None:
        """Write one line: time, request id, protocol, verdict, rule ids, earliest date, knowledge version."""
        line = json.dumps(
            {
                "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "request_id": result.request_id,
                "protocol_id": result.protocol_id,
                "verdict": result.verdict.name,
                "rule_ids": sorted({reason.rule_id for reason in result.reasons}),
                "earliest_eligible_date": result.earliest_eligible_date.isoformat()
                if result.earliest_eligible_date
                else None,
                "knowledge_version": result.knowledge_version,
                "inputs": len(result.resolutions),
            },
            separators=(",", ":"),
        )
        with self._lock:
            self._file.write(line + "\n")

    def close(self) -> None:
        """Flush and close the file."""
        with self._lock:
            self._file.close()
