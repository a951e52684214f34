"""End-to-end: the models toolkit's default backend is sampling, so `models_generate`
asks the calling client's own model. The official Python SDK client answers the
sampling request with its callback, as Claude Desktop would with its model."""

import anyio
import pytest
from mcp.client.client import Client
import mcp_types as types

from conftest import _serve, _stop

pytestmark = pytest.mark.anyio


@pytest.fixture
def models_server(binary, data_dir):
    process, base = _serve(binary, data_dir, "models", "prompts")
    yield base
    _stop(process)


async def test_generate_samples_the_calling_clients_model(models_server):
    asked = []

    async def sample(context, params):
        asked.append(params)
        text = params.messages[0].content.text
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text=f"model says: {text}"), model="client-model"
        )

    async with Client(f"{models_server}/mcp", mode="legacy", sampling_callback=sample) as client:
        result = await client.call_tool("models_generate", {"prompt": "what is the tide?", "system": "Be brief."})
        assert not result.is_error, result
        assert result.structured_content["text"] == "model says: what is the tide?"
        assert result.structured_content["provider"] == "sampling"
        assert result.structured_content["model"] == "client-model"
        # A stored prompt template renders into the request.
        rendered = await client.call_tool(
            "models_generate",
            {"template": {"name": "incident_summary", "arguments": {"title": "Outage", "timeline": "09:00 down"}}},
        )
        assert "Outage" in rendered.structured_content["text"]
        listed = await client.call_tool("models_list_generations", {})
        assert len(listed.structured_content["generations"]) == 2
    assert asked[0].system_prompt == "Be brief."
    assert asked[0].max_tokens == 1024


async def test_a_client_without_sampling_is_told_clearly(models_server):
    async with Client(f"{models_server}/mcp", mode="legacy") as client:
        result = await client.call_tool("models_generate", {"prompt": "hello"})
        assert result.is_error
        text = result.content[0].text
        assert "sampling/createMessage" in text, text


async def test_a_session_hears_when_prompt_templates_change(models_server):
    changes = []

    async def on_message(message):
        if isinstance(message, types.PromptListChangedNotification):
            changes.append(message)

    async with Client(f"{models_server}/mcp", mode="legacy", message_handler=on_message) as client:
        before = {prompt.name for prompt in (await client.list_prompts()).prompts}
        assert "prompts_ticket_triage" in before
        created = await client.call_tool(
            "prompts_create_prompt_template", {"name": "haiku", "body": "Write a haiku about {{ topic }}.",
                                               "arguments": [{"name": "topic", "required": True}]}
        )
        assert not created.is_error, created
        with anyio.fail_after(10):
            while not changes:
                await anyio.sleep(0.05)
        prompt = await client.get_prompt("prompts_haiku", {"topic": "tides"})
        assert prompt.messages[0].content.text == "Write a haiku about tides."
