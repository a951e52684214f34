"""End-to-end: the monitor through the official MCP Python SDK and plain HTTP, on the
built binary sampling every second. A client subscribed to monitor://alerts (in
both protocol eras) hears when an alert of its tenant fires; an alert told to an
automation channel reaches a local receiver once when it fires and once when it
resolves, each signed, checked here with Python's own HMAC."""

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anyio
import httpx2 as httpx
import pytest
from mcp.client.client import Client
import mcp_types as types

from conftest import _serve, _stop

pytestmark = pytest.mark.anyio

# Always true while the server runs: it has tasks.
ALWAYS = {"metric": "process.tasks", "comparison": ">=", "threshold": 0, "severity": "info"}


@pytest.fixture
def monitor(binary, data_dir, tmp_path):
    config = tmp_path / "monitor.toml"
    config.write_text(
        '[monitor]\ninterval_secs = 1\ndefault_rules = false\n'
        '[automation]\nallow = ["127.0.0.0/8"]\ndelivery_backoff_ms = 50\n'
    )
    process, base = _serve(binary, data_dir, "system", "workflows", "automation", "monitor",
                           extra=("--config", str(config)))
    yield base
    _stop(process)


async def test_a_subscribed_client_hears_when_an_alert_fires(monitor):
    updates = []

    async def on_message(message):
        if isinstance(message, types.ResourceUpdatedNotification):
            updates.append(message.params.uri)

    async with Client(f"{monitor}/mcp/monitor", mode="legacy", message_handler=on_message) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert {"get_health_report", "get_performance_trends", "list_alerts", "resolve_alert"} <= set(tools)
        assert tools["get_health_report"].annotations.read_only_hint is True
        assert tools["delete_alert_rule"].annotations.destructive_hint is True
        await client.subscribe_resource("monitor://alerts")
        created = await client.call_tool("create_alert_rule", {"name": "always", **ALWAYS})
        assert not created.is_error, created
        with anyio.fail_after(15):
            while "monitor://alerts" not in updates:
                await anyio.sleep(0.05)
        read = await client.read_resource("monitor://alerts")
        alerts = json.loads(read.contents[0].text)["alerts"]
        assert [alert["rule"] for alert in alerts] == ["always"], alerts
        assert alerts[0]["status"] == "firing"

        report = await client.call_tool("get_health_report", {})
        assert not report.is_error, report
        names = {component["name"] for component in report.structured_content["components"]}
        assert {"store", "system", "workflows", "automation", "monitor"} <= names, names
        bad = await client.call_tool("get_performance_trends", {"window": "fortnight"})
        assert bad.is_error and "window" in bad.content[0].text


async def test_a_listening_2026_client_hears_when_an_alert_fires(monitor):
    async with Client(f"{monitor}/mcp/monitor", mode="2026-07-28") as client:
        async with client.listen(resource_subscriptions=["monitor://alerts"]) as subscription:
            created = await client.call_tool("create_alert_rule", {"name": "always", **ALWAYS})
            assert not created.is_error, created
            with anyio.fail_after(15):
                async for event in subscription:
                    if getattr(event, "uri", None) == "monitor://alerts":
                        break
        listed = await client.call_tool("list_alerts", {"status": "firing"})
        assert [alert["rule"] for alert in listed.structured_content["alerts"]] == ["always"]


class _Receiver(BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


async def test_each_change_of_an_alert_reaches_the_channel_once_signed(monitor):
    _Receiver.received = []
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        async with httpx.AsyncClient(base_url=monitor, timeout=30) as http:
            channel = await http.post("/api/v1/automation/channels", json={
                "name": "ops", "kind": "webhook", "url": f"http://127.0.0.1:{receiver.server_port}/hook"})
            assert channel.status_code == 201, channel.text
            secret = channel.json()["signing_secret"].encode()
            rule = await http.post("/api/v1/system/alert-rules", json={"name": "always", "channels": ["ops"], **ALWAYS})
            assert rule.status_code == 201, rule.text
            for _ in range(200):
                if _Receiver.received:
                    break
                await anyio.sleep(0.1)
            else:
                deliveries = (await http.get("/api/v1/automation/deliveries")).json()
                alerts = (await http.get("/api/v1/system/alerts")).json()
                raise AssertionError(f"nothing received: {deliveries} {alerts}")
            # Deleting the rule resolves its alert at the next round.
            deleted = await http.delete("/api/v1/system/alert-rules/always")
            assert deleted.status_code == 204
            with anyio.fail_after(20):
                while len(_Receiver.received) < 2:
                    await anyio.sleep(0.1)
            # Rounds go on; nothing more is said.
            await anyio.sleep(3)
            assert len(_Receiver.received) == 2

            alerts = (await http.get("/api/v1/system/alerts")).json()["alerts"]
            assert [(alert["rule"], alert["status"]) for alert in alerts] == [("always", "resolved")]
            detail = (await http.get(f"/api/v1/system/alerts/{alerts[0]['id']}")).json()
            assert [event["event"] for event in detail["events"]] == ["fired", "notified", "resolved", "notified"]

        subjects = []
        for headers, body in _Receiver.received:
            headers = {name.lower(): value for name, value in headers.items()}
            timestamp = headers["x-timestamp"]
            assert abs(int(timestamp) - time.time()) < 300
            expected = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
            assert hmac.compare_digest(headers["x-signature"], f"sha256={expected}")
            sent = json.loads(body)
            subjects.append(sent["subject"])
            assert sent["data"]["alert"]["rule"] == "always"
        assert sorted(subject.split(" ")[0] for subject in subjects) == ["[FIRING]", "[RESOLVED]"], subjects
    finally:
        receiver.shutdown()
