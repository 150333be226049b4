#!/usr/bin/env bash
# Measures Candor's event streams side by side with the bare axum broadcast server (the
# yardstick, bench/yardstick/) and the SSE servers people would pick instead
# (bench/peers/: Node.js with better-sse, Python with FastAPI and sse-starlette, installed
# here from npm and PyPI), on loopback, release builds, one load generator (bench/load/)
# for all. Writes BENCHMARKS.md.
#
#   bash bench/sse.sh            # SCALE=small for a quick run (1,000 subscribers at most)
#
# Then runs bench/nodes.sh: two nodes on PostgreSQL, bench/restart.sh: 5,000 subscribers
# through a SIGKILL and restart, and bench/crowd.sh: 10,000 owners each watching their own
# jobs (each its own section of BENCHMARKS.md).
#
# Scenarios: idle subscribers (memory per connection); fan-out at 100 events a second to
# 1,000 and 10,000 subscribers (delivered events/s, publish-to-receive latency, server
# CPU); a burst (50 jobs of 100 steps at once: time until every subscriber has every
# ending); the polling baseline (the same watchers polling GET /api/jobs/{id} each second
# instead of holding the job's stream: requests, bytes, staleness); and accepting work
# (POST /api/jobs per second, durable). The load generator drives Candor through its
# public API (demo jobs); the yardstick and the peers publish by themselves. Every server
# carries alike events: Candor runs first in each fan-out and burst, and the others then
# publish as many events of as many bytes as Candor's measured.

set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="$ROOT/BENCHMARKS.md"
SECONDS_PER_RUN="${BENCH_SECONDS:-10}"
BIG=10000
[ "${SCALE:-full}" = small ] && BIG=1000

echo "==> installing the peers (npm: better-sse; PyPI: fastapi, sse-starlette, uvicorn)" >&2
(cd bench/peers/better-sse && npm ci --no-audit --no-fund >/dev/null)
VENV="$ROOT/.tools/bench-venv"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q -r bench/peers/sse-starlette/requirements.txt >&2

echo "==> building release binaries" >&2
cargo build --release -p server --bin candor --example sse_load --example yardstick >&2
LOAD=target/release/examples/sse_load
WORK="$(mktemp -d)"
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

wait_up() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return; sleep 0.1; done; echo "not up: $1" >&2; exit 1; }

# start_yardstick <port> <rate>: the pid.
start_yardstick() {
  BENCH_ADDR="127.0.0.1:$1" BENCH_RATE="$2" BENCH_EVENT_BYTES="${EVENT_BYTES:-0}" target/release/examples/yardstick >"$WORK/yardstick.log" 2>&1 &
  PIDS+=($!)
  wait_up "http://127.0.0.1:$1/healthz"
  echo "$!"
}

# start_peer <better-sse|sse-starlette> <port> <rate>: the pid.
start_peer() {
  export BENCH_EVENT_BYTES="${EVENT_BYTES:-0}"
  if [ "$1" = better-sse ]; then
    BENCH_ADDR="127.0.0.1:$2" BENCH_RATE="$3" node bench/peers/better-sse/server.js >"$WORK/$1.log" 2>&1 &
  else
    BENCH_ADDR="127.0.0.1:$2" BENCH_RATE="$3" "$VENV/bin/python" bench/peers/sse-starlette/server.py >"$WORK/$1.log" 2>&1 &
  fi
  PIDS+=($!)
  wait_up "http://127.0.0.1:$2/healthz"
  echo "$!"
}

# load <label> <args...>: one load generator run, bounded; a run that fails is recorded.
load() {
  local label=$1; shift
  timeout 300 "$LOAD" --label "$label" "$@" >>"$RESULTS" ||
    echo "{\"label\": \"$label\", \"failed\": true}" >>"$RESULTS"
}

