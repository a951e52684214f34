"""End-to-end: the gateway between real MCP clients and real MCP servers. The official
Python SDK is the client; the upstreams are server-everything from npm and a server
on the Python SDK (tests/peers/python_peer.py), declared in the configuration file.
A sampling or elicitation request from an upstream reaches the calling client and
its answer goes back; a tool the upstream adds, and a resource it changes, are
announced to connected clients in both protocol eras."""

import os
import sys
import time

import anyio
import httpx2 as httpx
import pytest
from mcp.client.client import Client
import mcp_types as types

from conftest import _serve, _stop

pytestmark = pytest.mark.anyio

PEERS = os.environ.get("TIDEWAY_TEST_MCP_PEERS")
NODE = os.environ.get("TIDEWAY_TEST_NODE")
PYTHON_PEER = os.path.join(os.path.dirname(__file__), "..", "peers", "python_peer.py")


@pytest.fixture
def gateway(binary, data_dir):
    if not (PEERS and NODE):
        if os.environ.get("TIDEWAY_REQUIRE_MCP_PEERS"):
            pytest.fail("TIDEWAY_REQUIRE_MCP_PEERS is set but the peers are not named")
        pytest.skip("the registry MCP peers are not installed (run scripts/test)")
    config = os.path.join(data_dir, "tideway.toml")
    everything = os.path.join(PEERS, "server-everything", "dist", "index.js")
    with open(config, "w") as file:
        file.write(
            f"""
[[upstreams]]
name = "py"
command = {sys.executable!r}
args = [{os.path.abspath(PYTHON_PEER)!r}]

[[upstreams]]
name = "everything"
command = {NODE!r}
args = [{everything!r}, "stdio"]
"""
        )
    process, base = _serve(binary, data_dir, "system", extra=("--config", config))
    try:
        deadline = time.monotonic() + 30
        while True:
            health = httpx.get(f"{base}/api/v1/integration/mcp/health").json()
            if len(health["servers"]) == 2 and health["status"] == "healthy":
                break
            assert time.monotonic() < deadline, f"the upstreams did not come up: {health}"
            time.sleep(0.1)
        yield base
    finally:
        _stop(process)


def text_of(result):
    return "\n".join(block.text for block in result.content if getattr(block, "type", "") == "text")


async def test_sampling_and_elicitation_from_an_upstream_reach_the_calling_client(gateway):
    asked = []

    async def sample(context, params):
        asked.append("sampling")
        prompt = params.messages[0].content.text
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text=f"sampled:{prompt}"), model="stand-in"
        )

    async def elicit(context, params):
        asked.append("elicitation")
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async with Client(
        f"{gateway}/mcp", mode="legacy", sampling_callback=sample, elicitation_callback=elicit
    ) as client:
        sampled = await client.call_tool("everything_trigger-sampling-request", {"prompt": "tides"})
        assert "sampled:Resource trigger-sampling-request context: tides" in text_of(sampled), text_of(sampled)
        elicited = await client.call_tool("everything_trigger-elicitation-request", {})
        assert "Ada" in text_of(elicited), text_of(elicited)
    assert asked == ["sampling", "elicitation"]


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_an_upstream_asking_for_input_is_answered_by_the_client_in_both_eras(gateway, mode):
    asked = []

    async def elicit(context, params):
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"name": "Grace"})

    async with Client(f"{gateway}/mcp", mode=mode, elicitation_callback=elicit) as client:
        greeted = await client.call_tool("py_greet_asking", {})
        assert not greeted.is_error, greeted
        assert text_of(greeted) == "Hello, Grace!"
    assert asked == ["What is your name?"]


async def test_a_tool_an_upstream_adds_is_announced_to_a_session(gateway):
    changes = []

    async def on_message(message):
        if isinstance(message, types.ToolListChangedNotification):
            changes.append(message)

    async with Client(f"{gateway}/mcp", mode="legacy", message_handler=on_message) as client:
        await client.call_tool("py_add_tool", {"name": "in_session"})
        with anyio.fail_after(10):
            while not changes:
                await anyio.sleep(0.05)
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert "py_in_session" in names
        result = await client.call_tool("py_in_session", {})
        assert text_of(result) == "in_session"


async def test_a_tool_an_upstream_adds_is_announced_to_a_listening_2026_client(gateway):
    async with Client(f"{gateway}/mcp", mode="2026-07-28") as client:
        async with client.listen(tools_list_changed=True) as subscription:
            await client.call_tool("py_add_tool", {"name": "while_listening"})
            with anyio.fail_after(10):
                async for _ in subscription:
                    break
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert "py_while_listening" in names


async def test_an_upstream_resource_change_reaches_subscribers_in_both_eras(gateway):
    uri = "counter://value"
    updates = []

    async def on_message(message):
        if isinstance(message, types.ResourceUpdatedNotification):
            updates.append(message.params.uri)

    async with Client(f"{gateway}/mcp", mode="legacy", message_handler=on_message) as client:
        await client.subscribe_resource(uri)
        await client.call_tool("py_bump", {})
        with anyio.fail_after(10):
            while uri not in updates:
                await anyio.sleep(0.05)
        contents = (await client.read_resource(uri)).contents
        assert contents[0].text == "1"

    async with Client(f"{gateway}/mcp", mode="2026-07-28") as client:
        async with client.listen(resource_subscriptions=[uri]) as subscription:
            await client.call_tool("py_bump", {})
            with anyio.fail_after(10):
                async for event in subscription:
                    if getattr(event, "uri", None) == uri:
                        break


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_every_relayed_verb_answers_in_the_clients_era(gateway, mode):
    """server-everything speaks the 2025 era; the Python SDK client checks each answer
    against the era it negotiated, so a relayed result in the upstream's era fails."""
    async with Client(f"{gateway}/mcp/everything", mode=mode) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        assert "echo" in tools, tools
        echoed = await client.call_tool("echo", {"message": f"hello in {mode}"})
        assert not echoed.is_error, echoed
        assert f"hello in {mode}" in text_of(echoed)
        prompts = {prompt.name for prompt in (await client.list_prompts()).prompts}
        assert "simple-prompt" in prompts, prompts
        prompt = await client.get_prompt("simple-prompt")
        assert "simple prompt" in prompt.messages[0].content.text
        resources = (await client.list_resources()).resources
        assert resources, "server-everything lists resources"
        read = await client.read_resource(resources[0].uri)
        assert read.contents, read
    # And the other way round: a tool of the Python SDK's server, from the same client.
    async with Client(f"{gateway}/mcp/py", mode=mode) as client:
        waited = await client.call_tool("wait", {"seconds": 0})
        assert not waited.is_error, waited
        assert "waited" in text_of(waited)
        counter = await client.read_resource("counter://value")
        assert counter.contents[0].text.isdigit()
