#!/usr/bin/env bash
# Reconnecting a crowd: 5,000 spec-following subscribers of one owner hold the event
# stream while jobs run; the server is killed with SIGKILL and started again at once.
# Measures the time until every subscriber is back, reconnects per second at the peak,
# failed requests, and events lost or received twice (both must be 0). Writes
# bench/restart-results.md and its section of BENCHMARKS.md.
#
#   bash bench/restart.sh [subscribers]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${1:-5000}"
PORT="${CANDOR_BENCH_PORT:-3951}"
BASE="http://127.0.0.1:$PORT"
OUT="$ROOT/bench/restart-results.md"
cd "$ROOT"

echo "==> building the server and the load generator (release)" >&2
cargo build --release -p server --bin candor --example sse_load >&2
CANDOR=target/release/candor
LOAD=target/release/examples/sse_load
WORK="$(mktemp -d)"
PID=
LOADER=
cleanup() { kill -9 $PID $LOADER 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" || true

start() {
  CANDOR_DATA_DIR="$WORK/data" LEPTOS_SITE_ADDR="127.0.0.1:$PORT" CANDOR_ADMIN_ADDR=off \
    CANDOR_OWNER_MAX_STREAMS=$((N + 100)) CANDOR_MAX_STREAMS=$((N + 100)) \
    CANDOR_ADDRESS_MAX_STREAMS=$((N + 100)) CANDOR_ADDRESS_JOBS_PER_MINUTE=100000 \
    CANDOR_OWNER_JOBS_PER_MINUTE=100000 CANDOR_WORKERS=32 RUST_LOG=warn LEPTOS_OUTPUT_NAME=candor \
    "$CANDOR" >>"$WORK/server.log" 2>&1 &
  PID=$!
  for _ in $(seq 200); do curl -sf "$BASE/healthz" >/dev/null && return; sleep 0.05; done
  echo "the server did not start" >&2; exit 1
}

mkdir -p "$WORK/data"
TOKEN=$(CANDOR_DATA_DIR="$WORK/data" RUST_LOG=warn "$CANDOR" token create --label bench)
start
"$LOAD" --url "$BASE" --token "$TOKEN" --restart "$N" >"$WORK/result.json" 2>"$WORK/load.err" &
LOADER=$!
until grep -q ready "$WORK/load.err" 2>/dev/null; do
  kill -0 "$LOADER" || { cat "$WORK/load.err" >&2; exit 1; }
  sleep 0.2
done
echo "==> $N subscribers hold the stream; starting 20 jobs" >&2
for _ in $(seq 20); do
  curl -sf -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    -d '{"kind":"demo","params":{"steps":40,"stepMs":250}}' "$BASE/api/jobs" >/dev/null
done
sleep 3
echo "==> SIGKILL, and start again" >&2
kill -9 "$PID"; wait "$PID" 2>/dev/null || true
start
wait "$LOADER" || true
LOADER=
cat "$WORK/result.json"

python3 - "$WORK/result.json" "$OUT" "$ROOT/BENCHMARKS.md" "$(nproc)" <<'PY'
import json, sys, datetime, re
result, out, benchmarks, cores = sys.argv[1:5]
r = json.loads(open(result).read())
back = f"{r['allBackSecs']:.1f} s" if r.get("allBackSecs") is not None else "not all"
body = f"""## Reconnecting a crowd through a restart

`bash bench/restart.sh {r['subscribers']}`, {datetime.date.today()}: a release build on {cores} cores, SQLite;
{r['subscribers']:,} spec-following subscribers of one owner (each waits the `retry:` it was sent,
then asks again with `Last-Event-ID`; `429`/`503` are waited out) hold `/api/events` while 20 demo
jobs run; the server is killed with SIGKILL and started again at once.

| measure | value |
|---|---:|
| subscribers whose stream broke / came back | {r['broke']:,} / {r['back']:,} |
| from the first broken stream until every subscriber was back | {back} |
| reconnects per second at the peak (100 ms buckets) | {r['peakReconnectsPerSec']:,} |
| failed requests (refused, or no server yet) | {r['failedRequests']:,} |
| events in the log / fewest any subscriber received | {r['logEvents']:,} / {r['fewestEventsReceived']:,} |
| events lost | {r['lost']} |
| events received twice | {r['doubled']} |

Each stream says `retry:` with its own value between 2 and 4 s, so the crowd comes back spread
over two seconds rather than in one instant; each replay reads the log from where its
subscriber stopped. Lost counts, for every subscriber, the log's events from its first one
on that it never received; twice counts repeats.
"""
open(out, "w").write(body)
print(body)
PY
python3 "$ROOT/bench/section.py" restart.sh "$OUT" "$ROOT/BENCHMARKS.md"
