#!/usr/bin/env bash
# Many people at once: N owners (anonymous identities, one cookieless page visit each), each
# holding one stream of their own jobs, and 1,000 demo jobs spread over them reporting 10
# events a second each (a progress event and a log line every 200 ms). Rows for 1,000, 3,000
# and 10,000 owners, and in the same run the single-owner fan-out (one owner's 1,000 streams,
# 100 events a second) whose server CPU per delivered event the crowd's is compared with;
# then 10,000 owners each running one job that mostly waits (a step a minute), for the
# memory per running job. Every run checks that every stream got every event of its owner's
# jobs (read again from the log after the jobs ended). Writes bench/crowd-results.md and its
# section of BENCHMARKS.md.
#
#   bash bench/crowd.sh            # SCALE=small: 1,000 and 3,000 owners only
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="$ROOT/bench/crowd-results.md"
SECONDS_PER_RUN="${BENCH_SECONDS:-10}"
PORT="${CANDOR_BENCH_PORT:-3961}"
BASE="http://127.0.0.1:$PORT"

echo "==> building the server and the load generator (release)" >&2
cargo build --release -p server --bin candor --example sse_load >&2
CANDOR=target/release/candor
LOAD=target/release/examples/sse_load
WORK="$(mktemp -d)"
PID=
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
RESULTS="$WORK/results.jsonl"
: >"$RESULTS"

# start <workers>: a fresh data directory; limits out of the way of one load generator
# playing a crowd from one address.
start() {
  rm -rf "$WORK/data"; mkdir -p "$WORK/data"
  CANDOR_DATA_DIR="$WORK/data" LEPTOS_SITE_ADDR="127.0.0.1:$PORT" LEPTOS_OUTPUT_NAME=candor \
    CANDOR_ADMIN_ADDR=off CANDOR_WORKERS="$1" CANDOR_PROGRESS_INTERVAL_MS=0 \
    CANDOR_MAX_STREAMS=100000 CANDOR_OWNER_MAX_STREAMS=100000 CANDOR_MAX_CONNECTIONS=100000 \
    CANDOR_OWNER_MAX_IN_FLIGHT=10000000 CANDOR_OWNER_JOBS_PER_MINUTE=10000000 \
    CANDOR_ADDRESS_MAX_STREAMS=100000 CANDOR_ADDRESS_JOBS_PER_MINUTE=10000000 CANDOR_ADDRESS_IDENTITIES_PER_MINUTE=1000000 \
    CANDOR_QUEUE_MAX=10000000 RUST_LOG=warn \
    "$CANDOR" >>"$WORK/server.log" 2>&1 &
  PID=$!
  for _ in $(seq 200); do curl -sf "$BASE/healthz" >/dev/null && return; sleep 0.05; done
  echo "the server did not start" >&2; cat "$WORK/server.log" >&2; exit 1
}
stop() {
  kill "$PID" 2>/dev/null || true
  for _ in $(seq 30); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  PID=
}
run() {
  local label=$1; shift
  timeout 600 "$LOAD" --label "$label" --url "$BASE" --server-pid "$PID" "$@" >>"$RESULTS" ||
    echo "{\"label\": \"$label\", \"failed\": true}" >>"$RESULTS"
}

echo "==> single owner: 1,000 streams x 100 events/s" >&2
start 64
TOKEN=$(CANDOR_DATA_DIR="$WORK/data" RUST_LOG=warn "$CANDOR" token create --label bench)
timeout 300 "$LOAD" --label "single owner 1000" --url "$BASE/api/events" --token "$TOKEN" \
  --subscribers 1000 --seconds "$SECONDS_PER_RUN" --warmup 3 --server-pid "$PID" \
  --drive-candor "$BASE" --rate 100 >>"$RESULTS" ||
  echo '{"label": "single owner 1000", "failed": true}' >>"$RESULTS"
stop

OWNERS=(1000 3000 10000)
[ "${SCALE:-full}" = small ] && OWNERS=(1000 3000)
for n in "${OWNERS[@]}"; do
  echo "==> crowd: $n owners, 1,000 jobs x 10 events/s" >&2
  start 2000
  run "crowd $n" --crowd "$n" --crowd-jobs 1000 --crowd-step-ms 200 --seconds "$SECONDS_PER_RUN" --warmup 3
  stop
done

echo "==> the same jobs, nobody watching: what writing the events costs" >&2
start 2000
run "unwatched 1000" --crowd 1000 --crowd-jobs 1000 --crowd-step-ms 200 --crowd-streams false --seconds "$SECONDS_PER_RUN" --warmup 3
stop

WAITING="${OWNERS[-1]}"
echo "==> $WAITING owners, each running a job that mostly waits" >&2
start "$WAITING"
run "waiting $WAITING" --crowd "$WAITING" --crowd-jobs "$WAITING" --crowd-step-ms 60000 --seconds 5 --warmup 5
stop

python3 - "$RESULTS" "$OUT" "$(nproc)" "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- server app bench || echo ' with uncommitted changes')" <<'PY'
import json, sys, datetime
results, out, cores, commit = sys.argv[1:5]
rows = [json.loads(line) for line in open(results) if line.strip()]
failed = [r["label"] for r in rows if r.get("failed")]
rows = [r for r in rows if not r.get("failed")]
single = next((r for r in rows if r["label"].startswith("single owner")), None)
crowds = [r for r in rows if r["label"].startswith("crowd")]
waiting = next((r for r in rows if r["label"].startswith("waiting")), None)
unwatched = next((r for r in rows if r["label"].startswith("unwatched")), None)
def f(v, fmt="{:,.0f}"):
    return "—" if v is None else fmt.format(v)
