"""End-to-end: the web console in Debian's Chromium, driven by Playwright (npm), on the
demo desk. The journeys are in console_journeys.mjs; this test brings up the server
with its keys, an alert that fires, a workflow template and an agent run to read
(made by the official Python SDK's sampling callback), then runs them."""

import os
import socket
import subprocess

import httpx2 as httpx
import pytest
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
import mcp_types as types

from conftest import _serve, _stop
from test_security import _cli

pytestmark = pytest.mark.anyio

GREET = {
    "id": "greet", "name": "Greet", "description": "Says hello twice",
    "input_schema": {"type": "object", "properties": {"who": {"type": "string"}}, "required": ["who"]},
    "steps": [
        {"id": "hello", "tool": "system_echo", "arguments": {"message": "hello {{ input.who }}"}},
        {"id": "again", "needs": ["hello"], "kind": "sleep", "seconds": 2},
    ],
}


async def _agent_run(base, key):
    """An agent run with one tool call, its model the client's own."""

    async def sample(context, params):
        last = params.messages[-1].content
        blocks = last if isinstance(last, list) else [last]
        if not [block for block in blocks if block.type == "tool_result"]:
            return types.CreateMessageResultWithTools(
                role="assistant",
                content=[types.ToolUseContent(type="tool_use", id="use-1", name="system_echo", input={"message": "tide"})],
                model="client-model", stop_reason="toolUse")
        return types.CreateMessageResultWithTools(
            role="assistant", content=[types.TextContent(type="text", text="done")],
            model="client-model", stop_reason="endTurn")

    http = httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30)
    async with Client(
        streamable_http_client(f"{base}/mcp", http_client=http),
        mode="legacy",
        sampling_callback=sample,
        sampling_capabilities=types.SamplingCapability(tools=types.SamplingToolsCapability()),
    ) as client:
        saved = await client.call_tool(
            "agents_save_agent",
            {"agent": {"name": "echoer", "description": "Checks the hub answers.",
                       "instructions": "Call the echo tool, then report.", "tools": ["system.echo"]}})
        assert not saved.is_error, saved
        result = await client.call_tool("agents_run_agent", {"agent": "echoer", "task": "Check the hub."})
        assert not result.is_error, result
        return result.structured_content["run"]["id"]


