"""End-to-end A2A 1.0 both ways with the official Python `a2a-sdk`. As a client of
Tideway's agents: cards resolved, a task sent and answered, the same streamed event
by event, tasks got, listed by conversation and paged, a task cancelled mid-run while
a subscriber watches, a task given to Tideway's own endpoint reaching the agent that
fits it, and the protocol's errors. As a remote agent Tideway calls (the SDK's
server): registered by its card with a sealed bearer credential, run (streamed),
chosen by delegation, and cancelled mid-task. The local agents' model is a local
server speaking OpenAI's chat completions API (the paid API it stands in for is
remote)."""

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anyio
import httpx
import pytest
from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.types import (
    CancelTaskRequest,
    GetExtendedAgentCardRequest,
    GetTaskRequest,
    ListTasksRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    SubscribeToTaskRequest,
    TaskState,
)
from a2a.utils.errors import TaskNotCancelableError, TaskNotFoundError

from conftest import _serve, _stop

pytestmark = pytest.mark.anyio

RELEASE = threading.Event()


class StandIn(BaseHTTPRequestHandler):
    """Asks for `system_echo` once per conversation, then answers; a task that says
    "slowly" keeps its first turn waiting until released, so it can be cancelled."""

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        messages = body["messages"]
        result = next((m for m in reversed(messages) if m["role"] == "tool"), None)
        task = " ".join(str(m.get("content")) for m in messages if m["role"] == "user")
        if result is None and "slowly" in task:
            RELEASE.wait(30)
        if result is None:
            message = {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function",
                       "function": {"name": "system_echo", "arguments": "{\"message\":\"ping\"}"}}]}
            finish = "tool_calls"
        else:
            message = {"role": "assistant", "content": f"pong after {len(result['content'])} characters"}
            finish = "stop"
        answer = json.dumps({"id": "c", "object": "chat.completion", "model": "scripted",
                             "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                             "usage": {"prompt_tokens": 10, "completion_tokens": 5}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def a2a_server(binary, data_dir):
    RELEASE.clear()
    model = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    model.daemon_threads = True
    threading.Thread(target=model.serve_forever, daemon=True).start()
    process, base = _serve(binary, data_dir, "system", "workflows", "models", "agents")
    with httpx.Client(base_url=base, timeout=30) as http:
        put = http.put("/api/v1/models/providers/main", json={
            "kind": "openai", "base_url": f"http://127.0.0.1:{model.server_port}/v1", "model": "scripted",
            "api_key": "sk-test", "default": True})
        assert put.status_code == 200, put.text
        put = http.put("/api/v1/agents/pinger", json={
            "description": "Checks that things answer.", "instructions": "Echo, then report.",
            "capabilities": ["connectivity checks", "ping"], "tools": ["system.echo"]})
        assert put.status_code == 200, put.text
    yield base
    RELEASE.set()
    _stop(process)
    model.shutdown()


def message(text, context_id=None):
    return Message(message_id=str(uuid.uuid4()), role=Role.ROLE_USER, parts=[Part(text=text)],
                   context_id=context_id or "")


async def client_for(http, url, streaming):
    return await ClientFactory(ClientConfig(streaming=streaming, httpx_client=http)).create_from_url(url)


async def test_an_agent_answers_a2a_clients_whole_and_streamed(a2a_server):
    async with httpx.AsyncClient(timeout=30) as http:
        public = await A2ACardResolver(http, a2a_server).get_agent_card()
        assert public.name == "Tideway"
        assert "data_analyst" in [skill.id for skill in public.skills]
        assert public.capabilities.streaming and public.capabilities.extended_agent_card

        client = await client_for(http, f"{a2a_server}/a2a/pinger", streaming=False)
        responses = [r async for r in client.send_message(SendMessageRequest(message=message("Ping the hub.", "talk-1")))]
        assert len(responses) == 1
        task = responses[0].task
        assert task.status.state == TaskState.TASK_STATE_COMPLETED, task
        assert task.context_id == "talk-1"
        assert task.artifacts[0].parts[0].text.startswith("pong after"), task
        assert [m.role for m in task.history] == [Role.ROLE_USER, Role.ROLE_AGENT]
        assert task.metadata["agent"] == "pinger"

        got = await client.get_task(GetTaskRequest(id=task.id, history_length=1))
        assert got.status.state == TaskState.TASK_STATE_COMPLETED
        assert len(got.history) == 1 and got.history[0].role == Role.ROLE_AGENT

        streaming = await client_for(http, f"{a2a_server}/a2a/pinger", streaming=True)
        events = [e async for e in streaming.send_message(SendMessageRequest(message=message("Ping again.", "talk-1")))]
        assert events[0].HasField("task"), events[0]
        streamed_id = events[0].task.id
        kinds = [e.status_update.status.message.parts[0].data.struct_value["kind"] for e in events
                 if e.HasField("status_update") and e.status_update.status.message.parts]
        assert kinds[:4] == ["model", "call", "result", "model"], events
        artifacts = [e.artifact_update for e in events if e.HasField("artifact_update")]
        assert artifacts and artifacts[0].artifact.parts[0].text.startswith("pong after"), events
        assert events[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED, events[-1]
        assert all(e.status_update.task_id == streamed_id for e in events if e.HasField("status_update"))

        # Both tasks of the conversation, newest first, a page at a time.
        listed = await client.list_tasks(ListTasksRequest(context_id="talk-1", page_size=1))
        assert listed.total_size == 2 and len(listed.tasks) == 1 and listed.next_page_token
        assert listed.tasks[0].id == streamed_id
        rest = await client.list_tasks(ListTasksRequest(context_id="talk-1", page_size=1, page_token=listed.next_page_token))
        assert [t.id for t in rest.tasks] == [task.id]
        done = await client.list_tasks(ListTasksRequest(status=TaskState.TASK_STATE_CANCELED))
        assert done.total_size == 0

        with pytest.raises(TaskNotFoundError):
            await client.get_task(GetTaskRequest(id="no-such-task"))
        with pytest.raises(TaskNotCancelableError):
            await client.cancel_task(CancelTaskRequest(id=task.id))
        await client.close()
        await streaming.close()


async def test_a_task_cancelled_mid_run_ends_for_its_subscriber(a2a_server):
    async with httpx.AsyncClient(timeout=30) as http:
        client = await client_for(http, f"{a2a_server}/a2a/pinger", streaming=True)
        request = SendMessageRequest(message=message("Ping the hub slowly."))
        request.configuration.return_immediately = True
        polling = await ClientFactory(ClientConfig(streaming=False, polling=True, httpx_client=http)).create_from_url(
            f"{a2a_server}/a2a/pinger")
        started = [r async for r in polling.send_message(request)][0].task
        assert started.status.state in (TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING), started
        deadline = time.monotonic() + 20
        while (await client.get_task(GetTaskRequest(id=started.id))).status.state != TaskState.TASK_STATE_WORKING:
            assert time.monotonic() < deadline, "the run never started"
            await anyio.sleep(0.05)

        seen = []

        async def watch():
            async for event in client.subscribe(SubscribeToTaskRequest(id=started.id)):
                seen.append(event)

        async with anyio.create_task_group() as group:
            group.start_soon(watch)
            while not seen:
                await anyio.sleep(0.05)
            cancelled = await client.cancel_task(CancelTaskRequest(id=started.id))
            assert cancelled.status.state == TaskState.TASK_STATE_CANCELED, cancelled
        assert seen[0].task.id == started.id
        assert seen[-1].status_update.status.state == TaskState.TASK_STATE_CANCELED, seen[-1]
        await client.close()
        await polling.close()


async def test_tideways_own_endpoint_gives_a_task_to_the_agent_that_fits(a2a_server):
    async with httpx.AsyncClient(timeout=30) as http:
        client = await client_for(http, a2a_server, streaming=False)
        responses = [r async for r in client.send_message(
            SendMessageRequest(message=message("Run a connectivity check (ping) please")))]
        task = responses[0].task
        assert task.metadata["agent"] == "pinger", task
        assert task.status.state == TaskState.TASK_STATE_COMPLETED, task
        extended = await client.get_extended_agent_card(GetExtendedAgentCardRequest())
        assert "pinger" in [skill.id for skill in extended.skills]
        await client.close()

        # The wire: a version not served, an unknown method, a parameter named.
        rpc = await http.post(f"{a2a_server}/a2a", headers={"A2A-Version": "0.3"},
                              json={"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": task.id}})
        assert rpc.json()["error"]["code"] == -32009, rpc.text
        rpc = await http.post(f"{a2a_server}/a2a", json={"jsonrpc": "2.0", "id": 2, "method": "tasks/get", "params": {}})
        assert rpc.json()["error"]["code"] == -32601, rpc.text
        rpc = await http.post(f"{a2a_server}/a2a", json={"jsonrpc": "2.0", "id": 3, "method": "SendMessage",
                                                          "params": {"message": {"messageId": "m", "parts": [{"text": 7}]}}})
        error = rpc.json()["error"]
        assert error["code"] == -32602 and error["message"].startswith("params.message.parts[0].text"), rpc.text


@pytest.fixture
def peer():
    """The SDK's server as a remote agent that wants `Bearer peer-secret`."""
    script = os.path.join(os.path.dirname(__file__), "a2a_peer.py")
    process = subprocess.Popen([sys.executable, script, "peer-secret"], stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    assert "listening on http://" in line, line
    yield line.strip().rsplit(" ", 1)[-1]
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def caller_server(binary, data_dir):
    """Tideway allowed to reach remote agents on loopback."""
    config = os.path.join(data_dir, "agents.toml")
    with open(config, "w") as file:
        file.write('[agents]\nallow = ["127.0.0.1"]\n')
    process, base = _serve(binary, data_dir, "system", "workflows", "agents", extra=("--config", config))
    yield base
    _stop(process)


def finished_run(http, run_id):
    deadline = time.monotonic() + 20
    while True:
        view = http.get(f"/api/v1/agent-runs/{run_id}").json()
        if view["run"]["status"] not in ("queued", "running"):
            return view
        assert time.monotonic() < deadline, view
        time.sleep(0.05)


def test_tideway_runs_delegates_to_and_cancels_a_remote_a2a_agent(caller_server, peer):
    with httpx.Client(base_url=caller_server, timeout=30) as http:
        # Internal addresses stay closed unless the operator opened them.
        refused = http.post("/api/v1/remote-agents", json={"name": "inside", "card_url": "http://10.255.255.1/"})
        assert refused.status_code == 422 and "[agents] allow" in refused.json()["detail"], refused.text
        registered = http.post("/api/v1/remote-agents", json={
            "name": "echo_peer", "card_url": peer, "credential": {"kind": "bearer", "secret": "peer-secret"}})
        assert registered.status_code == 201, registered.text
        remote = registered.json()
        assert remote["endpoint"] == f"{peer}/" and remote["streaming"] is True, remote
        assert remote["capabilities"] == ["echo", "repeat text"], remote
        assert "peer-secret" not in http.get("/api/v1/remote-agents").text
        names = [a["agent"]["name"] for a in http.get("/api/v1/agents").json()["agents"]]
        assert "echo_peer" in names, names

        # A run carried out by the remote agent, its stream recorded as events.
        view = http.post("/api/v1/agents/echo_peer/runs", json={"task": "hello over there"},
                         headers={"prefer": "wait=20"}).json()
        run = view["run"]
        assert run["status"] == "succeeded", view
        assert run["answer"] == "echo: hello over there", view
        kinds = [e["kind"] for e in http.get(f"/api/v1/agent-runs/{run['id']}").json()["events"]]
        assert kinds[:2] == ["send", "remote_task"] and "remote_artifact" in kinds, kinds
        assert kinds[-1] == "remote_status", kinds

        # Delegation picks it by its skills.
        delegated = http.post("/api/v1/integration/agents/delegate",
                              json={"task": "repeat text back: tide", "capabilities": ["echo"]},
                              headers={"prefer": "wait=20"}).json()
        assert delegated["agent"] == "echo_peer", delegated
        assert delegated["run"]["answer"] == "echo: repeat text back: tide", delegated

        # Cancelled mid-task: the remote task is cancelled too.
        started = http.post("/api/v1/agents/echo_peer/runs", json={"task": "work slowly"}).json()["run"]
        deadline = time.monotonic() + 20
        while True:
            events = http.get(f"/api/v1/agent-runs/{started['id']}").json()["events"]
            remote_task = next((e["body"]["task_id"] for e in events if e["kind"] == "remote_task"), None)
            if remote_task:
                break
            assert time.monotonic() < deadline, events
            time.sleep(0.05)
        cancelled = http.post(f"/api/v1/agent-runs/{started['id']}/cancel").json()
        assert cancelled["run"]["status"] == "cancelled", cancelled
        deadline = time.monotonic() + 20
        while remote_task not in httpx.get(f"{peer}/cancelled").json():
            assert time.monotonic() < deadline, "the remote task was not cancelled"
            time.sleep(0.05)

        # A wrong credential is the remote's refusal, told as such.
        http.post("/api/v1/remote-agents", json={
            "name": "echo_peer", "card_url": peer, "credential": {"kind": "bearer", "secret": "wrong"}})
        failed = finished_run(http, http.post("/api/v1/agents/echo_peer/runs", json={"task": "hi"}).json()["run"]["id"])
        assert failed["run"]["status"] == "failed" and "401" in failed["run"]["error"], failed["run"]
