#!/usr/bin/env bash
# Two Candor nodes on one PostgreSQL database, on this machine (the database too):
# accepting work (POST /api/jobs to both nodes at once), trivial jobs run to completion
# per second across both nodes, and fan-out to 1,000 subscribers spread over both nodes
# (delivered events/s, p99 publish-to-receive), next to the same fan-out on one SQLite
# node. Release builds; the load generator is bench/load/. Writes bench/nodes-results.md
# and its section of BENCHMARKS.md.
#
#   bash bench/nodes.sh     # PostgreSQL: CANDOR_BENCH_DATABASE_URL, else the local server

set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="$ROOT/bench/nodes-results.md"
SERVER_URL="${CANDOR_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
DB="candor_bench_$$"
DB_URL="${SERVER_URL%/*}/$DB"
JOBS="${BENCH_JOBS:-20000}"

echo "==> building release binaries" >&2
cargo build --release -p server --bin candor --example sse_load >&2
LOAD=target/release/examples/sse_load
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
  psql -q "$SERVER_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
wait_up() { for _ in $(seq 200); do curl -s -o /dev/null "$1" && return; sleep 0.1; done; echo "not up: $1" >&2; exit 1; }

UNLIMITED=(CANDOR_OWNER_MAX_STREAMS=100000 CANDOR_MAX_STREAMS=100000 CANDOR_OWNER_MAX_IN_FLIGHT=10000000
  CANDOR_ADDRESS_MAX_STREAMS=100000 CANDOR_ADDRESS_JOBS_PER_MINUTE=10000000 CANDOR_ADDRESS_IDENTITIES_PER_MINUTE=1000000
  CANDOR_OWNER_JOBS_PER_MINUTE=10000000 CANDOR_QUEUE_MAX=10000000 RUST_LOG=warn LEPTOS_OUTPUT_NAME=candor)

# start_node <name> <port> [database url]: the pid. Nodes share $WORK/data and the token.
start_node() {
  local db=${3:-}
  env "${UNLIMITED[@]}" CANDOR_DATA_DIR="$WORK/data-${db:+pg}" ${db:+CANDOR_DATABASE_URL="$db"} \
    CANDOR_NODE_NAME="$1" LEPTOS_SITE_ADDR="127.0.0.1:$2" CANDOR_WORKERS="${WORKERS:-64}" \
    target/release/candor >"$WORK/$1.log" 2>&1 &
  PIDS+=($!)
  wait_up "http://127.0.0.1:$2/api/kinds"
  echo "$!"
}
token() { # token <database url or empty>: a token for the bench owner
  env CANDOR_DATA_DIR="$WORK/data-${1:+pg}" ${1:+CANDOR_DATABASE_URL="$1"} RUST_LOG=warn \
    target/release/candor token create --owner t-bench --label bench 2>/dev/null
}
stop() { kill "$1" 2>/dev/null || true; for _ in $(seq 30); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done; kill -9 "$1" 2>/dev/null || true; }
# completed <base> <token>: the owner's completed jobs
completed() {
  curl -s -H "Authorization: Bearer $2" "$1/api/jobs?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["completed"])'
}

RESULTS="$WORK/results.jsonl"
: >"$RESULTS"

echo "==> PostgreSQL, two nodes: $JOBS trivial jobs posted to both at once, run to completion" >&2
mkdir -p "$WORK/data-pg"
PG_TOKEN="$(token "$DB_URL")"
A=$(start_node a 3931 "$DB_URL")
B=$(start_node b 3932 "$DB_URL")
start=$(date +%s.%N)
"$LOAD" --label "accept pg a" --url http://127.0.0.1:3931/api/jobs --token "$PG_TOKEN" \
  --post-jobs $((JOBS / 2)) --concurrency 32 --server-pid "$A" >>"$RESULTS" &
P1=$!
"$LOAD" --label "accept pg b" --url http://127.0.0.1:3932/api/jobs --token "$PG_TOKEN" \
  --post-jobs $((JOBS / 2)) --concurrency 32 --server-pid "$B" >>"$RESULTS" &
P2=$!
wait "$P1" "$P2"
while [ "$(completed http://127.0.0.1:3931 "$PG_TOKEN")" -lt "$JOBS" ]; do sleep 0.05; done
end=$(date +%s.%N)
python3 -c "import json; print(json.dumps({'label': 'run pg', 'jobs': $JOBS, 'secs': $end - $start}))" >>"$RESULTS"
stop "$A"; stop "$B"

