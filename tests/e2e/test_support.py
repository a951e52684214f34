"""End-to-end: the support toolkit through the official MCP Python SDK, as an agent
would use it, including resource subscriptions in both protocol eras: a ticket
changed over REST is announced to the MCP client subscribed to it."""

import anyio
import httpx2 as httpx
import pytest
from mcp.client.client import Client
import mcp_types as types

from conftest import _serve, _stop

pytestmark = pytest.mark.anyio


async def _customer_and_ticket(client):
    customer = await client.call_tool(
        "create_customer", {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}
    )
    assert not customer.is_error, customer
    ticket = await client.call_tool(
        "create_ticket",
        {"customer_id": customer.structured_content["id"], "subject": "Engine stalls", "description": "It stops."},
    )
    assert not ticket.is_error, ticket
    return customer.structured_content, ticket.structured_content


async def test_an_agent_works_a_ticket_through_the_seed_tools(support_server):
    async with Client(f"{support_server}/mcp/support", mode="2026-07-28") as client:
        customer, ticket = await _customer_and_ticket(client)
        await client.call_tool("create_article", {"title": "Engine stalls", "body": "Re-seat the punch cards."})
        context = await client.call_tool("get_customer_context", {"customer_id": customer["id"]})
        assert context.structured_content["open_tickets"][0]["id"] == ticket["id"]
        assert context.structured_content["suggested_articles"][0]["title"] == "Engine stalls"
        found = await client.call_tool("search_knowledge_base", {"search_term": "punch cards", "limit": 3})
        assert found.structured_content["results"][0]["title"] == "Engine stalls"
        moved = await client.call_tool(
            "update_ticket", {"ticket_id": ticket["id"], "status": "resolved", "expected_version": ticket["version"]}
        )
        assert moved.structured_content["status"] == "resolved"
        stale = await client.call_tool(
            "update_ticket", {"ticket_id": ticket["id"], "priority": "high", "expected_version": ticket["version"]}
        )
        assert stale.is_error and "version" in stale.content[0].text
        # Customer-written text is fenced as untrusted data in what the model reads.
        details = await client.call_tool("get_ticket_details", {"ticket_id": ticket["id"]})
        assert "<untrusted" in details.content[0].text


async def test_the_seeds_sql_question_reads_the_desk_an_agent_just_wrote(binary, data_dir):
    process, base = _serve(binary, data_dir, "support", "database")
    try:
        async with Client(f"{base}/mcp/support", mode="2026-07-28") as client:
            await _customer_and_ticket(client)
        async with httpx.AsyncClient() as http:
            # The seed's request, verbatim: no source named, `params: {}`.
            answer = await http.post(
                f"{base}/api/v1/integration/mcp/database/query",
                json={"query": "SELECT COUNT(*) FROM customers", "params": {}},
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["source"] == "desk"
            assert answer.json()["rows"] == [[1]]
        async with Client(f"{base}/mcp/database", mode="legacy") as client:
            joined = await client.call_tool("query_database", {
                "query": "SELECT c.email, t.subject FROM tickets t JOIN customers c ON c.id = t.customer_id"})
            assert not joined.is_error, joined
            assert joined.structured_content["rows"] == [["ada@example.com", "Engine stalls"]]
            refused = await client.call_tool("query_database", {"query": "DELETE FROM customers"})
            assert refused.is_error and "read-only" in refused.content[0].text
    finally:
        _stop(process)


async def test_a_subscribed_session_hears_of_ticket_changes(support_server):
    updates = []

    async def on_message(message):
        if isinstance(message, types.ResourceUpdatedNotification):
            updates.append(message.params.uri)

    async with Client(f"{support_server}/mcp/support", mode="legacy", message_handler=on_message) as client:
        _, ticket = await _customer_and_ticket(client)
        uri = f"db://tickets/{ticket['id']}"
        await client.subscribe_resource(uri)
        async with httpx.AsyncClient() as http:
            response = await http.patch(f"{support_server}/api/v1/tickets/{ticket['id']}", json={"assignee": "grace"})
            assert response.status_code == 200, response.text
        with anyio.fail_after(10):
            while uri not in updates:
                await anyio.sleep(0.05)


async def test_a_listening_2026_client_hears_of_ticket_changes(support_server):
    async with Client(f"{support_server}/mcp/support", mode="2026-07-28") as client:
        _, ticket = await _customer_and_ticket(client)
        uri = f"db://tickets/{ticket['id']}"
        async with client.listen(resource_subscriptions=[uri]) as subscription:
            await client.call_tool("add_ticket_comment", {"ticket_id": ticket["id"], "body": "On it"})
            with anyio.fail_after(10):
                async for event in subscription:
                    if getattr(event, "uri", None) == uri:
                        break
