# Installs what Candor's build and tests need, each only when it is missing or at the
# wrong version, so a second run costs nothing. Sourced by .ci/start and .ci/test.
#
# Only package registries are assumed reachable (crates.io, npm, Debian): every tool
# below comes from one of them. Nothing is downloaded from anywhere else.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CARGO_LEPTOS_VERSION="0.3.10"
BINARYEN_VERSION="132"
# The wasm-bindgen CLI must equal the library version locked in Cargo.lock exactly.
WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' "$ROOT/Cargo.lock")"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  say "installing $* (Debian packages)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

ensure_rust() {
  export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
  if ! command -v cargo >/dev/null; then
    echo "Rust is missing: install it with rustup (https://rustup.rs), then run this again." >&2
    exit 1
  fi
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
}

ensure_cargo_leptos() {
  if [ "$(cargo leptos --version 2>/dev/null | awk '{print $2}')" != "$CARGO_LEPTOS_VERSION" ]; then
    say "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 13 minutes, once per machine)"
    cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked
  fi
}

ensure_wasm_bindgen() {
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
    say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 2 minutes)"
    # Not --locked: its lock file names a crate version the registry no longer serves.
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
  fi
}

ensure_node() {
  if ! command -v npm >/dev/null; then
    apt_install nodejs npm
  fi
}

# wasm-opt shrinks the release bundle; the npm package ships a current one.
ensure_wasm_opt() {
  ensure_node
  local tools="$ROOT/.tools"
  if [ ! -x "$tools/node_modules/.bin/wasm-opt" ]; then
    say "installing wasm-opt (npm binaryen@$BINARYEN_VERSION)"
    mkdir -p "$tools"
    npm install --prefix "$tools" --no-save --no-audit --no-fund "binaryen@$BINARYEN_VERSION" >/dev/null
  fi
  # cargo-leptos runs `wasm-opt -Oz …` on the release bundle. Merging similar functions
  # (the many copies of generic code) before the size passes, and running those until
  # nothing changes, makes the bundle about 4.5 KB (gzipped) smaller; cargo-leptos's own
  # wasm-opt-features cannot say it (it keeps the flags in no order), so this wrapper,
  # first on the PATH, puts them in order around the real one.
  mkdir -p "$tools/bin"
  cat >"$tools/bin/wasm-opt" <<WRAPPER
#!/usr/bin/env bash
args=()
for arg in "\$@"; do [ "\$arg" = -Oz ] || args+=("\$arg"); done
exec "$tools/node_modules/.bin/wasm-opt" --merge-similar-functions -Oz --converge "\${args[@]}"
WRAPPER
  chmod +x "$tools/bin/wasm-opt"
  export PATH="$tools/bin:$tools/node_modules/.bin:$PATH"
}

ensure_chromium() {
  if [ ! -x /usr/bin/chromium ]; then
    apt_install chromium
  fi
}

ensure_playwright() {
  ensure_node
  local e2e="$ROOT/end2end"
  if [ ! -d "$e2e/node_modules/@playwright/test" ] ||
     [ "$e2e/package-lock.json" -nt "$e2e/node_modules/.package-lock.json" ]; then
    say "installing Playwright (npm ci in end2end/)"
    (cd "$e2e" && npm ci --no-audit --no-fund >/dev/null)
  fi
}

CARGO_FUZZ_VERSION="0.13.2"

ensure_cargo_fuzz() {
  if [ "$(cargo fuzz --version 2>/dev/null | awk '{print $2}')" != "$CARGO_FUZZ_VERSION" ]; then
    say "installing cargo-fuzz $CARGO_FUZZ_VERSION (about 2 minutes)"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
  fi
}

ensure_build_tools() {
  ensure_rust
  ensure_cargo_leptos
  ensure_wasm_bindgen
}

# PostgreSQL for the store and multi-node tests: the server CANDOR_TEST_DATABASE_URL
# names (by default the local one on 127.0.0.1:5432, trust authentication) if it
# answers; else Debian's postgresql, installed and started here with a password of its
# own. Each test makes a database of its own there and drops it afterwards.
ensure_postgres() {
  if [ -n "${CANDOR_TEST_DATABASE_URL:-}" ]; then
    return
  fi
  if (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
    export CANDOR_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
    return
  fi
  if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    apt_install postgresql
  fi
  local version
  version="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
  if [ ! -d "/etc/postgresql/$version/main" ]; then
    as_root pg_createcluster "$version" main >/dev/null
  fi
  say "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do
    (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null && break
    sleep 1
  done
  # Debian asks for a password over TCP: give the postgres role one for the tests.
  as_root su postgres -c "psql -q -c \"ALTER ROLE postgres PASSWORD 'candor-tests'\"" >/dev/null
  export CANDOR_TEST_DATABASE_URL="postgres://postgres:candor-tests@127.0.0.1:5432/postgres"
}

# nginx for the tested reverse-proxy example (deploy/nginx.conf): installed, not started
# as a service; the tests run it with a configuration of their own.
# The HTTPS tests make a certificate with openssl and read streams with curl.
ensure_tls_tools() {
  local missing=()
  command -v openssl >/dev/null || missing+=(openssl)
  command -v curl >/dev/null || missing+=(curl)
  if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]} (Debian packages)"
    apt_install "${missing[@]}"
  fi
}

ensure_nginx() {
  export PATH="$PATH:/usr/sbin"
  if command -v nginx >/dev/null; then
    return
  fi
  local policy=/usr/sbin/policy-rc.d made=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod +x "$policy"
    made=1
  fi
  apt_install nginx
  if [ -n "$made" ]; then as_root rm -f "$policy"; fi
}