# start_candor <port>: a fresh data directory and a token (in $WORK/token); the pid.
start_candor() {
  local data="$WORK/candor-$1"
  mkdir -p "$data"
  CANDOR_DATA_DIR="$data" RUST_LOG=warn target/release/candor token create --label bench >"$WORK/token" 2>/dev/null
  CANDOR_DATA_DIR="$data" LEPTOS_SITE_ADDR="127.0.0.1:$1" LEPTOS_OUTPUT_NAME=candor \
    CANDOR_WORKERS="${WORKERS:-64}" CANDOR_OWNER_MAX_STREAMS=100000 CANDOR_MAX_STREAMS=100000 \
    CANDOR_OWNER_MAX_IN_FLIGHT=10000000 CANDOR_OWNER_JOBS_PER_MINUTE=10000000 \
    CANDOR_ADDRESS_MAX_STREAMS=100000 CANDOR_ADDRESS_JOBS_PER_MINUTE=10000000 CANDOR_ADDRESS_IDENTITIES_PER_MINUTE=1000000 \
    CANDOR_QUEUE_MAX=10000000 RUST_LOG=warn \
    target/release/candor >"$WORK/candor-$1.log" 2>&1 &
  PIDS+=($!)
  wait_up "http://127.0.0.1:$1/api/kinds"
  echo "$!"
}

# stop <pid>: asks politely, then insists (a server draining open streams may wait forever).
stop() {
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 30); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

RESULTS="$WORK/results.jsonl"
: >"$RESULTS"

# measured <label> <python expression of r, the run's JSON>: a figure of a recorded run.
measured() {
  python3 -c 'import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
r = next(r for r in reversed(rows) if r["label"] == sys.argv[2])
print(eval(sys.argv[3]))' "$RESULTS" "$1" "$2"
}

run_idle() {
  local n=$1 pid peer
  echo "==> idle: $n subscribers" >&2
  pid=$(start_candor 3912)
  load "idle candor $n" --url http://127.0.0.1:3912/api/events --token "$(cat "$WORK/token")" \
    --subscribers "$n" --seconds 2 --warmup 0 --server-pid "$pid"
  stop "$pid"
  pid=$(start_yardstick 3911 1)
  load "idle yardstick $n" --url http://127.0.0.1:3911/events --start-url http://127.0.0.1:3911/start --subscribers "$n" --seconds 2 \
    --warmup 0 --server-pid "$pid"
  stop "$pid"
  for peer in better-sse sse-starlette; do
    pid=$(start_peer "$peer" 3915 1)
    load "idle $peer $n" --url http://127.0.0.1:3915/events --start-url http://127.0.0.1:3915/start --subscribers "$n" --seconds 2 \
      --warmup 0 --server-pid "$pid"
    stop "$pid"
  done
}

run_fanout() {
  local n=$1 pid peer EVENT_BYTES
  echo "==> fan-out: $n subscribers x 100 events/s" >&2
  pid=$(start_candor 3914)
  load "fan-out candor $n" --url http://127.0.0.1:3914/api/events --token "$(cat "$WORK/token")" \
    --subscribers "$n" --seconds "$SECONDS_PER_RUN" --warmup 3 --server-pid "$pid" \
    --drive-candor http://127.0.0.1:3914 --rate 100
  stop "$pid"
  # The others' events as large as Candor's were on the wire.
  EVENT_BYTES=$(measured "fan-out candor $n" 'round(r.get("bytesPerEvent") or 0)')
  pid=$(start_yardstick 3913 100)
  load "fan-out yardstick $n" --url http://127.0.0.1:3913/events --start-url http://127.0.0.1:3913/start --subscribers "$n" \
    --seconds "$SECONDS_PER_RUN" --warmup 3 --server-pid "$pid"
  stop "$pid"
  for peer in better-sse sse-starlette; do
    pid=$(start_peer "$peer" 3916 100)
    load "fan-out $peer $n" --url http://127.0.0.1:3916/events --start-url http://127.0.0.1:3916/start --subscribers "$n" \
      --seconds "$SECONDS_PER_RUN" --warmup 3 --server-pid "$pid"
    stop "$pid"
  done
}

run_burst() {
  local n=$1 pid peer events bytes burst=(--burst-jobs 50 --burst-steps 100)
  echo "==> burst: 50 jobs x 100 steps at once, $n subscribers" >&2
  pid=$(start_candor 3918)
  load "burst candor $n" --url http://127.0.0.1:3918/api/events --token "$(cat "$WORK/token")" \
    --subscribers "$n" --server-pid "$pid" --drive-candor http://127.0.0.1:3918 "${burst[@]}"
  stop "$pid"
  # Candor coalesces each job's 100 steps into a few events; the others publish as many
  # events (the 50 endings last) as Candor delivered to each subscriber, of the same size.
  events=$(measured "burst candor $n" 'max(50, round(r.get("events", 0) / max(1, r.get("held") or 0)) - 50)')
  bytes=$(measured "burst candor $n" 'round(r.get("bytesPerEvent") or 0)')
  pid=$(start_yardstick 3919 1)
  load "burst yardstick $n" --url http://127.0.0.1:3919/events --subscribers "$n" --server-pid "$pid" \
    --start-url "http://127.0.0.1:3919/burst?jobs=50&events=$events&bytes=$bytes" "${burst[@]}"
  stop "$pid"
  for peer in better-sse sse-starlette; do
    pid=$(start_peer "$peer" 3920 1)
    load "burst $peer $n" --url http://127.0.0.1:3920/events --subscribers "$n" --server-pid "$pid" \
      --start-url "http://127.0.0.1:3920/burst?jobs=50&events=$events&bytes=$bytes" "${burst[@]}"
    stop "$pid"
  done
}

