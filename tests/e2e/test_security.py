"""End-to-end security: a real OAuth 2.1 authorization-code flow with PKCE against a
local authorization server, discovered the way MCP clients discover it (401 ->
protected-resource metadata -> authorization server metadata), then used by the
official Python SDK; and two tenants' API keys (made with the CLI) over MCP sessions,
where one tenant never hears of the other's resource changes."""

import base64
import hashlib
import json
import os
import re
import secrets
import socket
import subprocess
import urllib.parse

import anyio
import httpx2 as httpx
import pytest
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
import mcp_types as types

from conftest import _serve, _stop

pytestmark = pytest.mark.anyio


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def authorization_server():
    node = os.environ.get("TIDEWAY_E2E_NODE")
    module = os.environ.get("TIDEWAY_E2E_OAUTH_SERVER")
    assert node and module, "run through scripts/test, which installs the OAuth server (oauth2-mock-server)"
    script = os.path.join(os.path.dirname(__file__), "oauth_server.mjs")
    process = subprocess.Popen([node, script, module], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    assert line.startswith("issuer "), f"authorization server did not start: {line!r} {process.stderr.read() if process.poll() is not None else ''}"
    yield line.split(" ", 1)[1].strip()
    process.terminate()
    process.wait(timeout=10)


def _client(url, mode, token, **kwargs):
    http = httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return Client(streamable_http_client(url, http_client=http), mode=mode, **kwargs)


async def _authorize(http, resource, scope, audience=None):
    """An MCP client's OAuth dance, step by step; returns the access token. `audience`
    asks for a token for another resource than the one discovered (an attack)."""
    unauthorized = await http.post(resource, json={})
    assert unauthorized.status_code == 401
    header = unauthorized.headers["www-authenticate"]
    metadata_url = re.search(r'resource_metadata="([^"]+)"', header).group(1)
    metadata = (await http.get(metadata_url)).json()
    assert metadata["resource"] == resource
    issuer = metadata["authorization_servers"][0]
    server_metadata = await http.get(f"{issuer}/.well-known/oauth-authorization-server")
    if server_metadata.status_code != 200:
        server_metadata = await http.get(f"{issuer}/.well-known/openid-configuration")
    server_metadata = server_metadata.json()
    assert "S256" in server_metadata["code_challenge_methods_supported"]
    verifier = secrets.token_urlsafe(48)
    code_challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    redirect_uri = "http://127.0.0.1:1/callback"
    state = secrets.token_urlsafe(8)
    authorize = await http.get(
        server_metadata["authorization_endpoint"],
        params={
            "response_type": "code",
            "client_id": "tideway-e2e",
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
            "resource": audience or resource,
        },
        follow_redirects=False,
    )
    assert authorize.status_code in (302, 303), authorize.text
    query = urllib.parse.parse_qs(urllib.parse.urlparse(authorize.headers["location"]).query)
    assert query["state"] == [state]
    token = await http.post(
        server_metadata["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": redirect_uri,
            "client_id": "tideway-e2e",
            "code_verifier": verifier,
            "resource": audience or resource,
            "scope": scope,
        },
    )
    assert token.status_code == 200, token.text
    return token.json()["access_token"]


async def test_an_oauth_authorization_code_flow_reaches_the_tools(binary, data_dir, authorization_server):
    port = _free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    config = os.path.join(data_dir, "tideway.toml")
    with open(config, "w") as file:
        file.write(
            "[auth]\n"
            'modes = ["jwt"]\n'
            f'resource_url = "{resource}"\n'
            f'authorization_servers = ["{authorization_server}"]\n'
            "[auth.jwt]\n"
            f'jwks_url = "{authorization_server}/jwks"\n'
            f'issuer = "{authorization_server}"\n'
        )
    process, base = _serve(binary, data_dir, "system", "support", bind=f"127.0.0.1:{port}", extra=("--config", config))
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            operator = await _authorize(http, resource, "openid tenant:oauth-co tideway:operator")
            viewer = await _authorize(http, resource, "openid tenant:oauth-co tideway:viewer")
            elsewhere = await _authorize(http, resource, "tenant:oauth-co tideway:admin", audience="http://elsewhere.test/mcp")
            # A token for another resource is refused: the audience is checked.
            refused = await http.post(resource, json={}, headers={"Authorization": f"Bearer {elsewhere}"})
            assert refused.status_code == 401
            assert 'error="invalid_token"' in refused.headers["www-authenticate"]

        async with _client(resource, "2026-07-28", operator) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            # create_ticket: a write tool /mcp lists (create_customer is called by name).
            assert "support_create_ticket" in names
            created = await client.call_tool(
                "support_create_customer", {"first_name": "O", "last_name": "Auth", "email": "o@oauth.test"}
            )
            assert not created.is_error, created
        async with _client(resource, "legacy", viewer) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert "support_create_ticket" not in names and "support_get_customers" in names
            listed = await client.call_tool("support_get_customers", {})
            assert [c["email"] for c in listed.structured_content["items"]] == ["o@oauth.test"]
    finally:
        _stop(process)


def _cli(binary, data_dir, command, *args):
    done = subprocess.run([binary, command, "--data-dir", data_dir, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_tenants_do_not_hear_of_each_others_changes(binary, data_dir):
    acme = _cli(binary, data_dir, "keys", "create", "--tenant", "acme", "--role", "operator", "--name", "acme agent").strip()
    globex = _cli(binary, data_dir, "keys", "create", "--tenant", "globex", "--role", "operator", "--name", "globex agent").strip()
    _cli(binary, data_dir, "tenants", "create", "initech", "--name", "Initech Ltd")
    tenants = _cli(binary, data_dir, "tenants", "list")
    assert "Initech Ltd" in tenants and "acme" in tenants and "globex" in tenants, tenants
    bad = subprocess.run([binary, "tenants", "--data-dir", data_dir, "create", "../evil"], capture_output=True, text=True)
    assert bad.returncode != 0 and "must be 1-64" in bad.stderr
    listing = _cli(binary, data_dir, "keys", "list")
    assert "acme agent" in listing and "globex agent" in listing
    # A key is `tw_` + a 12-character prefix + `_` + the secret (which may itself hold `_`).
    assert acme[16:] not in listing and globex[16:] not in listing

    process, base = _serve(binary, data_dir, "support", serve_args=("--auth", "api-key"))
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            # The CLI's keys are the only way in.
            assert (await http.get(f"{base}/api/v1/customers")).status_code == 401

            async def ticket(key, email):
                headers = {"Authorization": f"Bearer {key}"}
                customer = await http.post(f"{base}/api/v1/customers", headers=headers,
                                           json={"first_name": "A", "last_name": "B", "email": email})
                assert customer.status_code == 201, customer.text
                created = await http.post(f"{base}/api/v1/tickets", headers=headers,
                                          json={"customer_id": customer.json()["id"], "subject": "s", "description": "d"})
                assert created.status_code == 201, created.text
                return created.json()["id"]

            ours = await ticket(acme, "a@acme.test")
            theirs = await ticket(globex, "g@globex.test")
            updates = []

            async def on_message(message):
                if isinstance(message, types.ResourceUpdatedNotification):
                    updates.append(message.params.uri)

            async with _client(f"{base}/mcp/support", "legacy", acme, message_handler=on_message) as client:
                # Subscribing to another tenant's ticket is accepted (its id is only a URI)
                # but nothing about it is ever delivered.
                await client.subscribe_resource(f"db://tickets/{theirs}")
                await client.subscribe_resource(f"db://tickets/{ours}")
                changed = await http.patch(f"{base}/api/v1/tickets/{theirs}", json={"assignee": "mallory"},
                                           headers={"Authorization": f"Bearer {globex}"})
                assert changed.status_code == 200, changed.text
                changed = await http.patch(f"{base}/api/v1/tickets/{ours}", json={"assignee": "grace"},
                                           headers={"Authorization": f"Bearer {acme}"})
                assert changed.status_code == 200, changed.text
                with anyio.fail_after(10):
                    while f"db://tickets/{ours}" not in updates:
                        await anyio.sleep(0.05)
                await anyio.sleep(0.5)
                assert f"db://tickets/{theirs}" not in updates, updates
                # Reading the other tenant's ticket is refused like a missing one.
                with pytest.raises(Exception):
                    await client.read_resource(f"db://tickets/{theirs}")

            # The same for a 2026-07-28 client listening for both tickets.
            async with _client(f"{base}/mcp/support", "2026-07-28", acme) as client:
                heard = []
                async with client.listen(
                    resource_subscriptions=[f"db://tickets/{theirs}", f"db://tickets/{ours}"]
                ) as subscription:
                    for key, ticket_id in [(globex, theirs), (acme, ours)]:
                        changed = await http.patch(f"{base}/api/v1/tickets/{ticket_id}", json={"priority": "high"},
                                                   headers={"Authorization": f"Bearer {key}"})
                        assert changed.status_code == 200, changed.text
                    with anyio.fail_after(10):
                        async for event in subscription:
                            uri = getattr(event, "uri", None)
                            if uri:
                                heard.append(uri)
                            if uri == f"db://tickets/{ours}":
                                break
                assert f"db://tickets/{theirs}" not in heard, heard
    finally:
        _stop(process)

    # The audit log holds each tenant's calls, readable per tenant from the CLI.
    lines = [json.loads(line) for line in _cli(binary, data_dir, "audit", "tail", "--tenant", "acme", "-n", "50", "--json").splitlines()]
    assert lines and all(entry["tenant"] == "acme" for entry in lines)
    tools = {entry["tool"] for entry in lines}
    assert {"create_customer", "create_ticket", "update_ticket"} <= tools, tools
    assert all(entry["principal"].startswith("key:") for entry in lines)


async def test_stdio_runs_as_the_configured_local_principal(binary, data_dir):
    from mcp import StdioServerParameters

    env = dict(os.environ, TIDEWAY_DEFAULT_TENANT="desk", TIDEWAY_AUTH__LOCAL_ROLE="viewer")
    params = StdioServerParameters(command=binary, args=["mcp", "--data-dir", data_dir, "--toolkit", "support"], env=env)
    async with Client(params, mode="legacy") as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert "support_get_customers" in names and "support_create_ticket" not in names
        refused = await client.call_tool(
            "support_create_customer", {"first_name": "A", "last_name": "B", "email": "a@desk.test"}
        )
        assert refused.is_error and "viewer" in refused.content[0].text
    lines = [json.loads(line) for line in _cli(binary, data_dir, "audit", "tail", "--json").splitlines()]
    assert [(e["tenant"], e["principal"], e["face"], e["error_kind"]) for e in lines] == [("desk", "local", "mcp", "forbidden")]