single_us = None
if single and single.get("serverCpuPercent") is not None and single["eventsPerSec"]:
    single_us = single["serverCpuPercent"] / 100 * 1e6 / single["eventsPerSec"]
lines = [
    "## Many people at once (the crowd)",
    "",
    f"`bash bench/crowd.sh`, {datetime.date.today()}, commit {commit}: a release build on {cores} cores, SQLite,",
    "one load generator (`bench/load/crowd.rs`) on the same machine. Each owner is an anonymous identity",
    "(a cookieless page visit) holding one stream of its own jobs (`/api/events`); 1,000 demo jobs are",
    "spread evenly over the owners, each reporting every 200 ms (a progress event and a log line: 10",
    "events a second a job, 10,000 in all), every event durable before it is streamed. After the",
    "window the jobs run to their ends, and each job's events are read again from the log and",
    "counted against what its owner's live stream received (missing must be 0). CPU per event is",
    "the server's CPU time in the window over the events delivered in it.",
    "",
    "| run | streams held | events/s delivered (of ~10,000 published) | p50 ms | p99 ms | server CPU % | server CPU µs per delivered event | RSS per stream KiB | events in the log | missing | errors |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
]
if single:
    lines.append("| single owner, 1,000 streams, 100 events/s | {} | {} | {} | {} | {} | {} | {} | — | — | {} |".format(
        f(single["held"]), f(single["eventsPerSec"]), f(single["p50Ms"], "{:.1f}"), f(single["p99Ms"], "{:.1f}"),
        f(single["serverCpuPercent"]), f(single_us, "{:.2f}"), f(single.get("rssPerSubscriberKib"), "{:.1f}"), single["errors"]))
for r in crowds:
    lines.append("| {} owners, 1,000 jobs | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
        f(r["owners"]), f(r["held"]), f(r["eventsPerSec"]), f(r["p50Ms"], "{:.1f}"), f(r["p99Ms"], "{:.1f}"),
        f(r["serverCpuPercent"]), f(r["serverCpuMicrosPerEvent"], "{:.2f}"), f(r["rssPerStreamKib"], "{:.1f}"),
        f(r["eventsInLog"]), f(r["eventsMissing"]), r["errors"]))
if unwatched:
    lines.append("| nobody watching: the same 1,000 jobs, no streams | 0 | ({}, written) | — | — | {} | {} (writing alone) | — | — | — | {} |".format(
        f(unwatched["eventsPerSec"]), f(unwatched["serverCpuPercent"]), f(unwatched["serverCpuMicrosPerEvent"], "{:.2f}"), unwatched["errors"]))
if waiting:
    lines += ["", f"Jobs that mostly wait: {waiting['owners']:,} owners each running one demo job that reports once a",
              f"minute (`CANDOR_WORKERS={waiting['owners']}`): {waiting['jobs']:,} jobs ran at once; the server's RSS grew by",
              f"{f(waiting['rssPerRunningJobKib'], '{:.1f}')} KiB per running job (with the streams already held: "
              f"{f(waiting['rssPerStreamKib'], '{:.1f}')} KiB per stream), {f(waiting['serverCpuPercent'], '{:.1f}')} % CPU while they waited; "
              f"missing events {waiting['eventsMissing']}, errors {waiting['errors']}."]
targets = []
big = next((r for r in crowds if r["owners"] == 10000), None)
if big:
    targets.append(("10,000 owners: every event delivered", f"{big['eventsMissing']} missing of {big['eventsInLog']:,}", big["eventsMissing"] == 0 and big["errors"] == 0))
    targets.append(("10,000 owners: p99 publish→receive at most 50 ms", f"{big['p99Ms']:.1f} ms", big["p99Ms"] <= 50))
    if single_us and big["serverCpuMicrosPerEvent"]:
        targets.append(("10,000 owners: server CPU per delivered event within 2× the single owner's",
                        f"{big['serverCpuMicrosPerEvent']:.2f} µs against {single_us:.2f} µs ({big['serverCpuMicrosPerEvent'] / single_us:.2f}×)",
                        big["serverCpuMicrosPerEvent"] <= 2 * single_us))
        if unwatched and unwatched["serverCpuMicrosPerEvent"]:
            delivering = big["serverCpuMicrosPerEvent"] - unwatched["serverCpuMicrosPerEvent"]
            targets.append(("… of which delivering (the crowd's CPU per event less the same jobs' with nobody watching), against the single owner's",
                            f"{delivering:.2f} µs against {single_us:.2f} µs ({delivering / single_us:.2f}×)",
                            delivering <= 2 * single_us))
    small = next((r for r in crowds if r["owners"] == 1000), None)
    if small and small["serverCpuMicrosPerEvent"]:
        growth = big["serverCpuMicrosPerEvent"] / small["serverCpuMicrosPerEvent"]
        targets.append(("cost grows with events delivered, not streams held: CPU per event at 10,000 owners against 1,000",
                        f"{growth:.2f}×", growth <= 1.5))
if waiting:
    targets.append((f"{waiting['owners']:,} jobs that mostly wait run at once on one node", f"{waiting['jobs']:,}", waiting["jobs"] >= 10000))
if targets:
    lines += ["", "| target | this run | |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {'met' if ok else '**missed**'} |" for name, value, ok in targets]
if failed:
    lines += ["", "Runs that failed (did not finish within their time): " + ", ".join(failed)]
lines += ["", "Raw results:", "", "```"] + [json.dumps(r, sort_keys=True) for r in rows] + ["```", ""]
open(out, "w").write("\n".join(lines))
print("\n".join(lines))
PY
python3 "$ROOT/bench/section.py" crowd.sh "$OUT" "$ROOT/BENCHMARKS.md"
