#!/usr/bin/env bash
# Measures `import` on a release build: a file of N orders (default 1,000,000), uploaded
# with curl and loaded into the orders table.
# Reports rows per second (from the job's own startedAt/finishedAt) and the server's
# peak memory (VmHWM from /proc), and writes them to bench/import-results.md.
# Then imports a pathological file on a fresh server (one quote never closed, 600 MB):
# it must fail at its row at once, with the server's peak memory as flat as before.
#
#   bash bench/import.sh [rows]

set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROWS="${1:-1000000}"
PORT="${CANDOR_BENCH_PORT:-3977}"
BASE="http://127.0.0.1:$PORT"
OUT="$ROOT/bench/import-results.md"

cd "$ROOT"
echo "==> building the server (release)" >&2
cargo build --release -p server --bin candor >&2
DATA="$(mktemp -d)"
PID=
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$DATA"' EXIT
TOKEN=$(CANDOR_DATA_DIR="$DATA" RUST_LOG=warn target/release/candor token create --label bench)
AUTH="Authorization: Bearer $TOKEN"
start_server() {
  CANDOR_DATA_DIR="$DATA" LEPTOS_SITE_ADDR="127.0.0.1:$PORT" RUST_LOG=warn \
    target/release/candor >>"$DATA/server.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do curl -sf -H "$AUTH" "$BASE/api/kinds" >/dev/null && break; sleep 0.1; done
}
start_server

json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {}, {'d': d}))" "$1"; }
wait_ended() {
  # Follows the job's event stream until the server closes it after the terminal event.
  curl -sN -H "$AUTH" "$BASE/api/jobs/$1/events" >/dev/null
  curl -s -H "$AUTH" "$BASE/api/jobs/$1"
}

echo "==> writing a file of $ROWS orders" >&2
python3 - "$ROWS" "$DATA/orders.csv" <<'PY'
import sys
rows, path = int(sys.argv[1]), sys.argv[2]
regions = ["North", "South", "East", "West", "Central"]
with open(path, "w") as f:
    f.write("id,date,customer,region,amount\n")
    for i in range(1, rows + 1):
        f.write(f'{i},2025-{i % 12 + 1:02}-{i % 28 + 1:02},"Customer {i % 997}, Ltd",{regions[i % 5]},{i % 100000}.{i % 100:02}\n')
PY
BYTES=$(stat -c %s "$DATA/orders.csv")
RSS_BEFORE=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")

echo "==> importing $(numfmt --to=si "$BYTES")B" >&2
ID=$(curl -s -H "$AUTH" -F kind=import -F "file=@$DATA/orders.csv;type=text/csv" "$BASE/api/jobs" | json "d['id']")
JOB=$(wait_ended "$ID")
STATUS=$(echo "$JOB" | json "d['status']")
[ "$STATUS" = completed ] || { echo "import $STATUS: $(echo "$JOB" | json "d['error']")" >&2; exit 1; }
SECS=$(echo "$JOB" | python3 -c "
import json, sys
from datetime import datetime
d = json.load(sys.stdin)
t = lambda s: datetime.fromisoformat(s.replace('Z', '+00:00'))
print(f\"{(t(d['finishedAt']) - t(d['startedAt'])).total_seconds():.2f}\")")
PEAK=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
RATE=$(python3 -c "print(f'{$ROWS / $SECS:,.0f}')")

echo "==> a pathological file on a fresh server: one quote never closed, 600 MB" >&2
kill "$PID"; wait "$PID" 2>/dev/null || true
rm -f "$DATA/orders.csv"
python3 - "$DATA/endless.csv" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("id,date,customer,region,amount\n1,2025-01-01,A,North,1\n2,2025-01-01,\"")
    block = "x" * (1 << 20)
    for _ in range(600):
        f.write(block)
PY
BAD_BYTES=$(stat -c %s "$DATA/endless.csv")
start_server
BAD_RSS_BEFORE=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")
BAD_ID=$(curl -s -H "$AUTH" -F kind=import -F "file=@$DATA/endless.csv;type=text/csv" "$BASE/api/jobs" | json "d['id']")
BAD_JOB=$(wait_ended "$BAD_ID")
BAD_STATUS=$(echo "$BAD_JOB" | json "d['status']")
BAD_ERROR=$(echo "$BAD_JOB" | json "d['error']")
[ "$BAD_STATUS" = failed ] || { echo "the pathological import $BAD_STATUS" >&2; exit 1; }
BAD_PEAK=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")

cat >"$OUT" <<MD
# Import benchmark

\`bash bench/import.sh $ROWS\` on $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m), release build,
SQLite in a temporary directory (WAL, synchronous=FULL).

| rows | file | load time | rows/s | server RSS before | server peak RSS (VmHWM) |
|---:|---:|---:|---:|---:|---:|
| $(python3 -c "print(f'{$ROWS:,}')") | $(numfmt --to=si "$BYTES")B | ${SECS} s | $RATE | $((RSS_BEFORE / 1024)) MiB | $((PEAK / 1024)) MiB |

Load time is the job's own \`finishedAt - startedAt\`: reading, checking every row and
writing it in batches of 10,000 (one transaction each), then making the import visible.
The file is made by a script, so the server's peak is the import alone.

A pathological file, on a fresh server: one good row, then a quoted field that is never
closed, $(numfmt --to=si "$BAD_BYTES")B long.

| file | ended | reason | server RSS before | server peak RSS (VmHWM), upload included |
|---:|---|---|---:|---:|
| $(numfmt --to=si "$BAD_BYTES")B | $BAD_STATUS | $BAD_ERROR | $((BAD_RSS_BEFORE / 1024)) MiB | $((BAD_PEAK / 1024)) MiB |

A record (a row, with any line breaks inside quotes) may be at most 64 KiB; reading
stops there, so an import holds at most one such record and the reader's 8 KiB buffer
whatever the file holds.
MD
cat "$OUT"
