// A peer for bench/sse.sh: Node.js with better-sse, one broadcast channel. Publishes
// BENCH_RATE events a second (default 100) shaped like Candor's status-update, stamped
// with the time they were published. GET /events subscribes; GET /start starts
// publishing (once the subscribers are connected); GET /burst?jobs=50&steps=100 publishes
// a burst instead: each job's steps as fast as they go (yielding to the event loop after
// each event, as an async job would), then each job's completion; GET /healthz answers.
"use strict";
const http = require("node:http");
const { createChannel, createSession } = require("better-sse");

const [host, port] = (process.env.BENCH_ADDR || "127.0.0.1:3903").split(":");
const rate = Number(process.env.BENCH_RATE || 100);
const channel = createChannel();
const jobId = "7d4c1e0a-0000-4000-8000-000000000000";
let id = 0;

// One tick per event, on a clock from the start (setInterval drifts under load).
let started = 0;
function publish() {
  id += 1;
  const at = new Date().toISOString();
  channel.broadcast(
    { jobId, status: "running", progress: id % 100, step: `Step ${id}`, at },
    "status-update",
    { eventId: String(id) },
  );
  setTimeout(publish, Math.max(0, started + (id * 1000) / rate - performance.now()));
}

async function burst(jobs, steps) {
  const job = (j) => `7d4c1e0a-0000-4000-8000-${String(j).padStart(12, "0")}`;
  const yieldNow = () => new Promise((resolve) => setImmediate(resolve));
  for (let step = 1; step <= steps; step++) {
    for (let j = 0; j < jobs; j++) {
      id += 1;
      const at = new Date().toISOString();
      const progress = Math.floor((step * 100) / steps);
      channel.broadcast({ jobId: job(j), status: "running", progress, step: `Step ${step}`, at },
        "status-update", { eventId: String(id) });
      await yieldNow();
    }
  }
  for (let j = 0; j < jobs; j++) {
    id += 1;
    channel.broadcast({ jobId: job(j), url: null }, "completion", { eventId: String(id) });
    await yieldNow();
  }
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, "http://localhost");
  if (url.pathname === "/burst") {
    burst(Number(url.searchParams.get("jobs")), Number(url.searchParams.get("steps")));
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
