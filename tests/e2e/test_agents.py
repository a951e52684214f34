"""End-to-end: an agent run whose model is the calling client's own, asked through
sampling with the agent's tools. The official Python SDK client answers with its
callback as a host would with its model: first a tool call, then, once it was given
the tool's result, the final answer. The run is recorded turn by turn."""

import pytest
from mcp.client.client import Client
import mcp_types as types

from conftest import _serve, _stop

pytestmark = pytest.mark.anyio


@pytest.fixture
def agents_server(binary, data_dir):
    process, base = _serve(binary, data_dir, "system", "workflows", "models", "agents")
    yield base
    _stop(process)


async def test_an_agent_works_with_the_calling_clients_model_and_the_hubs_tools(agents_server):
    asked = []

    async def sample(context, params):
        asked.append(params)
        last = params.messages[-1].content
        blocks = last if isinstance(last, list) else [last]
        results = [block for block in blocks if block.type == "tool_result"]
        if not results:
            return types.CreateMessageResultWithTools(
                role="assistant",
                content=[types.ToolUseContent(type="tool_use", id="use-1", name="system_echo", input={"message": "tide"})],
                model="client-model",
                stop_reason="toolUse",
            )
        seen = results[0].content[0].text
        return types.CreateMessageResultWithTools(
            role="assistant",
            content=[types.TextContent(type="text", text=f"the echo said: {'tide' in seen}")],
            model="client-model",
            stop_reason="endTurn",
        )

    async with Client(
        f"{agents_server}/mcp",
        mode="legacy",
        sampling_callback=sample,
        sampling_capabilities=types.SamplingCapability(tools=types.SamplingToolsCapability()),
    ) as client:
        saved = await client.call_tool(
            "agents_save_agent",
            {"agent": {"name": "echoer", "description": "Checks the hub answers.",
                       "instructions": "Call the echo tool, then report.", "tools": ["system.echo"]}},
        )
        assert not saved.is_error, saved
        result = await client.call_tool("agents_run_agent", {"agent": "echoer", "task": "Check the hub."})
        assert not result.is_error, result
        run = result.structured_content["run"]
        assert run["status"] == "succeeded", run
        assert run["answer"] == "the echo said: True", run
        assert run["steps"] == 2
        view = await client.call_tool("agents_get_run", {"id": run["id"]})
        kinds = [event["kind"] for event in view.structured_content["events"]]
        assert kinds == ["model", "call", "result", "model"], kinds
        # A tool the agent may not use is not offered to the model.
        offered = [tool.name for tool in asked[0].tools]
        assert offered == ["system_echo"], offered
    assert asked[0].system_prompt == "Call the echo tool, then report."
    # The tool's result reached the model fenced as data.
    last = asked[1].messages[-1].content
    block = (last if isinstance(last, list) else [last])[0]
    assert block.content[0].text.startswith("<tool-output tool=\"system_echo\""), block
