"""The workflows benchmark's peer: the same chain and fan-out of no-op steps as
Tideway's, as Temporal workflows of no-op activities on Temporal's dev server, driven
by the temporalio SDK. One process is both the client and the worker (activities at
most --concurrency at once, as Tideway runs at most that many steps). Prints one JSON
line per run: the shape, its steps, the wall time from start to result, and this
process's CPU time over the run (the worker's share of the orchestration)."""

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

TIMEOUT = timedelta(seconds=60)


@activity.defn
async def noop(value: int) -> int:
    return value


@workflow.defn
class Chain:
    @workflow.run
    async def run(self, steps: int) -> int:
        value = 0
        for _ in range(steps):
            value = await workflow.execute_activity(
                noop, value + 1, start_to_close_timeout=TIMEOUT
            )
        return value


@workflow.defn
class FanOut:
    @workflow.run
    async def run(self, steps: int) -> int:
        done = await asyncio.gather(
            *[
                workflow.execute_activity(noop, index, start_to_close_timeout=TIMEOUT)
                for index in range(steps)
            ]
        )
        return len(done)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--chain", type=int, default=100)
    parser.add_argument("--fanout", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    client = await Client.connect(args.address)
    queue = f"bench-{uuid.uuid4()}"
    # The workflows live in this script, so the sandbox (which re-imports a
    # workflow's module) is left out; it checks determinism, which costs CPU
    # Tideway's engine does not spend either.
    async with Worker(
        client,
        task_queue=queue,
        workflows=[Chain, FanOut],
        activities=[noop],
        max_concurrent_activities=args.concurrency,
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        for shape, workflow_run, steps in [
            ("chain", Chain.run, args.chain),
            ("fan-out", FanOut.run, args.fanout),
        ]:
            for _ in range(args.runs):
                started = time.perf_counter()
                cpu = time.process_time()
                result = await client.execute_workflow(
                    workflow_run, steps, id=f"{shape}-{uuid.uuid4()}", task_queue=queue
                )
                wall = time.perf_counter() - started
                used = time.process_time() - cpu
                if result != steps:
                    raise SystemExit(f"{shape} answered {result}, not {steps}")
                print(
                    json.dumps(
                        {"shape": shape, "steps": steps, "seconds": wall, "cpu_seconds": used}
                    ),
                    flush=True,
                )


if __name__ == "__main__":
    asyncio.run(main())
    # Every run is reported by now. The SDK's core threads can still hold the
    # interpreter's lock while Python finalizes, which aborts the process (SIGABRT)
    # now and then; leaving without finalizing keeps the exit status honest.
    sys.stdout.flush()
    os._exit(0)