# run_watch <jobs> <step ms> <seconds>: 1,000 watchers on <jobs> jobs, polling, then streaming.
run_watch() {
  local jobs=$1 step=$2 secs=$3 how pid
  echo "==> polling baseline: 1,000 watchers of $jobs jobs (a change every $step ms each), poll vs SSE" >&2
  for how in poll sse; do
    pid=$(WORKERS=1024 start_candor 3921)
    load "watch $how $jobs" --url http://127.0.0.1:3921 --token "$(cat "$WORK/token")" --watch "$how" \
      --watch-jobs "$jobs" --step-ms "$step" --subscribers 1000 --seconds "$secs" --warmup 3
    stop "$pid"
  done
}

run_accept() {
  local pid
  echo "==> accepting work: 20,000 POST /api/jobs, 64 at a time" >&2
  pid=$(start_candor 3917)
  load "accept candor" --url http://127.0.0.1:3917/api/jobs --token "$(cat "$WORK/token")" \
    --post-jobs 20000 --concurrency 64 --server-pid "$pid"
  stop "$pid"
}

run_idle "$BIG"
run_fanout 10
run_fanout 1000
[ "$BIG" -gt 1000 ] && run_fanout "$BIG"
run_burst 1000
run_watch 1000 10000 60
run_watch 25 250 20
run_accept

lock_version() { grep -A1 "^name = \"$1\"$" Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p' | head -1; }
VERSIONS="axum $(lock_version axum), hyper $(lock_version hyper), tokio $(lock_version tokio), sqlx $(lock_version sqlx); \
Node.js $(node --version) with better-sse $(node -p 'JSON.parse(require("fs").readFileSync("bench/peers/better-sse/node_modules/better-sse/package.json")).version'); \
$("$VENV/bin/python" --version) with $("$VENV/bin/pip" list 2>/dev/null | awk '$1 ~ /^(fastapi|sse-starlette|sse_starlette|uvicorn)$/ {printf "%s %s, ", $1, $2}' | sed 's/, $//')"

COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
python3 - "$RESULTS" "$OUT" "$(nproc)" "$(uname -m)" "$(rustc --version)" "$VERSIONS" "$ROOT/bench/what-moved.md" "$ROOT/bench/notes.md" "$COMMIT" <<'PY'
import json, sys, datetime, os
results_path, out, cores, arch, rustc, versions, moved, notes, commit = sys.argv[1:10]
rows = [json.loads(line) for line in open(results_path) if line.strip()]
failed = [r["label"] for r in rows if r.get("failed")]
rows = [r for r in rows if not r.get("failed")]
def take(prefix):
    global rows
    taken = [r for r in rows if r["label"].startswith(prefix)]
    rows = [r for r in rows if not r["label"].startswith(prefix)]
    return taken
accepts, bursts, watches = take("accept"), take("burst"), take("watch")
by = {r["label"]: r for r in rows}
def f(v, fmt="{:,.0f}"):
    return "—" if v is None else fmt.format(v)
lines = [
    "# Benchmarks",
    "",
    f"`bash bench/sse.sh` on {datetime.date.today()}, commit {commit}: {cores} cores ({arch}), loopback, release builds, {rustc}.",
    f"Versions: {versions}.",
    "One load generator (`bench/load/main.rs`, Rust, HTTP/1.1, one connection per subscriber) for every",
    "server, started fresh for each run. Latency is publish-to-receive: each event's `at` stamp against",
    "the receiving clock (one event in four sampled). The yardstick is the bare axum 0.8 broadcast SSE",
    "server (`bench/yardstick/main.rs`); the peers are Node.js with better-sse (one channel) and",
    "FastAPI with sse-starlette under uvicorn (a queue per subscriber), in `bench/peers/`, installed",
    "by the command from npm and PyPI; each publishes the same payloads by itself at the same rate.",
    "Candor runs its real pipeline: 25 demo jobs started through `POST /api/jobs`, evenly spread",
    "over half a second, each taking a 500 ms step and sending two events per step (a `log` line and",
    "a `status-update`: 100 events/s in all, as evenly as the peers' ticks); every event is written",
    "durably to SQLite (WAL, `synchronous=FULL`) before it is streamed on `/api/events`, routed by",
    "owner. **Every server carries alike events**: Candor runs first, and the others then publish",
    "the same number of events a second, each padded to the size Candor's measured on the wire",
    "(the `bytes per event` column: wire bytes read while measuring over events delivered, HTTP",
    "chunk framing and keep-alives included). Load generator and server share the machine's",
    "two cores; run-to-run noise on this (shared, virtual) machine is about ±5 ms on a 1,000-subscriber",
    "p99 and ±30 ms on a 10,000-subscriber one, so compare the rows of one run. The 10-subscriber",
    "rows show each pipeline's own latency without a fan-out to speak of (for Candor: the job's",
    "report, the durable write with its `fsync`, the owner filter, the stream).",
    "",
    "| run | subscribers held | events/s delivered | bytes per event | p50 ms | p99 ms | max ms | server CPU % | load generator CPU % | RSS per subscriber KiB | errors |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
]
for r in rows:
    timed = r["latencySamples"] and not r["label"].startswith("idle")
    lines.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
        r["label"], f(r["held"]), f(r["eventsPerSec"]) if not r["label"].startswith("idle") else "—",
        f(r.get("bytesPerEvent")) if timed else "—",
        f(r["p50Ms"], "{:.1f}") if timed else "—",
        f(r["p99Ms"], "{:.1f}") if timed else "—",
        f(r["maxMs"], "{:.1f}") if timed else "—",
        f(r["serverCpuPercent"]), f(r.get("loadGeneratorCpuPercent")),
        f(r["rssPerSubscriberKib"], "{:.1f}") if r["held"] >= 1000 else "—", r["errors"]))
