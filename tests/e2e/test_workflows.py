"""The workflows toolkit against the built binary: the seed's REST paths running the built-in
templates on the demo help desk with a scripted model (a local server speaking OpenAI's chat
completions API), live status as server-sent events, runs read over MCP with the official
Python SDK, and a run that goes on after the server is killed with SIGKILL and started again."""

import json
import os
import signal
import subprocess
import threading
import time

import anyio
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2 as httpx
import pytest
from mcp.client.client import Client

from conftest import _serve, _stop

pytestmark = pytest.mark.anyio


class ScriptedModel(BaseHTTPRequestHandler):
    """Answers chat completions with a reply built from the last user message, and keeps
    every request it was sent."""

    seen = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        ScriptedModel.seen.append(body)
        prompt = body["messages"][-1]["content"]
        if isinstance(prompt, list):
            prompt = " ".join(part.get("text", "") for part in prompt)
        reply = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": body["model"],
            "choices": [{
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": f"Scripted reply to: {prompt[:80]}"},
            }],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def model_url():
    ScriptedModel.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), ScriptedModel)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


@pytest.fixture
def config_file(tmp_path, model_url):
    path = tmp_path / "tideway.toml"
    path.write_text(
        f"""
[models]
provider = "scripted"

[models.providers.scripted]
kind = "openai"
base_url = "{model_url}"
model = "scripted-1"
"""
    )
    return str(path)


def _workflows_server(binary, data_dir, config_file):
    return _serve(binary, data_dir, "support", "models", "workflows",
                  extra=("--config", config_file), serve_args=("--demo",))


@pytest.fixture
def workflows_server(binary, data_dir, config_file):
    process, base = _workflows_server(binary, data_dir, config_file)
    yield base
    _stop(process)


def _wait_for(client, execution_id, done, what, seconds=30):
    deadline = time.monotonic() + seconds
    while True:
        run = client.get(f"/api/v1/workflows/executions/{execution_id}").json()
        if done(run):
            return run
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {json.dumps(run, indent=1)}"
        time.sleep(0.05)


def _finished(run):
    return run["status"] in ("succeeded", "failed", "cancelled")


def _step(run, step_id):
    return next(step for step in run["steps"] if step["id"] == step_id)


def test_the_seed_paths_run_customer_support_on_the_demo_desk(workflows_server):
    with httpx.Client(base_url=workflows_server, timeout=30) as client:
        templates = client.get("/api/v1/workflows/templates").json()["templates"]
        assert {t["id"] for t in templates} >= {"customer_onboarding", "customer_support", "revenue_analysis"}

        customers = client.get("/api/v1/customers", params={"limit": 100}).json()["items"]
        enterprise = next(c for c in customers if c["tier"] == "enterprise")
        free = next(c for c in customers if c["tier"] in ("free", "standard"))
        for customer, escalated in ((enterprise, True), (free, False)):
            ticket = client.post("/api/v1/tickets", json={
                "customer_id": customer["id"], "subject": "Cannot log in",
                "description": "The login page rejects my password.", "priority": "low",
            }).json()
            started = client.post("/api/v1/workflows/start/customer_support", json={
                "customer_id": customer["id"], "ticket_id": ticket["id"],
                "question": "How do I reset my password?",
            })
            assert started.status_code == 202, started.text
            execution_id = started.json()["execution_id"]
            assert started.headers["location"] == f"/api/v1/workflows/executions/{execution_id}"

            run = _wait_for(client, execution_id, _finished, "customer_support")
            assert run["status"] == "succeeded", json.dumps(run, indent=1)
            assert _step(run, "escalate")["status"] == ("succeeded" if escalated else "skipped")
            draft = _step(run, "draft")["output"]["text"]
            assert draft.startswith("Scripted reply to: Customer: " + customer["name"])
            assert "How do I reset my password?" in ScriptedModel.seen[-1]["messages"][-1]["content"]

            priority = client.get(f"/api/v1/tickets/{ticket['id']}").json()["ticket"]["priority"]
            assert priority == ("urgent" if escalated else "low")
            interactions = client.get("/api/v1/interactions", params={"ticket_id": ticket["id"]}).json()["items"]
            assert any(i["content"] == draft and i["direction"] == "outbound" for i in interactions)

        listed = client.get("/api/v1/workflows/executions", params={"template_id": "customer_support"}).json()
        assert len(listed["executions"]) == 2

        bad = client.post("/api/v1/workflows/start/customer_support", json={
            "customer_id": "seven", "ticket_id": 1, "question": "Why?"})
        assert bad.status_code == 422
        assert "input.customer_id" in bad.json()["detail"]
        missing = client.post("/api/v1/workflows/executions/no-such-run/cancel")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")


