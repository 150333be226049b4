#!/usr/bin/env bash
# Measures Candor's event streams side by side with the bare axum broadcast server (the
# yardstick, bench/yardstick/), on loopback, release builds, one load generator
# (bench/load/) for all. Writes BENCHMARKS.md.
#
#   bash bench/sse.sh            # SCALE=small for a quick run (1,000 subscribers at most)
#
# Scenarios so far: idle subscribers (memory per connection), and fan-out at 100 events
# a second to 1,000 and 10,000 subscribers (delivered events/s, publish-to-receive
# latency, server CPU). The load generator drives Candor through its public API (demo
# jobs that report every 250 ms); the yardstick publishes by itself.

set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="$ROOT/BENCHMARKS.md"
SECONDS_PER_RUN="${BENCH_SECONDS:-10}"
BIG=10000
[ "${SCALE:-full}" = small ] && BIG=1000

echo "==> building release binaries" >&2
cargo build --release -p server --bin candor --example sse_load --example yardstick >&2
LOAD=target/release/examples/sse_load
WORK="$(mktemp -d)"
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

wait_up() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return; sleep 0.1; done; echo "not up: $1" >&2; exit 1; }

# start_yardstick <port> <rate>: the pid.
start_yardstick() {
  BENCH_ADDR="127.0.0.1:$1" BENCH_RATE="$2" target/release/examples/yardstick >"$WORK/yardstick.log" 2>&1 &
  PIDS+=($!)
  wait_up "http://127.0.0.1:$1/healthz"
  echo "$!"
}

# start_candor <port>: a fresh data directory and a token (in $WORK/token); the pid.
start_candor() {
  local data="$WORK/candor-$1"
  mkdir -p "$data"
  CANDOR_DATA_DIR="$data" RUST_LOG=warn target/release/candor token create --label bench >"$WORK/token" 2>/dev/null
  CANDOR_DATA_DIR="$data" LEPTOS_SITE_ADDR="127.0.0.1:$1" LEPTOS_OUTPUT_NAME=candor \
    CANDOR_WORKERS=64 CANDOR_OWNER_MAX_STREAMS=100000 CANDOR_MAX_STREAMS=100000 \
    CANDOR_OWNER_MAX_IN_FLIGHT=100000 CANDOR_OWNER_JOBS_PER_MINUTE=100000 RUST_LOG=warn \
    target/release/candor >"$WORK/candor-$1.log" 2>&1 &
  PIDS+=($!)
  wait_up "http://127.0.0.1:$1/api/kinds"
  echo "$!"
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

RESULTS="$WORK/results.jsonl"
: >"$RESULTS"

run_idle() {
  local n=$1 pid
  echo "==> idle: $n subscribers" >&2
  pid=$(start_yardstick 3911 1)
  "$LOAD" --url http://127.0.0.1:3911/events --subscribers "$n" --seconds 2 --warmup 0 \
    --server-pid "$pid" --label "idle yardstick $n" >>"$RESULTS"
  stop "$pid"
  pid=$(start_candor 3912)
  "$LOAD" --url http://127.0.0.1:3912/api/events --token "$(cat "$WORK/token")" --subscribers "$n" \
    --seconds 2 --warmup 0 --server-pid "$pid" --label "idle candor $n" >>"$RESULTS"
  stop "$pid"
}

run_fanout() {
  local n=$1 pid
  echo "==> fan-out: $n subscribers x 100 events/s" >&2
  pid=$(start_yardstick 3913 100)
  "$LOAD" --url http://127.0.0.1:3913/events --subscribers "$n" --seconds "$SECONDS_PER_RUN" \
    --warmup 3 --server-pid "$pid" --label "fan-out yardstick $n" >>"$RESULTS"
  stop "$pid"
  pid=$(start_candor 3914)
  "$LOAD" --url http://127.0.0.1:3914/api/events --token "$(cat "$WORK/token")" --subscribers "$n" \
    --seconds "$SECONDS_PER_RUN" --warmup 3 --server-pid "$pid" \
    --drive-candor http://127.0.0.1:3914 --rate 100 --label "fan-out candor $n" >>"$RESULTS"
  stop "$pid"
}

run_idle "$BIG"
run_fanout 1000
[ "$BIG" -gt 1000 ] && run_fanout "$BIG"

python3 - "$RESULTS" "$OUT" "$(nproc)" "$(uname -m)" "$(rustc --version)" <<'PY'
import json, sys, datetime
results_path, out, cores, arch, rustc = sys.argv[1:6]
rows = [json.loads(line) for line in open(results_path) if line.strip()]
by = {r["label"]: r for r in rows}
def f(v, fmt="{:,.0f}"):
    return "—" if v is None else fmt.format(v)
lines = [
    "# Benchmarks",
    "",
    f"`bash bench/sse.sh` on {datetime.date.today()}: {cores} cores ({arch}), loopback, release builds, {rustc}.",
    "One load generator (`bench/load/main.rs`, Rust, HTTP/1.1, one connection per subscriber) for every",
    "server, started fresh for each run. Latency is publish-to-receive: each event's `at` stamp against",
    "the receiving clock (one event in four sampled). The yardstick is the bare axum 0.8 broadcast SSE",
    "server (`bench/yardstick/main.rs`); Candor runs its real pipeline: demo jobs started through",
    "`POST /api/jobs`, every progress event written durably to SQLite, then streamed on `/api/events`,",
    "filtered by owner. Load generator and server share the machine's two cores.",
    "",
    "| run | subscribers held | events/s delivered | p50 ms | p99 ms | max ms | server CPU % | RSS per subscriber KiB | errors |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
]
for r in rows:
    timed = r["latencySamples"] and not r["label"].startswith("idle")
    lines.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
        r["label"], f(r["held"]), f(r["eventsPerSec"]) if not r["label"].startswith("idle") else "—",
        f(r["p50Ms"], "{:.1f}") if timed else "—",
        f(r["p99Ms"], "{:.1f}") if timed else "—",
        f(r["maxMs"], "{:.1f}") if timed else "—",
        f(r["serverCpuPercent"]), f(r["rssPerSubscriberKib"], "{:.1f}"), r["errors"]))
lines += ["", "Ratios, Candor to the yardstick, in the same run:", ""]
for label in sorted({r["label"].split(" ", 2)[-1] for r in rows if r["label"].startswith("fan-out")}, key=int):
    y, c = by.get(f"fan-out yardstick {label}"), by.get(f"fan-out candor {label}")
    if y and c:
        lines.append(f"- fan-out to {int(label):,}: {c['eventsPerSec'] / y['eventsPerSec']:.0%} of its events/s; p99 {c['p99Ms']:.1f} ms against {y['p99Ms']:.1f} ms")
for r in rows:
    if r["label"].startswith("idle candor"):
        n = r["label"].split()[-1]
        y = by.get(f"idle yardstick {n}")
        if y and y["rssPerSubscriberKib"] and r["rssPerSubscriberKib"]:
            lines.append(f"- idle, {int(n):,} subscribers: {r['rssPerSubscriberKib']:.1f} KiB per subscriber against {y['rssPerSubscriberKib']:.1f} KiB ({r['rssPerSubscriberKib'] - y['rssPerSubscriberKib']:+.1f} KiB)")
lines += ["", "Raw results (one JSON line per run, as the load generator printed them):", "", "```"]
lines += [json.dumps(r, sort_keys=True) for r in rows]
lines += ["```", ""]
open(out, "w").write("\n".join(lines))
print("\n".join(lines))
PY
