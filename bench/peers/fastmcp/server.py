"""FastMCP peer for mcp-bench: an echo tool and a 200-tool catalog, served the way
FastMCP's deployment guide recommends for production (the ASGI app under uvicorn)."""

import os

import uvicorn
from fastmcp import FastMCP

CATALOG_SIZE = 200

mcp = FastMCP("bench-peer-fastmcp")


@mcp.tool
def echo(message: str) -> str:
    """Sends the message back."""
    return message


def make_catalog_tool(number: int):
    def lookup(record_id: str, limit: int = 10, verbose: bool = False) -> str:
        return f"record {record_id}"

    lookup.__name__ = f"catalog_{number:03}"
    lookup.__doc__ = (
        f"Generated tool {number} of {CATALOG_SIZE} for catalog listing benchmarks: "
        "looks up a record by its id and returns a short summary."
    )
    return lookup


if os.environ.get("PEER_CATALOG") == "1":
    for number in range(CATALOG_SIZE):
        mcp.tool(make_catalog_tool(number))

app = mcp.http_app(
    path="/mcp",
    stateless_http=os.environ.get("PEER_MODE") == "stateless",
    json_response=True,
)

if __name__ == "__main__":
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=int(os.environ["PEER_PORT"]),
        workers=1,
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    print("listening", flush=True)
    server.run()