def test_onboarding_creates_the_customer_and_a_follow_up(workflows_server):
    with httpx.Client(base_url=workflows_server, timeout=30) as client:
        started = client.post("/api/v1/workflows/start/customer_onboarding", json={
            "first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com",
            "company": "Navy", "tier": "premium",
        }).json()
        run = _wait_for(client, started["execution_id"], _finished, "customer_onboarding")
        assert run["status"] == "succeeded", json.dumps(run, indent=1)
        customer = _step(run, "create")["output"]
        assert customer["email"] == "grace@example.com" and customer["tier"] == "premium"
        ticket = _step(run, "follow_up")["output"]
        assert ticket["customer_id"] == customer["id"] and ticket["category"] == "onboarding"
        assert started["execution_id"] in ticket["description"]

        # The same person again: the customer exists, so nothing is created twice.
        again = client.post("/api/v1/workflows/start/customer_onboarding", json={
            "first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com",
        }).json()
        run = _wait_for(client, again["execution_id"], _finished, "the second onboarding")
        assert run["status"] == "succeeded", json.dumps(run, indent=1)
        assert _step(run, "create")["status"] == "skipped"
        assert _step(run, "follow_up")["output"]["customer_id"] == customer["id"]
        found = client.get("/api/v1/customers", params={"search": "grace@example.com"}).json()["items"]
        assert len(found) == 1


