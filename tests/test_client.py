"""The typed client and the clinician's command line, against a real server on port 0."""

from __future__ import annotations

import io
import json

import pytest
from washout.v1 import washout_service_pb2 as pb

from client import InvalidRequestError, ProtocolNotFoundError, ServiceUnavailableError, WashoutClient
from client.cli import main, parse_item


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("clarithromycin 500 mg, last 2026-12-03", {"name": "clarithromycin 500 mg", "last_dose_date": "2026-12-03"}),
        ("warfarin, ongoing", {"name": "warfarin", "ongoing": True}),
        ("trimethoprim, sulfamethoxazole", {"name": "trimethoprim, sulfamethoxazole"}),
        (
            "palliative XRT femur, ended 2026-11, category radiotherapy_palliative",
            {"name": "palliative XRT femur", "last_dose_date": "2026-11", "category": "radiotherapy_palliative"},
        ),
    ],
)
def test_parse_item(text, expected):
    assert parse_item(text) == expected


@pytest.mark.e2e
def test_client_check_and_typed_errors(server_target):
    with WashoutClient(server_target, timeout=5) as client:
        reply = client.check("2026-12-10", [pb.Medication(name="Sporanox", last_dose_date="2026-12-05")])
        assert reply.verdict == pb.VERDICT_BLOCKED
        assert client.health() == "SERVING"
        with pytest.raises(InvalidRequestError) as caught:
            client.check("2026-12-32")
        assert [v.field for v in caught.value.violations] == ["first_dose_date"]
        assert caught.value.reason == "INVALID_REQUEST"
        with pytest.raises(ProtocolNotFoundError):
            client.check("2026-12-10", protocol_id="NOPE")


def test_unreachable_server_is_a_typed_error():
    with WashoutClient("127.0.0.1:1", timeout=0.5) as client, pytest.raises(ServiceUnavailableError):
        client.knowledge_base()


@pytest.mark.e2e
def test_cli_prints_a_table_and_json(server_target):
    out = io.StringIO()
    code = main(
        [
            "--target",
            server_target,
            "check",
            "--first-dose",
            "2026-12-10",
            "clarithromycin 500 mg, last 2026-12-03",
            "Norvasc 5mg, ongoing",
            "--therapy",
            "cyclophosphamide, ended 2026-11-19",
        ],
        out=out,
    )
    text = out.getvalue()
    assert code == 0
    assert "Verdict: BLOCKED" in text and "2026-12-11" in text and "amlodipine" in text
    out = io.StringIO()
    assert main(["--target", server_target, "--json", "resolve", "Paxlovid"], out=out) == 0
    data = json.loads(out.getvalue())
    assert {m["ingredient"] for m in data["resolutions"][0]["matches"]} == {"nirmatrelvir", "ritonavir"}


@pytest.mark.e2e
def test_cli_reports_bad_fields(server_target, capsys):
    assert main(["--target", server_target, "check", "--first-dose", "yesterday", "aspirin"]) == 2
    assert "first_dose_date" in capsys.readouterr().err


@pytest.mark.e2e
def test_cli_refuses_an_unknown_protocol_with_exit_code_2_and_json(server_target):
    out = io.StringIO()
    code = main(
        ["--target", server_target, "--json", "check", "--first-dose", "2026-12-10", "--protocol", "NOPE"], out=out
    )
    assert code == 2
    assert json.loads(out.getvalue())["error"]["code"] == "NOT_FOUND"
