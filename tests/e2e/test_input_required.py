"""End-to-end: a 2026-07-28 client has no stream for the server to ask on, so a tool
that needs sampling, elicitation or roots answers with an input-required result, and the
official Python SDK's client answers it with its callbacks and calls again. The models
toolkit's generation and the lakehouse's AI tools reach the client's own model this way,
as they do over a 2025-11-25 session."""

import httpx2 as httpx
import pytest
from mcp.client.client import Client
from mcp.shared.exceptions import MCPError
import mcp_types as types

from conftest import _serve, _stop

pytestmark = pytest.mark.anyio

CSV = b"Order ID,Customer,Amount\n1,ada,10.5\n2,grace,20.25\n3,ada,5.0\n"


def model_answering(answers, asked):
    """A sampling callback that answers each question with the next of `answers`."""

    async def sample(context, params):
        asked.append(params)
        text = answers[min(len(asked), len(answers)) - 1]
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text=text), model="client-model"
        )

    return sample


@pytest.fixture
def ai_server(binary, data_dir):
    process, base = _serve(binary, data_dir, "models", "prompts", "lakehouse", "conformance")
    yield base
    _stop(process)


async def test_generate_asks_the_2026_clients_model_and_records_one_generation(ai_server):
    asked = []
    sample = model_answering(["the tide turns at noon"], asked)
    async with Client(f"{ai_server}/mcp", mode="2026-07-28", sampling_callback=sample) as client:
        assert client.protocol_version == "2026-07-28"
        result = await client.call_tool("models_generate", {"prompt": "when does the tide turn?", "system": "Be brief."})
        assert not result.is_error, result
        assert result.structured_content["text"] == "the tide turns at noon"
        assert result.structured_content["provider"] == "sampling"
        assert result.structured_content["model"] == "client-model"
        # The round that only asked is not a generation; the one that answered is.
        listed = await client.call_tool("models_list_generations", {})
        generations = listed.structured_content["generations"]
        assert len(generations) == 1, generations
        assert generations[0]["outcome"] == "ok"
    assert len(asked) == 1
    assert asked[0].system_prompt == "Be brief."
    assert asked[0].messages[0].content.text == "when does the tide turn?"


async def test_a_2026_client_without_sampling_is_told_which_capability_is_missing(ai_server):
    async with Client(f"{ai_server}/mcp", mode="2026-07-28") as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool("models_generate", {"prompt": "hello"})
        assert refused.value.code == -32021
        assert refused.value.data["requiredCapabilities"] == {"sampling": {}}


async def test_the_lakehouse_ai_tools_work_over_2026_with_the_clients_model(ai_server):
    async with httpx.AsyncClient() as http:
        uploaded = await http.post(
            f"{ai_server}/api/v1/lakehouse/upload",
            files={"file": ("orders.csv", CSV, "text/csv")},
            data={"dataset_name": "orders"},
        )
        assert uploaded.status_code == 201, uploaded.text

    asked = []
    sample = model_answering(
        [
            "orders holds one row per order; order_id is its key.",
            "```sql\nSELECT customer, SUM(amount) AS total FROM bronze.orders GROUP BY customer\n```",
            "ada spent the most.",
        ],
        asked,
    )
    async with Client(f"{ai_server}/mcp", mode="2026-07-28", sampling_callback=sample) as client:
        analysis = await client.call_tool("lakehouse_analyze_schema", {"tables": ["bronze.orders"]})
        assert not analysis.is_error, analysis
        assert analysis.structured_content["analysis"] == "orders holds one row per order; order_id is its key."
        assert "order_id" in str(asked[0].messages[0].content.text)

        suggestion = await client.call_tool("lakehouse_suggest_query", {"question": "total per customer?"})
        assert not suggestion.is_error, suggestion
        assert suggestion.structured_content["sql"].startswith("SELECT customer, SUM(amount)")
        assert suggestion.structured_content["attempts"] == 1
        assert [c["name"] for c in suggestion.structured_content["columns"]] == ["customer", "total"]

        explained = await client.call_tool(
            "lakehouse_explain_data",
            {"sql": "SELECT customer, SUM(amount) AS total FROM bronze.orders GROUP BY customer ORDER BY customer"},
        )
        assert not explained.is_error, explained
        assert explained.structured_content["summary"] == "ada spent the most."
        assert explained.structured_content["rows"] == [
            {"customer": "ada", "total": 15.5},
            {"customer": "grace", "total": 20.25},
        ]
    assert len(asked) == 3


async def test_elicitation_over_two_rounds_and_a_prompt_that_asks_first(ai_server):
    asked = []

    async def elicit(context, params):
        asked.append(params.message)
        if "name" in params.message:
            return types.ElicitResult(action="accept", content={"name": "Ada"})
        if "color" in params.message:
            return types.ElicitResult(action="accept", content={"color": "teal"})
        return types.ElicitResult(action="accept", content={"context": "spring tides"})

    async with Client(f"{ai_server}/mcp/conformance", mode="2026-07-28", elicitation_callback=elicit) as client:
        result = await client.call_tool("test_input_required_result_multi_round", {})
        assert not result.is_error, result
        assert result.content[0].text == "Ada likes teal"
        assert asked == ["Step 1: What is your name?", "Step 2: What is your favorite color?"]

        prompt = await client.get_prompt("test_input_required_result_prompt")
        assert prompt.messages[0].content.text == "Answer with this context in mind: spring tides"
