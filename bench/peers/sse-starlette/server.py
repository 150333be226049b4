"""A peer for bench/sse.sh: Python with FastAPI and sse-starlette, one broadcast to a
queue per subscriber. Publishes BENCH_RATE events a second (default 100) shaped like
Candor's status-update, stamped with the time they were published. GET /events
subscribes; GET /start starts publishing (once the subscribers are connected);
GET /healthz answers."""

import asyncio
import datetime
import json
import os
import time

import uvicorn
from fastapi import FastAPI
from sse_starlette.sse import EventSourceResponse

HOST, PORT = os.environ.get("BENCH_ADDR", "127.0.0.1:3904").split(":")
RATE = float(os.environ.get("BENCH_RATE", "100"))
JOB_ID = "7d4c1e0a-0000-4000-8000-000000000000"
subscribers: set[asyncio.Queue] = set()


async def publish() -> None:
    started = time.monotonic()
    event_id = 0
    while True:
        event_id += 1
        at = datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
        event = {
            "id": str(event_id),
            "event": "status-update",
            "data": json.dumps(
                {"jobId": JOB_ID, "status": "running", "progress": event_id % 100,
                 "step": f"Step {event_id}", "at": at},
                separators=(",", ":"),
            ),
        }
        for queue in list(subscribers):
            if queue.full():
                queue.get_nowait()  # a slow subscriber loses its oldest event
            queue.put_nowait(event)
        await asyncio.sleep(max(0.0, started + event_id / RATE - time.monotonic()))


app = FastAPI()


publisher: list[asyncio.Task] = []


@app.get("/start")
async def start() -> str:
    if not publisher:
        publisher.append(asyncio.get_running_loop().create_task(publish()))
    return "started"


@app.get("/healthz")
async def healthz() -> str:
    return "ok"


@app.get("/events")
async def events() -> EventSourceResponse:
    queue: asyncio.Queue = asyncio.Queue(maxsize=1024)
    subscribers.add(queue)

    async def stream():
        try:
            while True:
                yield await queue.get()
        finally:
            subscribers.discard(queue)

    return EventSourceResponse(stream())


if __name__ == "__main__":
    uvicorn.run(
        app, host=HOST, port=int(PORT), log_level="warning", backlog=4096,
        timeout_graceful_shutdown=1,
    )
