"""End-to-end: the files toolkit through the official MCP Python SDK in both protocol
eras and over REST, on a real `tideway serve`: an agent writes, reads, edits and
searches its files, and paths that lead out of the root (a planted symlink, `..`,
an absolute path) are refused with nothing outside read; a stdio client's own roots
are used when the operator allows it."""

import os

import httpx2 as httpx
import mcp_types as types
import pytest
from mcp import StdioServerParameters
from mcp.client.client import Client

from conftest import _serve, _stop

pytestmark = pytest.mark.anyio

SECRET = "TOPSECRET-e2e"


@pytest.fixture
def files_server(binary, data_dir, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    home = os.path.join(data_dir, "files", "default")
    os.makedirs(home)
    os.symlink(outside / "secret.txt", os.path.join(home, "escape"))
    os.symlink(outside, os.path.join(home, "escape_dir"))
    process, base = _serve(binary, data_dir, "files")
    yield base
    _stop(process)


@pytest.mark.parametrize("mode", ["2026-07-28", "legacy"])
async def test_an_agent_works_with_its_files_and_cannot_leave_the_root(files_server, mode):
    async with Client(f"{files_server}/mcp/files", mode=mode) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"read_text_file", "write_file", "edit_file", "grep_files", "delete_file"} <= names
        written = await client.call_tool(
            "write_file", {"path": f"home/{mode}/notes.md", "content": "# Notes\nport: 8080\n"}
        )
        assert not written.is_error, written
        edited = await client.call_tool(
            "edit_file",
            {"path": f"home/{mode}/notes.md", "edits": [{"oldText": "8080", "newText": "9090"}]},
        )
        assert "+port: 9090" in edited.structured_content["diff"]
        read = await client.call_tool("read_text_file", {"path": f"home/{mode}/notes.md"})
        assert read.content[0].text == "# Notes\nport: 9090\n"
        found = await client.call_tool("grep_files", {"path": "home", "pattern": "port"})
        assert found.structured_content["matches"][0]["path"] == f"home/{mode}/notes.md"
        for path in ["home/escape", "home/escape_dir/secret.txt", "home/../../secret.txt", "/etc/passwd"]:
            refused = await client.call_tool("read_text_file", {"path": path})
            assert refused.is_error, path
            assert SECRET not in refused.content[0].text
        grep = await client.call_tool("grep_files", {"path": "home", "pattern": "TOPSECRET"})
        assert grep.structured_content["matches"] == []


async def test_rest_runs_each_operation_and_refuses_escapes_as_problems(files_server):
    async with httpx.AsyncClient(base_url=files_server) as http:
        url = "/api/v1/integration/mcp/filesystem"
        written = await http.post(f"{url}/write_file", json={"path": "home/rest.txt", "content": "over REST"})
        assert written.status_code == 200, written.text
        read = await http.post(f"{url}/read_text_file", json={"path": "home/rest.txt"})
        assert read.json()["text"] == "over REST"
        listing = await http.post(f"{url}/list_directory", json={"path": "home"})
        assert "rest.txt" in [entry["name"] for entry in listing.json()["entries"]]
        escaped = await http.post(f"{url}/read_text_file", json={"path": "home/escape"})
        assert escaped.status_code == 403, escaped.text
        assert escaped.headers["content-type"].startswith("application/problem+json")
        assert SECRET not in escaped.text
        absolute = await http.post(f"{url}/read_text_file", json={"path": "/etc/passwd"})
        assert absolute.status_code == 422 and "path" in absolute.text
        unknown = await http.post(f"{url}/format_disk", json={})
        assert unknown.status_code == 404 and "read_text_file" in unknown.text


