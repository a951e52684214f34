"""End-to-end: the official MCP Python SDK drives the built binary as a real client would,
over stdio and over Streamable HTTP, in both protocol eras (2025-11-25 sessions and
2026-07-28 stateless)."""

import json

import httpx2 as httpx
import pytest
from mcp import StdioServerParameters
from mcp.client.client import Client
import mcp_types as types

pytestmark = pytest.mark.anyio

ERAS = ["legacy", "2026-07-28"]


def text_of(result):
    return "\n".join(block.text for block in result.content if getattr(block, "type", "") == "text")


@pytest.mark.parametrize("mode", ERAS)
async def test_http_combined_endpoint_serves_prefixed_tools(server, mode):
    async with Client(f"{server}/mcp", mode=mode) as client:
        if mode != "legacy":
            assert client.protocol_version == "2026-07-28"
        else:
            assert client.protocol_version == "2025-11-25"
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert "system_find_tools" in names
        assert "conformance_test_simple_text" in names
        assert all(len(name) <= 64 for name in names)

        result = await client.call_tool("system_echo", {"message": "over the tide"})
        assert not result.is_error
        assert result.structured_content == {"message": "over the tide"}
        assert text_of(result) == "over the tide"


@pytest.mark.parametrize("mode", ERAS)
async def test_http_toolkit_endpoint_serves_bare_names(server, mode):
    async with Client(f"{server}/mcp/system", mode=mode) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert names == {"echo", "list_toolkits", "get_health", "find_tools", "call_tool"}
        health = await client.call_tool("get_health", {})
        assert health.structured_content["healthy"] is True
        contents = (await client.read_resource("system://toolkits")).contents
        listed = json.loads(contents[0].text)
        assert [kit["name"] for kit in listed["toolkits"]] == ["system", "conformance"]


@pytest.mark.parametrize("mode", ERAS)
async def test_invalid_arguments_come_back_as_a_tool_error_naming_the_field(server, mode):
    async with Client(f"{server}/mcp", mode=mode) as client:
        result = await client.call_tool("system_echo", {"text": "wrong field"})
        assert result.is_error
        assert "message" in text_of(result) and "required" in text_of(result)


@pytest.mark.parametrize("mode", ERAS)
async def test_unknown_tool_is_a_protocol_error(server, mode):
    async with Client(f"{server}/mcp", mode=mode) as client:
        with pytest.raises(Exception) as failure:
            result = await client.call_tool("system_no_such_tool", {})
            # Some client versions surface errors as results; either way it must not succeed.
            assert result.is_error
            raise RuntimeError(text_of(result))
        assert "no_such_tool" in str(failure.value)


@pytest.mark.parametrize("mode", ERAS)
async def test_progress_is_reported_during_a_call(server, mode):
    updates = []

    async def on_progress(progress, total, message):
        updates.append((progress, total))

    async with Client(f"{server}/mcp/conformance", mode=mode) as client:
        result = await client.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
        assert not result.is_error
    assert [p for p, _ in updates] == [0, 50, 100]
    assert all(total == 100 for _, total in updates)


async def test_sampling_reaches_the_calling_client_in_a_session(server):
    async def sample(context, params):
        prompt = params.messages[0].content.text
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=f"echo:{prompt}"),
            model="stand-in",
        )

    async with Client(f"{server}/mcp/conformance", mode="legacy", sampling_callback=sample) as client:
        result = await client.call_tool("test_sampling", {"prompt": "hello"})
        assert text_of(result) == "LLM response: echo:hello"


async def test_prompts_render_and_check_their_arguments(server):
    async with Client(f"{server}/mcp/conformance", mode="legacy") as client:
        prompt = await client.get_prompt("test_prompt_with_arguments", {"arg1": "a", "arg2": "b"})
        assert prompt.messages[0].content.text == "Prompt with arguments: arg1='a', arg2='b'"
        with pytest.raises(Exception) as failure:
            await client.get_prompt("test_prompt_with_arguments", {"arg1": "a"})
        assert "arg2" in str(failure.value)