echo "==> fan-out: 1,000 subscribers x 100 events/s, spread over two PostgreSQL nodes" >&2
A=$(start_node a 3931 "$DB_URL")
B=$(start_node b 3932 "$DB_URL")
# b's subscribers connect first and measure a window inside the one a's generator drives.
"$LOAD" --label "fan-out pg b" --url http://127.0.0.1:3932/api/events --token "$PG_TOKEN" \
  --subscribers 500 --seconds 10 --warmup 5 --server-pid "$B" >>"$RESULTS" &
P2=$!
sleep 1
"$LOAD" --label "fan-out pg a" --url http://127.0.0.1:3931/api/events --token "$PG_TOKEN" \
  --subscribers 500 --seconds 10 --warmup 3 --server-pid "$A" \
  --drive-candor http://127.0.0.1:3931 --rate 100 >>"$RESULTS"
wait "$P2"
stop "$A"; stop "$B"

echo "==> fan-out: 1,000 subscribers x 100 events/s on one SQLite node" >&2
mkdir -p "$WORK/data-"
SQ_TOKEN="$(token "")"
S=$(start_node sqlite 3933)
"$LOAD" --label "fan-out sqlite" --url http://127.0.0.1:3933/api/events --token "$SQ_TOKEN" \
  --subscribers 1000 --seconds 10 --warmup 3 --server-pid "$S" \
  --drive-candor http://127.0.0.1:3933 --rate 100 >>"$RESULTS"
stop "$S"

python3 - "$RESULTS" "$OUT" "$ROOT/BENCHMARKS.md" "$(nproc)" "$(psql -tA "$SERVER_URL" -c 'SHOW server_version' 2>/dev/null || echo '?')" <<'PY'
import json, sys, datetime, re
results, out, benchmarks, cores, pg = sys.argv[1:6]
rows = {r["label"]: r for r in map(json.loads, filter(str.strip, open(results)))}
acc = [rows["accept pg a"], rows["accept pg b"]]
accepted = sum(r.get("jobsPerSec", 0) for r in acc)
p99 = max(r.get("p99Ms", 0) for r in acc)
run = rows["run pg"]
jobs_per_sec = run["jobs"] / run["secs"]
fa, fb, fs = rows["fan-out pg a"], rows["fan-out pg b"], rows["fan-out sqlite"]
pg_events = fa["eventsPerSec"] + fb["eventsPerSec"]
pg_p99 = max(fa["p99Ms"], fb["p99Ms"])
held = fa["held"] + fb["held"]
def pct(a, b): return (a / b - 1) * 100 if b else float("nan")
ok = lambda good: "**met**" if good else "**missed**"
body = f"""## Several nodes on PostgreSQL

`bash bench/nodes.sh`, {datetime.date.today()}: two release nodes on one PostgreSQL {pg.strip()} database,
server, database and load generators on the same {cores} cores; 64 workers a node.

| | two PostgreSQL nodes | one SQLite node | target |
|---|---:|---:|---|
| `POST /api/jobs` to both nodes at once (32 in flight each): accepted/s | {accepted:,.0f} (p99 {p99:.1f} ms) | | |
| {run['jobs']:,} trivial jobs (`demo`, 1 step) posted and run to completion | {jobs_per_sec:,.0f} jobs/s ({run['secs']:.1f} s) | | ≥ 1,000 jobs/s: {ok(jobs_per_sec >= 1000)} |
| fan-out, 1,000 subscribers × 100 events/s: events/s delivered | {pg_events:,.0f} ({held} held: 500 on each node) | {fs['eventsPerSec']:,.0f} | within 20 %: {pct(pg_events, fs['eventsPerSec']):+.1f} % {ok(abs(pct(pg_events, fs['eventsPerSec'])) <= 20)} |
| the same: p99 publish-to-receive | {pg_p99:.1f} ms | {fs['p99Ms']:.1f} ms | within 20 %: {pct(pg_p99, fs['p99Ms']):+.1f} % {ok(pct(pg_p99, fs['p99Ms']) <= 20)} |
| the same: p50 | {max(fa['p50Ms'], fb['p50Ms']):.1f} ms | {fs['p50Ms']:.1f} ms | |

Every event on PostgreSQL is committed before any node streams it. The node that wrote it
streams it at once (once the log before it has gone out); every other node hears the
commit's `NOTIFY`, reads the new events from the log once and fans them out to its own
subscribers, so a subscriber on node B of a job that node A runs waits for that round trip
(the higher p50).
"""
open(out, "w").write(body)
print(body)
PY
python3 "$ROOT/bench/section.py" nodes.sh "$OUT" "$ROOT/BENCHMARKS.md"
