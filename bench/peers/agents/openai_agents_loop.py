"""The agents benchmark's peer: the same tool-use loop as a Tideway agent run (the
model asks for `system_echo`, gets its result, answers) written with the OpenAI
Agents SDK against the same local model server. Prints one JSON line: each
sequential run's seconds, and the wall time of the concurrent runs.

    python openai_agents_loop.py MODEL_BASE_URL RUNS CONCURRENCY
"""

import asyncio
import json
import sys
import time

from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool, set_tracing_disabled
from openai import AsyncOpenAI


@function_tool
def system_echo(message: str) -> str:
    """Echoes the message back."""
    return message


async def main():
    base_url, runs, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    set_tracing_disabled(True)
    client = AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)
    agent = Agent(
        name="pinger",
        instructions="Echo, then report.",
        tools=[system_echo],
        model=OpenAIChatCompletionsModel(model="scripted", openai_client=client),
    )

    async def one():
        started = time.perf_counter()
        result = await Runner.run(agent, "Ping the hub.")
        assert str(result.final_output).startswith("answer after"), result.final_output
        return time.perf_counter() - started

    sequential = [await one() for _ in range(runs)]
    queue = asyncio.Queue()
    for _ in range(runs):
        queue.put_nowait(None)

    async def worker():
        while not queue.empty():
            queue.get_nowait()
            await one()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    concurrent = time.perf_counter() - started
    print(json.dumps({"sequential_secs": sequential, "concurrent_secs": concurrent, "concurrent_runs": runs}))


asyncio.run(main())