async def test_the_console_journeys_in_a_real_browser(binary, data_dir, tmp_path):
    chromium = os.environ.get("TIDEWAY_TEST_CHROMIUM")
    playwright = os.environ.get("TIDEWAY_TEST_PLAYWRIGHT")
    node = os.environ.get("TIDEWAY_TEST_NODE")
    assert chromium and playwright and node, "run through scripts/test, which installs Chromium and Playwright"
    admin = _cli(binary, data_dir, "keys", "create", "--tenant", "default", "--role", "admin", "--name", "console admin").strip()
    viewer = _cli(binary, data_dir, "keys", "create", "--tenant", "default", "--role", "viewer", "--name", "console viewer").strip()
    config = tmp_path / "tideway.toml"
    config.write_text("[monitor]\ninterval_secs = 1\n")
    process, base = _serve(
        binary, data_dir, "system", "support", "workflows", "monitor", "models", "prompts", "agents", "lakehouse",
        extra=("--config", str(config)), serve_args=("--auth", "api-key", "--demo"))
    try:
        headers = {"Authorization": f"Bearer {admin}"}
        async with httpx.AsyncClient(timeout=30, headers=headers) as http:
            rule = await http.post(f"{base}/api/v1/system/alert-rules", json={
                "name": "memory_in_use", "metric": "host.memory_percent", "comparison": ">",
                "threshold": 0, "for_secs": 0, "severity": "warning"})
            assert rule.status_code == 201, rule.text
            saved = await http.put(f"{base}/api/v1/workflows/templates/greet", json=GREET)
            assert saved.status_code == 200, saved.text
        run_id = await _agent_run(base, admin)
        shots = os.environ.get("TIDEWAY_CONSOLE_SCREENSHOTS") or str(tmp_path / "screenshots")
        journey = subprocess.run(
            [node, os.path.join(os.path.dirname(__file__), "console_journeys.mjs")],
            env={**os.environ, "TIDEWAY_URL": base, "TIDEWAY_ADMIN_KEY": admin, "TIDEWAY_VIEWER_KEY": viewer,
                 "TIDEWAY_AGENT_RUN": run_id, "CHROMIUM": chromium, "PLAYWRIGHT_CORE": playwright,
                 "SCREENSHOTS": shots},
            capture_output=True, text=True, timeout=300)
        assert journey.returncode == 0, journey.stdout[-4000:] + journey.stderr[-4000:]
        for name in ["overview", "tools", "tool-result", "upstream-added", "workflow-run", "agent-run",
                     "audit", "lakehouse", "connections", "prompts", "keys", "phone-workflows", "viewer-upstreams"]:
            assert os.path.getsize(os.path.join(shots, f"{name}.png")) > 1000, name
    finally:
        _stop(process)


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_the_console_signs_in_through_an_openid_connect_provider(binary, data_dir, tmp_path):
    chromium = os.environ.get("TIDEWAY_TEST_CHROMIUM")
    playwright = os.environ.get("TIDEWAY_TEST_PLAYWRIGHT")
    node = os.environ.get("TIDEWAY_TEST_NODE")
    oidc_provider = os.environ.get("TIDEWAY_TEST_OIDC_PROVIDER")
    assert chromium and playwright and node and oidc_provider, \
        "run through scripts/test, which installs Chromium, Playwright and oidc-provider"
    # The provider must know the console's redirect URI before the console starts.
    base = f"http://127.0.0.1:{_free_port()}"
    secret = "console-client-secret"
    here = os.path.dirname(__file__)
    idp = subprocess.Popen(
        [node, os.path.join(here, "oidc_provider.mjs")],
        env={**os.environ, "OIDC_PROVIDER": oidc_provider, "CLIENT_ID": "tideway-console",
             "CLIENT_SECRET": secret, "REDIRECT_URI": f"{base}/console/sign-in/oidc/callback",
             "RESOURCE": f"{base}/mcp", "ROLES": "tideway:operator"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process = None
    try:
        issuer = None
        for line in idp.stdout:
            if line.startswith("listening on "):
                issuer = line.strip().rsplit(" ", 1)[-1]
                break
        assert issuer, idp.stderr.read()[-2000:] if idp.poll() is not None else "no issuer"
        secret_file = tmp_path / "client-secret"
        secret_file.write_text(secret)
        config = tmp_path / "tideway.toml"
        config.write_text(
            '[auth]\nmodes = ["api-key", "jwt"]\n'
            f'[auth.jwt]\njwks_url = "{issuer}/jwks"\nissuer = "{issuer}"\n'
            f'[auth.oidc]\nissuer = "{issuer}"\nclient_id = "tideway-console"\n'
            f'client_secret_file = "{secret_file}"\nscopes = ["openid", "tideway"]\nname = "Team ID"\n')
        process, served = _serve(binary, data_dir, "system", bind=base.removeprefix("http://"),
                                 extra=("--config", str(config)))
        assert served == base
        shots = os.environ.get("TIDEWAY_CONSOLE_SCREENSHOTS") or str(tmp_path / "screenshots")
        journey = subprocess.run(
            [node, os.path.join(here, "console_sso.mjs")],
            env={**os.environ, "TIDEWAY_URL": base, "CHROMIUM": chromium, "PLAYWRIGHT_CORE": playwright,
                 "SCREENSHOTS": shots},
            capture_output=True, text=True, timeout=180)
        assert journey.returncode == 0, journey.stdout[-4000:] + journey.stderr[-4000:]
        assert os.path.getsize(os.path.join(shots, "sso-signed-in.png")) > 1000
    finally:
        if process is not None:
            _stop(process)
        idp.terminate()
        idp.wait(timeout=10)