def test_live_status_streams_until_the_run_finishes(workflows_server):
    template = {
        "name": "Nap", "steps": [
            {"id": "look", "tool": "support_get_tickets", "arguments": {"limit": 1}},
            {"id": "nap", "needs": ["look"], "kind": "sleep", "seconds": 0.5},
            {"id": "done", "needs": ["nap"], "tool": "support_get_analytics", "arguments": {"days": 7}},
        ],
    }
    with httpx.Client(base_url=workflows_server, timeout=30) as client:
        saved = client.put("/api/v1/workflows/templates/nap", json=template)
        assert saved.status_code == 200, saved.text
        execution_id = client.post("/api/v1/workflows/start/nap", json={}).json()["execution_id"]
        statuses = []
        with client.stream("GET", f"/api/v1/workflows/executions/{execution_id}/events") as events:
            assert events.headers["content-type"].startswith("text/event-stream")
            for line in events.iter_lines():
                if line.startswith("data:"):
                    run = json.loads(line[5:])
                    statuses.append([run["status"]] + [step["status"] for step in run["steps"]])
        assert statuses[-1] == ["succeeded", "succeeded", "succeeded", "succeeded"], statuses
        assert len(statuses) >= 3, statuses
        assert any(s[2] in ("ready", "pending") and s[1] == "succeeded" for s in statuses), statuses


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_runs_are_started_and_read_over_mcp(workflows_server, mode):
    async with Client(f"{workflows_server}/mcp/workflows", mode=mode) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"start_workflow", "get_execution", "cancel_execution", "approve_step"} <= names
        saved = await client.call_tool("save_workflow_template", {"template": {
            "id": "gate", "name": "Gate",
            "steps": [{"id": "ask", "kind": "approval", "message": "Go?"},
                      {"id": "go", "needs": ["ask"], "tool": "support_get_tickets", "arguments": {"limit": 1}}],
        }})
        assert not saved.is_error, saved
        started = await client.call_tool("start_workflow", {"template_id": "gate"})
        assert not started.is_error, started
        execution_id = started.structured_content["execution_id"]
        uri = f"workflow://executions/{execution_id}"
        for _ in range(200):
            run = json.loads((await client.read_resource(uri)).contents[0].text)
            if run["needs_attention"] == ["ask"]:
                break
            await anyio.sleep(0.02)
        assert run["needs_attention"] == ["ask"], run
        answered = await client.call_tool("approve_step", {
            "execution_id": execution_id, "step_id": "ask", "approve": True})
        assert not answered.is_error, answered
        for _ in range(200):
            run = (await client.call_tool("get_execution", {"execution_id": execution_id})).structured_content
            if run["status"] == "succeeded":
                break
            await anyio.sleep(0.02)
        assert run["status"] == "succeeded", run
        refused = await client.call_tool("start_workflow", {"template_id": "gate", "input": {"x": 1}, "extra": 2})
        assert refused.is_error


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_a_caller_can_wait_for_a_run_and_hear_each_step_end(workflows_server, mode):
    updates = []

    async def on_progress(progress, total, message):
        updates.append((progress, total, message))

    async with Client(f"{workflows_server}/mcp/workflows", mode=mode) as client:
        saved = await client.call_tool("save_workflow_template", {"template": {
            "id": "look", "name": "Look",
            "steps": [{"id": "tickets", "tool": "support_get_tickets", "arguments": {"limit": 2}},
                      {"id": "stats", "needs": ["tickets"], "tool": "support_get_analytics", "arguments": {"days": 7}}],
        }})
        assert not saved.is_error, saved
        finished = await client.call_tool(
            "start_workflow", {"template_id": "look", "wait_secs": 30}, progress_callback=on_progress)
        assert not finished.is_error, finished
        assert finished.structured_content["status"] == "succeeded", finished.structured_content
    assert updates == [(1, 2, "step 'tickets' succeeded"), (2, 2, "step 'stats' succeeded")], updates


def test_a_run_goes_on_after_the_server_is_killed(binary, data_dir, config_file):
    process, base = _workflows_server(binary, data_dir, config_file)
    template = {
        "name": "Slow", "steps": [
            {"id": "first", "tool": "support_create_ticket", "arguments": {
                "customer_id": 1, "subject": "Made once", "description": "by a workflow"}},
            {"id": "nap", "needs": ["first"], "kind": "sleep", "seconds": 2},
            {"id": "last", "needs": ["nap"], "tool": "support_get_ticket_details",
             "arguments": {"ticket_id": "{{ steps.first.output.id }}"}},
        ],
    }
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            assert client.put("/api/v1/workflows/templates/slow", json=template).status_code == 200
            execution_id = client.post("/api/v1/workflows/start/slow", json={}).json()["execution_id"]
            _wait_for(client, execution_id, lambda run: _step(run, "first")["status"] == "succeeded", "the first step")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    process, base = _serve(binary, data_dir, "support", "models", "workflows", extra=("--config", config_file))
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            run = _wait_for(client, execution_id, _finished, "the run after the restart")
            assert run["status"] == "succeeded", json.dumps(run, indent=1)
            assert _step(run, "first")["attempt"] == 1
            ticket_id = _step(run, "first")["output"]["id"]
            assert _step(run, "last")["output"]["ticket"]["id"] == ticket_id
            made = client.get("/api/v1/tickets", params={"limit": 100}).json()["items"]
            assert sum(1 for t in made if t["subject"] == "Made once") == 1
    finally:
        _stop(process)