async def test_stdio_serves_mcp_and_keeps_stdout_clean(binary, data_dir):
    params = StdioServerParameters(command=binary, args=["mcp", "--data-dir", data_dir])
    async with Client(params, mode="legacy") as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert "system_find_tools" in names
        assert "conformance_test_simple_text" not in names, "conformance must be off by default"
        result = await client.call_tool("system_echo", {"message": "stdio"})
        assert result.structured_content == {"message": "stdio"}


async def test_wrong_protocol_version_header_is_refused(server):
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{server}/mcp",
            headers={"content-type": "application/json", "accept": "application/json, text/event-stream",
                     "mcp-protocol-version": "1999-01-01"},
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
        )
        assert response.status_code == 400
        assert "1999-01-01" in response.text


HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


@pytest.mark.parametrize(
    "body, code, reason",
    [
        (b'{"jsonrpc": "2.0", "id": 1, "method":', -32700, "not valid JSON"),
        (b'{"hello": "world"}', -32600, '"jsonrpc" must be "2.0"'),
        (b'[{"jsonrpc": "2.0", "id": 1, "method": "ping"}]', -32600, "batches"),
        (b'{"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"arguments": {}}}', -32602, "needs 'name'"),
        (b'{"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "system_echo", "arguments": "hi"}}',
         -32602, "'arguments' must be an object"),
    ],
)
async def test_a_body_that_is_not_a_good_message_gets_a_json_rpc_error_naming_why(server, body, code, reason):
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{server}/mcp", headers=HEADERS, content=body)
    assert response.headers["content-type"].startswith("application/json"), response.text
    answer = response.json()
    assert answer["error"]["code"] == code, answer
    assert reason in answer["error"]["message"], answer
    assert response.status_code == (200 if code == -32602 else 400)
    if code == -32602:
        assert answer["id"] == 4


async def test_a_legacy_session_ends_with_a_delete_clients_accept(server):
    async with httpx.AsyncClient() as http:
        opened = await http.post(
            f"{server}/mcp", headers=HEADERS,
            json={"jsonrpc": "2.0", "id": 1, "method": "initialize",
                  "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                             "clientInfo": {"name": "e2e", "version": "1"}}},
        )
        assert opened.status_code == 200, opened.text
        session = opened.headers["mcp-session-id"]
        ended = await http.delete(
            f"{server}/mcp", headers={"mcp-session-id": session, "mcp-protocol-version": "2025-11-25"})
        # The SDKs count 200 and 204 as done and warn on anything else.
        assert ended.status_code in (200, 204), ended.status_code
        again = await http.post(
            f"{server}/mcp", headers={**HEADERS, "mcp-session-id": session, "mcp-protocol-version": "2025-11-25"},
            json={"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}},
        )
        assert again.status_code == 404


async def test_stdio_answers_a_malformed_line_and_goes_on(binary, data_dir):
    import asyncio

    process = await asyncio.create_subprocess_exec(
        binary, "mcp", "--data-dir", data_dir,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )

    async def answer():
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        return json.loads(line)

    try:
        process.stdin.write(b"this is not json\n")
        await process.stdin.drain()
        refused = await answer()
        assert refused["error"]["code"] == -32700 and refused["id"] is None, refused
        process.stdin.write(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "e2e", "version": "1"}}}).encode() + b"\n")
        await process.stdin.drain()
        initialized = await answer()
        assert initialized["id"] == 1 and "result" in initialized, initialized
        process.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        process.stdin.write(b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"system_echo","arguments":[1]}}\n')
        await process.stdin.drain()
        bad_params = await answer()
        assert bad_params["id"] == 2 and bad_params["error"]["code"] == -32602, bad_params
        process.stdin.write(b'{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"system_echo","arguments":{"message":"still here"}}}\n')
        await process.stdin.drain()
        echoed = await answer()
        assert echoed["id"] == 3 and echoed["result"]["structuredContent"] == {"message": "still here"}, echoed
    finally:
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 20)
        finally:
            if process.returncode is None:
                process.kill()
    assert process.returncode == 0
