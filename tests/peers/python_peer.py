"""A small MCP server on the official Python SDK (PyPI `mcp`), federated by the gateway
tests over stdio or Streamable HTTP. It speaks both protocol eras, so the gateway's
2026-07-28 client path is exercised as well as the 2025-11-25 one of the npm servers.

Tools:
- `wait(seconds)`: sleeps; when cancelled it appends `cancelled` to $PEER_EVENTS, so a
  test can see that a cancellation really reached the upstream.
- `add_tool(name)`: registers a tool and announces tools/list_changed.
- `bump()`: increments `counter://value` and announces the update to subscribers.
- `greet_asking()`: asks the client for a name (elicitation: a request mid-call in
  2025-11-25, an input-required result in 2026-07-28) and greets it.
Resource: `counter://value`.

Usage: python_peer.py [stdio | http PORT]
"""

import os
import sys
from typing import Annotated

import anyio
from mcp.server.mcpserver import Context, Elicit, MCPServer, Resolve
from mcp_types import ToolAnnotations
from pydantic import BaseModel

server = MCPServer("tideway-test-peer")
counter = {"value": 0}


def record(event: str) -> None:
    path = os.environ.get("PEER_EVENTS")
    if path:
        with open(path, "a", encoding="utf-8") as events:
            events.write(event + "\n")


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
async def wait(seconds: float) -> str:
    """Waits the given number of seconds, then says so."""
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        record("cancelled")
        raise
    record("finished")
    return f"waited {seconds} s"


@server.tool()
async def add_tool(name: str, ctx: Context) -> str:
    """Adds a tool named `name` that returns its own name, and announces the change."""

    def added() -> str:
        return name

    server.add_tool(added, name=name, description=f"Added at run time: {name}")
    await ctx.notify_tools_changed()
    await ctx.session.send_tool_list_changed()
    return f"added {name}"


@server.tool()
async def bump(ctx: Context) -> int:
    """Increments counter://value and tells subscribers."""
    counter["value"] += 1
    await ctx.notify_resource_updated("counter://value")
    await ctx.session.send_resource_updated("counter://value")
    return counter["value"]


class Name(BaseModel):
    name: str


def ask_name() -> Elicit[Name]:
    return Elicit("What is your name?", Name)


@server.tool()
async def greet_asking(name: Annotated[Name, Resolve(ask_name)]) -> str:
    """Asks the client for a name, then greets it."""
    return f"Hello, {name.name}!"


@server.resource("counter://value", mime_type="text/plain")
def counter_value() -> str:
    """The counter's current value."""
    return str(counter["value"])


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
