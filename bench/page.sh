#!/usr/bin/env bash
# The page's own numbers: the release WASM bundle's size, how the page holds up in
# Chromium with 200 jobs updating at once (bench/page-results.md), and how it stays light
# while 10,000 jobs come and go (bench/page-day-results.md).
source "$(dirname "$0")/../.ci/setup.sh"
ensure_build_tools
ensure_wasm_opt
ensure_chromium
ensure_playwright
cd "$ROOT"
say "building the release (server and WASM bundle)"
cargo leptos build --release
wasm=target/site/pkg/candor.wasm
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
js=$(gzip -9 -c target/site/pkg/candor.js | wc -c)
aim=300000 # 300 KB
if [ "$gz" -le "$aim" ]; then against="within"; else against="above"; fi
export CANDOR_BUNDLE="The release bundle: \`candor.wasm\` ${raw} bytes, ${gz} gzipped (\`gzip -9\`; ${against} the 300 KB target); \`candor.js\` ${js} gzipped."
say "measuring the page (Playwright + Chromium)"
cd end2end
CANDOR_BINARY=target/release/candor npx playwright test --config bench.config.ts
cat "$ROOT/bench/page-results.md" "$ROOT/bench/page-day-results.md"
