"""Every `curl` example in the README, run in the order it is written against a fresh
`tideway serve --demo`: a reader who copies them one after another gets answers, not
errors. Examples that need something outside this machine are listed with the reason;
any other example that does not run here fails the test, so a new example is either
runnable or named below."""

import os
import re
import shlex
import subprocess
import tempfile

import pytest
from mcp.client.client import Client

from conftest import _serve, _stop

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")

# Examples that reach beyond a fresh hub on this machine, matched by a piece of their text.
NEEDS_ELSEWHERE = {
    "db.internal": "registers a PostgreSQL server that exists only in the example",
    "FROM customers WHERE region": "reads the source the example before it registers",
    "@modelcontextprotocol/server-filesystem": "starts an MCP server that npx downloads",
    "hub.example.com": "a deployed hub and an API key",
}


def readme_curl_commands(text):
    """The curl commands of the README's shell blocks and inline code, in order, with
    continued lines joined."""
    commands = []
    for match in re.finditer(r"```sh\n(.*?)```|`(curl [^`]+)`", text, re.S):
        block, inline = match.groups()
        if inline:
            commands.append(inline)
            continue
        pending = ""
        for line in block.splitlines():
            pending = f"{pending}\n{line}" if pending else line
            if pending.endswith("\\"):
                continue
            try:
                shlex.split(pending, comments=True)
            except ValueError:
                continue  # an open quote: the command goes on on the next line
            if pending.lstrip().startswith("curl "):
                commands.append(pending)
            pending = ""
    return commands


def test_the_readme_parser_joins_continued_and_quoted_lines():
    text = "```sh\ncurl -X POST a \\\n  -d '{\n \"x\": 1}'\ntideway keys list\ncurl b  # note\n```\nand `curl c`"
    assert readme_curl_commands(text) == ["curl -X POST a \\\n  -d '{\n \"x\": 1}'", "curl b  # note", "curl c"]


@pytest.fixture
def demo_server(binary, data_dir):
    process, base = _serve(binary, data_dir, serve_args=("--demo",))
    yield base
    _stop(process)


async def shop_source(base):
    """The README's lakehouse examples sync `public.orders` from a source named `shop`:
    made here on the test's PostgreSQL, through the hub itself."""
    url = os.environ.get("TIDEWAY_TEST_POSTGRES_URL")
    if not url:
        assert not os.environ.get("TIDEWAY_REQUIRE_POSTGRES"), "TIDEWAY_REQUIRE_POSTGRES is set but TIDEWAY_TEST_POSTGRES_URL is not"
        pytest.skip("no PostgreSQL")
    user, rest = url.split("://", 1)[1].split("@", 1)
    hostport, database = rest.split("/", 1)
    host, port = hostport.rsplit(":", 1)
    async with Client(f"{base}/mcp", mode="2026-07-28") as client:
        async def call(tool, arguments):
            result = await client.call_tool(tool, arguments)
            assert not result.is_error, (tool, result)

        await call("database_connect_source", {
            "name": "shop", "kind": "postgres", "host": host, "port": int(port),
            "database": database, "user": user, "ssl_mode": "disable", "read_write": True,
            "allow_privileged_role": True,
        })
        await call("database_execute_statement", {"connection_id": "shop", "query":
            "CREATE TABLE IF NOT EXISTS public.orders (id bigint PRIMARY KEY, customer text NOT NULL, "
            "amount numeric NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())"})
        await call("database_execute_statement", {"connection_id": "shop", "query": "DELETE FROM public.orders"})
        await call("database_execute_statement", {"connection_id": "shop", "query":
            "INSERT INTO public.orders (id, customer, amount) VALUES (1, 'ada', 10.25), (2, 'grace', 4.5), (3, 'ada', 0.05)"})


@pytest.mark.anyio
async def test_every_readme_curl_example_runs_in_order_on_a_fresh_demo_hub(demo_server):
    base = demo_server
    await shop_source(base)
    with open(README, encoding="utf-8") as readme:
        commands = readme_curl_commands(readme.read())
    address = base.split("://", 1)[1]
    ran, skipped = [], []
    with tempfile.TemporaryDirectory() as cwd:
        with open(os.path.join(cwd, "orders.csv"), "w", encoding="utf-8") as csv:
            csv.write("customer,amount,placed\nada,12.5,2026-01-02\ngrace,3.25,2026-01-03\n")
        body = os.path.join(cwd, "answer")
        for command in commands:
            reason = next((why for text, why in NEEDS_ELSEWHERE.items() if text in command), None)
            if reason:
                skipped.append((command.splitlines()[0], reason))
                continue
            assert "localhost:8080" in command, f"an example this test cannot run; run it or name why in NEEDS_ELSEWHERE: {command}"
            runnable = command.replace("localhost:8080", address).replace(
                "curl ", f"curl -sS --max-time 120 -o {shlex.quote(body)} -w '%{{http_code}}' ", 1)
            done = subprocess.run(["bash", "-c", runnable], cwd=cwd, capture_output=True, text=True, timeout=180)
            status = done.stdout.strip()[-3:]
            answer = open(body, encoding="utf-8", errors="replace").read()[:2000] if os.path.exists(body) else ""
            assert done.returncode == 0 and status.startswith("2"), f"{command}\n-> {status} {done.stderr}\n{answer}"
            ran.append(command)
    # The README has these examples today; a parser that found none would pass anything.
    assert len(ran) >= 11, ran
    assert len(skipped) == len(NEEDS_ELSEWHERE), skipped