if bursts:
    lines += ["", "Burst: 50 jobs started at once, each 100 steps with no pause between them, then its",
              "`completion`; the time from the start until every subscriber has all 50 endings. Candor",
              "runs 50 demo jobs through its API; each job's progress is coalesced to a few events a second",
              "(the latest value wins, the log lines and steps begun meanwhile travel together; an ending",
              "is never dropped), every event durable. The others then publish, yielding after each",
              "event, as many events per job as Candor delivered (its ending last), each as large as",
              "Candor's were on the wire: the same count and bytes.", "",
              "| run | subscribers held | events delivered | bytes per event | every subscriber has every ending, s | median subscriber, s | subscribers with every ending | server CPU s | errors |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in bursts:
        lines.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            r["label"], f(r["held"]), f(r["events"]), f(r.get("bytesPerEvent")), f(r["allTerminalSecs"], "{:.3f}") if r["allTerminalSecs"] is not None else "never (within 120 s)",
            f(r["p50TerminalSecs"], "{:.3f}"), f(r["subscribersWithAll"]), f(r["serverCpuSecs"], "{:.2f}"), r["errors"]))
if watches:
    lines += ["", "Polling baseline: 1,000 watchers follow Candor jobs, either polling `GET /api/jobs/{id}` once",
              "a second (keep-alive, spread over the second) or holding the job's stream",
              "(`GET /api/jobs/{id}/events`). Requests and bytes (HTTP heads included, both directions)",
              "per second over the whole run, connecting included; staleness: from the server's stamp",
              "on a change to the moment the watcher knew it (a poll returning it or a later one).", "",
              "| run | watchers | jobs | changes/s in all | requests/s | bytes/s | mean staleness ms | p99 staleness ms | changes measured | errors |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in watches:
        lines.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            r["label"], f(r["watchers"]), f(r["jobs"]), f(r["changesPerSec"]), f(r["requestsPerSec"], "{:,.1f}"),
            f(r["bytesPerSec"]), f(r["meanStalenessMs"], "{:,.1f}"), f(r["p99StalenessMs"], "{:,.1f}"),
            f(r["changesMeasured"]), r["errors"]))