def test_a_rest_job_outlives_a_killed_server(binary, tmp_path):
    """A call started over REST with `Prefer: respond-async` is a durable run: the
    server running it is killed with SIGKILL mid-query, a new one on the same store
    runs the read-only query again, and the job ends with its result; a job that had
    finished is still there after the restart."""
    admin_url, store_url = _fresh_postgres()
    user, host, port, database = _postgres_parts(admin_url)
    config = tmp_path / "jobs.toml"
    config.write_text("[workflows]\nlease_secs = 2\npoll_ms = 50\n")
    data_dir = str(tmp_path / "data")
    os.mkdir(data_dir)
    toolkits = ("support", "database", "workflows")
    process, base = _serve(binary, data_dir, *toolkits, extra=("--config", str(config)), serve_args=("--demo",))
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            registered = client.post("/api/v1/sources", json={
                "name": "pg", "kind": "postgres", "host": host, "port": int(port), "database": database,
                "user": user, "ssl_mode": "disable", "allow_privileged_role": True,
            })
            assert registered.status_code in (200, 201), registered.text
            quick = client.post("/api/v1/tools/support/get_tickets", json={"limit": 2},
                                headers={"prefer": "respond-async"})
            assert quick.status_code == 202, quick.text
            quick_url = quick.headers["location"]
            done = _wait_for_job(client, quick_url)
            assert done["status"] == "succeeded", done
            assert len(done["result"]["items"]) == 2, done
            refused = client.post("/api/v1/tools/support/get_tickets", json={"limit": "many"},
                                  headers={"prefer": "respond-async"})
            assert refused.status_code == 422 and refused.json()["field"] == "limit", refused.text

            slow = client.post("/api/v1/tools/database/query_database", headers={"prefer": "respond-async"},
                               json={"connection_id": "pg", "query": "SELECT 7 AS answer FROM pg_sleep(3)"})
            assert slow.status_code == 202, slow.text
            job = slow.json()
            assert job["status"] == "running" and job["tool"] == "query_database", job
            # The job is a run of the engine; wait until its call is under way.
            _wait_for(client, job["id"], lambda run: _step(run, "call")["status"] == "running", "the query")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    process, base = _serve(binary, data_dir, *toolkits, extra=("--config", str(config)))
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            done = _wait_for_job(client, slow.headers["location"], seconds=60)
            assert done["status"] == "succeeded", done
            assert done["result"]["rows"] == [{"answer": 7}] or done["result"]["rows"] == [[7]], done
            run = client.get(f"/api/v1/workflows/executions/{job['id']}").json()
            assert _step(run, "call")["attempt"] == 2, run
            assert client.get(quick_url).json()["status"] == "succeeded"
            missing = client.get("/api/v1/jobs/not-a-job")
            assert missing.status_code == 404
            assert missing.headers["content-type"] == "application/problem+json"
    finally:
        _stop(process)


def test_a_result_larger_than_a_step_row_comes_back_whole(binary, tmp_path):
    """With step rows bound to 1 KiB, a REST job's result is still returned whole; the
    run's view shows a preview with the whole's size, and the step output route reads
    every byte."""
    config = tmp_path / "rows.toml"
    config.write_text("[workflows]\nmax_output_bytes = 1024\npoll_ms = 50\n")
    data_dir = str(tmp_path / "data")
    os.mkdir(data_dir)
    process, base = _serve(binary, data_dir, "support", "workflows", extra=("--config", str(config)),
                           serve_args=("--demo",))
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            direct = client.post("/api/v1/tools/support/get_tickets", json={"limit": 20})
            assert direct.status_code == 200, direct.text
            answer = direct.json()["structuredContent"]
            assert len(json.dumps(answer)) > 4096, "the answer must outgrow a 1 KiB row"
            started = client.post("/api/v1/tools/support/get_tickets", json={"limit": 20},
                                  headers={"prefer": "respond-async"})
            assert started.status_code == 202, started.text
            job = _wait_for_job(client, started.headers["location"])
            assert job["status"] == "succeeded", job
            assert job["result"] == answer

            run = client.get(f"/api/v1/workflows/executions/{job['id']}").json()
            call = _step(run, "call")
            assert call["output"]["truncated"] is True and call["output"]["stored"] is True, call
            assert call["output_bytes"] > 4096, call
            assert len(json.dumps(call["output"], separators=(",", ":"), ensure_ascii=False)) <= 1024, call

            whole = client.get(f"/api/v1/workflows/executions/{job['id']}/steps/call/output")
            assert whole.status_code == 200, whole.text
            assert whole.json()["output"] == job["result"]
            missing = client.get(f"/api/v1/workflows/executions/{job['id']}/steps/nothing/output")
            assert missing.status_code == 404, missing.text
            assert missing.headers["content-type"] == "application/problem+json"
    finally:
        _stop(process)


