"""The command line a clinician types: ``python -m client check --first-dose DATE "drug, last DATE" ...``."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from google.protobuf.json_format import MessageToDict
from washout.v1 import washout_service_pb2 as pb

from client.client import TlsOptions, WashoutClient
from client.errors import InvalidRequestError, ProtocolNotFoundError, WashoutClientError

_DATE = r"\d{4}-\d{2}(?:-\d{2})?"
_ATTRIBUTES = (
    ("last_dose_date", re.compile(rf"(?:last(?:\s+dose)?|stopped|ended|end|until)\s*[:=]?\s*({_DATE})", re.I)),
    ("ongoing", re.compile(r"(ongoing|current|continuing)", re.I)),
    ("category", re.compile(r"category\s*[:=]?\s*([a-z0-9_]+)", re.I)),
)


def parse_item(text: str) -> dict[str, str | bool]:
    """Split "clarithromycin 500 mg, last 2026-12-03" into a name and its attributes.

    Only trailing comma-separated parts that are attributes (``last DATE``, ``ended DATE``,
    ``ongoing``, ``category ID``) are taken off; the rest, commas included, is the name.
    """
    parts = [part.strip() for part in text.split(",")]
    found: dict[str, str | bool] = {}
    while len(parts) > 1:
        tail = parts[-1]
        for field, pattern in _ATTRIBUTES:
            match = pattern.fullmatch(tail)
            if match:
                found[field] = True if field == "ongoing" else match.group(1)
                break
        else:
            break
        parts.pop()
    found["name"] = ", ".join(parts)
    return found


def _medication(text: str) -> pb.Medication:
    item = parse_item(text)
    return pb.Medication(
        name=str(item["name"]), last_dose_date=str(item.get("last_dose_date", "")), ongoing=bool(item.get("ongoing"))
    )


def _therapy(text: str) -> pb.PriorTherapy:
    item = parse_item(text)
    return pb.PriorTherapy(
        description=str(item["name"]),
        end_date=str(item.get("last_dose_date", "")),
        category=str(item.get("category", "")),
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the CLI."""
    parser = argparse.ArgumentParser(
        prog="python -m client", description="Screen medications against a trial's washout rules."
    )
    parser.add_argument("--target", default=os.environ.get("WASHOUT_TARGET", "localhost:50051"), help="host:port")
    parser.add_argument("--timeout", type=float, default=10.0, help="deadline per call, seconds")
    parser.add_argument("--json", action="store_true", help="print the raw response as JSON")
    parser.add_argument("--token", default=os.environ.get("WASHOUT_TOKEN"), help="bearer token (or WASHOUT_TOKEN)")
    parser.add_argument("--tls-ca", type=Path, help="CA certificate to verify the server (enables TLS)")
    parser.add_argument("--tls-cert", type=Path, help="client certificate for mutual TLS")
    parser.add_argument("--tls-key", type=Path, help="client key for mutual TLS")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="screen one patient")
    check.add_argument("--first-dose", required=True, help="planned first dose, YYYY-MM-DD")
    check.add_argument(
        "medications",
        nargs="*",
        help='"name[, last DATE][, ongoing]"; DATE is YYYY-MM-DD, or YYYY-MM when only the month is known; '
        '"stopped DATE" and "ended DATE" also work',
    )
    check.add_argument(
        "--therapy", action="append", default=[], help='"description[, ended DATE][, category ID]", repeatable'
    )
    check.add_argument("--protocol", default="", help="protocol id (default: the server's default)")
    check.add_argument("--request-id", default=None)
    resolve = commands.add_parser("resolve", help="show how names are read")
    resolve.add_argument("names", nargs="+")
    commands.add_parser("kb", help="describe the knowledge base")
    commands.add_parser("health", help="show the service's health")
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    """Run the CLI; returns 0 on an answer, 2 on a refused request (bad fields, unknown protocol),
    1 when the service fails or cannot be reached."""
    args = build_parser().parse_args(argv)
    tls = TlsOptions(args.tls_ca, args.tls_cert, args.tls_key) if args.tls_ca else None
    try:
        with WashoutClient(args.target, timeout=args.timeout, token=args.token, tls=tls) as client:
            if args.command == "check":
                reply = client.check(
                    args.first_dose,
                    [_medication(text) for text in args.medications],
                    [_therapy(text) for text in args.therapy],
                    protocol_id=args.protocol,
                    request_id=args.request_id,
                )
                out.write(_json(reply) if args.json else render_check(reply))
            elif args.command == "resolve":
                resolved = client.resolve(args.names)
                out.write(_json(resolved) if args.json else render_resolutions(resolved.resolutions))
            elif args.command == "kb":
                out.write(_json(client.knowledge_base()) if args.json else render_knowledge(client.knowledge_base()))
            else:
                out.write(client.health() + "\n")
    except (InvalidRequestError, ProtocolNotFoundError) as error:
        if args.json:
            out.write(_json_refusal(error))
        else:
            print(f"request refused: {error.message}", file=sys.stderr)
            for violation in error.violations:
                print(f"  {violation.field}: {violation.description}", file=sys.stderr)
        return 2
    except WashoutClientError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _json_refusal(error: WashoutClientError) -> str:
    refusal = {
        "code": error.code.name,
        "message": error.message,
        "reason": error.reason,
        "metadata": error.metadata,
        "field_violations": [{"field": v.field, "description": v.description} for v in error.violations],
    }
    return json.dumps({"error": refusal}, ensure_ascii=False, indent=2) + "\n"