if accepts:
    lines += ["", "Accepting work: `POST /api/jobs` (a one-step demo job each, 64 requests in flight), every",
              "accepted job durable (SQLite WAL, `synchronous=FULL`) before its `202`; the jobs run meanwhile.", "",
              "| run | accepted | jobs/s | p50 ms | p99 ms | max ms | server CPU % | errors |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in accepts:
        lines.append("| {} | {} | {} | {} | {} | {} | {} | {} |".format(
            r["label"], f(r["accepted"]), f(r["jobsPerSec"]), f(r["p50Ms"], "{:.1f}"),
            f(r["p99Ms"], "{:.1f}"), f(r["maxMs"], "{:.1f}"), f(r["serverCpuPercent"]), r["errors"]))
if failed:
    lines += ["", "Runs that failed (the load generator did not finish within 5 minutes): " + ", ".join(failed)]
lines += ["", "Ratios, Candor to each other server, in the same run:", ""]
sizes = sorted({int(r["label"].split()[-1]) for r in rows if r["label"].startswith("fan-out")} - {10})
for n in sizes:
    c = by.get(f"fan-out candor {n}")
    for other in ["yardstick", "better-sse", "sse-starlette"]:
        o = by.get(f"fan-out {other} {n}")
        if c and o and o["eventsPerSec"]:
            lines.append(f"- fan-out to {n:,}, against {other}: {c['eventsPerSec'] / o['eventsPerSec']:.2f}x its events/s; p99 {c['p99Ms']:.1f} ms against {o['p99Ms']:.1f} ms")
wby = {r["label"]: r for r in watches}
for jobs in sorted({r["label"].split()[-1] for r in watches}, key=int):
    p, e = wby.get(f"watch poll {jobs}"), wby.get(f"watch sse {jobs}")
    if p and e and p["requestsPerSec"] and p["bytesPerSec"]:
        lines.append(f"- watching {int(jobs):,} jobs ({e['changesPerSec'] / e['jobs']:.1f} changes/s each), SSE against polling: "
                     f"{e['requestsPerSec'] / p['requestsPerSec']:.1%} of the requests, {e['bytesPerSec'] / p['bytesPerSec']:.1%} of the bytes, "
                     f"mean staleness {e['meanStalenessMs']:.1f} ms against {p['meanStalenessMs']:.1f} ms")
bby = {r["label"]: r for r in bursts}
cb = next((r for r in bursts if r["label"].startswith("burst candor")), None)
if cb:
    n = cb["label"].split()[-1]
    for other in ["yardstick", "better-sse", "sse-starlette"]:
        o = bby.get(f"burst {other} {n}")
        if o:
            theirs = "not within 120 s" if o["allTerminalSecs"] is None else f"{o['allTerminalSecs']:.3f} s"
            ours = "never" if cb["allTerminalSecs"] is None else f"{cb['allTerminalSecs']:.3f} s"
            lines.append(f"- burst to {int(n):,}, against {other}: every ending everywhere after {ours} against {theirs}")
for r in rows:
    if r["label"].startswith("idle candor"):
        n = r["label"].split()[-1]
        for other in ["yardstick", "better-sse", "sse-starlette"]:
            o = by.get(f"idle {other} {n}")
            if o and o["rssPerSubscriberKib"] and r["rssPerSubscriberKib"]:
                lines.append(f"- idle, {int(n):,} subscribers, against {other}: {r['rssPerSubscriberKib']:.1f} KiB per subscriber against {o['rssPerSubscriberKib']:.1f} KiB ({r['rssPerSubscriberKib'] - o['rssPerSubscriberKib']:+.1f} KiB)")
def get(label, key):
    return (by.get(label) or wby.get(label) or {}).get(key)
def check(name, value, ok):
    return f"| {name} | {value} | {'met' if ok else '**missed**'} |"
targets = []
c10, y10 = by.get("fan-out candor 10000"), by.get("fan-out yardstick 10000")
c1, y1 = by.get("fan-out candor 1000"), by.get("fan-out yardstick 1000")
ci, yi = by.get("idle candor 10000"), by.get("idle yardstick 10000")
if ci and yi:
    targets.append(check("idle: RSS per subscriber at most the yardstick's + 2 KiB (MEASURED.md's correction of 12 KiB, below hyper's own buffers)",
                         f"{ci['rssPerSubscriberKib']:.1f} KiB against {yi['rssPerSubscriberKib']:.1f} KiB",
                         ci["rssPerSubscriberKib"] <= yi["rssPerSubscriberKib"] + 2))
if c10:
    targets.append(check("10,000 × 100/s: at least 1,000,000 events/s delivered", f"{c10['eventsPerSec']:,.0f}", c10["eventsPerSec"] >= 1_000_000))
    targets.append(check("10,000 × 100/s: p99 at most 50 ms", f"{c10['p99Ms']:.1f} ms", c10["p99Ms"] <= 50))
if c1:
    targets.append(check("1,000 × 100/s: p99 at most 10 ms", f"{c1['p99Ms']:.1f} ms", c1["p99Ms"] <= 10))
if c10 and y10:
    targets.append(check("10,000: at least 90 % of the yardstick's events/s", f"{c10['eventsPerSec'] / y10['eventsPerSec']:.1%}", c10["eventsPerSec"] >= 0.9 * y10["eventsPerSec"]))
    targets.append(check("10,000: lower p99 than the yardstick", f"{c10['p99Ms']:.1f} ms against {y10['p99Ms']:.1f} ms", c10["p99Ms"] < y10["p99Ms"]))
if c1 and y1:
    targets.append(check("1,000: lower p99 than the yardstick", f"{c1['p99Ms']:.1f} ms against {y1['p99Ms']:.1f} ms", c1["p99Ms"] < y1["p99Ms"]))
for other, times in [("better-sse", 10), ("sse-starlette", 20)]:
    o = by.get(f"fan-out {other} 10000")
    if c10 and o:
        targets.append(check(f"10,000: at least {times}× {other}'s events/s", f"{c10['eventsPerSec'] / o['eventsPerSec']:.1f}×", c10["eventsPerSec"] >= times * o["eventsPerSec"]))
    oi = by.get(f"idle {other} 10000")
    if ci and oi:
        targets.append(check(f"less memory per connection than {other}", f"{ci['rssPerSubscriberKib']:.1f} KiB against {oi['rssPerSubscriberKib']:.1f} KiB", ci["rssPerSubscriberKib"] < oi["rssPerSubscriberKib"]))
p, e = wby.get("watch poll 1000"), wby.get("watch sse 1000")
if p and e:
    targets.append(check("SSE against 1-second polling (1,000 watchers, one job each): at most 2 % of the requests", f"{e['requestsPerSec'] / p['requestsPerSec']:.1%}", e["requestsPerSec"] <= 0.02 * p["requestsPerSec"]))
    targets.append(check("… at most 10 % of the bytes", f"{e['bytesPerSec'] / p['bytesPerSec']:.1%}", e["bytesPerSec"] <= 0.10 * p["bytesPerSec"]))
    targets.append(check("… lower staleness", f"{e['meanStalenessMs']:.1f} ms against {p['meanStalenessMs']:.1f} ms", e["meanStalenessMs"] < p["meanStalenessMs"]))
if accepts:
    a = accepts[0]
    targets.append(check("`POST /api/jobs`: at least 3,000 durable jobs/s", f"{a['jobsPerSec']:,.0f}", a["jobsPerSec"] >= 3000))
if targets:
    lines += ["", "## Against the performance targets", "", "| target | this run | |", "|---|---|---|"] + targets
if os.path.exists(notes):
    lines += ["", open(notes).read().rstrip()]
if os.path.exists(moved):
    lines += ["", open(moved).read().rstrip()]
lines += ["", "Raw results (one JSON line per run, as the load generator printed them):", "", "```"]
lines += [json.dumps(r, sort_keys=True) for r in rows + bursts + watches + accepts]
lines += ["```", ""]
open(out, "w").write("\n".join(lines))
print("\n".join(lines))
PY

# Several nodes on one PostgreSQL database: its own section of BENCHMARKS.md.
echo "==> two nodes on PostgreSQL (bench/nodes.sh)" >&2
bash "$ROOT/bench/nodes.sh" >/dev/null

# Reconnecting a crowd through a SIGKILL and restart: its own section of BENCHMARKS.md.
echo "==> 5,000 subscribers through a restart (bench/restart.sh)" >&2
bash "$ROOT/bench/restart.sh" >/dev/null

# Many owners, each watching their own jobs: its own section of BENCHMARKS.md.
echo "==> the crowd: 1,000 to 10,000 owners (bench/crowd.sh)" >&2
bash "$ROOT/bench/crowd.sh" >/dev/null
