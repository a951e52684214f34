"""End-to-end: what the server writes to stderr when it is not a terminal. Log lines
carry no colour codes, `--log-format json` gives one JSON object a line, and work that
succeeded (a lakehouse table's first write) logs nothing at ERROR."""

import json
import signal

import httpx2 as httpx
import pytest

from conftest import _serve

pytestmark = pytest.mark.anyio

CSV = b"id,name\n1,ada\n2,grace\n"


def _stop_and_read(process):
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    stderr = process.stderr.read()
    assert code == 0, stderr[-2000:]
    return stderr


async def _first_write_and_a_bad_call(base):
    async with httpx.AsyncClient() as http:
        created = await http.post(
            f"{base}/api/v1/lakehouse/upload",
            files={"file": ("people.csv", CSV, "text/csv")},
            data={"dataset_name": "people"},
        )
        assert created.status_code == 201, created.text
        # A caller's mistake is logged, but not as the server's error.
        missing = await http.get(f"{base}/api/v1/lakehouse/tables/bronze/nothing_here")
        assert missing.status_code == 404, missing.text


async def test_text_logs_have_no_colour_codes_and_success_logs_no_error(binary, data_dir):
    process, base = _serve(binary, data_dir, "lakehouse", serve_args=("--log-format", "text"))
    try:
        await _first_write_and_a_bad_call(base)
    finally:
        stderr = _stop_and_read(process)
    assert "\x1b[" not in stderr, stderr[:500]
    assert "INFO" in stderr, "the server logged nothing at all"
    errors = [line for line in stderr.splitlines() if " ERROR " in line]
    assert errors == [], errors


async def test_json_logs_are_one_object_a_line(binary, data_dir):
    process, base = _serve(binary, data_dir, "lakehouse", serve_args=("--log-format", "json"))
    try:
        await _first_write_and_a_bad_call(base)
    finally:
        stderr = _stop_and_read(process)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines, "the server logged nothing at all"
    events = [json.loads(line) for line in lines]
    assert all("level" in event and "fields" in event for event in events), events[:3]
    assert not [event for event in events if event["level"] == "ERROR"], events
    assert any(event["level"] == "INFO" for event in events), events[:3]
