"""End-to-end: spans exported over OTLP/HTTP. The server, pointed at a receiver that
decodes what it gets with the official OpenTelemetry protobuf definitions, sends a
request's spans with its request id as an attribute, in the trace its caller named in
`traceparent`, carrying the headers from `OTEL_EXPORTER_OTLP_HEADERS`; with no receiver
listening, calls are answered as before, the spans given up are counted on `/metrics`,
and the server still stops promptly."""

import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anyio
import httpx2 as httpx
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from conftest import _serve, _stop

pytestmark = pytest.mark.anyio

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN_ID = "00f067aa0ba902b7"


class Receiver:
    """An OTLP/HTTP traces endpoint on a free loopback port, keeping each export's
    headers and decoded request."""

    def __init__(self):
        self.exports = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                request = trace_service_pb2.ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver.exports.append((self.path, dict(self.headers.items()), request))
                answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spans(self):
        """Every span received: (service name, span, its attributes)."""
        found = []
        for _path, _headers, request in self.exports:
            for resource_spans in request.resource_spans:
                service = attributes(resource_spans.resource.attributes).get("service.name")
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        found.append((service, span, attributes(span.attributes)))
        return found

    def wait_for(self, name, request_id, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for service, span, attrs in self.spans():
                if span.name == name and attrs.get("request_id") == request_id:
                    return service, span, attrs
            time.sleep(0.05)
        raise AssertionError(f"no '{name}' span for {request_id}: {[s.name for _, s, _ in self.spans()]}")

    def close(self):
        self.server.shutdown()
        self.server.server_close()


async def _counter(http, name):
    """A counter's value on `/metrics` (0 while it has none)."""
    text = (await http.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    return 0.0


async def _wait_for_counter(http, name, at_least, timeout=20):
    deadline = time.monotonic() + timeout
    value = await _counter(http, name)
    while value < at_least and time.monotonic() < deadline:
        await anyio.sleep(0.1)
        value = await _counter(http, name)
    return value


def attributes(pairs):
    values = {}
    for pair in pairs:
        kind = pair.value.WhichOneof("value")
        values[pair.key] = getattr(pair.value, kind) if kind else None
    return values


async def test_a_requests_spans_reach_the_collector_in_its_callers_trace(binary, data_dir, monkeypatch):
    receiver = Receiver()
    monkeypatch.setenv("TIDEWAY_LOG__OTLP_ENDPOINT", receiver.url)
    monkeypatch.setenv("TIDEWAY_LOG__OTLP_SERVICE_NAME", "tideway-e2e")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-collector-key=e2e-key")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
    process, base = _serve(binary, data_dir, "system")
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            answer = await http.post(
                "/api/v1/tools/system/echo",
                json={"message": "argument-7f3a"},
                headers={
                    "x-request-id": "e2e-traced-call",
                    "traceparent": f"00-{TRACE_ID}-{CALLER_SPAN_ID}-01",
                },
            )
            assert answer.status_code == 200, answer.text
            assert answer.headers["x-request-id"] == "e2e-traced-call"
            untraced = await http.post(
                "/api/v1/tools/system/echo",
                json={"message": "on its own"},
                headers={"x-request-id": "e2e-own-trace"},
            )
            assert untraced.status_code == 200, untraced.text

        service, request_span, request_attrs = receiver.wait_for("http", "e2e-traced-call")
        assert service == "tideway-e2e"
        assert request_attrs["path"] == "/api/v1/tools/system/echo", request_attrs
        assert request_span.trace_id.hex() == TRACE_ID
        assert request_span.parent_span_id.hex() == CALLER_SPAN_ID
        _, call_span, call_attrs = receiver.wait_for("hub_call", "e2e-traced-call")
        assert call_span.trace_id.hex() == TRACE_ID, "the Hub's span is in the caller's trace"
        assert call_span.parent_span_id == request_span.span_id, "and inside the request's span"
        assert call_attrs["toolkit"] == "system", call_attrs
        assert not [
            attrs for _, _, attrs in receiver.spans() if "argument-7f3a" in str(attrs)
        ], "a call's arguments are never exported"

        # A request with no caller's trace starts one of its own.
        _, own_span, _ = receiver.wait_for("http", "e2e-own-trace")
        assert own_span.trace_id.hex() not in (TRACE_ID, "0" * 32)
        assert not own_span.parent_span_id

        paths = {path for path, _, _ in receiver.exports}
        assert paths == {"/v1/traces"}, paths
        async with httpx.AsyncClient(base_url=base) as http:
            exported = await _wait_for_counter(http, "tideway_trace_spans_exported_total", 4)
            assert exported >= 4, "both requests' http and hub_call spans are counted as sent"
            assert await _counter(http, "tideway_trace_spans_dropped_total") == 0
        assert all(
            {name.lower(): value for name, value in headers.items()}.get("x-collector-key") == "e2e-key"
            for _, headers, _ in receiver.exports
        ), "the receiver's key is sent with every export"
    finally:
        _stop(process)
        receiver.close()
    assert "e2e-key" not in process.stderr.read(), "the receiver's key is never logged"


async def test_without_a_collector_calls_are_answered_and_the_server_stops(binary, data_dir, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv("TIDEWAY_LOG__OTLP_ENDPOINT", f"http://127.0.0.1:{closed_port}")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
    process, base = _serve(binary, data_dir, "system")
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            for n in range(20):
                answer = await http.post("/api/v1/tools/system/echo", json={"message": f"call {n}"})
                assert answer.status_code == 200, answer.text
            # Each call's spans are given up, and /metrics says so.
            dropped = await _wait_for_counter(http, "tideway_trace_spans_dropped_total", 40)
            assert dropped >= 40, f"the 20 calls' http and hub_call spans are counted as dropped: {dropped}"
            assert await _counter(http, "tideway_trace_spans_exported_total") == 0
    finally:
        # The spans that cannot be sent are given up rather than holding the stop:
        # SIGTERM still ends the server with 0 within the fixture's wait.
        _stop(process)


async def test_an_endpoint_that_is_not_a_url_is_refused_at_start(binary, data_dir, monkeypatch):
    monkeypatch.setenv("TIDEWAY_LOG__OTLP_ENDPOINT", "collector:4318")
    done = subprocess.run(
        [binary, "serve", "--bind", "127.0.0.1:0", "--data-dir", data_dir, "--toolkit", "system"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode != 0
    assert "log.otlp_endpoint must be an http:// or https:// URL" in done.stderr, done.stderr[-500:]
    assert "'collector:4318'" in done.stderr
