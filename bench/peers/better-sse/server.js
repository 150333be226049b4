// A peer for bench/sse.sh: Node.js with better-sse, one broadcast channel. Publishes
// BENCH_RATE events a second (default 100) shaped like Candor's status-update, stamped
// with the time they were published and padded to BENCH_EVENT_BYTES on the wire (what
// Candor's events measured in the same run). GET /events subscribes; GET /start starts
// publishing (once the subscribers are connected); GET /burst?jobs=50&events=5000&bytes=0
// publishes a burst instead: that many progress events taking the jobs in turn, as fast as
// they go (yielding to the event loop after each event, as an async job would), then each
// job's completion, each padded to `bytes`; GET /healthz answers.
"use strict";
const http = require("node:http");
const { createChannel, createSession } = require("better-sse");

const [host, port] = (process.env.BENCH_ADDR || "127.0.0.1:3903").split(":");
const rate = Number(process.env.BENCH_RATE || 100);
const eventBytes = Number(process.env.BENCH_EVENT_BYTES || 0);
const channel = createChannel();
const jobId = "7d4c1e0a-0000-4000-8000-000000000000";
let id = 0;

// Pads `data` with a `detail` field of filler so that its frame (id, event name, data,
// the chunk's framing) is about `bytes` long.
function padded(data, name, bytes) {
  const frame = String(id).length + name.length + JSON.stringify(data).length + 21 + 7 + 12;
  return bytes > frame ? { ...data, detail: "-".repeat(bytes - frame) } : data;
}

// One tick per event, on a clock from the start (setInterval drifts under load).
let started = 0;
function publish() {
  id += 1;
  const at = new Date().toISOString();
  channel.broadcast(
    padded({ jobId, status: "running", progress: id % 100, step: `Step ${id}`, at }, "status-update", eventBytes),
    "status-update",
    { eventId: String(id) },
  );
  setTimeout(publish, Math.max(0, started + (id * 1000) / rate - performance.now()));
}

async function burst(jobs, events, bytes) {
  const job = (j) => `7d4c1e0a-0000-4000-8000-${String(j).padStart(12, "0")}`;
  const yieldNow = () => new Promise((resolve) => setImmediate(resolve));
  const steps = Math.max(1, Math.ceil(events / jobs));
  for (let n = 0; n < events; n++) {
    const j = n % jobs;
    const step = Math.floor(n / jobs) + 1;
    id += 1;
    const at = new Date().toISOString();
    const progress = Math.floor((step * 100) / steps);
    channel.broadcast(padded({ jobId: job(j), status: "running", progress, step: `Step ${step}`, at },
      "status-update", bytes), "status-update", { eventId: String(id) });
    await yieldNow();
  }
  for (let j = 0; j < jobs; j++) {
    id += 1;
    channel.broadcast(padded({ jobId: job(j), url: null }, "completion", bytes), "completion",
      { eventId: String(id) });
    await yieldNow();
  }
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, "http://localhost");
  if (url.pathname === "/burst") {
    burst(Number(url.searchParams.get("jobs")), Number(url.searchParams.get("events")),
      Number(url.searchParams.get("bytes") || 0));
    res.end("started");
  } else if (req.url === "/healthz") {
    res.end("ok");
  } else if (req.url === "/start") {
    if (!started) {
      started = performance.now();
      setTimeout(publish, 1000 / rate);
    }
    res.end("started");
  } else if (req.url === "/events") {
    channel.register(await createSession(req, res));
  } else {
    res.statusCode = 404;
    res.end();
  }
});
server.maxConnections = 100000;
server.listen({ host, port: Number(port), backlog: 4096 });
