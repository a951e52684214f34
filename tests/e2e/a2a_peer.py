"""A remote A2A agent for the tests, built on the official `a2a-sdk` server: it echoes
the task back as an artifact, or, for a task that says "slowly", works until
cancelled. Its JSON-RPC endpoint wants `Authorization: Bearer <secret>`; its card is
public. `GET /cancelled` lists the tasks it was asked to cancel.

    python a2a_peer.py SECRET      # prints "listening on http://127.0.0.1:PORT"
"""

import asyncio
import socket
import sys

import uvicorn
from a2a.helpers import new_task
from a2a.server.agent_execution import AgentExecutor
from a2a.server.request_handlers import DefaultRequestHandlerV2
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import AgentCapabilities, AgentCard, AgentInterface, AgentSkill, Part, TaskState
from starlette.applications import Starlette
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import JSONResponse
from starlette.routing import Route

CANCELLED = []


class Echo(AgentExecutor):
    async def execute(self, context, event_queue):
        text = context.get_user_input()
        if context.current_task is None:
            await event_queue.enqueue_event(new_task(context.task_id, context.context_id,
                                                     TaskState.TASK_STATE_SUBMITTED, history=[context.message]))
        updater = TaskUpdater(event_queue, context.task_id, context.context_id)
        await updater.start_work()
        if "slowly" in text:
            await asyncio.sleep(120)
        await updater.add_artifact([Part(text=f"echo: {text}")], name="echo")
        await updater.complete()

    async def cancel(self, context, event_queue):
        CANCELLED.append(context.task_id)
        await TaskUpdater(event_queue, context.task_id, context.context_id).cancel()


def main():
    secret = sys.argv[1]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    card = AgentCard(
        name="Echo peer", description="Repeats text back, for checking that agents reach each other.",
        version="1.0",
        supported_interfaces=[AgentInterface(url=f"http://127.0.0.1:{port}/", protocol_binding="JSONRPC",
                                             protocol_version="1.0")],
        capabilities=AgentCapabilities(streaming=True),
        default_input_modes=["text/plain"], default_output_modes=["text/plain"],
        skills=[AgentSkill(id="echo", name="echo", description="Repeats text back", tags=["echo", "repeat text"])],
    )
    handler = DefaultRequestHandlerV2(agent_executor=Echo(), task_store=InMemoryTaskStore(), agent_card=card)

    async def cancelled(_request):
        return JSONResponse(CANCELLED)

    class Bearer(BaseHTTPMiddleware):
        async def dispatch(self, request, call_next):
            if request.method == "POST" and request.headers.get("authorization") != f"Bearer {secret}":
                return JSONResponse({"error": "unauthorized"}, status_code=401)
            return await call_next(request)

    app = Starlette(routes=[*create_agent_card_routes(card), *create_jsonrpc_routes(handler, "/"),
                            Route("/cancelled", cancelled)])
    app.add_middleware(Bearer)
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
