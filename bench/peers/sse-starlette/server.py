"""A peer for bench/sse.sh: Python with FastAPI and sse-starlette, one broadcast to a
queue per subscriber. Publishes BENCH_RATE events a second (default 100) shaped like
Candor's status-update, stamped with the time they were published and padded to
BENCH_EVENT_BYTES on the wire (what Candor's events measured in the same run).
GET /events subscribes; GET /start starts publishing (once the subscribers are connected);
GET /burst?jobs=50&events=5000&bytes=0 publishes a burst instead: that many progress events
taking the jobs in turn, as fast as they go (yielding to the event loop after each event, as
an async job would), then each job's completion, each padded to `bytes`; GET /healthz
answers."""

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
EVENT_BYTES = int(os.environ.get("BENCH_EVENT_BYTES", "0"))
JOB_ID = "7d4c1e0a-0000-4000-8000-000000000000"
subscribers: set[asyncio.Queue] = set()


def frame(event_id: int, name: str, data: dict, size: int) -> dict:
    """An event whose frame (id, event name, data, CRLFs, the chunk's framing) is about
    `size` bytes: `data` gains a `detail` field of filler."""
    text = json.dumps(data, separators=(",", ":"))
    used = len(str(event_id)) + len(name) + len(text) + 25 + 7 + 12
    if size > used:
        text = json.dumps({**data, "detail": "-" * (size - used)}, separators=(",", ":"))
    return {"id": str(event_id), "event": name, "data": text}


def broadcast(event: dict) -> None:
    for queue in list(subscribers):
        if queue.full():
            queue.get_nowait()  # a slow subscriber loses its oldest event
        queue.put_nowait(event)


async def publish_burst(jobs: int, events: int, size: int) -> None:
    event_id = 0
    steps = max(1, -(-events // jobs))
    for n in range(events):
        j, step = n % jobs, n // jobs + 1
        event_id += 1
        at = datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
        data = {"jobId": f"7d4c1e0a-0000-4000-8000-{j:012}", "status": "running",
                "progress": step * 100 // steps, "step": f"Step {step}", "at": at}
        broadcast(frame(event_id, "status-update", data, size))
        await asyncio.sleep(0)
    for j in range(jobs):
        event_id += 1
        data = {"jobId": f"7d4c1e0a-0000-4000-8000-{j:012}", "url": None}
        broadcast(frame(event_id, "completion", data, size))
        await asyncio.sleep(0)


async def publish() -> None:
    started = time.monotonic()
    event_id = 0
    while True:
        event_id += 1
        at = datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
        data = {"jobId": JOB_ID, "status": "running", "progress": event_id % 100,
                "step": f"Step {event_id}", "at": at}
        broadcast(frame(event_id, "status-update", data, EVENT_BYTES))
        await asyncio.sleep(max(0.0, started + event_id / RATE - time.monotonic()))


app = FastAPI()


publisher: list[asyncio.Task] = []


@app.get("/start")
async def start() -> str:
    if not publisher:
        publisher.append(asyncio.get_running_loop().create_task(publish()))
    return "started"


@app.get("/burst")
async def burst(jobs: int, events: int, bytes: int = 0) -> str:
    publisher.append(asyncio.get_running_loop().create_task(publish_burst(jobs, events, bytes)))
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