def _wait_for_job(client, url, seconds=30):
    deadline = time.monotonic() + seconds
    while True:
        job = client.get(url).json()
        if job["status"] != "running":
            return job
        assert time.monotonic() < deadline, f"timed out waiting for the job: {job}"
        time.sleep(0.05)


def _postgres_parts(url):
    """`postgres://user@host:port/database` as (user, host, port, database)."""
    rest = url.split("://", 1)[1]
    user, rest = rest.split("@", 1)
    hostport, database = rest.split("/", 1)
    host, port = hostport.rsplit(":", 1)
    return user, host, port, database


def _fresh_postgres():
    """A new database on the test command's PostgreSQL, or a skip when there is none."""
    url = os.environ.get("TIDEWAY_TEST_POSTGRES_URL")
    if not url:
        assert not os.environ.get("TIDEWAY_REQUIRE_POSTGRES"), "TIDEWAY_REQUIRE_POSTGRES is set but TIDEWAY_TEST_POSTGRES_URL is not"
        pytest.skip("no PostgreSQL")
    name = f"tideway_wf_{os.urandom(6).hex()}"
    subprocess.run(["psql", url, "-q", "-c", f"CREATE DATABASE {name}"], check=True)
    return url, url.rsplit("/", 1)[0] + "/" + name


