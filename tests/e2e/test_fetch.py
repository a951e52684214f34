"""End-to-end: the fetch toolkit through the official MCP Python SDK in both protocol
eras and over REST, on a real `tideway serve` whose configuration opens 127.0.0.1
only: a page on a local site comes back as Markdown, internal addresses are refused,
and an API call through a stored connection carries a credential nobody sees."""

import asyncio
import json
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2 as httpx
import pytest
from mcp.client.client import Client

from conftest import _serve, _stop

pytestmark = pytest.mark.anyio

PAGE = (
    "<html><head><title>Tide tables</title><script>var TRACKER = 1;</script></head><body>"
    "<nav>MENU-ITEMS</nav><article><h1>Tide tables</h1>"
    + "<p>High water comes twice a day, a little later each day than the day before.</p>" * 10
    + "<h2>Spring tides</h2><p>They follow the new and the full moon.</p></article></body></html>"
)
TOKEN = "e2e-connection-token"


class Site(BaseHTTPRequestHandler):
    seen = []

    def _answer(self, status, content_type, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        Site.seen.append((self.path, dict(self.headers)))
        if self.path == "/robots.txt":
            self._answer(200, "text/plain", "User-agent: *\nDisallow: /private\n")
        elif self.path == "/tides":
            self._answer(200, "text/html; charset=utf-8", PAGE)
        elif self.path == "/slow-tides":
            time.sleep(3)
            self._answer(200, "text/html; charset=utf-8", PAGE)
        else:
            self._answer(200, "application/json", json.dumps({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}))

    def log_message(self, *args):
        pass


@pytest.fixture
def site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def fetch_server(binary, data_dir, tmp_path):
    config = tmp_path / "tideway.toml"
    config.write_text('[fetch]\nallow = ["127.0.0.1/32"]\n')
    process, base = _serve(binary, data_dir, "fetch", extra=["--config", str(config)])
    yield base
    _stop(process)


@pytest.mark.parametrize("mode", ["2026-07-28", "legacy"])
async def test_an_agent_reads_a_page_and_cannot_reach_inside(fetch_server, site, mode):
    async with Client(f"{fetch_server}/mcp/fetch", mode=mode) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert {"fetch", "http_request", "list_http_connections"} <= set(tools)
        assert tools["fetch"].annotations.read_only_hint is True
        assert tools["http_request"].annotations.destructive_hint is True
        page = await client.call_tool("fetch", {"url": f"{site}/tides", "max_length": 20000})
        assert not page.is_error, page
        text = page.content[0].text
        assert "# Tide tables" in text and "## Spring tides" in text
        assert "TRACKER" not in text and "MENU-ITEMS" not in text
        assert page.structured_content["next_start_index"] is None
        part = await client.call_tool("fetch", {"url": f"{site}/tides", "max_length": 50})
        assert "start_index=50" in part.content[0].text
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://[::ffff:10.0.0.1]/",
            "http://2852039166/",
            "file:///etc/passwd",
        ]:
            refused = await client.call_tool("fetch", {"url": url})
            assert refused.is_error, url
        private = await client.call_tool("fetch", {"url": f"{site}/private/x"})
        assert private.is_error and "robots.txt" in private.content[0].text


async def test_rest_fetches_and_calls_through_a_sealed_connection(fetch_server, site):
    async with httpx.AsyncClient(base_url=fetch_server) as http:
        page = await http.post("/api/v1/integration/mcp/fetch", json={"url": f"{site}/tides"})
        assert page.status_code == 200, page.text
        assert "Spring tides" in page.json()["content"]
        refused = await http.post("/api/v1/integration/mcp/fetch", json={"url": "http://10.1.2.3/"})
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        missing = await http.post("/api/v1/integration/mcp/fetch", json={})
        assert missing.status_code == 422 and "url" in missing.text

        stored = await http.put(
            "/api/v1/fetch/connections/tides",
            json={"base_url": f"{site}/api/", "bearer_token": TOKEN},
        )
        assert stored.status_code == 200, stored.text
        listed = await http.get("/api/v1/fetch/connections")
        assert listed.json()["connections"][0]["has_credential"] is True
        assert TOKEN not in listed.text
        answer = await http.post(
            "/api/v1/integration/mcp/fetch/request",
            json={"connection": "tides", "url": "levels?port=brest"},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["json"]["path"] == "/api/levels?port=brest"
        assert answer.json()["json"]["headers"]["authorization"] == f"Bearer {TOKEN}"
        escaped = await http.post(
            "/api/v1/integration/mcp/fetch/request",
            json={"connection": "tides", "url": "../tides"},
        )
        assert escaped.status_code == 422, escaped.text
        deleted = await http.delete("/api/v1/fetch/connections/tides")
        assert deleted.status_code == 204


@pytest.mark.parametrize("mode", ["2026-07-28", "legacy"])
async def test_a_call_in_flight_when_the_server_stops_still_gets_its_answer(binary, data_dir, tmp_path, site, mode):
    config = tmp_path / "tideway.toml"
    config.write_text('[fetch]\nallow = ["127.0.0.1/32"]\nobey_robots_txt = false\n\n[http]\nshutdown_grace_secs = 8\n')
    process, base = _serve(binary, data_dir, "fetch", extra=["--config", str(config)])
    page = None
    try:
        try:
            async with Client(f"{base}/mcp/fetch", mode=mode) as client:
                # The SDK lists tools before it checks a result; list them while the
                # server still takes new requests.
                await client.list_tools()
                call = asyncio.ensure_future(client.call_tool("fetch", {"url": f"{site}/slow-tides"}))
                # The site holds its answer for 3 s; stop the server while the call waits.
                while not any(path == "/slow-tides" for path, _ in Site.seen):
                    await asyncio.sleep(0.05)
                process.send_signal(signal.SIGTERM)
                page = await asyncio.wait_for(call, 20)
        except* httpx.ConnectError:
            # Leaving, the client may try the stopped server again; only the answer counts.
            pass
        assert page is not None, "the call got no answer"
        assert not page.is_error, page
        assert "# Tide tables" in page.content[0].text
    finally:
        Site.seen.clear()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