async def test_rest_resource_routes_read_write_and_delete_files(files_server):
    async with httpx.AsyncClient(base_url=files_server) as http:
        put = await http.put("/api/v1/files/home/docs/readme.md", content="# Readme\n")
        assert put.status_code == 200, put.text
        again = await http.put("/api/v1/files/home/docs/readme.md", content="clobber")
        assert again.status_code == 409, again.text
        replaced = await http.put("/api/v1/files/home/docs/readme.md?overwrite=true", content="# Readme v2\n")
        assert replaced.status_code == 200, replaced.text
        got = await http.get("/api/v1/files/home/docs/readme.md")
        assert got.status_code == 200 and got.text == "# Readme v2\n"
        assert got.headers["content-type"].startswith("text/markdown")
        listing = await http.get("/api/v1/files/home/docs")
        assert [entry["name"] for entry in listing.json()["entries"]] == ["readme.md"]
        binary = await http.put("/api/v1/files/home/docs/blob.bin", content=b"\xff\xfe\x00")
        assert binary.status_code == 415
        unknown = await http.delete("/api/v1/files/home/docs/readme.md?force=1")
        assert unknown.status_code == 422
        for path in ["home/escape", "home/escape_dir/secret.txt", "home/%2e%2e/%2e%2e/secret.txt", "etc/passwd"]:
            refused = await http.get(f"/api/v1/files/{path}")
            assert refused.status_code in (403, 404, 422), (path, refused.status_code)
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert SECRET not in refused.text
        deleted = await http.delete("/api/v1/files/home/docs/readme.md")
        assert deleted.status_code == 204, deleted.text
        gone = await http.get("/api/v1/files/home/docs/readme.md")
        assert gone.status_code == 404


def test_a_write_killed_midway_leaves_the_old_content_or_the_new(binary, data_dir, tmp_path):
    """kill -9 at a random moment of a 12 MB write_file, eight times: the file holds one
    whole version each time, never a mix or a prefix. A first write that is allowed to
    finish times the call, so the kills fall before, during and after it."""
    import json
    import random
    import subprocess
    import time

    config = tmp_path / "tideway.toml"
    config.write_text("[limits]\nmax_argument_bytes = 67108864\nmax_body_bytes = 67108864\n[files]\nmax_write_bytes = 67108864\n")
    home = os.path.join(data_dir, "files", "default")
    os.makedirs(home)
    target = os.path.join(home, "big.txt")
    # Under the stdio transport's 16 MiB line limit.
    size = 12 << 20
    with open(target, "w") as file:
        file.write("A" * size)

    def write(letter, kill_after):
        process = subprocess.Popen(
            [binary, "--config", str(config), "mcp", "--data-dir", data_dir, "--toolkit", "files"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "kill-test", "version": "1"}}}
        process.stdin.write((json.dumps(initialize) + "\n").encode())
        process.stdin.flush()
        assert b'"result"' in process.stdout.readline()
        process.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "files_write_file", "arguments": {"path": "home/big.txt", "content": letter * size, "overwrite": True}}}
        started = time.monotonic()
        process.stdin.write((json.dumps(call) + "\n").encode())
        process.stdin.flush()
        if kill_after is None:
            answer = process.stdout.readline()
            assert b'"isError":true' not in answer, answer[:300]
        else:
            time.sleep(kill_after)
        elapsed = time.monotonic() - started
        process.kill()
        process.wait()
        return elapsed

    call_time = write("B", None)
    versions = {"A", "B"}
    landed = 0
    for round in range(8):
        letter = chr(ord("C") + round)
        write(letter, random.uniform(0.0, 1.5 * call_time))
        versions.add(letter)
        with open(target) as file:
            content = file.read()
        assert len(content) == size, f"round {round}: {len(content)} bytes"
        assert len(set(content)) == 1 and content[0] in versions, f"round {round}: a mix of versions"
        landed += content[0] == letter
    print(f"a whole write took {call_time:.2f} s; the new version landed in {landed} of 8 killed rounds")


async def test_roots_a_stdio_client_names_are_used_when_the_operator_allows(binary, data_dir, tmp_path):
    """A client on the server's own machine names its project folder as a root
    (`roots/list`, the 2025-11-25 era): with `[files] client_roots = "read-only"` its
    files are read under the root's name, and writes are refused."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "README.md").write_text("# From the client\n")
    config = tmp_path / "tideway.toml"
    config.write_text('[files]\nclient_roots = "read-only"\n')

    async def list_roots(context):
        return types.ListRootsResult(roots=[types.Root(uri=project.as_uri(), name="Project")])

    params = StdioServerParameters(
        command=binary,
        args=["--config", str(config), "mcp", "--toolkit", "files", "--data-dir", data_dir],
    )
    async with Client(params, mode="legacy", list_roots_callback=list_roots) as client:
        listed = await client.call_tool("files_list_allowed_directories", {})
        assert "project" in [root["name"] for root in listed.structured_content["roots"]]
        read = await client.call_tool("files_read_text_file", {"path": "project/README.md"})
        assert not read.is_error, read
        assert read.content[0].text == "# From the client\n"
        refused = await client.call_tool("files_write_file", {"path": "project/new.txt", "content": "x"})
        assert refused.is_error and "read-only" in refused.content[0].text
    assert not (project / "new.txt").exists()