def test_two_servers_on_one_postgres_run_each_step_once_and_take_over_a_killed_one(binary, tmp_path):
    """Two `tideway serve` processes share one PostgreSQL: a fan-out of ticket-creating
    steps runs each step exactly once between them, and when one server is killed with
    SIGKILL while a slow read-only query step runs on it, the other takes the step over."""
    admin_url, store_url = _fresh_postgres()
    user, host, port, database = _postgres_parts(admin_url)
    config = tmp_path / "replicas.toml"
    config.write_text(f'database_url = "{store_url}"\n\n[workflows]\nlease_secs = 2\npoll_ms = 50\n')
    servers = []
    for n in range(2):
        data_dir = tmp_path / f"replica{n}"
        data_dir.mkdir()
        if n == 1:
            # Both replicas seal with the same master key.
            (data_dir / "master.key").write_bytes((tmp_path / "replica0" / "master.key").read_bytes())
        servers.append(_serve(binary, str(data_dir), "support", "database", "workflows",
                              extra=("--config", str(config))))
    (one, one_url), (two, two_url) = servers
    try:
        with httpx.Client(base_url=one_url, timeout=30) as client:
            registered = client.post("/api/v1/sources", json={
                "name": "pg", "kind": "postgres", "host": host, "port": int(port), "database": database,
                "user": user, "ssl_mode": "disable", "allow_privileged_role": True,
            })
            assert registered.status_code in (200, 201), registered.text
            customer = client.post("/api/v1/customers", json={
                "first_name": "Fan", "last_name": "Out", "email": "fan@example.com"}).json()
            steps = [{"id": f"s{n}", "tool": "support_create_ticket", "arguments": {
                "customer_id": customer["id"], "subject": f"fan-{n}", "description": "one of many"}}
                for n in range(30)]
            assert client.put("/api/v1/workflows/templates/fan", json={"name": "Fan", "steps": steps}).status_code == 200
            slow = [{"id": "nap", "tool": "database_query_database",
                     "arguments": {"connection_id": "pg", "query": "SELECT 1 AS slept FROM pg_sleep(3)"}}]
            assert client.put("/api/v1/workflows/templates/slow", json={"name": "Slow", "steps": slow}).status_code == 200
            fan = client.post("/api/v1/workflows/start/fan", json={}).json()["execution_id"]
            run = _wait_for(client, fan, _finished, "the fan-out")
            assert run["status"] == "succeeded", json.dumps(run, indent=1)
            assert all(step["attempt"] == 1 for step in run["steps"])
            tickets = client.get("/api/v1/tickets", params={"customer_id": customer["id"], "limit": 100}).json()["items"]
            subjects = sorted(t["subject"] for t in tickets)
            assert subjects == sorted(f"fan-{n}" for n in range(30)), subjects

            slow_id = client.post("/api/v1/workflows/start/slow", json={}).json()["execution_id"]
            run = _wait_for(client, slow_id, lambda r: _step(r, "nap")["status"] == "running", "the slow step")
            worker_pid = int(_step(run, "nap")["worker"].split(":")[1])
        # Kill whichever server runs the step; the other carries the run on.
        victim, survivor, survivor_url = (one, two, two_url) if worker_pid == one.pid else (two, one, one_url)
        assert worker_pid in (one.pid, two.pid), worker_pid
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        with httpx.Client(base_url=survivor_url, timeout=30) as client:
            run = _wait_for(client, slow_id, _finished, "the slow run on the surviving server")
            assert run["status"] == "succeeded", json.dumps(run, indent=1)
            assert _step(run, "nap")["attempt"] == 2, json.dumps(run, indent=1)
            assert _step(run, "nap")["output"]["rows"] == [[1]]
    finally:
        for process in (one, two):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=20)


def test_the_command_line_starts_follows_and_cancels_runs(binary, workflows_server):
    with httpx.Client(base_url=workflows_server, timeout=30) as client:
        assert client.put("/api/v1/workflows/templates/short", json={"name": "Short", "steps": [
            {"id": "look", "tool": "support_get_tickets", "arguments": {"limit": "{{ input.limit }}"}},
            {"id": "nap", "needs": ["look"], "kind": "sleep", "seconds": 0.3},
        ]}).status_code == 200
        assert client.put("/api/v1/workflows/templates/gate", json={"name": "Gate", "steps": [
            {"id": "ask", "kind": "approval"}]}).status_code == 200

    def cli(*args):
        return subprocess.run([binary, "workflows", *args, "--url", workflows_server],
                              capture_output=True, text=True, timeout=60)

    listed = cli("list")
    assert listed.returncode == 0, listed.stderr
    assert any(line.startswith("short ") for line in listed.stdout.splitlines()), listed.stdout

    started = cli("start", "short", "--input", '{"limit": 2}', "--follow")
    assert started.returncode == 0, started.stderr
    execution_id = started.stdout.strip()
    assert f"{execution_id} succeeded" in started.stderr
    assert "nap" in started.stderr and "sleep" not in started.stdout

    status = cli("status", execution_id)
    assert status.returncode == 0 and status.stdout.startswith(f"{execution_id} succeeded"), status

    gated = cli("start", "gate")
    gate_id = gated.stdout.strip()
    cancelled = cli("cancel", gate_id)
    assert cancelled.returncode == 0 and cancelled.stdout.startswith(f"{gate_id} cancelled"), cancelled
    again = cli("cancel", gate_id)
    assert again.returncode != 0 and "409" in again.stderr, again

    bad = cli("start", "short", "--input", "[1]")
    assert bad.returncode != 0 and "JSON object" in bad.stderr