def _json(message: object) -> str:
    return json.dumps(MessageToDict(message, preserving_proto_field_name=True), ensure_ascii=False, indent=2) + "\n"  # type: ignore[arg-type]


def _verdict(value: int) -> str:
    return str(pb.Verdict.Name(value)).removeprefix("VERDICT_")


def render_check(reply: pb.CheckResponse) -> str:
    """A readable report of a check: verdict, reasons, then how every input was read."""
    lines = [
        f"Verdict: {_verdict(reply.verdict)}",
        f"Earliest eligible date: {reply.earliest_eligible_date or 'none until the reasons below are resolved'}",
        f"Protocol: {reply.protocol_id}   knowledge version: {reply.knowledge_version}",
        "",
    ]
    if reply.reasons:
        lines.append("Reasons:")
        for reason in reply.reasons:
            until = f"eligible from {reason.eligible_from}" if reason.eligible_from else "no end date"
            read_as = reason.matched_name or "?"
            lines.append(f"  [{_verdict(reason.severity)}] {reason.rule_id}: {reason.input} -> {read_as} ({until})")
            lines.append(f"      {reason.message}")
        lines.append("")
    lines.append(render_resolutions(reply.resolutions))
    return "\n".join(lines)


def render_resolutions(resolutions: Sequence[pb.InputResolution]) -> str:
    """A table of how each input was read."""
    rows = [("#", "input", "read as", "method", "score", "status")]
    for resolution in resolutions:
        matches = resolution.matches or [pb.Match()]
        for position, match in enumerate(matches):
            rows.append(
                (
                    _label(resolution) if position == 0 else "",
                    _clip(resolution.input) if position == 0 else "",
                    (match.ingredient + ("" if match.systemic or not match.ingredient else " (non-systemic)")) or "-",
                    pb.MatchMethod.Name(match.method).removeprefix("MATCH_METHOD_").lower()
                    if match.ingredient
                    else "-",
                    f"{match.score:.0f}" if match.ingredient else "-",
                    pb.ResolutionStatus.Name(resolution.status).removeprefix("RESOLUTION_STATUS_").lower()
                    if position == 0
                    else "",
                )
            )
    widths = [max(_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    text = "\n".join(
        "  ".join(cell + " " * (width - _width(cell)) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
    notes = [f"  {_label(r)}: {note}" for r in resolutions for note in r.notes]
    return "Inputs:\n" + text + ("\nNotes:\n" + "\n".join(notes) if notes else "") + "\n"


def render_knowledge(reply: pb.GetKnowledgeBaseResponse) -> str:
    """A summary of the knowledge base."""
    lines = [f"Knowledge version {reply.version}; default protocol {reply.default_protocol_id}", ""]
    for protocol in reply.protocols:
        lines.append(f"{protocol.id} ({protocol.registry_id}): {protocol.title}")
        for rule in protocol.rules:
            counting = pb.Counting.Name(rule.counting).removeprefix("COUNTING_").lower()
            window = f"{rule.window_days}d" if rule.window_days else ""
            lines.append(f"  {rule.rule_id:32} {rule.category:30} {counting:16} {window}")
    lines.append("")
    for table in reply.tables:
        lines.append(f"  {table.name:28} {table.row_count:5} rows, {len(table.sources)} sources")
    return "\n".join(lines) + "\n"


def _label(resolution: pb.InputResolution) -> str:
    kind = "T" if resolution.input_kind == pb.INPUT_KIND_PRIOR_THERAPY else ""
    return f"{kind}{resolution.input_index}"


def _width(text: str) -> int:
    """Columns a string takes in a terminal: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _clip(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
